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

/// A layer or model: a forward pass over one input and a tree of named
/// parameters.
///
/// Implement [`forward`](Module::forward) and list the direct members in
/// [`entries`](Module::entries) / [`entries_mut`](Module::entries_mut) (the
/// same names, in the same order); everything else is provided. Names are
/// joined with dots, so a model whose member `blocks` is a
/// [`crate::Sequential`] holding a block with member `attn` has parameters
/// such as `blocks.3.attn.query_proj.weight`, the names checkpoints use.
///
/// ```
/// use mlx_nn::{Entry, EntryMut, Linear, Module};
/// use mlx_rs_core::{Array, Result};
///
/// struct Mlp { fc1: Linear, fc2: Linear }
///
/// impl Module for Mlp {
///     fn forward(&self, x: &Array) -> Result<Array> {
///         self.fc2.forward(&mlx_nn::relu(&self.fc1.forward(x)?)?)
///     }
///     fn entries(&self) -> Vec<(String, Entry<'_>)> {
///         vec![("fc1".into(), Entry::Module(&self.fc1)), ("fc2".into(), Entry::Module(&self.fc2))]
///     }
///     fn entries_mut(&mut self) -> Vec<(String, EntryMut<'_>)> {
///         vec![("fc1".into(), EntryMut::Module(&mut self.fc1)), ("fc2".into(), EntryMut::Module(&mut self.fc2))]
///     }
/// }
///
/// # fn main() -> Result<()> {
/// let mlp = Mlp { fc1: Linear::new(4, 8, true)?, fc2: Linear::new(8, 2, true)? };
/// let names: Vec<String> = mlp.parameters().into_keys().collect();
/// assert_eq!(names, ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]);
/// # Ok(()) }
/// ```
pub trait Module {
    /// The forward pass.
    fn forward(&self, x: &Array) -> Result<Array>;

    /// The direct parameters and child modules, by local name.
    fn entries(&self) -> Vec<(String, Entry<'_>)>;

    /// [`entries`](Module::entries), mutably (same names).
    fn entries_mut(&mut self) -> Vec<(String, EntryMut<'_>)>;

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
