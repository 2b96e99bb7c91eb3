//! Trees of arrays: structured parameters and state for transforms.
//!
//! A [`Tree`] is any value that holds arrays in a fixed structure: an
//! [`Array`] (one leaf), `Vec<T>`, `[T; N]`, `Option<T>`, tuples,
//! `HashMap<String, T>`, `BTreeMap<String, T>`, and your own structs through
//! [`impl_tree!`](crate::impl_tree). Leaves are visited in a stable order
//! (struct fields and tuples in declaration order, vectors by index, maps by
//! sorted key), each with a dotted path (`"layers.0.weight"`), so
//! [`Tree::flatten`] and [`Tree::unflatten`] round trip, and
//! [`Tree::flatten_named`] gives safetensors-ready names.
//!
//! [`value_and_grad`], [`grad`] and [`compile`] take and return trees, like
//! Python MLX's pytrees:
//!
//! ```
//! use mlx_rs_core::{tree, Array};
//! # fn main() -> mlx_rs_core::Result<()> {
//! mlx_rs_core::tree_struct! { struct Line { w: Array, b: Array } }
//!
//! let p = Line { w: Array::scalar(2.0f32)?, b: Array::scalar(1.0f32)? };
//! let x = Array::from_slice(&[1.0f32, 2.0, 3.0], &[3])?;
//! // loss = mean((w x + b)^2)
//! let vg = tree::value_and_grad(|p: &Line, x: &Array| ((&p.w * x + &p.b)?.square()?).mean());
//! let (loss, g) = vg.call(&p, &x)?;
//! assert!((loss.item::<f32>()? - 83.0 / 3.0).abs() < 1e-4);
//! assert!((g.b.item::<f32>()? - 2.0 * (3.0 + 5.0 + 7.0) / 3.0).abs() < 1e-4);
//! # Ok(()) }
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::panic::Location;
use std::rc::Rc;

use crate::{transforms, Array, Error, Result};

/// A value holding arrays in a fixed structure (see the [module docs](self)).
///
/// Implement it for your own structs with [`impl_tree!`](crate::impl_tree);
/// by hand, `visit` and `visit_mut` must visit the same leaves in the same
/// order.
pub trait Tree {
    /// Calls `f(path, leaf)` for every leaf in order; `prefix` is this
    /// value's own path (empty at the root).
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Array));

    /// Like [`Tree::visit`], with mutable leaves.
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Array));

    /// The leaves, in order (cheap clones).
    fn flatten(&self) -> Vec<Array> {
        let mut out = Vec::new();
        self.visit("", &mut |_, a| out.push(a.clone()));
        out
    }

    /// The leaves with their dotted paths, in order.
    fn flatten_named(&self) -> Vec<(String, Array)> {
        let mut out = Vec::new();
        self.visit("", &mut |p, a| out.push((p.to_string(), a.clone())));
        out
    }

    /// The leaves by path (e.g. to save with [`crate::io::save_safetensors`]).
    fn to_map(&self) -> HashMap<String, Array> {
        self.flatten_named().into_iter().collect()
    }

    /// Evaluates every leaf together (e.g. the state after a training step).
    #[track_caller]
    fn eval(&self) -> Result<()> {
        crate::eval(&self.flatten())
    }

    /// Number of leaves.
    fn num_leaves(&self) -> usize {
        let mut n = 0;
        self.visit("", &mut |_, _| n += 1);
        n
    }

    /// A copy of this structure holding `leaves` (in [`Tree::flatten`]
    /// order); `Err` unless there is exactly one per leaf.
    #[track_caller]
    fn unflatten(&self, leaves: Vec<Array>) -> Result<Self>
    where
        Self: Clone,
    {
        let mut out = self.clone();
        out.replace_leaves(leaves)?;
        Ok(out)
    }

    /// Replaces the leaves in place with `leaves` (in [`Tree::flatten`]
    /// order); `Err` (and `self` unchanged) unless there is exactly one per leaf.
    #[track_caller]
    fn replace_leaves(&mut self, leaves: Vec<Array>) -> Result<()> {
        let expected = self.num_leaves();
        if leaves.len() != expected {
            return Err(Error::invalid(format!(
                "tree has {expected} leaves, got {} arrays",
                leaves.len()
            )));
        }
        let mut it = leaves.into_iter();
        self.visit_mut("", &mut |_, a| {
            if let Some(new) = it.next() {
                *a = new;
            }
        });
        Ok(())
    }

    /// Replaces every leaf with the array of the same path in `named` (e.g.
    /// loaded from safetensors). `Err` naming the first missing path, or
    /// an array whose shape differs; `self` is unchanged then.
    #[track_caller]
    fn load_named(&mut self, named: &HashMap<String, Array>) -> Result<()> {
        let mut leaves = Vec::new();
        let mut problem = None;
        self.visit("", &mut |p, a| match named.get(p) {
            Some(new) if new.shape() == a.shape() => leaves.push(new.clone()),
            Some(new) if problem.is_none() => {
                problem = Some(format!(
                    "`{p}` has shape {:?}, the tree expects {:?}",
                    new.shape(),
                    a.shape()
                ))
            }
            None if problem.is_none() => problem = Some(format!("no array named `{p}`")),
            _ => {}
        });
        match problem {
            Some(m) => Err(Error::invalid(m)),
            None => self.replace_leaves(leaves),
        }
    }

    /// A tree of the same structure with `f` applied to every leaf.
    #[track_caller]
    fn map(&self, mut f: impl FnMut(&Array) -> Result<Array>) -> Result<Self>
    where
        Self: Clone,
    {
        let leaves = self.flatten().iter().map(&mut f).collect::<Result<_>>()?;
        self.unflatten(leaves)
    }

    /// A tree of the same structure with `f(a, b)` applied to the leaves of
    /// `self` and `other` pairwise; `Err` if their leaf counts differ.
    #[track_caller]
    fn zip_map(
        &self,
        other: &Self,
        mut f: impl FnMut(&Array, &Array) -> Result<Array>,
    ) -> Result<Self>
    where
        Self: Clone,
    {
        let (a, b) = (self.flatten(), other.flatten());
        if a.len() != b.len() {
            return Err(Error::invalid(format!(
                "trees differ: {} leaves against {}",
                a.len(),
                b.len()
            )));
        }
        let leaves = a
            .iter()
            .zip(&b)
            .map(|(x, y)| f(x, y))
            .collect::<Result<_>>()?;
        self.unflatten(leaves)
    }
}

/// `prefix.name`, or `name` at the root.
pub fn join_path(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

impl Tree for Array {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Array)) {
        f(prefix, self)
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Array)) {
        f(prefix, self)
    }
}

impl Tree for () {
    fn visit(&self, _: &str, _: &mut dyn FnMut(&str, &Array)) {}
    fn visit_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut Array)) {}
}

impl<T: Tree> Tree for Option<T> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Array)) {
        if let Some(t) = self {
            t.visit(prefix, f)
        }
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Array)) {
        if let Some(t) = self {
            t.visit_mut(prefix, f)
        }
    }
}

impl<T: Tree> Tree for Box<T> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Array)) {
        (**self).visit(prefix, f)
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Array)) {
        (**self).visit_mut(prefix, f)
    }
}

impl<T: Tree> Tree for Vec<T> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Array)) {
        for (i, t) in self.iter().enumerate() {
            t.visit(&join_path(prefix, &i.to_string()), f)
        }
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Array)) {
        for (i, t) in self.iter_mut().enumerate() {
            t.visit_mut(&join_path(prefix, &i.to_string()), f)
        }
    }
}

impl<T: Tree, const N: usize> Tree for [T; N] {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Array)) {
        for (i, t) in self.iter().enumerate() {
            t.visit(&join_path(prefix, &i.to_string()), f)
        }
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Array)) {
        for (i, t) in self.iter_mut().enumerate() {
            t.visit_mut(&join_path(prefix, &i.to_string()), f)
        }
    }
}

impl<T: Tree> Tree for BTreeMap<String, T> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Array)) {
        for (k, t) in self {
            t.visit(&join_path(prefix, k), f)
        }
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Array)) {
        for (k, t) in self.iter_mut() {
            t.visit_mut(&join_path(prefix, k), f)
        }
    }
}

/// Visited in sorted key order, so the order is stable across runs.
impl<T: Tree, S: std::hash::BuildHasher> Tree for HashMap<String, T, S> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Array)) {
        let mut keys: Vec<&String> = self.keys().collect();
        keys.sort();
        for k in keys {
            self[k].visit(&join_path(prefix, k), f)
        }
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Array)) {
        let mut entries: Vec<(&String, &mut T)> = self.iter_mut().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        for (k, t) in entries {
            t.visit_mut(&join_path(prefix, k), f)
        }
    }
}

macro_rules! tuple_tree {
    ($(($($T:ident $i:tt),+)),* $(,)?) => {$(
        impl<$($T: Tree),+> Tree for ($($T,)+) {
            fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Array)) {
                $(self.$i.visit(&join_path(prefix, stringify!($i)), f);)+
            }
            fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Array)) {
                $(self.$i.visit_mut(&join_path(prefix, stringify!($i)), f);)+
            }
        }
    )*};
}

tuple_tree! {
    (A 0),
    (A 0, B 1),
    (A 0, B 1, C 2),
    (A 0, B 1, C 2, D 3),
    (A 0, B 1, C 2, D 3, E 4),
    (A 0, B 1, C 2, D 3, E 4, F 5),
}

/// Implements [`Tree`] for a struct from the fields that hold arrays (or
/// other trees); leaves are visited in the order listed, named by field.
///
/// ```
/// use mlx_rs_core::{tree::Tree, Array};
/// # fn main() -> mlx_rs_core::Result<()> {
/// #[derive(Clone)]
/// struct Layer { weight: Array, bias: Option<Array>, name: String }
/// mlx_rs_core::impl_tree!(Layer { weight, bias });
///
/// let l = Layer { weight: Array::zeros::<f32>(&[2, 2])?, bias: None, name: "fc".into() };
/// let names: Vec<String> = l.flatten_named().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["weight"]);
/// # Ok(()) }
/// ```
#[macro_export]
macro_rules! impl_tree {
    ($ty:ident $(<$($g:ident),+>)? { $($field:ident),* $(,)? }) => {
        impl $(<$($g: $crate::tree::Tree),+>)? $crate::tree::Tree for $ty $(<$($g),+>)? {
            fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &$crate::Array)) {
                $($crate::tree::Tree::visit(&self.$field, &$crate::tree::join_path(prefix, stringify!($field)), f);)*
            }
            fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut $crate::Array)) {
                $($crate::tree::Tree::visit_mut(&mut self.$field, &$crate::tree::join_path(prefix, stringify!($field)), f);)*
            }
        }
    };
}

/// Declares a struct of trees (arrays, `Vec`s of layers, ...) that derives
/// `Clone` and implements [`Tree`] over all its fields, in order.
///
/// ```
/// use mlx_rs_core::{tree::Tree, Array};
/// mlx_rs_core::tree_struct! { pub struct Linear { pub weight: Array, pub bias: Option<Array> } }
/// # fn main() -> mlx_rs_core::Result<()> {
/// let l = Linear { weight: Array::ones::<f32>([3, 2])?, bias: Some(Array::zeros::<f32>([2])?) };
/// assert_eq!(l.num_leaves(), 2);
/// # Ok(()) }
/// ```
#[macro_export]
macro_rules! tree_struct {
    ($(#[$m:meta])* $vis:vis struct $name:ident { $($fvis:vis $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone)]
        $vis struct $name { $($fvis $field: $ty),* }
        $crate::impl_tree!($name { $($field),* });
    };
}

/// `Err` with advice unless `loss` is a scalar (what gradients are taken of).
fn check_scalar_loss(loss: &Array, location: &'static Location<'static>) -> Result<()> {
    if loss.ndim() == 0 {
        return Ok(());
    }
    Err(Error::InvalidArgument {
        message: format!(
            "value_and_grad: the function must return a scalar loss, it returned shape {:?}; \
             reduce it first (e.g. `.mean()` or `.sum()`)",
            loss.shape()
        ),
        location,
    })
}

/// Gradients of a scalar function of a tree, made by [`value_and_grad`].
pub struct ValueAndGrad<P, A> {
    #[allow(clippy::type_complexity)]
    f: Rc<dyn Fn(&P, &A) -> Result<Array>>,
}

impl<P: Tree + Clone + 'static, A: Tree + Clone + 'static> ValueAndGrad<P, A> {
    /// `(loss, gradients)`: the gradients have `params`' structure.
    /// Errors (including MLX's) point at this call.
    #[track_caller]
    pub fn call(&self, params: &P, args: &A) -> Result<(Array, P)> {
        let location = Location::caller();
        let p_leaves = params.flatten();
        let n = p_leaves.len();
        if n == 0 {
            return Err(Error::InvalidArgument {
                message: "value_and_grad: the parameters hold no arrays".into(),
                location,
            });
        }
        let mut inputs = p_leaves;
        inputs.extend(args.flatten());
        let (pt, at, f) = (params.clone(), args.clone(), self.f.clone());
        let flat = move |xs: &[Array]| -> Result<Vec<Array>> {
            let p = pt.unflatten(xs[..n].to_vec())?;
            let a = at.unflatten(xs[n..].to_vec())?;
            let loss = f(&p, &a)?;
            check_scalar_loss(&loss, location)?;
            Ok(vec![loss])
        };
        let argnums: Vec<i32> = (0..n as i32).collect();
        let vg = transforms::value_and_grad(flat, &argnums).map_err(|e| e.at(location))?;
        let (values, grads) = vg.call(&inputs).map_err(|e| e.at(location))?;
        let loss = values
            .into_iter()
            .next()
            .ok_or_else(|| Error::InvalidArgument {
                message: "value_and_grad: the function returned no value".into(),
                location,
            })?;
        Ok((loss, params.unflatten(grads)?))
    }
}

/// Differentiates a scalar function `f(params, args)` with respect to every
/// leaf of `params` (Python's `mx.value_and_grad(f)` with the gradient taken
/// of the first argument). `args` (data, labels; any [`Tree`]) are inputs
/// without gradients. A non-scalar loss is an `Err` that says so.
pub fn value_and_grad<P, A, F>(f: F) -> ValueAndGrad<P, A>
where
    F: Fn(&P, &A) -> Result<Array> + 'static,
{
    ValueAndGrad { f: Rc::new(f) }
}

/// Gradients only, made by [`grad`].
pub struct Grad<P, A>(ValueAndGrad<P, A>);

impl<P: Tree + Clone + 'static, A: Tree + Clone + 'static> Grad<P, A> {
    /// The gradients, with `params`' structure.
    #[track_caller]
    pub fn call(&self, params: &P, args: &A) -> Result<P> {
        Ok(self.0.call(params, args)?.1)
    }
}

/// Like [`value_and_grad`], returning only the gradients.
pub fn grad<P, A, F>(f: F) -> Grad<P, A>
where
    F: Fn(&P, &A) -> Result<Array> + 'static,
{
    Grad(value_and_grad(f))
}

/// A compiled function of a tree, made by [`compile`] or [`compile_with_state`].
pub struct Compiled<S, A, O> {
    inner: transforms::CompiledFn,
    // The structures the flat compiled function is rebuilt from: the state
    // and arguments of the current call, and the outputs seen when tracing.
    templates: Rc<RefCell<Templates<S, A, O>>>,
}

struct Templates<S, A, O> {
    state: Option<S>,
    args: Option<A>,
    // Per traced input shape (leaf counts of state and arguments): the
    // outputs and the state as `f` left them. The state may gain leaves
    // while tracing (an optimizer creating its moments on the first step).
    traced: HashMap<(usize, usize), (O, S)>,
}

impl<S, A, O> Compiled<S, A, O>
where
    S: Tree + Clone + 'static,
    A: Tree + Clone + 'static,
    O: Tree + Clone + 'static,
{
    #[track_caller]
    fn run(&self, state: &mut S, args: &A) -> Result<O> {
        let location = Location::caller();
        {
            let mut t = self.templates.borrow_mut();
            t.state = Some(state.clone());
            t.args = Some(args.clone());
        }
        let mut inputs = state.flatten();
        inputs.extend(args.flatten());
        let result = self.inner.call(&inputs).map_err(|e| e.at(location));
        let mut t = self.templates.borrow_mut();
        t.state = None;
        t.args = None;
        let mut outs = result?;
        let key = (state.num_leaves(), args.num_leaves());
        let (output, state_after) = t.traced.get(&key).ok_or_else(|| Error::InvalidArgument {
            message: "compile: the function was never traced".into(),
            location,
        })?;
        let n_state = state_after.num_leaves();
        if outs.len() < n_state {
            return Err(Error::InvalidArgument {
                message: "compile: the function returned fewer arrays than the state holds".into(),
                location,
            });
        }
        let new_state = outs.split_off(outs.len() - n_state);
        let out = output.unflatten(outs).map_err(|e| e.at(location))?;
        *state = state_after
            .unflatten(new_state)
            .map_err(|e| e.at(location))?;
        Ok(out)
    }
}

impl<A, O> Compiled<(), A, O>
where
    A: Tree + Clone + 'static,
    O: Tree + Clone + 'static,
{
    /// Runs the compiled function (lazily).
    #[track_caller]
    pub fn call(&self, args: &A) -> Result<O> {
        self.run(&mut (), args)
    }
}

impl<S, A, O> Compiled<S, A, O>
where
    S: Tree + Clone + 'static,
    A: Tree + Clone + 'static,
    O: Tree + Clone + 'static,
{
    /// Runs the compiled function (lazily); `state` is updated in place to
    /// the state the function left.
    #[track_caller]
    pub fn call_mut(&self, state: &mut S, args: &A) -> Result<O> {
        self.run(state, args)
    }
}

/// Compiles `f(args) -> outputs` over trees (Python's `mx.compile(f)`).
///
/// Like [`transforms::compile`], `f` runs only when MLX traces (the first
/// call, and calls whose input shapes or dtypes differ) and must be pure.
///
/// ```
/// use mlx_rs_core::{tree, Array};
/// # fn main() -> mlx_rs_core::Result<()> {
/// let f = tree::compile(|(x, y): &(Array, Array)| (x * y)? + 1.0)?;
/// let x = Array::from_slice(&[1.0f32, 2.0], &[2])?;
/// let out = f.call(&(x.clone(), x))?;
/// assert_eq!(out.to_vec::<f32>()?, [2.0, 5.0]);
/// # Ok(()) }
/// ```
#[track_caller]
pub fn compile<A, O, F>(f: F) -> Result<Compiled<(), A, O>>
where
    A: Tree + Clone + 'static,
    O: Tree + Clone + 'static,
    F: Fn(&A) -> Result<O> + 'static,
{
    compile_with_state(move |_: &mut (), a: &A| f(a))
}

/// Compiles a function that reads and updates `state` (parameters,
/// optimizer moments, a step count: any [`Tree`]) as Python's
/// `mx.compile(f, inputs=state, outputs=state)` does: the state goes in
/// as inputs, and whatever `f` leaves in it comes back out and is written
/// into the caller's state by [`Compiled::call_mut`]. The state may gain
/// leaves in `f` (an optimizer that creates its moments on its first
/// update); the next call then traces once more with the larger state.
/// Everything that changes from step to step must be an array leaf: other
/// fields of the state keep the values they had after the first trace.
///
/// ```
/// use mlx_rs_core::{tree, Array};
/// # fn main() -> mlx_rs_core::Result<()> {
/// // A counter: state += x, returns the old state.
/// let step = tree::compile_with_state(|s: &mut Array, x: &Array| {
///     let old = s.clone();
///     *s = (&*s + x)?;
///     Ok(old)
/// })?;
/// let mut state = Array::scalar(0.0f32)?;
/// let one = Array::scalar(1.0f32)?;
/// for _ in 0..3 {
///     step.call_mut(&mut state, &one)?;
/// }
/// assert_eq!(state.item::<f32>()?, 3.0);
/// # Ok(()) }
/// ```
#[track_caller]
pub fn compile_with_state<S, A, O, F>(f: F) -> Result<Compiled<S, A, O>>
where
    S: Tree + Clone + 'static,
    A: Tree + Clone + 'static,
    O: Tree + Clone + 'static,
    F: Fn(&mut S, &A) -> Result<O> + 'static,
{
    let templates = Rc::new(RefCell::new(Templates::<S, A, O> {
        state: None,
        args: None,
        traced: HashMap::new(),
    }));
    let t = templates.clone();
    let flat = move |xs: &[Array]| -> Result<Vec<Array>> {
        let (mut state, args) = {
            let t = t.borrow();
            match (&t.state, &t.args) {
                (Some(s), Some(a)) => (s.clone(), a.clone()),
                _ => return Err(Error::invalid("compile: traced outside a call")),
            }
        };
        let n = state.num_leaves();
        let key = (n, args.num_leaves());
        if xs.len() != n + args.num_leaves() {
            return Err(Error::invalid(
                "compile: inputs do not match the state and arguments",
            ));
        }
        state.replace_leaves(xs[..n].to_vec())?;
        let args = args.unflatten(xs[n..].to_vec())?;
        let out = f(&mut state, &args)?;
        let mut flat = out.flatten();
        flat.extend(state.flatten());
        t.borrow_mut().traced.insert(key, (out, state));
        Ok(flat)
    };
    Ok(Compiled {
        inner: transforms::compile(flat, false)?,
        templates,
    })
}
