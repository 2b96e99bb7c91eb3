//! The [`Module`] trait: a forward pass plus a tree of named parameters.

use std::collections::BTreeMap;

use mlx_rs_core::{Array, Dtype, Result};

use crate::error::invalid;

/// Parameters by dotted path (`blocks.3.attn.qkv.weight`), in sorted order.
pub type Params = BTreeMap<String, Array>;

/// One learnable array and whether optimizers may change it.
#[derive(Clone, Debug)]
pub struct Param {
    value: Array,
    trainable: bool,
}

impl Param {
    /// A trainable parameter.
    pub fn new(value: Array) -> Param {
        Param {
            value,
            trainable: true,
        }
    }

    /// The current value.
    pub fn value(&self) -> &Array {
        &self.value
    }

    /// Replaces the value (no checks; [`Module::update`] checks shapes).
    pub fn set(&mut self, value: Array) {
        self.value = value;
    }

    /// The value, mutably (no checks; [`Module::update`] checks shapes).
    pub fn value_mut(&mut self) -> &mut Array {
        &mut self.value
    }

    /// Whether optimizers and [`crate::value_and_grad`] see this parameter.
    pub fn is_trainable(&self) -> bool {
        self.trainable
    }

    /// Marks the parameter trainable or frozen.
    pub fn set_trainable(&mut self, trainable: bool) {
        self.trainable = trainable;
    }
}

impl std::ops::Deref for Param {
    type Target = Array;
    fn deref(&self) -> &Array {
        &self.value
    }
}

/// A direct member of a module: a parameter or a child module.
pub enum Entry<'a> {
    /// A parameter.
    Param(&'a Param),
    /// A child module (its parameters get its name as a prefix).
    Module(&'a dyn Module),
}

/// [`Entry`], mutably.
pub enum EntryMut<'a> {
    /// A parameter.
    Param(&'a mut Param),
    /// A child module.
    Module(&'a mut dyn Module),
}

/// `prefix.name`, or `name` at the root.
pub fn join_path(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// The direct members of a module: its parameters and child modules, by
/// local name. [`module_struct!`](crate::module_struct) and
/// [`impl_members!`](crate::impl_members) write this for a struct whose
/// fields are the members; implement it by hand only for containers such as
/// [`crate::Sequential`] (`entries` and `entries_mut` list the same names in
/// the same order).
pub trait Members {
    /// The direct parameters and child modules, by local name.
    fn entries(&self) -> Vec<(String, Entry<'_>)>;

    /// [`entries`](Members::entries), mutably (same names).
    fn entries_mut(&mut self) -> Vec<(String, EntryMut<'_>)>;

    /// Calls `f` with every parameter's dotted path under `prefix`.
    fn visit_params(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param)) {
        for (name, entry) in self.entries() {
            let path = join_path(prefix, &name);
            match entry {
                Entry::Param(p) => f(&path, p),
                Entry::Module(m) => m.visit_params(&path, f),
            }
        }
    }

    /// Calls `f` with every parameter's dotted path under `prefix`, mutably.
    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param)) {
        for (name, entry) in self.entries_mut() {
            let path = join_path(prefix, &name);
            match entry {
                EntryMut::Param(p) => f(&path, p),
                EntryMut::Module(m) => m.visit_params_mut(&path, f),
            }
        }
    }
}

/// What a field of a [`module_struct!`](crate::module_struct) may hold: a
/// [`Param`], any [`Module`], or an `Option` or `Vec` of those (a `Vec`'s
/// items are named `field.0`, `field.1`, ...).
pub trait Member {
    /// Appends this field's entries under `name`.
    fn push_entries<'a>(&'a self, name: String, out: &mut Vec<(String, Entry<'a>)>);
    /// Appends this field's entries under `name`, mutably.
    fn push_entries_mut<'a>(&'a mut self, name: String, out: &mut Vec<(String, EntryMut<'a>)>);
}

impl Member for Param {
    fn push_entries<'a>(&'a self, name: String, out: &mut Vec<(String, Entry<'a>)>) {
        out.push((name, Entry::Param(self)));
    }
    fn push_entries_mut<'a>(&'a mut self, name: String, out: &mut Vec<(String, EntryMut<'a>)>) {
        out.push((name, EntryMut::Param(self)));
    }
}

impl<M: Module> Member for M {
    fn push_entries<'a>(&'a self, name: String, out: &mut Vec<(String, Entry<'a>)>) {
        out.push((name, Entry::Module(self)));
    }
    fn push_entries_mut<'a>(&'a mut self, name: String, out: &mut Vec<(String, EntryMut<'a>)>) {
        out.push((name, EntryMut::Module(self)));
    }
}

impl<T: Member> Member for Option<T> {
    fn push_entries<'a>(&'a self, name: String, out: &mut Vec<(String, Entry<'a>)>) {
        if let Some(t) = self {
            t.push_entries(name, out);
        }
    }
    fn push_entries_mut<'a>(&'a mut self, name: String, out: &mut Vec<(String, EntryMut<'a>)>) {
        if let Some(t) = self {
            t.push_entries_mut(name, out);
        }
    }
}

impl<T: Member> Member for Vec<T> {
    fn push_entries<'a>(&'a self, name: String, out: &mut Vec<(String, Entry<'a>)>) {
        for (i, t) in self.iter().enumerate() {
            t.push_entries(join_path(&name, &i.to_string()), out);
        }
    }
    fn push_entries_mut<'a>(&'a mut self, name: String, out: &mut Vec<(String, EntryMut<'a>)>) {
        for (i, t) in self.iter_mut().enumerate() {
            t.push_entries_mut(join_path(&name, &i.to_string()), out);
        }
    }
}

/// Implements [`Members`] for a struct from the fields listed (each a
/// [`Member`]: a [`Param`], a module, or an `Option` / `Vec` of them), and
/// [`Tree`](mlx_rs_core::tree::Tree) over its parameters, so the module
/// can be the state of a compiled training step
/// ([`compile_with_state`](mlx_rs_core::tree::compile_with_state)). Other
/// fields (sizes, flags) are left out of the list. For a struct whose fields
/// are all members, [`module_struct!`](crate::module_struct) declares it in
/// one go.
///
/// ```
/// use mlx_nn::{Linear, Module};
/// use mlx_rs_core::{Array, Result};
///
/// #[derive(Clone)]
/// struct Mlp { fc1: Linear, fc2: Linear, hidden: i32 }
/// mlx_nn::impl_members!(Mlp { fc1, fc2 });
///
/// impl Module for Mlp {
///     fn forward(&self, x: &Array) -> Result<Array> {
///         self.fc2.forward(&mlx_nn::relu(&self.fc1.forward(x)?)?)
///     }
/// }
/// # fn main() -> Result<()> {
/// let mlp = Mlp { fc1: Linear::new(4, 8, true)?, fc2: Linear::new(8, 2, true)?, hidden: 8 };
/// let names: Vec<String> = mlp.parameters().into_keys().collect();
/// assert_eq!(names, ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]);
/// # Ok(()) }
/// ```
#[macro_export]
macro_rules! impl_members {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        impl $crate::Members for $ty {
            fn entries(&self) -> ::std::vec::Vec<(::std::string::String, $crate::Entry<'_>)> {
                #[allow(unused_mut)] // no fields: nothing to push
                let mut out = ::std::vec::Vec::new();
                $($crate::Member::push_entries(&self.$field, stringify!($field).into(), &mut out);)*
                out
            }
            fn entries_mut(&mut self) -> ::std::vec::Vec<(::std::string::String, $crate::EntryMut<'_>)> {
                #[allow(unused_mut)] // no fields: nothing to push
                let mut out = ::std::vec::Vec::new();
                $($crate::Member::push_entries_mut(&mut self.$field, stringify!($field).into(), &mut out);)*
                out
            }
        }
        $crate::impl_tree_for_members!($ty);
    };
}

/// Implements [`Tree`](mlx_rs_core::tree::Tree) for a type that implements
/// [`Members`]: its leaves are the parameters, by dotted path, in the order of
/// [`Members::visit_params`]. [`impl_members!`](crate::impl_members) and
/// [`module_struct!`](crate::module_struct) include it; call it yourself
/// after implementing [`Members`] by hand.
#[macro_export]
macro_rules! impl_tree_for_members {
    ($ty:ty) => {
        impl $crate::__core::tree::Tree for $ty {
            fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &$crate::__core::Array)) {
                $crate::Members::visit_params(self, prefix, &mut |path, p| f(path, p.value()))
            }
            fn visit_mut(
                &mut self,
                prefix: &str,
                f: &mut dyn FnMut(&str, &mut $crate::__core::Array),
            ) {
                $crate::Members::visit_params_mut(self, prefix, &mut |path, p| {
                    f(path, p.value_mut())
                })
            }
        }
    };
}

/// Declares a module struct whose fields are all [`Member`]s (layers,
/// [`Param`]s, or an `Option` / `Vec` of them): derives `Clone` and
/// implements [`Members`] and [`Tree`](mlx_rs_core::tree::Tree) through
/// [`impl_members!`](crate::impl_members), in the order the fields are
/// declared. What is left to write is the constructor and
/// [`Module::forward`].
///
/// A second form declares the constructor with the struct, as Python's
/// `__init__` does: arguments after the name, and each field with the
/// expression that builds it (`?` works there). It generates
/// `fn new(args) -> Result<Self>`, evaluating the fields in order:
///
/// ```
/// use mlx_nn::{Linear, Module};
/// use mlx_rs_core::{Array, Result};
///
/// mlx_nn::module_struct! {
///     struct Mlp(dims: i32, hidden: i32) {
///         fc1: Linear = Linear::new(dims, hidden, true)?,
///         fc2: Linear = Linear::new(hidden, dims, true)?,
///     }
/// }
///
/// impl Module for Mlp {
///     fn forward(&self, x: &Array) -> Result<Array> {
///         self.fc2.forward(&mlx_nn::relu(&self.fc1.forward(x)?)?)
///     }
/// }
/// # fn main() -> Result<()> {
/// let mlp = Mlp::new(4, 16)?;
/// assert_eq!(mlp.parameters()["fc1.weight"].shape(), [16, 4]);
/// assert_eq!(mlp.forward(&Array::ones::<f32>([2, 4])?)?.shape(), [2, 4]);
/// # Ok(()) }
/// ```
///
/// The first form:
///
/// ```
/// use mlx_nn::{LayerNorm, Linear, Module};
/// use mlx_rs_core::{Array, Result};
///
/// mlx_nn::module_struct! { pub struct Head { pub norm: LayerNorm, pub proj: Linear } }
///
/// impl Module for Head {
///     fn forward(&self, x: &Array) -> Result<Array> {
///         self.proj.forward(&self.norm.forward(x)?)
///     }
/// }
/// # fn main() -> Result<()> {
/// let head = Head { norm: LayerNorm::new(4, 1e-5, true)?, proj: Linear::new(4, 2, true)? };
/// assert_eq!(head.parameters().len(), 4);
/// let y = head.forward(&Array::ones::<f32>([3, 4])?)?;
/// assert_eq!(y.shape(), [3, 2]);
/// # Ok(()) }
/// ```
#[macro_export]
macro_rules! module_struct {
    ($(#[$m:meta])* $vis:vis struct $name:ident { $($fvis:vis $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone)]
        $vis struct $name { $($fvis $field: $ty),* }
        $crate::impl_members!($name { $($field),* });
    };
    ($(#[$m:meta])* $vis:vis struct $name:ident ( $($arg:ident : $aty:ty),* $(,)? ) {
        $($fvis:vis $field:ident : $ty:ty = $init:expr),* $(,)?
    }) => {
        $(#[$m])*
        #[derive(Clone)]
        $vis struct $name { $($fvis $field: $ty),* }
        impl $name {
            /// Builds every member from the constructor's arguments, in
            /// declaration order.
            #[allow(clippy::new_ret_no_self)]
            $vis fn new($($arg: $aty),*) -> $crate::__core::Result<Self> {
                Ok(Self { $($field: $init),* })
            }
        }
        $crate::impl_members!($name { $($field),* });
    };
}

/// A layer or model: a forward pass over one input, and its [`Members`]
/// (parameters and child modules) from which everything else is provided.
///
/// Names are joined with dots, so a model whose member `blocks` is a
/// [`crate::Sequential`] holding a block with member `attn` has parameters
/// such as `blocks.3.attn.query_proj.weight`, the names checkpoints use.
/// Declare the struct with [`module_struct!`](crate::module_struct) (or
/// write [`impl_members!`](crate::impl_members) after it) and implement
/// [`forward`](Module::forward):
///
/// ```
/// use mlx_nn::{Linear, Module};
/// use mlx_rs_core::{Array, Result};
///
/// mlx_nn::module_struct! { struct Mlp { fc1: Linear, fc2: Linear } }
///
/// impl Module for Mlp {
///     fn forward(&self, x: &Array) -> Result<Array> {
///         self.fc2.forward(&mlx_nn::relu(&self.fc1.forward(x)?)?)
///     }
/// }
///
/// # fn main() -> Result<()> {
/// let mlp = Mlp { fc1: Linear::new(4, 8, true)?, fc2: Linear::new(8, 2, true)? };
/// let names: Vec<String> = mlp.parameters().into_keys().collect();
/// assert_eq!(names, ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]);
/// # Ok(()) }
/// ```
pub trait Module: Members {
    /// The forward pass.
    fn forward(&self, x: &Array) -> Result<Array>;

    /// Sets this module's own training flag (not its children's; see
    /// [`train`](Module::train)). Only modules that behave differently in
    /// training ([`crate::Dropout`]) override it.
    fn set_training_flag(&mut self, _training: bool) {}

    /// Quantizes this module's own weights in place if it supports that
    /// ([`crate::Linear`] does), returning whether it did; children are
    /// handled by [`crate::quantize`]. The default does nothing.
    fn quantize_self(&mut self, _group_size: i32, _bits: i32) -> Result<bool> {
        Ok(false)
    }

    /// Every parameter by dotted path (cheap: arrays are shared, not copied).
    fn parameters(&self) -> Params {
        let mut out = Params::new();
        self.visit_params("", &mut |path, p| {
            out.insert(path.to_string(), p.value().clone());
        });
        out
    }

    /// The parameters that are not frozen.
    fn trainable_parameters(&self) -> Params {
        let mut out = Params::new();
        self.visit_params("", &mut |path, p| {
            if p.is_trainable() {
                out.insert(path.to_string(), p.value().clone());
            }
        });
        out
    }

    /// Total number of parameter elements.
    fn num_parameters(&self) -> usize {
        let mut n = 0;
        self.visit_params("", &mut |_, p| n += p.value().size());
        n
    }

    /// Replaces the parameters named in `params` (a subset is fine).
    ///
    /// All or nothing: an unknown name or a shape that differs from the
    /// current one returns one `Err` listing every problem, and nothing is
    /// changed.
    #[track_caller]
    fn update(&mut self, params: &Params) -> Result<()> {
        let current = self.parameters();
        let mut problems = Vec::new();
        for (name, value) in params {
            match current.get(name) {
                None => problems.push(format!("unknown parameter {name:?}")),
                Some(old) if old.shape() != value.shape() => problems.push(format!(
                    "{name}: shape {:?} does not match the parameter's {:?}",
                    value.shape(),
                    old.shape()
                )),
                Some(_) => {}
            }
        }
        if !problems.is_empty() {
            return Err(invalid(format!(
                "update rejected ({} problems): {}",
                problems.len(),
                problems.join("; ")
            )));
        }
        self.visit_params_mut("", &mut |path, p| {
            if let Some(v) = params.get(path) {
                p.set(v.clone());
            }
        });
        Ok(())
    }

    /// Freezes every parameter (optimizers and gradients skip frozen ones).
    fn freeze(&mut self) {
        self.visit_params_mut("", &mut |_, p| p.set_trainable(false));
    }

    /// Makes every parameter trainable again.
    fn unfreeze(&mut self) {
        self.visit_params_mut("", &mut |_, p| p.set_trainable(true));
    }

    /// Freezes (`trainable = false`) or unfreezes the parameters whose path is
    /// `prefix` or starts with `prefix.`; returns how many matched.
    fn set_trainable_under(&mut self, prefix: &str, trainable: bool) -> usize {
        let mut n = 0;
        let dotted = format!("{prefix}.");
        self.visit_params_mut("", &mut |path, p| {
            if prefix.is_empty() || path == prefix || path.starts_with(&dotted) {
                p.set_trainable(trainable);
                n += 1;
            }
        });
        n
    }

    /// Switches this module and all its children to training (`true`) or
    /// evaluation (`false`) mode. Modules start in training mode, as in
    /// Python MLX.
    fn train(&mut self, training: bool) {
        self.set_training_flag(training);
        for (_, entry) in self.entries_mut() {
            if let EntryMut::Module(m) = entry {
                m.train(training);
            }
        }
    }

    /// Evaluation mode: `train(false)`.
    fn eval_mode(&mut self) {
        self.train(false);
    }

    /// Converts every floating-point parameter to `dtype` (integer and
    /// packed quantized parameters keep theirs). Lazy: each array is
    /// converted when next evaluated, so a model loaded lazily from a
    /// checkpoint converts tensor by tensor without holding both copies.
    #[track_caller]
    fn to_dtype(&mut self, dtype: Dtype) -> Result<()> {
        if !is_float(dtype) {
            return Err(invalid(format!(
                "to_dtype takes a floating-point dtype, not {dtype:?}"
            )));
        }
        let mut converted = Params::new();
        let mut failure = None;
        self.visit_params("", &mut |path, p| {
            if failure.is_none() && is_float(p.value().dtype()) && p.value().dtype() != dtype {
                match p.value().astype(dtype) {
                    Ok(a) => {
                        converted.insert(path.to_string(), a);
                    }
                    Err(e) => failure = Some(e),
                }
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        self.visit_params_mut("", &mut |path, p| {
            if let Some(v) = converted.remove(path) {
                p.set(v);
            }
        });
        Ok(())
    }
}

/// Whether `d` is a real floating-point type.
pub(crate) fn is_float(d: Dtype) -> bool {
    matches!(
        d,
        Dtype::Float16 | Dtype::Bfloat16 | Dtype::Float32 | Dtype::Float64
    )
}

/// Calls `f` on each member module of a list, mapping errors to name the
/// member (used by containers so a failing layer is identified by path).
pub(crate) fn with_path<T>(path: &str, r: Result<T>) -> Result<T> {
    r.map_err(|e| crate::error::context(path, e))
}
