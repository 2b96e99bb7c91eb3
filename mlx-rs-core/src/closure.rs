//! Rust closures as MLX functions.
//!
//! MLX's transformations ([`crate::transforms`]) take functions from a list of
//! arrays to a list of arrays. A [`Closure`] wraps a Rust closure
//! `Fn(&[Array]) -> Result<Vec<Array>>` as such a function (an mlx-c
//! `mlx_closure` whose payload is the boxed Rust closure, freed by MLX when
//! its last copy goes away).
//!
//! ```
//! use mlx_rs_core::{closure::Closure, ops, Array};
//! # fn main() -> mlx_rs_core::Result<()> {
//! let square = Closure::new(|args: &[Array]| Ok(vec![ops::square(&args[0])?]))?;
//! let x = Array::from_slice(&[3.0f32], &[1])?;
//! assert_eq!(square.call(&[x])?[0].to_vec::<f32>()?, [9.0]);
//! # Ok(()) }
//! ```
//!
//! # Errors and panics inside closures
//! - A closure that returns `Err(e)` makes the MLX call that ran it fail; the
//!   Rust function that made that call returns the same `e` (not MLX's generic
//!   "closure returned a non-zero value").
//! - A closure that panics is stopped at the C boundary (the panic never
//!   unwinds through MLX); the enclosing call returns
//!   [`crate::Error::CallbackPanic`] with the panic message.
//!
//! # `Send`, `Sync` and `'static`
//! - Every closure handed to MLX must be `'static`: MLX keeps (reference
//!   counted) copies of it whose lifetime Rust cannot see.
//! - Closures that only a Rust-owned function object calls ([`Closure`],
//!   [`crate::transforms::compile`], [`crate::transforms::grad`],
//!   [`crate::transforms::vmap`], ...) need not be `Send` or `Sync`: those
//!   objects are neither `Send` nor `Sync`, so the closure runs and is dropped
//!   on the thread that created it.
//! - Closures that MLX stores inside graph nodes
//!   ([`crate::transforms::checkpoint`], the forward and derivative functions
//!   of [`crate::transforms::CustomFunction`]) must be `Send + Sync`: arrays
//!   are `Send`, so such a node may be differentiated, transformed or dropped
//!   on any thread, and clones on two threads may call it concurrently.

use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};

use crate::ffi::{catch_callback_panic, mlx_call, mlx_value, vector_op};
use crate::handles::{Owned, ResultSlot, VectorArray};
use crate::{Array, Error, Result};

/// The signature of every plain MLX function: arrays in, arrays out.
pub(crate) type BoxedFn = Box<dyn Fn(&[Array]) -> Result<Vec<Array>> + 'static>;

/// A custom vector-Jacobian product: `(primals, cotangents, outputs)` to one
/// cotangent per primal.
pub(crate) type VjpFn =
    Box<dyn Fn(&[Array], &[Array], &[Array]) -> Result<Vec<Array>> + Send + Sync + 'static>;
/// A custom Jacobian-vector product: `(primals, tangents, argnums)` to one
/// tangent per output.
pub(crate) type JvpFn =
    Box<dyn Fn(&[Array], &[Array], &[i32]) -> Result<Vec<Array>> + Send + Sync + 'static>;
/// A custom vmap rule: `(inputs, axes)` to `(outputs, output axes)`.
pub(crate) type VmapRuleFn =
    Box<dyn Fn(&[Array], &[i32]) -> Result<(Vec<Array>, Vec<i32>)> + Send + Sync + 'static>;

thread_local! {
    /// The error a Rust closure returned to MLX on this thread, waiting for the
    /// call that ran it to return.
    static CALLBACK_ERROR: RefCell<Option<Error>> = const { RefCell::new(None) };
}

thread_local! {
    /// How many Rust functions MLX is running on this thread right now
    /// (nested calls count once each): see [`in_mlx_function`].
    static MLX_FUNCTION_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Whether this thread is inside a Rust function that MLX is running: the
/// body of a [`Closure`] or of a transformation's function (grad, vjp, jvp,
/// vmap, compile, checkpoint), or a custom function's forward or derivative
/// rules.
///
/// Every array that a transformation can later differentiate or vectorize is
/// built inside such a function, from the transformation's own stand-ins for
/// the inputs; an array built outside one is a constant to every later
/// transformation. So code outside (`false`) may build ops that MLX cannot
/// differentiate or vectorize, such as a custom kernel without a
/// custom-function wrapper, which costs several µs less per call. It is also
/// `true` when a [`Closure`] is called directly, which only makes that choice
/// more cautious than it needs to be.
///
/// ```
/// use mlx_rs_core::{closure::{in_mlx_function, Closure}, ops, Array};
/// # fn main() -> mlx_rs_core::Result<()> {
/// assert!(!in_mlx_function());
/// let f = Closure::new(|a: &[Array]| {
///     assert!(in_mlx_function());
///     Ok(vec![ops::square(&a[0])?])
/// })?;
/// f.call(&[Array::from_slice(&[2.0f32], &[1])?])?;
/// assert!(!in_mlx_function());
/// # Ok(()) }
/// ```
pub fn in_mlx_function() -> bool {
    MLX_FUNCTION_DEPTH.try_with(|d| d.get() > 0).unwrap_or(true)
}

/// Marks this thread as inside an MLX-run function while it lives.
struct InMlxFunction;

impl InMlxFunction {
    fn enter() -> InMlxFunction {
        let _ = MLX_FUNCTION_DEPTH.try_with(|d| d.set(d.get().saturating_add(1)));
        InMlxFunction
    }
}

impl Drop for InMlxFunction {
    fn drop(&mut self) {
        let _ = MLX_FUNCTION_DEPTH.try_with(|d| d.set(d.get().saturating_sub(1)));
    }
}

fn stash_error(e: Error) {
    let _ = CALLBACK_ERROR.try_with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            // Keep the first error: later ones are consequences of it.
            slot.get_or_insert(e);
        }
    });
}

fn take_stashed_error() -> Option<Error> {
    CALLBACK_ERROR
        .try_with(|slot| slot.try_borrow_mut().ok().and_then(|mut s| s.take()))
        .ok()
        .flatten()
}

fn restore_stashed_error(e: Option<Error>) {
    if let Some(e) = e {
        stash_error(e);
    }
}

/// Runs an mlx-c call that may invoke Rust closures. If it fails and a closure
/// returned an error on the way, that error is returned instead of MLX's
/// generic message. Panics caught in closures surface (through
/// [`crate::ffi::check`]) as [`Error::CallbackPanic`] and win over both.
pub(crate) fn with_callbacks<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    // A call made from inside another closure must not see (or eat) an error
    // stashed for the outer call.
    let outer = take_stashed_error();
    let result = f();
    let inner = take_stashed_error();
    restore_stashed_error(outer);
    match result {
        Ok(v) => Ok(v),
        Err(e @ Error::CallbackPanic { .. }) => Err(e),
        Err(e) => Err(inner.unwrap_or(e)),
    }
}

/// Copies the arrays of a borrowed mlx-c vector out as owned handles.
fn read_vector(vec: mlx_sys::mlx_vector_array) -> Result<Vec<Array>> {
    let n = mlx_value!(mlx_vector_array_size(vec))?;
    (0..n)
        .map(|i| {
            let mut slot = ResultSlot::new();
            let out = slot.as_mut_ptr();
            mlx_call!(mlx_vector_array_get(out, vec, i))?;
            slot.into_array()
        })
        .collect()
}

/// Stores `arrays` in the result vector `res` that MLX passed (an empty
/// handle it frees after the callback).
fn write_vector(res: *mut mlx_sys::mlx_vector_array, arrays: &[Array]) -> Result<()> {
    if res.is_null() {
        return Err(Error::invalid("MLX passed no result vector"));
    }
    let vec = VectorArray::from_arrays(arrays)?;
    mlx_call!(mlx_vector_array_set(res, vec.as_raw()))
}

/// Stores `ints` in the result vector `res` that MLX passed.
fn write_ints(res: *mut mlx_sys::mlx_vector_int, ints: &[i32]) -> Result<()> {
    if res.is_null() {
        return Err(Error::invalid("MLX passed no result vector"));
    }
    let mut data: Vec<c_int> = ints.to_vec();
    let raw = mlx_value!(mlx_vector_int_new_data(data.as_mut_ptr(), data.len()))?;
    // SAFETY: a fresh vector that only this guard owns.
    let vec = unsafe { Owned::new(raw) };
    mlx_call!(mlx_vector_int_set(res, vec.get()))
}

fn int_slice<'a>(ptr: *const c_int, len: usize) -> &'a [i32] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: mlx-c passes `len` ints that live for the callback's duration.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

/// Status for the C side: 0 on success; on error, stash it and return 1.
fn report(result: Result<()>) -> c_int {
    match result {
        Ok(()) => 0,
        Err(e) => {
            stash_error(e);
            1
        }
    }
}

/// Recovers a payload reference.
///
/// # Safety
/// `payload` must be a pointer made by `Box::into_raw(Box::new(p))` with
/// `p: P`, not yet freed.
unsafe fn payload_ref<'a, P>(payload: *mut c_void) -> &'a P {
    // SAFETY: guaranteed by the caller.
    unsafe { &*payload.cast::<P>() }
}

extern "C" fn drop_payload<P>(payload: *mut c_void) {
    catch_callback_panic((), || {
        if !payload.is_null() {
            // SAFETY: MLX calls this destructor exactly once, with the pointer
            // made by `Box::into_raw` when the closure was created.
            drop(unsafe { Box::from_raw(payload.cast::<P>()) });
        }
    });
}

extern "C" fn call_func(
    res: *mut mlx_sys::mlx_vector_array,
    input: mlx_sys::mlx_vector_array,
    payload: *mut c_void,
) -> c_int {
    catch_callback_panic(1, || {
        let _inside = InMlxFunction::enter();
        // SAFETY: this trampoline is only registered with a `BoxedFn` payload
        // (see `Closure::new`), which MLX keeps alive while it can call us.
        let f = unsafe { payload_ref::<BoxedFn>(payload) };
        report(read_vector(input).and_then(|args| {
            let outs = f(&args)?;
            write_vector(res, &outs)
        }))
    })
}

extern "C" fn call_custom_vjp(
    res: *mut mlx_sys::mlx_vector_array,
    primals: mlx_sys::mlx_vector_array,
    cotangents: mlx_sys::mlx_vector_array,
    outputs: mlx_sys::mlx_vector_array,
    payload: *mut c_void,
) -> c_int {
    catch_callback_panic(1, || {
        let _inside = InMlxFunction::enter();
        // SAFETY: registered only with a `VjpFn` payload (`new_custom_vjp`).
        let f = unsafe { payload_ref::<VjpFn>(payload) };
        report((|| {
            let p = read_vector(primals)?;
            let c = read_vector(cotangents)?;
            let o = read_vector(outputs)?;
            let outs = f(&p, &c, &o)?;
            write_vector(res, &outs)
        })())
    })
}

extern "C" fn call_custom_jvp(
    res: *mut mlx_sys::mlx_vector_array,
    primals: mlx_sys::mlx_vector_array,
    tangents: mlx_sys::mlx_vector_array,
    argnums: *const c_int,
    argnums_len: usize,
    payload: *mut c_void,
) -> c_int {
    catch_callback_panic(1, || {
        let _inside = InMlxFunction::enter();
        // SAFETY: registered only with a `JvpFn` payload (`new_custom_jvp`).
        let f = unsafe { payload_ref::<JvpFn>(payload) };
        report((|| {
            let p = read_vector(primals)?;
            let t = read_vector(tangents)?;
            let outs = f(&p, &t, int_slice(argnums, argnums_len))?;
            write_vector(res, &outs)
        })())
    })
}

extern "C" fn call_custom_vmap(
    res: *mut mlx_sys::mlx_vector_array,
    res_axes: *mut mlx_sys::mlx_vector_int,
    inputs: mlx_sys::mlx_vector_array,
    axes: *const c_int,
    axes_len: usize,
    payload: *mut c_void,
) -> c_int {
    catch_callback_panic(1, || {
        let _inside = InMlxFunction::enter();
        // SAFETY: registered only with a `VmapRuleFn` payload (`new_custom_vmap`).
        let f = unsafe { payload_ref::<VmapRuleFn>(payload) };
        report((|| {
            let x = read_vector(inputs)?;
            let (outs, out_axes) = f(&x, int_slice(axes, axes_len))?;
            write_vector(res, &outs)?;
            write_ints(res_axes, &out_axes)
        })())
    })
}

/// An MLX function (an `mlx_closure`), usually made from a Rust closure.
///
/// Neither `Send` nor `Sync`: it may hold a closure that is neither, and MLX's
/// compile caches are per thread.
pub struct Closure {
    raw: Owned<mlx_sys::mlx_closure>,
}

impl Closure {
    /// Wraps a Rust closure as an MLX function.
    ///
    /// See the [module docs](self) for how errors and panics inside `f` are
    /// reported.
    #[track_caller]
    pub fn new<F>(f: F) -> Result<Closure>
    where
        F: Fn(&[Array]) -> Result<Vec<Array>> + 'static,
    {
        let payload: Box<BoxedFn> = Box::new(Box::new(f));
        let ptr = Box::into_raw(payload).cast::<c_void>();
        // On failure mlx-c has already handed the payload to its destructor.
        let raw = mlx_value!(mlx_closure_new_func_payload(
            Some(call_func),
            ptr,
            Some(drop_payload::<BoxedFn>)
        ))?;
        Closure::from_raw(raw)
    }

    /// Takes ownership of a freshly made handle; errors if it is empty.
    #[track_caller]
    pub(crate) fn from_raw(raw: mlx_sys::mlx_closure) -> Result<Closure> {
        if raw.ctx.is_null() {
            return Err(Error::invalid("MLX returned an empty closure"));
        }
        // SAFETY: a fresh handle that only this value owns.
        Ok(Closure {
            raw: unsafe { Owned::new(raw) },
        })
    }

    /// Runs an mlx-c call that fills in a closure result slot.
    #[track_caller]
    pub(crate) fn from_call(
        f: impl FnOnce(*mut mlx_sys::mlx_closure) -> Result<()>,
    ) -> Result<Closure> {
        let mut slot = Closure {
            // SAFETY: creates an empty handle, owned by the slot alone.
            raw: unsafe { Owned::new(mlx_sys::mlx_closure_new()) },
        };
        f(slot.raw.as_mut_ptr())?;
        if slot.raw.is_empty() {
            return Err(Error::invalid("MLX returned an empty closure"));
        }
        Ok(slot)
    }

    /// The raw handle, still owned by `self`.
    pub fn as_raw(&self) -> mlx_sys::mlx_closure {
        self.raw.get()
    }

    /// Calls the function (lazily: the results are unevaluated arrays).
    #[track_caller]
    pub fn call(&self, args: &[Array]) -> Result<Vec<Array>> {
        let input = VectorArray::from_arrays(args)?;
        with_callbacks(|| vector_op!(mlx_closure_apply(self.raw.get(), input.as_raw())))
    }
}

impl std::fmt::Debug for Closure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Closure")
    }
}

/// An owned `mlx_closure_custom` (a custom VJP rule).
pub(crate) struct CustomVjpClosure(pub(crate) Owned<mlx_sys::mlx_closure_custom>);

impl CustomVjpClosure {
    #[track_caller]
    pub(crate) fn new(f: VjpFn) -> Result<Self> {
        let ptr = Box::into_raw(Box::new(f)).cast::<c_void>();
        let raw = mlx_value!(mlx_closure_custom_new_func_payload(
            Some(call_custom_vjp),
            ptr,
            Some(drop_payload::<VjpFn>)
        ))?;
        if raw.ctx.is_null() {
            return Err(Error::invalid("MLX returned an empty closure"));
        }
        // SAFETY: a fresh handle that only this value owns.
        Ok(CustomVjpClosure(unsafe { Owned::new(raw) }))
    }
}

/// An owned `mlx_closure_custom_jvp` (a custom JVP rule).
pub(crate) struct CustomJvpClosure(pub(crate) Owned<mlx_sys::mlx_closure_custom_jvp>);

impl CustomJvpClosure {
    #[track_caller]
    pub(crate) fn new(f: JvpFn) -> Result<Self> {
        let ptr = Box::into_raw(Box::new(f)).cast::<c_void>();
        let raw = mlx_value!(mlx_closure_custom_jvp_new_func_payload(
            Some(call_custom_jvp),
            ptr,
            Some(drop_payload::<JvpFn>)
        ))?;
        if raw.ctx.is_null() {
            return Err(Error::invalid("MLX returned an empty closure"));
        }
        // SAFETY: a fresh handle that only this value owns.
        Ok(CustomJvpClosure(unsafe { Owned::new(raw) }))
    }
}

/// An owned `mlx_closure_custom_vmap` (a custom vmap rule).
pub(crate) struct CustomVmapClosure(pub(crate) Owned<mlx_sys::mlx_closure_custom_vmap>);

impl CustomVmapClosure {
    #[track_caller]
    pub(crate) fn new(f: VmapRuleFn) -> Result<Self> {
        let ptr = Box::into_raw(Box::new(f)).cast::<c_void>();
        let raw = mlx_value!(mlx_closure_custom_vmap_new_func_payload(
            Some(call_custom_vmap),
            ptr,
            Some(drop_payload::<VmapRuleFn>)
        ))?;
        if raw.ctx.is_null() {
            return Err(Error::invalid("MLX returned an empty closure"));
        }
        // SAFETY: a fresh handle that only this value owns.
        Ok(CustomVmapClosure(unsafe { Owned::new(raw) }))
    }
}

/// An owned `mlx_closure_value_and_grad`.
pub(crate) struct ValueAndGradClosure(pub(crate) Owned<mlx_sys::mlx_closure_value_and_grad>);

impl ValueAndGradClosure {
    pub(crate) fn empty() -> Self {
        // SAFETY: creates an empty handle, owned by this value alone.
        ValueAndGradClosure(unsafe { Owned::new(mlx_sys::mlx_closure_value_and_grad_new()) })
    }

    /// Calls it: `(values, gradients)`.
    #[track_caller]
    pub(crate) fn apply(&self, args: &[Array]) -> Result<(Vec<Array>, Vec<Array>)> {
        let input = VectorArray::from_arrays(args)?;
        let mut values = VectorArray::new();
        let mut grads = VectorArray::new();
        let (v, g) = (values.as_mut_ptr(), grads.as_mut_ptr());
        with_callbacks(|| {
            mlx_call!(mlx_closure_value_and_grad_apply(
                v,
                g,
                self.0.get(),
                input.as_raw()
            ))
        })?;
        Ok((values.into_vec()?, grads.into_vec()?))
    }
}
