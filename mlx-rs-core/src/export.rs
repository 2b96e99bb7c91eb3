//! Saving functions to `.mlxfn` files and loading them back, in MLX's own
//! format (the one Python's `mx.export_function` / `mx.import_function` and
//! MLX's C++ API use), so a graph traced in Rust runs from Python or C++ and
//! the other way round.
//!
//! Exporting traces the function with example arguments and stores the
//! graph (constants included); the Rust closure itself is not needed to run
//! the file.
//!
//! ```
//! use mlx_rs_core::{closure::Closure, export, ops, Array};
//! # fn main() -> mlx_rs_core::Result<()> {
//! let path = std::env::temp_dir().join(format!("doc-axpy-{}.mlxfn", std::process::id()));
//! // y = 2x + 1
//! let f = Closure::new(|a: &[Array]| {
//!     let two_x = ops::multiply(&a[0], &Array::scalar(2.0f32)?)?;
//!     Ok(vec![ops::add(&two_x, &Array::scalar(1.0f32)?)?])
//! })?;
//! let example = Array::from_slice(&[0.0f32; 3], &[3])?;
//! export::export_function(&path, &f, &[example], false)?;
//!
//! let g = export::ImportedFunction::load(&path)?;
//! let x = Array::from_slice(&[1.0f32, 2.0, 3.0], &[3])?;
//! assert_eq!(g.call(&[x])?[0].to_vec::<f32>()?, [3.0, 5.0, 7.0]);
//! # std::fs::remove_file(&path).ok();
//! # Ok(()) }
//! ```
//!
//! # Shapes
//! A function exported with `shapeless = false` accepts exactly the shapes
//! and dtypes it was traced with (calling it with others is an `Err`); one
//! exported with `shapeless = true` accepts other shapes of the same rank,
//! as far as the traced ops allow. [`FunctionExporter`] stores several traces
//! (e.g. one per batch size) in one file.
//!
//! # Threads and streams
//! [`FunctionExporter`] and [`ImportedFunction`] are neither `Send` nor
//! `Sync`: use each on the thread that made it.
//!
//! MLX 0.32.2 records in the file the stream each op ran on, by number, and
//! an imported function rebuilds its ops on those stream numbers. Streams
//! belong to threads in MLX, so the results of an imported function can be
//! evaluated only on a thread that has a stream of that number; elsewhere
//! evaluation returns `Err` ("There is no Stream(cpu, 0) in current
//! thread"). In practice: export from a program's main thread and call
//! imported functions on the main thread (the first thread of a process to
//! use a device gets that device's first stream, which is also what Python
//! MLX uses). Also, MLX cannot export a function whose graph contains the
//! constants of an imported one (`Unable to serialize primitive Load`).

use std::collections::HashMap;
use std::marker::PhantomData;
use std::path::Path;

use crate::closure::{with_callbacks, Closure};
use crate::ffi::{mlx_call, mlx_value, vector_op};
use crate::handles::{Owned, VectorArray};
use crate::io::{c_path, require_extension, MapArrays};
use crate::{Array, Error, Result};

/// Traces `f` with `example_args` and writes the graph to `path`, which must
/// end in `.mlxfn`. `f` may be a plain [`Closure`] or a compiled function's
/// ([`crate::transforms::CompiledFn::as_closure`]). See the
/// [module docs](self) for `shapeless`.
#[track_caller]
pub fn export_function(
    path: impl AsRef<Path>,
    f: &Closure,
    example_args: &[Array],
    shapeless: bool,
) -> Result<()> {
    let path = path.as_ref();
    require_extension(path, "mlxfn")?;
    let file = c_path(path)?;
    let args = VectorArray::from_arrays(example_args)?;
    with_callbacks(|| {
        mlx_call!(mlx_export_function(
            file.as_ptr(),
            f.as_raw(),
            args.as_raw(),
            shapeless
        ))
    })
}

/// Writes several traces of one function into one `.mlxfn` file: each
/// [`FunctionExporter::trace`] call adds the graph for its arguments' shapes
/// and dtypes. The file is complete after [`FunctionExporter::finish`] (or
/// drop).
///
/// ```
/// use mlx_rs_core::{closure::Closure, export::{FunctionExporter, ImportedFunction}, ops, Array};
/// # fn main() -> mlx_rs_core::Result<()> {
/// let path = std::env::temp_dir().join(format!("doc-sum-{}.mlxfn", std::process::id()));
/// let f = Closure::new(|a: &[Array]| Ok(vec![ops::sum(&a[0], false)?]))?;
/// let exporter = FunctionExporter::new(&path, &f, false)?;
/// exporter.trace(&[Array::from_slice(&[0.0f32; 2], &[2])?])?;
/// exporter.trace(&[Array::from_slice(&[0.0f32; 3], &[3])?])?;
/// exporter.finish()?;
///
/// let g = ImportedFunction::load(&path)?;
/// let three = Array::from_slice(&[1.0f32, 2.0, 3.0], &[3])?;
/// assert_eq!(g.call(&[three])?[0].item::<f32>()?, 6.0);
/// # std::fs::remove_file(&path).ok();
/// # Ok(()) }
/// ```
pub struct FunctionExporter {
    raw: Owned<mlx_sys::mlx_function_exporter>,
    // Not `Send`/`Sync`: it calls a closure that need not be either.
    _not_send: PhantomData<*const ()>,
}

impl FunctionExporter {
    /// Opens `path` (which must end in `.mlxfn`) for traces of `f`.
    #[track_caller]
    pub fn new(path: impl AsRef<Path>, f: &Closure, shapeless: bool) -> Result<FunctionExporter> {
        let path = path.as_ref();
        require_extension(path, "mlxfn")?;
        let file = c_path(path)?;
        let raw = mlx_value!(mlx_function_exporter_new(
            file.as_ptr(),
            f.as_raw(),
            shapeless
        ))?;
        if raw.ctx.is_null() {
            return Err(Error::invalid(format!(
                "MLX could not open {path:?} for export"
            )));
        }
        Ok(FunctionExporter {
            // SAFETY: a fresh, non-empty handle that only this value owns.
            raw: unsafe { Owned::new(raw) },
            _not_send: PhantomData,
        })
    }

    /// Traces the function with `args` and appends that graph to the file.
    #[track_caller]
    pub fn trace(&self, args: &[Array]) -> Result<()> {
        let args = VectorArray::from_arrays(args)?;
        with_callbacks(|| mlx_call!(mlx_function_exporter_apply(self.raw.get(), args.as_raw())))
    }

    /// Closes the file, reporting a failure (drop closes it too, silently).
    #[track_caller]
    pub fn finish(self) -> Result<()> {
        // The one free outside `Owned`'s drop: closing the file can fail,
        // and the caller asked to hear about it. Under the graph lock, like
        // every free of a graph-related handle.
        let raw = self.raw.into_raw();
        mlx_call!(mlx_function_exporter_free(raw))
    }
}

/// A function loaded from an `.mlxfn` file (written by [`export_function`],
/// [`FunctionExporter`], Python's `mx.export_function` or MLX's C++ API).
/// Calling it rebuilds the stored graph, lazily like any op, on the streams
/// it was exported with (see the [module docs](self#threads-and-streams)).
pub struct ImportedFunction {
    raw: Owned<mlx_sys::mlx_imported_function>,
    // Not `Send`/`Sync`, like the other function objects of this crate.
    _not_send: PhantomData<*const ()>,
}

impl ImportedFunction {
    /// Reads the function stored in `path`. A missing or malformed file is
    /// an `Err` with MLX's message.
    #[track_caller]
    pub fn load(path: impl AsRef<Path>) -> Result<ImportedFunction> {
        let path = path.as_ref();
        let file = c_path(path)?;
        let raw = mlx_value!(mlx_imported_function_new(file.as_ptr()))?;
        if raw.ctx.is_null() {
            return Err(Error::invalid(format!("MLX could not import {path:?}")));
        }
        Ok(ImportedFunction {
            // SAFETY: a fresh, non-empty handle that only this value owns.
            raw: unsafe { Owned::new(raw) },
            _not_send: PhantomData,
        })
    }

    /// Calls the function with positional arguments; inputs whose shapes or
    /// dtypes match none of the stored traces are an `Err`.
    #[track_caller]
    pub fn call(&self, args: &[Array]) -> Result<Vec<Array>> {
        let args = VectorArray::from_arrays(args)?;
        vector_op!(mlx_imported_function_apply(self.raw.get(), args.as_raw()))
    }

    /// Calls the function with positional arguments and keyword arguments
    /// by name (as Python's `f(x, scale=s)` for a function exported with
    /// keyword arguments).
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use mlx_rs_core::{export::ImportedFunction, Array};
    /// # fn run(path: &std::path::Path) -> mlx_rs_core::Result<()> {
    /// // A file from Python: mx.export_function(path, f, x, scale=s)
    /// let f = ImportedFunction::load(path)?;
    /// let x = Array::from_slice(&[1.0f32, 2.0, 3.0], &[3])?;
    /// let kwargs = HashMap::from([("scale".to_string(), Array::from_slice(&[2.0f32; 3], &[3])?)]);
    /// let y = f.call_kwargs(&[x], &kwargs)?;
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn call_kwargs(
        &self,
        args: &[Array],
        kwargs: &HashMap<String, Array>,
    ) -> Result<Vec<Array>> {
        let args = VectorArray::from_arrays(args)?;
        let kwargs = MapArrays::from_map(kwargs)?;
        vector_op!(mlx_imported_function_apply_kwargs(
            self.raw.get(),
            args.as_raw(),
            kwargs.0.get()
        ))
    }
}
