//! Function transformations: compilation, gradients (`grad`, `value_and_grad`,
//! `vjp`, `jvp`), vectorization (`vmap`), gradient checkpointing and custom
//! derivatives.
//!
//! Functions are Rust closures `Fn(&[Array]) -> Result<Vec<Array>>` (see
//! [`crate::closure`] for the `Send`/`Sync`/`'static` rules and for how errors
//! and panics inside them come back). A transformation returns a function
//! object with a `call(&[Array])` method; calling it is lazy like any op.
//!
//! ```
//! use mlx_rs_core::{ops, transforms, Array};
//! # fn main() -> mlx_rs_core::Result<()> {
//! // d/dx sum(x^2) = 2x
//! let g = transforms::grad(|a: &[Array]| Ok(vec![ops::sum(&ops::square(&a[0])?, false)?]), &[0])?;
//! let x = Array::from_slice(&[1.0f32, 2.0], &[2])?;
//! assert_eq!(g.call(&[x])?[0].to_vec::<f32>()?, [2.0, 4.0]);
//! # Ok(()) }
//! ```
//!
//! # Threads
//! The function objects here ([`CompiledFn`], [`GradFn`], [`ValueAndGradFn`],
//! [`VmapFn`], [`Closure`]) are neither `Send` nor `Sync`: use each on the
//! thread that made it, and make one per thread if several threads need the
//! same function. For [`CompiledFn`] this is required by MLX itself: its
//! compile cache is per thread, and dropping a compiled function only erases
//! the entry of the thread that compiled it, so a compiled function used from
//! another thread could leave a stale cache entry keyed by a reusable address.

use std::ffi::c_int;

use crate::closure::{
    with_callbacks, Closure, CustomJvpClosure, CustomVjpClosure, CustomVmapClosure,
    ValueAndGradClosure,
};
use crate::ffi::{mlx_call, vector_op};
use crate::handles::VectorArray;
use crate::{Array, Error, Result};

fn to_c_ints(v: &[i32]) -> Vec<c_int> {
    v.iter().map(|&x| x as c_int).collect()
}

/// A compiled function, made by [`compile`].
///
/// The first call with given input shapes and dtypes traces the Rust closure
/// and builds a fused graph; later calls with matching inputs reuse it without
/// running the closure again (a shapeless function reuses it for any shapes
/// of the same rank and dtypes). The compiled graph is cached as long as this
/// object lives. Not `Send`/`Sync`: see the [module docs](self).
pub struct CompiledFn {
    closure: Closure,
    shapeless: bool,
}

impl CompiledFn {
    /// Runs the compiled function (lazily).
    #[track_caller]
    pub fn call(&self, args: &[Array]) -> Result<Vec<Array>> {
        self.closure.call(args)
    }

    /// Whether it was compiled shapeless.
    pub fn is_shapeless(&self) -> bool {
        self.shapeless
    }

    /// The underlying MLX function (usable wherever a [`Closure`] is).
    pub fn as_closure(&self) -> &Closure {
        &self.closure
    }
}

/// Compiles `f`.
///
/// `f` must be a pure function of its inputs: it runs only when MLX traces
/// (the first call, and calls whose input shapes or dtypes differ, unless
/// `shapeless`), so side effects and arrays captured from outside are frozen
/// at trace time. With `shapeless`, one trace serves inputs of any shape
/// (same ranks and dtypes); `f` must then not depend on the shapes (MLX
/// rejects some shape-dependent ops when shapeless).
#[track_caller]
pub fn compile<F>(f: F, shapeless: bool) -> Result<CompiledFn>
where
    F: Fn(&[Array]) -> Result<Vec<Array>> + 'static,
{
    let fun = Closure::new(f)?;
    let closure = Closure::from_call(|res| mlx_call!(mlx_compile(res, fun.as_raw(), shapeless)))?;
    Ok(CompiledFn { closure, shapeless })
}

/// Turns compilation on globally (the default); [`compile`]d functions then fuse.
#[track_caller]
pub fn enable_compile() -> Result<()> {
    mlx_call!(mlx_enable_compile())
}

/// Turns compilation off globally: [`compile`]d functions then run the
/// closure on every call, uncompiled.
#[track_caller]
pub fn disable_compile() -> Result<()> {
    mlx_call!(mlx_disable_compile())
}

/// How much [`compile`] does (see [`set_compile_mode`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompileMode {
    /// No compilation: functions compiled while this mode is set run the
    /// closure on every call (the same as [`disable_compile`]).
    Disabled,
    /// Trace and cache graphs, but skip graph simplification.
    NoSimplify,
    /// Trace, cache and simplify graphs, but do not fuse element-wise ops.
    NoFuse,
    /// Everything (the default; the same as [`enable_compile`]).
    Enabled,
}

/// Sets how much [`compile`] does, for the whole process. Useful to rule
/// compilation (or one of its passes) in or out when chasing a numerical
/// difference.
///
/// ```
/// use mlx_rs_core::transforms::{self, CompileMode};
/// # fn main() -> mlx_rs_core::Result<()> {
/// transforms::set_compile_mode(CompileMode::NoFuse)?;
/// transforms::set_compile_mode(CompileMode::Enabled)?;
/// # Ok(()) }
/// ```
#[track_caller]
pub fn set_compile_mode(mode: CompileMode) -> Result<()> {
    let raw = match mode {
        CompileMode::Disabled => mlx_sys::MLX_COMPILE_MODE_DISABLED,
        CompileMode::NoSimplify => mlx_sys::MLX_COMPILE_MODE_NO_SIMPLIFY,
        CompileMode::NoFuse => mlx_sys::MLX_COMPILE_MODE_NO_FUSE,
        CompileMode::Enabled => mlx_sys::MLX_COMPILE_MODE_ENABLED,
    };
    mlx_call!(mlx_set_compile_mode(raw))
}

/// Drops every graph that [`compile`]d functions have cached on this thread
/// (MLX's compile cache is per thread). The functions stay usable: the next
/// call traces the closure again. Frees the memory the cached graphs hold
/// (their constants, for instance).
///
/// ```
/// use mlx_rs_core::{ops, transforms, Array};
/// # fn main() -> mlx_rs_core::Result<()> {
/// let f = transforms::compile(|a: &[Array]| Ok(vec![ops::exp(&a[0])?]), false)?;
/// let x = Array::from_slice(&[0.0f32], &[1])?;
/// f.call(&[x.clone()])?;
/// transforms::clear_compile_cache()?;
/// assert_eq!(f.call(&[x])?[0].to_vec::<f32>()?, [1.0]); // traced again
/// # Ok(()) }
/// ```
#[track_caller]
pub fn clear_compile_cache() -> Result<()> {
    let raw = crate::ffi::mlx_value!(mlx_compile_cache_new())?;
    // SAFETY: a fresh handle that only this guard owns.
    let mut cache = unsafe { crate::handles::Owned::new(raw) };
    mlx_call!(mlx_detail_compile_cache(cache.as_mut_ptr()))?;
    mlx_call!(mlx_detail_compile_clear_cache(cache.get()))
}

/// A function returning values and gradients, made by [`value_and_grad`].
pub struct ValueAndGradFn {
    inner: ValueAndGradClosure,
    // MLX returns gradients in ascending argnum order; `order[i]` is where the
    // gradient of the caller's `argnums[i]` sits in that list.
    order: Vec<usize>,
    // Keeps the differentiated function alive alongside the C handle.
    _fun: Closure,
}

impl ValueAndGradFn {
    /// Returns `(outputs of f, gradients)`: one gradient per chosen argument,
    /// of the first output (which must be a scalar) with respect to it.
    #[track_caller]
    pub fn call(&self, args: &[Array]) -> Result<(Vec<Array>, Vec<Array>)> {
        let (values, grads) = self.inner.apply(args)?;
        if grads.len() != self.order.len() {
            return Err(Error::invalid(format!(
                "MLX returned {} gradients for {} argnums",
                grads.len(),
                self.order.len()
            )));
        }
        let grads = self.order.iter().map(|&i| grads[i].clone()).collect();
        Ok((values, grads))
    }
}

/// A function returning gradients, made by [`grad`].
pub struct GradFn(ValueAndGradFn);

impl GradFn {
    /// The gradients of `f`'s first output (a scalar) with respect to each
    /// chosen argument, in `argnums` order.
    #[track_caller]
    pub fn call(&self, args: &[Array]) -> Result<Vec<Array>> {
        Ok(self.0.call(args)?.1)
    }
}

/// Differentiates `f` with respect to the arguments at `argnums`; gradients
/// come back in `argnums` order (e.g. `&[1, 0]` gives `[d/d arg1, d/d arg0]`).
/// `f`'s first output must be a scalar, later outputs are returned as
/// auxiliary values. Empty, negative or repeated `argnums` are rejected here,
/// out-of-range ones when called.
#[track_caller]
pub fn value_and_grad<F>(f: F, argnums: &[i32]) -> Result<ValueAndGradFn>
where
    F: Fn(&[Array]) -> Result<Vec<Array>> + 'static,
{
    if argnums.is_empty() {
        return Err(Error::invalid("value_and_grad needs at least one argnum"));
    }
    if let Some(bad) = argnums.iter().find(|&&a| a < 0) {
        return Err(Error::invalid(format!("negative argnum {bad}")));
    }
    let mut sorted = argnums.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != argnums.len() {
        return Err(Error::invalid(format!("repeated argnums in {argnums:?}")));
    }
    let order = argnums
        .iter()
        .map(|a| sorted.binary_search(a).unwrap_or(0))
        .collect();
    let fun = Closure::new(f)?;
    let nums = to_c_ints(&sorted);
    let mut inner = ValueAndGradClosure::empty();
    let res: *mut mlx_sys::mlx_closure_value_and_grad = inner.0.as_mut_ptr();
    mlx_call!(mlx_value_and_grad(
        res,
        fun.as_raw(),
        nums.as_ptr(),
        nums.len()
    ))?;
    if inner.0.is_empty() {
        return Err(Error::invalid("MLX returned an empty closure"));
    }
    Ok(ValueAndGradFn {
        inner,
        order,
        _fun: fun,
    })
}

/// Like [`value_and_grad`], returning only the gradients.
#[track_caller]
pub fn grad<F>(f: F, argnums: &[i32]) -> Result<GradFn>
where
    F: Fn(&[Array]) -> Result<Vec<Array>> + 'static,
{
    value_and_grad(f, argnums).map(GradFn)
}

/// Vector-Jacobian product: runs `f` at `primals` and pulls `cotangents`
/// (one per output of `f`, shaped like it) back. Returns `(outputs,
/// one cotangent per primal)`.
#[track_caller]
pub fn vjp<F>(f: F, primals: &[Array], cotangents: &[Array]) -> Result<(Vec<Array>, Vec<Array>)>
where
    F: Fn(&[Array]) -> Result<Vec<Array>> + 'static,
{
    let fun = Closure::new(f)?;
    let p = VectorArray::from_arrays(primals)?;
    let c = VectorArray::from_arrays(cotangents)?;
    let mut outs = VectorArray::new();
    let mut vjps = VectorArray::new();
    let (o, v) = (outs.as_mut_ptr(), vjps.as_mut_ptr());
    with_callbacks(|| mlx_call!(mlx_vjp(o, v, fun.as_raw(), p.as_raw(), c.as_raw())))?;
    Ok((outs.into_vec()?, vjps.into_vec()?))
}

/// Jacobian-vector product: runs `f` at `primals` and pushes `tangents` (one
/// per primal, shaped like it) forward. Returns `(outputs, one tangent per
/// output)`.
#[track_caller]
pub fn jvp<F>(f: F, primals: &[Array], tangents: &[Array]) -> Result<(Vec<Array>, Vec<Array>)>
where
    F: Fn(&[Array]) -> Result<Vec<Array>> + 'static,
{
    let fun = Closure::new(f)?;
    let p = VectorArray::from_arrays(primals)?;
    let t = VectorArray::from_arrays(tangents)?;
    let mut outs = VectorArray::new();
    let mut jvps = VectorArray::new();
    let (o, j) = (outs.as_mut_ptr(), jvps.as_mut_ptr());
    with_callbacks(|| mlx_call!(mlx_jvp(o, j, fun.as_raw(), p.as_raw(), t.as_raw())))?;
    Ok((outs.into_vec()?, jvps.into_vec()?))
}

/// A vectorized function, made by [`vmap`].
pub struct VmapFn {
    fun: Closure,
    in_axes: Vec<Option<i32>>,
    out_axes: Vec<i32>,
}

impl VmapFn {
    /// Maps the function over the chosen axes of `args` and stacks the
    /// results along the output axes.
    #[track_caller]
    pub fn call(&self, args: &[Array]) -> Result<Vec<Array>> {
        let in_axes: Vec<c_int> = if self.in_axes.is_empty() {
            vec![0; args.len()]
        } else if self.in_axes.len() != args.len() {
            return Err(Error::invalid(format!(
                "vmap: {} in_axes for {} arguments",
                self.in_axes.len(),
                args.len()
            )));
        } else {
            self.in_axes
                .iter()
                .zip(args)
                .map(|(ax, a)| match *ax {
                    None => Ok(-1),
                    Some(ax) => {
                        let n = a.ndim() as i32;
                        let norm = if ax < 0 { ax + n } else { ax };
                        if (0..n).contains(&norm) {
                            Ok(norm)
                        } else {
                            Err(Error::invalid(format!(
                                "vmap: in axis {ax} out of range for {n} dimensions"
                            )))
                        }
                    }
                })
                .collect::<Result<_>>()?
        };
        let inputs = VectorArray::from_arrays(args)?;
        let mut s_in = VectorArray::new();
        let mut s_out = VectorArray::new();
        let (si, so) = (s_in.as_mut_ptr(), s_out.as_mut_ptr());
        with_callbacks(|| {
            mlx_call!(mlx_detail_vmap_trace(
                si,
                so,
                self.fun.as_raw(),
                inputs.as_raw(),
                in_axes.as_ptr(),
                in_axes.len()
            ))
        })?;
        let n_out = s_out.len();
        let out_axes: Vec<c_int> = if self.out_axes.is_empty() {
            vec![0; n_out]
        } else if self.out_axes.len() != n_out {
            return Err(Error::invalid(format!(
                "vmap: {} out_axes for {n_out} outputs",
                self.out_axes.len()
            )));
        } else {
            to_c_ints(&self.out_axes)
        };
        vector_op!(mlx_detail_vmap_replace(
            inputs.as_raw(),
            s_in.as_raw(),
            s_out.as_raw(),
            in_axes.as_ptr(),
            in_axes.len(),
            out_axes.as_ptr(),
            out_axes.len()
        ))
    }
}

/// Vectorizes `f`: the returned function maps `f` over axis `in_axes[i]` of
/// argument `i` (`None`: not mapped, passed whole to every call) and stacks
/// output `j` along `out_axes[j]`. Empty `in_axes` / `out_axes` mean axis 0
/// for every argument / output. Output axes must be non-negative.
#[track_caller]
pub fn vmap<F>(f: F, in_axes: &[Option<i32>], out_axes: &[i32]) -> Result<VmapFn>
where
    F: Fn(&[Array]) -> Result<Vec<Array>> + 'static,
{
    if let Some(bad) = out_axes.iter().find(|&&a| a < 0) {
        return Err(Error::invalid(format!("vmap: negative out axis {bad}")));
    }
    if !in_axes.is_empty() && in_axes.iter().all(Option::is_none) {
        return Err(Error::invalid("vmap: at least one input must be mapped"));
    }
    Ok(VmapFn {
        fun: Closure::new(f)?,
        in_axes: in_axes.to_vec(),
        out_axes: out_axes.to_vec(),
    })
}

/// Gradient checkpointing: the returned function computes `f`, but its
/// backward pass recomputes `f`'s intermediates instead of keeping them.
///
/// `f` must be `Send + Sync`: MLX stores it in the graph (see
/// [`crate::closure`]).
#[track_caller]
pub fn checkpoint<F>(f: F) -> Result<Closure>
where
    F: Fn(&[Array]) -> Result<Vec<Array>> + Send + Sync + 'static,
{
    let fun = Closure::new(f)?;
    Closure::from_call(|res| mlx_call!(mlx_checkpoint(res, fun.as_raw())))
}

/// A function with custom derivative rules; [`CustomFunction::build`] makes
/// the [`Closure`] to call.
///
/// ```
/// use mlx_rs_core::{ops, transforms::CustomFunction, Array};
/// # fn main() -> mlx_rs_core::Result<()> {
/// // round() with a straight-through gradient.
/// let ste = CustomFunction::new(|x: &[Array]| Ok(vec![ops::round(&x[0], 0)?]))?
///     .vjp(|_primals: &[Array], cotangents: &[Array], _outputs: &[Array]| {
///         Ok(vec![cotangents[0].clone()])
///     })?
///     .build()?;
/// # Ok(()) }
/// ```
///
/// Every rule, and the forward function, must be `Send + Sync + 'static`:
/// MLX stores them in the graph.
pub struct CustomFunction {
    fun: Closure,
    vjp: Option<CustomVjpClosure>,
    jvp: Option<CustomJvpClosure>,
    vmap: Option<CustomVmapClosure>,
}

impl CustomFunction {
    /// Starts from the forward function `f`.
    #[track_caller]
    pub fn new<F>(f: F) -> Result<CustomFunction>
    where
        F: Fn(&[Array]) -> Result<Vec<Array>> + Send + Sync + 'static,
    {
        Ok(CustomFunction {
            fun: Closure::new(f)?,
            vjp: None,
            jvp: None,
            vmap: None,
        })
    }

    /// Sets the VJP rule: `(primals, cotangents, outputs)` to one cotangent
    /// per primal, each shaped like its primal.
    #[track_caller]
    pub fn vjp<F>(mut self, f: F) -> Result<CustomFunction>
    where
        F: Fn(&[Array], &[Array], &[Array]) -> Result<Vec<Array>> + Send + Sync + 'static,
    {
        self.vjp = Some(CustomVjpClosure::new(Box::new(f))?);
        Ok(self)
    }

    /// Sets the JVP rule: `(primals, tangents, argnums)` to one tangent per
    /// output; `tangents[k]` belongs to primal `argnums[k]`.
    #[track_caller]
    pub fn jvp<F>(mut self, f: F) -> Result<CustomFunction>
    where
        F: Fn(&[Array], &[Array], &[i32]) -> Result<Vec<Array>> + Send + Sync + 'static,
    {
        self.jvp = Some(CustomJvpClosure::new(Box::new(f))?);
        Ok(self)
    }

    /// Sets the vmap rule: `(inputs, axes)` (axis `-1`: input not mapped) to
    /// `(outputs, output axes)`.
    #[track_caller]
    pub fn vmap<F>(mut self, f: F) -> Result<CustomFunction>
    where
        F: Fn(&[Array], &[i32]) -> Result<(Vec<Array>, Vec<i32>)> + Send + Sync + 'static,
    {
        self.vmap = Some(CustomVmapClosure::new(Box::new(f))?);
        Ok(self)
    }

    /// Makes the function. Transforms without a custom rule fall back to
    /// differentiating (or vectorizing) the forward function.
    #[track_caller]
    pub fn build(self) -> Result<Closure> {
        let vjp = self.vjp.as_ref().map_or(
            mlx_sys::mlx_closure_custom {
                ctx: std::ptr::null_mut(),
            },
            |c| c.0.get(),
        );
        let jvp = self.jvp.as_ref().map_or(
            mlx_sys::mlx_closure_custom_jvp {
                ctx: std::ptr::null_mut(),
            },
            |c| c.0.get(),
        );
        let vmap = self.vmap.as_ref().map_or(
            mlx_sys::mlx_closure_custom_vmap {
                ctx: std::ptr::null_mut(),
            },
            |c| c.0.get(),
        );
        Closure::from_call(|res| {
            mlx_call!(mlx_custom_function(res, self.fun.as_raw(), vjp, jvp, vmap))
        })
    }
}

/// Shorthand for [`CustomFunction`] with only a VJP rule.
#[track_caller]
pub fn custom_vjp<F, V>(f: F, vjp: V) -> Result<Closure>
where
    F: Fn(&[Array]) -> Result<Vec<Array>> + Send + Sync + 'static,
    V: Fn(&[Array], &[Array], &[Array]) -> Result<Vec<Array>> + Send + Sync + 'static,
{
    let fun = Closure::new(f)?;
    let rule = CustomVjpClosure::new(Box::new(vjp))?;
    Closure::from_call(|res| mlx_call!(mlx_custom_vjp(res, fun.as_raw(), rule.0.get())))
}
