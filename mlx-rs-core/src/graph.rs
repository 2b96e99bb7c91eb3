//! Looking at the lazy graph behind arrays: a text listing ([`print_graph`])
//! or a Graphviz DOT description ([`to_dot`]) of everything the given
//! outputs depend on. Nothing is evaluated.
//!
//! ```
//! use mlx_rs_core::{graph, ops, Array};
//! # fn main() -> mlx_rs_core::Result<()> {
//! let x = Array::from_slice(&[1.0f32, 2.0], &[2])?;
//! let y = ops::exp(&ops::add(&x, &x)?)?;
//! let dot = graph::to_dot(&[y.clone()], &[(&x, "x"), (&y, "y")])?;
//! assert!(dot.starts_with("digraph"));
//! assert!(dot.contains("Add") && dot.contains("Exp"));
//! let text = graph::print_graph(&[y])?;
//! assert!(text.contains("Exp"));
//! # Ok(()) }
//! ```

use std::ffi::{c_int, c_long, CString};

use crate::ffi::{mlx_call, mlx_value};
use crate::handles::{Owned, VectorArray};
use crate::{Array, Error, Result};

// The C standard library's stream functions: mlx-c writes graphs to a
// `FILE*`, which Rust's standard library does not expose.
extern "C" {
    fn tmpfile() -> *mut mlx_sys::FILE;
    fn fclose(f: *mut mlx_sys::FILE) -> c_int;
    fn fflush(f: *mut mlx_sys::FILE) -> c_int;
    fn fseek(f: *mut mlx_sys::FILE, offset: c_long, whence: c_int) -> c_int;
    fn fread(ptr: *mut std::ffi::c_void, size: usize, n: usize, f: *mut mlx_sys::FILE) -> usize;
}

/// `SEEK_SET` (0 in every C library).
const SEEK_SET: c_int = 0;

/// An open temporary C stream, closed (and deleted) on drop.
struct TempFile(*mut mlx_sys::FILE);

impl TempFile {
    fn new() -> Result<TempFile> {
        // SAFETY: `tmpfile` has no preconditions; null means failure.
        let f = unsafe { tmpfile() };
        if f.is_null() {
            return Err(Error::invalid(format!(
                "could not create a temporary file for the graph: {}",
                std::io::Error::last_os_error()
            )));
        }
        Ok(TempFile(f))
    }

    /// Everything written so far.
    fn contents(&self) -> Result<String> {
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        // SAFETY: `self.0` is an open stream owned by this guard; `buf` is
        // a live buffer of `buf.len()` bytes.
        unsafe {
            if fflush(self.0) != 0 || fseek(self.0, 0, SEEK_SET) != 0 {
                return Err(Error::invalid("could not read back the graph text"));
            }
            loop {
                let n = fread(buf.as_mut_ptr().cast(), 1, buf.len(), self.0);
                out.extend_from_slice(&buf[..n]);
                if n < buf.len() {
                    break;
                }
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        // SAFETY: the guard owns the open stream.
        unsafe { fclose(self.0) };
    }
}

/// Names for graph nodes (an `mlx_node_namer`).
struct Namer(Owned<mlx_sys::mlx_node_namer>);

impl Namer {
    fn new(names: &[(&Array, &str)]) -> Result<Namer> {
        let raw = mlx_value!(mlx_node_namer_new())?;
        // SAFETY: a fresh handle that only this guard owns.
        let namer = Namer(unsafe { Owned::new(raw) });
        for (array, name) in names {
            let name = CString::new(*name)
                .map_err(|_| Error::invalid(format!("node name {name:?} contains a NUL byte")))?;
            mlx_call!(mlx_node_namer_set_name(
                namer.0.get(),
                array.as_raw(),
                name.as_ptr()
            ))?;
        }
        Ok(namer)
    }
}

/// The graph that computes `outputs`, as Graphviz DOT text (render it with
/// `dot -Tsvg`). `names` labels chosen arrays (inputs, outputs or any
/// intermediate); other nodes get MLX's generated names.
#[track_caller]
pub fn to_dot(outputs: &[Array], names: &[(&Array, &str)]) -> Result<String> {
    let file = TempFile::new()?;
    let namer = Namer::new(names)?;
    let v = VectorArray::from_arrays(outputs)?;
    mlx_call!(mlx_export_to_dot(file.0, namer.0.get(), v.as_raw()))?;
    file.contents()
}

/// The graph that computes `outputs`, as MLX's text listing: one line per
/// node with its primitive, inputs, outputs, shapes and dtypes.
#[track_caller]
pub fn print_graph(outputs: &[Array]) -> Result<String> {
    let file = TempFile::new()?;
    let namer = Namer::new(&[])?;
    let v = VectorArray::from_arrays(outputs)?;
    mlx_call!(mlx_print_graph(file.0, namer.0.get(), v.as_raw()))?;
    file.contents()
}
