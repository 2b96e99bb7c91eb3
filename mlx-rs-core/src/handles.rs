//! Owning guards for mlx-c's small handle types (strings, vectors, result
//! slots): each frees its handle on drop, so no error path leaks.

use std::ffi::CStr;

use crate::ffi::{mlx_call, mlx_value};
use crate::{Array, Error, Result};

/// An empty `mlx_array` that an op fills in; freed unless turned into an [`Array`].
pub(crate) struct ResultSlot(mlx_sys::mlx_array);

impl ResultSlot {
    pub(crate) fn new() -> Self {
        // SAFETY: creates an empty handle; no preconditions.
        ResultSlot(unsafe { mlx_sys::mlx_array_new() })
    }
    pub(crate) fn as_mut_ptr(&mut self) -> *mut mlx_sys::mlx_array {
        &mut self.0
    }
    #[track_caller]
    pub(crate) fn into_array(self) -> Result<Array> {
        let raw = self.0;
        std::mem::forget(self);
        // SAFETY: the slot owned `raw` and was forgotten, so ownership moves.
        unsafe { Array::from_raw(raw) }.ok_or_else(|| Error::invalid("MLX returned no array"))
    }
}

impl Drop for ResultSlot {
    fn drop(&mut self) {
        if !self.0.ctx.is_null() {
            let _lock = crate::ffi::lock();
            // SAFETY: the slot owns this non-empty handle.
            unsafe { mlx_sys::mlx_array_free(self.0) };
        }
    }
}

/// An owned `mlx_vector_array`.
pub(crate) struct VectorArray(mlx_sys::mlx_vector_array);

impl VectorArray {
    pub(crate) fn new() -> Self {
        // SAFETY: creates an empty vector; no preconditions.
        VectorArray(unsafe { mlx_sys::mlx_vector_array_new() })
    }

    /// A vector holding (shared references to) these arrays.
    pub(crate) fn from_arrays<'a>(arrays: impl IntoIterator<Item = &'a Array>) -> Result<Self> {
        let vec = VectorArray::new();
        for a in arrays {
            mlx_call!(mlx_vector_array_append_value(vec.0, a.as_raw()))?;
        }
        Ok(vec)
    }

    pub(crate) fn as_raw(&self) -> mlx_sys::mlx_vector_array {
        self.0
    }
    pub(crate) fn as_mut_ptr(&mut self) -> *mut mlx_sys::mlx_vector_array {
        &mut self.0
    }

    pub(crate) fn len(&self) -> usize {
        // SAFETY: `self.0` is a live vector.
        unsafe { mlx_sys::mlx_vector_array_size(self.0) }
    }

    #[track_caller]
    pub(crate) fn into_vec(self) -> Result<Vec<Array>> {
        (0..self.len())
            .map(|i| {
                let mut slot = ResultSlot::new();
                let out = slot.as_mut_ptr();
                mlx_call!(mlx_vector_array_get(out, self.0, i))?;
                slot.into_array()
            })
            .collect()
    }
}

impl Drop for VectorArray {
    fn drop(&mut self) {
        let _lock = crate::ffi::lock();
        // SAFETY: the guard owns the vector.
        unsafe { mlx_sys::mlx_vector_array_free(self.0) };
    }
}

/// An owned `mlx_string`.
pub(crate) struct MlxString(pub(crate) mlx_sys::mlx_string);

impl MlxString {
    pub(crate) fn new() -> Self {
        // SAFETY: creates an empty string; no preconditions.
        MlxString(unsafe { mlx_sys::mlx_string_new() })
    }
    pub(crate) fn as_mut_ptr(&mut self) -> *mut mlx_sys::mlx_string {
        &mut self.0
    }
    pub(crate) fn to_string_lossy(&self) -> Result<String> {
        let ptr = mlx_value!(mlx_string_data(self.0))?;
        if ptr.is_null() {
            return Ok(String::new());
        }
        // SAFETY: mlx-c returns a NUL-terminated buffer owned by the live string.
        Ok(unsafe { CStr::from_ptr(ptr) }
            .to_string_lossy()
            .into_owned())
    }
}

impl Drop for MlxString {
    fn drop(&mut self) {
        let _lock = crate::ffi::lock();
        // SAFETY: the guard owns the string.
        unsafe { mlx_sys::mlx_string_free(self.0) };
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
