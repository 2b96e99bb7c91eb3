//! [`Array`]: an owned handle to an MLX array (a node of a lazy graph).

use std::cell::Cell;
use std::ffi::c_int;

use crate::dtype::Element;
use crate::ffi::{array_op, check_unlocked, evaluating, mlx_call, mlx_value};
use crate::handles::{string_from, Owned};
use crate::{gpu_wait, Dtype, Error, Result, Stream};

pub(crate) use crate::handles::{ResultSlot, VectorArray};

/// An N-dimensional MLX array.
///
/// Arrays are lazy: ops record a graph, and work happens when the array is
/// evaluated ([`Array::eval`], [`crate::eval`]) or read ([`Array::to_vec`],
/// [`Array::item`], printing). Cloning is cheap and shares the node.
///
/// `Send` but not `Sync`: move or clone arrays into other threads (see the
/// crate docs on threads for why `&Array` is not shared).
pub struct Array {
    raw: Owned<mlx_sys::mlx_array>,
    /// Which thread may have unevaluated nodes under this handle (see [`home`]).
    home: Cell<u32>,
}

// SAFETY: the handle owns one reference to a reference-counted MLX array
// (atomic counts), so it may be dropped or used on any thread. What MLX
// mutates in the shared node (evaluation state, inputs, events) is only
// touched by evaluations, which `home` routes: a thread that did not build
// an array's unevaluated nodes evaluates it alone (`ffi::evaluating`).
unsafe impl Send for Array {}

impl Array {
    /// Takes ownership of a raw handle; `None` if it is empty.
    ///
    /// # Safety
    /// `raw` must be a valid `mlx_array` handle that nothing else frees.
    pub unsafe fn from_raw(raw: mlx_sys::mlx_array) -> Option<Array> {
        // SAFETY: guaranteed by the caller. Its graph may have been built
        // anywhere, so it is evaluated as another thread's would be.
        (!raw.ctx.is_null()).then(|| Array::from_owned(unsafe { Owned::new(raw) }, home::MIXED))
    }

    pub(crate) fn from_owned(raw: Owned<mlx_sys::mlx_array>, home: u32) -> Array {
        Array {
            raw,
            home: Cell::new(home),
        }
    }

    /// The raw handle, still owned by `self` (valid while `self` lives).
    ///
    /// Passing it to an op that builds a new array marks that array as
    /// depending on this one (see the crate docs on threads).
    pub fn as_raw(&self) -> mlx_sys::mlx_array {
        home::note_input(self.home.get());
        self.raw.get()
    }

    /// The handle without marking it as an op input (queries, evaluation).
    fn raw(&self) -> mlx_sys::mlx_array {
        self.raw.get()
    }

    /// Gives up ownership of the raw handle; the caller must free it.
    pub fn into_raw(self) -> mlx_sys::mlx_array {
        self.raw.into_raw()
    }

    /// A new array holding a copy of `data`, laid out row-major in `shape`.
    #[track_caller]
    pub fn from_slice<T: Element>(data: &[T], shape: &[i32]) -> Result<Array> {
        let expected = checked_size(shape)?;
        if expected != data.len() {
            return Err(Error::invalid(format!(
                "shape {shape:?} holds {expected} elements, data has {}",
                data.len()
            )));
        }
        let ndim =
            c_int::try_from(shape.len()).map_err(|_| Error::invalid("too many dimensions"))?;
        let raw = mlx_value!(mlx_array_new_data(
            data.as_ptr().cast(),
            shape.as_ptr(),
            ndim,
            T::DTYPE.to_raw()
        ))?;
        if raw.ctx.is_null() {
            return Err(Error::invalid("MLX returned no array"));
        }
        // SAFETY: a fresh handle that only this call owns. It holds data and
        // no graph, so any thread may read it.
        Ok(Array::from_owned(unsafe { Owned::new(raw) }, home::SHARED))
    }

    /// A 1-D array holding a copy of `data`.
    #[track_caller]
    pub fn from_vec<T: Element>(data: Vec<T>) -> Result<Array> {
        let len = i32::try_from(data.len()).map_err(|_| Error::invalid("too many elements"))?;
        Array::from_slice(&data, &[len])
    }

    /// A 0-dimensional array holding `value`.
    #[track_caller]
    pub fn scalar<T: Element>(value: T) -> Result<Array> {
        Array::from_slice(&[value], &[])
    }

    /// The dimensions.
    pub fn shape(&self) -> Vec<i32> {
        let n = self.ndim();
        if n == 0 {
            return Vec::new();
        }
        // SAFETY: mlx-c returns a pointer to `ndim` ints owned by the live array.
        unsafe { std::slice::from_raw_parts(mlx_sys::mlx_array_shape(self.raw()), n) }.to_vec()
    }

    /// Size of dimension `axis` (negative counts from the end).
    #[track_caller]
    pub fn dim(&self, axis: i32) -> Result<i32> {
        let n = self.ndim() as i32;
        let a = if axis < 0 { axis + n } else { axis };
        if !(0..n).contains(&a) {
            return Err(Error::invalid(format!(
                "axis {axis} out of range for {n} dimensions"
            )));
        }
        Ok(self.shape()[a as usize])
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        // SAFETY: `raw` is a live handle.
        unsafe { mlx_sys::mlx_array_ndim(self.raw()) }
    }

    /// Number of elements.
    pub fn size(&self) -> usize {
        // SAFETY: `raw` is a live handle.
        unsafe { mlx_sys::mlx_array_size(self.raw()) }
    }

    /// Bytes the elements take once evaluated.
    pub fn nbytes(&self) -> usize {
        // SAFETY: `raw` is a live handle.
        unsafe { mlx_sys::mlx_array_nbytes(self.raw()) }
    }

    /// The element type.
    pub fn dtype(&self) -> Dtype {
        // SAFETY: `raw` is a live handle.
        let raw = unsafe { mlx_sys::mlx_array_dtype(self.raw()) };
        Dtype::from_raw(raw).expect("MLX returned an unknown dtype")
    }

    /// A lazily converted copy with another element type.
    #[track_caller]
    pub fn astype(&self, dtype: Dtype) -> Result<Array> {
        crate::ops::astype(self, dtype)
    }

    /// Evaluates this array (runs the graph that produces it).
    #[track_caller]
    pub fn eval(&self) -> Result<()> {
        failed::check([self])?;
        let raw = self.raw();
        let exclusive = !home::is_own(self.home.get());
        let result = if let Some(spin_us) = gpu_wait::polling_budget() {
            let vec = VectorArray::from_arrays([self])?;
            evaluating(exclusive, || run_and_wait(&vec, Some(spin_us)))
        } else {
            evaluating(exclusive, || {
                // The second call waits for the result and marks it available,
                // after which evaluating or reading it mutates nothing.
                // SAFETY: `raw` is a live handle.
                check_unlocked(|| unsafe { mlx_sys::mlx_array_eval(raw) })
                    .and_then(|()| check_unlocked(|| unsafe { mlx_sys::mlx_array_eval(raw) }))
            })
        };
        settle([self], result)
    }

    /// Evaluates and copies the elements out, row-major.
    ///
    /// `T` must match [`Array::dtype`] exactly (no silent conversion: use
    /// [`Array::astype`] first).
    #[track_caller]
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        self.expect_dtype(T::DTYPE)?;
        self.eval()?;
        let source = if self.is_row_contiguous() {
            self.clone()
        } else {
            let s = Stream::current()?;
            let c = array_op!(mlx_contiguous(self.as_raw(), false, s.as_raw()))?;
            c.eval()?;
            c
        };
        let n = source.size();
        let mut out = Vec::<T>::with_capacity(n);
        if n > 0 {
            // The data is evaluated and available: reading it needs no lock,
            // except on a serialized backend (CUDA memory; see the crate docs).
            let _guard = crate::ffi::serialized_backend().then(crate::ffi::lock);
            let mut ptr = std::ptr::null();
            // SAFETY: `source` is a live handle.
            check_unlocked(|| {
                ptr = unsafe { mlx_sys::mlx_array_data_uint8(source.raw()) };
                0
            })?;
            if ptr.is_null() {
                return Err(Error::invalid("evaluated array has no data"));
            }
            // SAFETY: `source` is evaluated and row-contiguous with `n` elements
            // of `T`'s layout (dtype checked above), so `ptr` covers
            // `n * size_of::<T>()` initialized bytes; `out` has room for them.
            // Every bit pattern is a valid value of the numeric types; for
            // `bool` (one byte each) bytes are normalized to 0/1 before the
            // length is set, since a file loaded as bool may hold any byte.
            unsafe {
                let bytes = out.as_mut_ptr().cast::<u8>();
                std::ptr::copy_nonoverlapping(ptr, bytes, n * size_of::<T>());
                if T::DTYPE == Dtype::Bool {
                    for i in 0..n {
                        *bytes.add(i) = u8::from(*bytes.add(i) != 0);
                    }
                }
                out.set_len(n);
            }
        }
        Ok(out)
    }

    /// Evaluates a one-element array and returns the element.
    #[track_caller]
    pub fn item<T: Element>(&self) -> Result<T> {
        self.expect_dtype(T::DTYPE)?;
        if self.size() != 1 {
            return Err(Error::invalid(format!(
                "item() needs exactly one element, the array has {}",
                self.size()
            )));
        }
        Ok(self.to_vec::<T>()?[0])
    }

    #[track_caller]
    fn expect_dtype(&self, expected: Dtype) -> Result<()> {
        let found = self.dtype();
        if found != expected {
            return Err(Error::DtypeMismatch {
                expected,
                found,
                location: std::panic::Location::caller(),
            });
        }
        Ok(())
    }

    /// Whether the evaluated data is dense row-major (so it can be copied as is).
    fn is_row_contiguous(&self) -> bool {
        let shape = self.shape();
        if shape.is_empty() {
            return true;
        }
        // SAFETY: the array is evaluated; mlx-c returns `ndim` strides it owns.
        let strides = unsafe {
            std::slice::from_raw_parts(mlx_sys::mlx_array_strides(self.raw()), shape.len())
        };
        let mut expected = 1usize;
        for (&dim, &stride) in shape.iter().zip(strides).rev() {
            if dim != 1 && stride != expected {
                return false;
            }
            expected *= dim as usize;
        }
        true
    }
}

/// Number of elements of `shape`, rejecting negative dimensions and overflow.
#[track_caller]
pub(crate) fn checked_size(shape: &[i32]) -> Result<usize> {
    shape.iter().try_fold(1usize, |acc, &d| {
        let d = usize::try_from(d)
            .map_err(|_| Error::invalid(format!("negative dimension in shape {shape:?}")))?;
        acc.checked_mul(d)
            .ok_or_else(|| Error::invalid(format!("shape {shape:?} overflows")))
    })
}

impl Clone for Array {
    fn clone(&self) -> Self {
        let mut slot = ResultSlot::new();
        let out = slot.as_mut_ptr();
        let raw = self.raw();
        // A new handle to the same node: touches only the two handles.
        // SAFETY: `out` is an empty slot, `raw` a live handle.
        check_unlocked(|| unsafe { mlx_sys::mlx_array_set(out, raw) })
            .expect("copying a live array handle");
        slot.into_array_from(self.home.get())
            .expect("copy of a live array is non-empty")
    }
}

impl std::fmt::Display for Array {
    /// Evaluates the array and prints it with MLX's own formatter.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Evaluated first (through this crate's rules), MLX's formatter only
        // reads it.
        let text = self
            .eval()
            .and_then(|()| string_from(|s| mlx_call!(mlx_array_tostring(s, self.raw()))));
        match text {
            Ok(text) => f.write_str(&text),
            Err(e) => write!(f, "<array that failed to evaluate: {e}>"),
        }
    }
}

impl std::fmt::Debug for Array {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Array(shape={:?}, dtype={}) ",
            self.shape(),
            self.dtype()
        )?;
        std::fmt::Display::fmt(self, f)
    }
}

/// Evaluates several arrays together (one graph traversal).
#[track_caller]
pub fn eval<'a>(arrays: impl IntoIterator<Item = &'a Array>) -> Result<()> {
    let arrays: Vec<&Array> = arrays.into_iter().collect();
    failed::check(arrays.iter().copied())?;
    let vec = VectorArray::from_arrays(arrays.iter().copied())?;
    home::forget_inputs();
    let exclusive = arrays.iter().any(|a| !home::is_own(a.home.get()));
    let result = evaluating(exclusive, || run_and_wait(&vec, gpu_wait::polling_budget()));
    settle(arrays, result)
}

/// Evaluates `vec`'s arrays and waits for them; they end available (a later
/// evaluation or read mutates nothing). With a polling budget
/// ([`gpu_wait::polling_budget`]) the wait first polls for that many µs.
#[track_caller]
fn run_and_wait(vec: &VectorArray, polling_budget: Option<i32>) -> Result<()> {
    let raw = vec.as_raw();
    if let Some(spin_us) = polling_budget {
        // SAFETY: `raw` is a live vector.
        check_unlocked(|| unsafe { mlx_sys::mlx_async_eval(raw) })?;
        let mut ready = false;
        // SAFETY: `raw` is a live vector and `ready` a local the call writes.
        check_unlocked(|| unsafe { mlx_sys::mlx_rs_poll_gpu_ready(&mut ready, raw, spin_us) })?;
    } else {
        // SAFETY: `raw` is a live vector.
        check_unlocked(|| unsafe { mlx_sys::mlx_eval(raw) })?;
    }
    // Waits for whatever is not available yet, and marks the arrays available.
    // SAFETY: `raw` is a live vector.
    check_unlocked(|| unsafe { mlx_sys::mlx_eval(raw) })
}

/// After an evaluation: remembers a failure (see [`failed`]), or marks the
/// arrays as readable by any thread.
#[track_caller]
fn settle<'a>(
    arrays: impl IntoIterator<Item = &'a Array> + Clone,
    result: Result<()>,
) -> Result<()> {
    match result {
        Ok(()) => {
            failed::check(arrays.clone())?;
            for a in arrays {
                a.home.set(home::SHARED);
            }
            Ok(())
        }
        Err(e) => {
            failed::remember(arrays, &e);
            Err(e)
        }
    }
}

/// Which thread may have unevaluated graph nodes under an array handle.
///
/// MLX binds streams to threads and its evaluation mutates every
/// unevaluated node it reaches; the crate routes an evaluation by this tag
/// (`ffi::evaluating`): a thread evaluates its own graphs beside other
/// threads, and anything that may reach another thread's unevaluated nodes
/// alone. Each handle carries one of:
/// - [`SHARED`]: evaluated and available (or plain data): any thread may
///   read or evaluate it, and MLX mutates nothing when it does;
/// - a thread's token: built by ops on that thread, maybe unevaluated;
/// - [`MIXED`]: built from some other thread's maybe-unevaluated array.
///
/// An op result takes the token of the thread that made it, or [`MIXED`]
/// if one of its inputs was another thread's (`Array::as_raw` notes that).
pub(crate) mod home {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU32, Ordering};

    pub(crate) const SHARED: u32 = 0;
    pub(crate) const MIXED: u32 = u32::MAX;

    thread_local! {
        static TOKEN: u32 = {
            static NEXT: AtomicU32 = AtomicU32::new(1);
            NEXT.fetch_add(1, Ordering::Relaxed).min(MIXED - 1)
        };
        static FOREIGN_INPUT: Cell<bool> = const { Cell::new(false) };
    }

    /// This thread's token; [`MIXED`] while thread-locals are torn down.
    fn me() -> u32 {
        TOKEN.try_with(|t| *t).unwrap_or(MIXED)
    }

    /// Whether this thread may evaluate an array tagged `home` beside other
    /// threads' evaluations.
    pub(crate) fn is_own(home: u32) -> bool {
        home == SHARED || home == me()
    }

    /// Called for every array handed to an op.
    pub(crate) fn note_input(home: u32) {
        if !is_own(home) {
            let _ = FOREIGN_INPUT.try_with(|f| f.set(true));
        }
    }

    /// Clears the note (handles passed to something that makes no array).
    pub(crate) fn forget_inputs() {
        let _ = FOREIGN_INPUT.try_with(|f| f.set(false));
    }

    /// The tag of an array an op on this thread just produced. A note left
    /// by an unrelated earlier call only makes a result evaluate alone.
    pub(crate) fn take() -> u32 {
        match FOREIGN_INPUT.try_with(|f| f.replace(false)) {
            Ok(false) => me(),
            _ => MIXED,
        }
    }
}

/// Arrays whose evaluation failed.
///
/// MLX 0.32.2 leaves a node whose evaluation failed marked as evaluated, with
/// an output buffer nothing wrote: a second read would return garbage as
/// `Ok`. Failed arrays are remembered by graph node together with a handle,
/// which keeps the node alive so that its address cannot be reused.
/// Evaluating or reading the same node again (through this handle or a
/// clone) returns the original error. Intermediate nodes of a failed graph
/// that the caller also holds are not covered. The oldest entries are
/// forgotten past [`failed::CAP`].
mod failed {
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    use crate::{Array, Error, Result};

    pub(super) const CAP: usize = 256;

    static ANY: AtomicBool = AtomicBool::new(false);
    static FAILED: Mutex<VecDeque<(usize, Array, Error)>> = Mutex::new(VecDeque::new());

    /// The identity of `a`'s graph node, shared by its clones. Asking MLX for
    /// the data pointer is no option: that dereferences the buffer, which a
    /// failed node may not have (SIGSEGV).
    fn buffer(a: &Array) -> usize {
        let handle = a.as_raw().ctx as *const usize;
        // SAFETY: `ctx` points to a live `mlx::core::array`, whose only member
        // is a `std::shared_ptr<ArrayDesc>`; libstdc++ and libc++ both store the
        // object pointer first. The word is read as an opaque identity and
        // never dereferenced, so a different layout would only make it miss.
        unsafe { handle.read() }
    }

    pub(super) fn remember<'a>(arrays: impl IntoIterator<Item = &'a Array>, error: &Error) {
        let mut failed = FAILED.lock().unwrap_or_else(|e| e.into_inner());
        for a in arrays {
            let addr = buffer(a);
            if addr != 0 && !failed.iter().any(|(p, _, _)| *p == addr) {
                if failed.len() == CAP {
                    failed.pop_front();
                }
                failed.push_back((addr, a.clone(), error.clone()));
                ANY.store(true, Ordering::Relaxed);
            }
        }
    }

    pub(super) fn check<'a>(arrays: impl IntoIterator<Item = &'a Array>) -> Result<()> {
        if !ANY.load(Ordering::Relaxed) {
            return Ok(());
        }
        let failed = FAILED.lock().unwrap_or_else(|e| e.into_inner());
        for a in arrays {
            let addr = buffer(a);
            if let Some((_, _, e)) = failed.iter().find(|(p, _, _)| *p == addr && addr != 0) {
                return Err(e.clone());
            }
        }
        Ok(())
    }
}

/// Starts evaluating arrays without waiting; a later read or [`eval`] waits.
#[track_caller]
pub fn async_eval<'a>(arrays: impl IntoIterator<Item = &'a Array>) -> Result<()> {
    let arrays: Vec<&Array> = arrays.into_iter().collect();
    let vec = VectorArray::from_arrays(arrays.iter().copied())?;
    home::forget_inputs();
    let raw = vec.as_raw();
    let exclusive = arrays.iter().any(|a| !home::is_own(a.home.get()));
    // The arrays stay tagged: they are not available until waited for.
    // SAFETY: `raw` is a live vector.
    evaluating(exclusive, || {
        check_unlocked(|| unsafe { mlx_sys::mlx_async_eval(raw) })
    })
}
