//! The one owner of every mlx-c handle, [`Owned`], and the small owned
//! handle types built on it (strings, vectors, result slots).
//!
//! [`Owned`]'s `Drop` is the only place the crate frees an mlx-c handle: it
//! goes through [`crate::ffi::release`], which frees under the graph lock
//! without ever waiting for it, so no wrapper can forget the locking rule
//! and no drop waits behind another thread's work.

use std::ffi::{c_void, CStr};

use crate::ffi::{mlx_call, mlx_value};
use crate::{Array, Error, Result};

/// An mlx-c handle type: a `struct { void* ctx; }` with its free function.
///
/// # Safety
/// `free` must be the mlx-c destructor of the type, and `ctx` its pointer
/// (null for an empty handle).
pub(crate) unsafe trait Handle: Copy + 'static {
    /// Whether freeing must be ordered with graph building (see
    /// [`crate::ffi::release`]). Handles that only own a plain heap value
    /// (a device or stream description) are freed directly.
    const LOCKED_FREE: bool = true;
    fn ctx(self) -> *mut c_void;
    /// # Safety
    /// `self` must be an owned, live handle that nothing uses afterwards.
    unsafe fn free(self);
}

macro_rules! handle_kinds {
    ($($(#[$unlocked:ident])? $ty:ident => $free:ident,)*) => {$(
        // SAFETY: `$free` is `$ty`'s mlx-c destructor; the struct is its `ctx`.
        unsafe impl Handle for mlx_sys::$ty {
            $(const LOCKED_FREE: bool = handle_kinds!(@$unlocked);)?
            fn ctx(self) -> *mut c_void {
                self.ctx
            }
            unsafe fn free(self) {
                // SAFETY: guaranteed by the caller. mlx-c's frees only fail
                // for an empty handle, which `Owned` never passes.
                let _ = unsafe { mlx_sys::$free(self) };
            }
        }
    )*};
    (@unlocked) => { false };
}

handle_kinds! {
    mlx_array => mlx_array_free,
    mlx_vector_array => mlx_vector_array_free,
    mlx_vector_int => mlx_vector_int_free,
    mlx_vector_string => mlx_vector_string_free,
    mlx_string => mlx_string_free,
    mlx_map_string_to_array => mlx_map_string_to_array_free,
    mlx_map_string_to_array_iterator => mlx_map_string_to_array_iterator_free,
    mlx_map_string_to_string => mlx_map_string_to_string_free,
    mlx_map_string_to_string_iterator => mlx_map_string_to_string_iterator_free,
    mlx_io_gguf => mlx_io_gguf_free,
    mlx_closure => mlx_closure_free,
    mlx_closure_custom => mlx_closure_custom_free,
    mlx_closure_custom_jvp => mlx_closure_custom_jvp_free,
    mlx_closure_custom_vmap => mlx_closure_custom_vmap_free,
    mlx_closure_value_and_grad => mlx_closure_value_and_grad_free,
    mlx_fast_metal_kernel => mlx_fast_metal_kernel_free,
    mlx_fast_metal_kernel_config => mlx_fast_metal_kernel_config_free,
    mlx_fast_cuda_kernel => mlx_fast_cuda_kernel_free,
    mlx_fast_cuda_kernel_config => mlx_fast_cuda_kernel_config_free,
    mlx_function_exporter => mlx_function_exporter_free,
    mlx_imported_function => mlx_imported_function_free,
    mlx_node_namer => mlx_node_namer_free,
    mlx_compile_cache => mlx_compile_cache_free,
    mlx_device_info => mlx_device_info_free,
    #[unlocked] mlx_device => mlx_device_free,
    #[unlocked] mlx_stream => mlx_stream_free,
}

/// Sole owner of one mlx-c handle; dropping it frees the handle.
pub(crate) struct Owned<H: Handle>(H);

impl<H: Handle> Owned<H> {
    /// Takes ownership of `raw` (which may be empty: nothing is freed then).
    ///
    /// # Safety
    /// `raw` must be a handle that nothing else frees.
    pub(crate) unsafe fn new(raw: H) -> Self {
        Owned(raw)
    }
    pub(crate) fn get(&self) -> H {
        self.0
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.0.ctx().is_null()
    }
    /// For mlx-c calls that fill in (replace) the handle.
    pub(crate) fn as_mut_ptr(&mut self) -> *mut H {
        &mut self.0
    }
    /// Gives up ownership without freeing.
    pub(crate) fn into_raw(self) -> H {
        let raw = self.0;
        std::mem::forget(self);
        raw
    }
}

/// A handle on its way to being freed, possibly by another thread.
struct Doomed<H>(H);

// SAFETY: a doomed handle is owned by nothing else, and mlx-c's frees do
// not depend on the thread that runs them (reference counts, heap objects).
unsafe impl<H> Send for Doomed<H> {}

impl<H: Handle> Drop for Owned<H> {
    fn drop(&mut self) {
        if self.0.ctx().is_null() {
            return;
        }
        if H::LOCKED_FREE {
            let doomed = Doomed(self.0);
            crate::ffi::release(move || {
                let doomed = doomed;
                // SAFETY: this value owned the handle and is going away;
                // `release` runs the free once, under the graph lock.
                unsafe { doomed.0.free() }
            });
        } else {
            // SAFETY: as above; the handle owns only a plain heap value that
            // no MLX state refers to, so no lock is needed.
            unsafe { self.0.free() };
        }
    }
}

/// An empty `mlx_array` that an op fills in; freed unless turned into an [`Array`].
pub(crate) struct ResultSlot(Owned<mlx_sys::mlx_array>);

impl ResultSlot {
    pub(crate) fn new() -> Self {
        // SAFETY: creates an empty handle, owned by the slot alone.
        ResultSlot(unsafe { Owned::new(mlx_sys::mlx_array_new()) })
    }
    pub(crate) fn as_mut_ptr(&mut self) -> *mut mlx_sys::mlx_array {
        self.0.as_mut_ptr()
    }
    /// The array an op on this thread produced (see `crate::array::home`).
    #[track_caller]
    pub(crate) fn into_array(self) -> Result<Array> {
        self.into_array_from(crate::array::home::take())
    }
    #[track_caller]
    pub(crate) fn into_array_from(self, home: u32) -> Result<Array> {
        if self.0.is_empty() {
            return Err(Error::invalid("MLX returned no array"));
        }
        Ok(Array::from_owned(self.0, home))
    }
}

/// An owned `mlx_vector_array`.
pub(crate) struct VectorArray(Owned<mlx_sys::mlx_vector_array>);

impl VectorArray {
    pub(crate) fn new() -> Self {
        // SAFETY: creates an empty vector, owned by the guard alone.
        VectorArray(unsafe { Owned::new(mlx_sys::mlx_vector_array_new()) })
    }

    /// A vector holding (shared references to) these arrays.
    pub(crate) fn from_arrays<'a>(arrays: impl IntoIterator<Item = &'a Array>) -> Result<Self> {
        let vec = VectorArray::new();
        for a in arrays {
            mlx_call!(mlx_vector_array_append_value(vec.as_raw(), a.as_raw()))?;
        }
        Ok(vec)
    }

    pub(crate) fn as_raw(&self) -> mlx_sys::mlx_vector_array {
        self.0.get()
    }
    pub(crate) fn as_mut_ptr(&mut self) -> *mut mlx_sys::mlx_vector_array {
        self.0.as_mut_ptr()
    }

    pub(crate) fn len(&self) -> usize {
        // SAFETY: the vector is live; reading its length touches nothing else.
        unsafe { mlx_sys::mlx_vector_array_size(self.as_raw()) }
    }

    /// The arrays an op on this thread produced (see `crate::array::home`).
    #[track_caller]
    pub(crate) fn into_vec(self) -> Result<Vec<Array>> {
        let home = crate::array::home::take();
        (0..self.len())
            .map(|i| {
                let mut slot = ResultSlot::new();
                let out = slot.as_mut_ptr();
                mlx_call!(mlx_vector_array_get(out, self.as_raw(), i))?;
                slot.into_array_from(home)
            })
            .collect()
    }
}

/// An owned `mlx_string`.
pub(crate) struct MlxString(Owned<mlx_sys::mlx_string>);

impl MlxString {
    pub(crate) fn new() -> Self {
        // SAFETY: creates an empty string, owned by the guard alone.
        MlxString(unsafe { Owned::new(mlx_sys::mlx_string_new()) })
    }
    pub(crate) fn as_mut_ptr(&mut self) -> *mut mlx_sys::mlx_string {
        self.0.as_mut_ptr()
    }
    pub(crate) fn to_string_lossy(&self) -> Result<String> {
        let ptr = mlx_value!(mlx_string_data(self.0.get()))?;
        if ptr.is_null() {
            return Ok(String::new());
        }
        // SAFETY: mlx-c returns a NUL-terminated buffer owned by the live string.
        Ok(unsafe { CStr::from_ptr(ptr) }
            .to_string_lossy()
            .into_owned())
    }
}

/// Runs an mlx-c `*_tostring` style call and returns the text.
pub(crate) fn string_from(
    f: impl FnOnce(*mut mlx_sys::mlx_string) -> Result<()>,
) -> Result<String> {
    let mut s = MlxString::new();
    f(s.as_mut_ptr())?;
    s.to_string_lossy()
}
