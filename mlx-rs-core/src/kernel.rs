//! MLX's custom-kernel API: user-written Metal or CUDA kernels that take part
//! in MLX's lazy graphs like any op.
//!
//! A kernel is built once from a [`KernelSpec`] ([`MetalKernel::new`],
//! [`CudaKernel::new`]) and applied many times with a [`KernelConfig`] (launch
//! grid, threadgroup, output shapes and dtypes, template arguments, init
//! value). MLX compiles the source the first time a configuration runs.
//!
//! On a backend that lacks the kernel's language, construction returns `Err`;
//! applying on a CPU stream returns `Err` too. Nothing here falls back to a
//! reference: that is the job of the callers (see `mlx-ext-kernels`).
//!
//! The Metal path cannot run on the machines this crate is tested on (Linux);
//! it is compiled and type-checked there, and exercised on Apple hardware only.

use std::ffi::{CStr, CString};

use crate::ffi::{mlx_call, mlx_value, vector_op};
use crate::handles::{Owned, VectorArray};
use crate::{Array, DeviceType, Dtype, Error, Result, StreamOrDevice};

/// What a kernel is: its name, argument names and source.
///
/// `source` is the kernel *body*: MLX generates the signature from the input
/// and output names (inputs `const T*`, outputs `T*`; with `ensure_row_contiguous`
/// false, `<name>_shape`, `<name>_strides` and `<name>_ndim` are passed too).
#[derive(Clone, Debug)]
pub struct KernelSpec {
    /// Kernel name; also MLX's cache key for the compiled library.
    pub name: String,
    /// Names of the inputs, in the order they are passed to `apply`.
    pub input_names: Vec<String>,
    /// Names of the outputs, in the order of [`KernelConfig::outputs`].
    pub output_names: Vec<String>,
    /// The kernel body.
    pub source: String,
    /// Code placed before the generated kernel (helpers, includes).
    pub header: String,
    /// Copy non-contiguous inputs to row-major before the launch.
    pub ensure_row_contiguous: bool,
}

impl KernelSpec {
    /// A spec with no header and row-contiguous inputs.
    pub fn new(
        name: impl Into<String>,
        input_names: &[&str],
        output_names: &[&str],
        source: impl Into<String>,
    ) -> KernelSpec {
        KernelSpec {
            name: name.into(),
            input_names: input_names.iter().map(|s| s.to_string()).collect(),
            output_names: output_names.iter().map(|s| s.to_string()).collect(),
            source: source.into(),
            header: String::new(),
            ensure_row_contiguous: true,
        }
    }

    /// Sets the header.
    pub fn with_header(mut self, header: impl Into<String>) -> KernelSpec {
        self.header = header.into();
        self
    }

    #[track_caller]
    fn c_strings(&self) -> Result<SpecStrings> {
        Ok(SpecStrings {
            name: c_string(&self.name)?,
            inputs: StringVector::new(&self.input_names)?,
            outputs: StringVector::new(&self.output_names)?,
            source: c_string(&compact_source(&self.source))?,
            header: c_string(&compact_source(&self.header))?,
        })
    }
}

/// `src` without comments, indentation and blank lines, for MLX.
///
/// MLX copies a kernel's whole source into every application and hashes it
/// on every evaluation (to find the compiled module), and it passes a
/// `<input>_shape` argument whenever that text appears, comments included;
/// commented kernels therefore cost host time on every call. Line breaks are
/// kept (preprocessor lines need them). Sources this cannot read safely (a
/// raw string literal, an unterminated literal or comment) are passed
/// unchanged.
fn compact_source(src: &str) -> String {
    compact(src).unwrap_or_else(|| src.to_string())
}

fn compact(src: &str) -> Option<String> {
    if src.contains("R\"") {
        return None;
    }
    // As C does first: a backslash at the end of a line joins it to the next.
    let spliced = src.replace("\\\r\n", "").replace("\\\n", "");
    let mut out = String::with_capacity(spliced.len());
    let mut line = String::new();
    let mut chars = spliced.chars().peekable();
    // A line is written out when it ends outside a comment: a block comment
    // over several lines is one space, so what follows it continues the line
    // (a directive, say).
    fn end_line(line: &mut String, out: &mut String) {
        let kept = line.trim();
        if !kept.is_empty() {
            out.push_str(kept);
            out.push('\n');
        }
        line.clear();
    }
    while let Some(c) = chars.next() {
        match c {
            '\n' => end_line(&mut line, &mut out),
            '/' if chars.peek() == Some(&'/') => while chars.next_if(|&d| d != '\n').is_some() {},
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut closed = false;
                while let Some(d) = chars.next() {
                    if d == '*' && chars.next_if_eq(&'/').is_some() {
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    return None;
                }
                line.push(' ');
            }
            '"' | '\'' => {
                line.push(c);
                loop {
                    match chars.next() {
                        // Literals end on their line.
                        None | Some('\n') => return None,
                        Some('\\') => {
                            line.push('\\');
                            line.push(chars.next()?);
                        }
                        Some(d) => {
                            line.push(d);
                            if d == c {
                                break;
                            }
                        }
                    }
                }
            }
            _ => line.push(c),
        }
    }
    end_line(&mut line, &mut out);
    Some(out)
}

struct SpecStrings {
    name: CString,
    inputs: StringVector,
    outputs: StringVector,
    source: CString,
    header: CString,
}

/// A template argument of a kernel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TemplateArg {
    /// A type parameter.
    Dtype(Dtype),
    /// An integer parameter.
    Int(i32),
    /// A boolean parameter.
    Bool(bool),
}

/// How one application of a kernel is launched.
#[derive(Clone, Debug)]
pub struct KernelConfig {
    /// Total threads in x, y, z (Metal semantics: threads, not groups; the
    /// CUDA path follows MLX's own CUDA convention for the same numbers).
    pub grid: [i32; 3],
    /// Threads per threadgroup / block in x, y, z.
    pub threadgroup: [i32; 3],
    /// Shape and dtype of each output.
    pub outputs: Vec<(Vec<i32>, Dtype)>,
    /// Template arguments by name.
    pub template_args: Vec<(String, TemplateArg)>,
    /// Fill outputs with this value before the launch (else uninitialized).
    pub init_value: Option<f32>,
    /// Print the generated source when MLX compiles it.
    pub verbose: bool,
}

impl KernelConfig {
    /// A one-dimensional launch of `threads` threads in groups of `group`.
    pub fn linear(threads: i32, group: i32) -> KernelConfig {
        KernelConfig {
            grid: [threads, 1, 1],
            threadgroup: [group, 1, 1],
            outputs: Vec::new(),
            template_args: Vec::new(),
            init_value: None,
            verbose: false,
        }
    }

    /// Adds an output.
    pub fn output(mut self, shape: &[i32], dtype: Dtype) -> KernelConfig {
        self.outputs.push((shape.to_vec(), dtype));
        self
    }

    /// Adds a template argument.
    pub fn template(mut self, name: impl Into<String>, arg: TemplateArg) -> KernelConfig {
        self.template_args.push((name.into(), arg));
        self
    }

    /// Sets the value outputs are filled with before the launch.
    pub fn init_value(mut self, value: f32) -> KernelConfig {
        self.init_value = Some(value);
        self
    }
}

/// Defines one backend's kernel type. The Metal and CUDA C APIs have the same
/// shape under different prefixes; only construction differs.
macro_rules! kernel_type {
    (
        $(#[$m:meta])*
        $name:ident($lang:literal, $available:path) {
            raw: $raw_ty:ident, new: $new:ident, free: $free:ident, apply: $apply:ident,
            $(#[$extra_m:meta])* extra: $extra:ident: $extra_ty:ty,
            config: $cfg_new:ident, $cfg_ty:ident, $add_out:ident, $set_grid:ident,
            $set_group:ident, $set_init:ident, $set_verbose:ident,
            $t_dtype:ident, $t_int:ident, $t_bool:ident $(,)?
        }
    ) => {
        $(#[$m])*
        pub struct $name {
            raw: Owned<mlx_sys::$raw_ty>,
            name: String,
        }

        // SAFETY: a built kernel is an immutable function object (its strings and
        // options); applying it only reads it and creates new graph nodes, so it
        // may move between threads.
        unsafe impl Send for $name {}
        // SAFETY: `apply` takes `&self` and never mutates the kernel.
        unsafe impl Sync for $name {}

        impl $name {
            #[doc = concat!("Builds a ", $lang, " kernel. `Err` where this libmlx has no usable ", $lang, " backend.")]
            $(#[$extra_m])*
            #[track_caller]
            pub fn new(spec: &KernelSpec, $extra: $extra_ty) -> Result<$name> {
                if !$available() {
                    return Err(Error::invalid(format!(
                        concat!($lang, " kernel `{}`: this MLX has no usable ", $lang, " backend"),
                        spec.name
                    )));
                }
                if $lang == "CUDA" {
                    cuda_jit_prerequisites()?;
                }
                let s = spec.c_strings()?;
                let raw = mlx_value!($new(
                    s.name.as_ptr(),
                    s.inputs.raw.get(),
                    s.outputs.raw.get(),
                    s.source.as_ptr(),
                    s.header.as_ptr(),
                    spec.ensure_row_contiguous,
                    $extra
                ))?;
                if raw.ctx.is_null() {
                    return Err(Error::invalid(concat!("MLX returned no ", $lang, " kernel")));
                }
                // SAFETY: a fresh handle that only this value owns.
                Ok($name { raw: unsafe { Owned::new(raw) }, name: spec.name.clone() })
            }

            /// Applies the kernel on the current default stream (a GPU stream).
            #[track_caller]
            pub fn apply(&self, inputs: &[&Array], config: &KernelConfig) -> Result<Vec<Array>> {
                self.apply_on(inputs, config, StreamOrDevice::Default)
            }

            /// Applies the kernel on a chosen GPU stream or device.
            #[track_caller]
            pub fn apply_on<'s>(
                &self,
                inputs: &[&Array],
                config: &KernelConfig,
                on: impl Into<StreamOrDevice<'s>>,
            ) -> Result<Vec<Array>> {
                let stream = gpu_stream(on.into(), &self.name)?;
                // SAFETY: creating an empty config has no preconditions; the
                // guard owns it.
                let cfg: Owned<mlx_sys::$cfg_ty> = unsafe { Owned::new(mlx_sys::$cfg_new()) };
                for (shape, dtype) in &config.outputs {
                    mlx_call!($add_out(cfg.get(), shape.as_ptr(), shape.len(), dtype.to_raw()))?;
                }
                let [g0, g1, g2] = config.grid;
                mlx_call!($set_grid(cfg.get(), g0, g1, g2))?;
                let [t0, t1, t2] = config.threadgroup;
                mlx_call!($set_group(cfg.get(), t0, t1, t2))?;
                if let Some(v) = config.init_value {
                    mlx_call!($set_init(cfg.get(), v))?;
                }
                mlx_call!($set_verbose(cfg.get(), config.verbose))?;
                for (name, arg) in &config.template_args {
                    let name = c_string(name)?;
                    match *arg {
                        TemplateArg::Dtype(d) => mlx_call!($t_dtype(cfg.get(), name.as_ptr(), d.to_raw()))?,
                        TemplateArg::Int(i) => mlx_call!($t_int(cfg.get(), name.as_ptr(), i))?,
                        TemplateArg::Bool(b) => mlx_call!($t_bool(cfg.get(), name.as_ptr(), b))?,
                    }
                }
                let inputs = VectorArray::from_arrays(inputs.iter().copied())?;
                vector_op!($apply(self.raw.get(), inputs.as_raw(), cfg.get(), stream.as_raw()))
            }
        }

    };
}

kernel_type! {
    /// A Metal kernel built once and applied many times.
    MetalKernel("Metal", crate::metal_is_available) {
        raw: mlx_fast_metal_kernel, new: mlx_fast_metal_kernel_new,
        free: mlx_fast_metal_kernel_free, apply: mlx_fast_metal_kernel_apply,
        /// `atomic_outputs` declares the outputs as `device atomic<T>*`.
        extra: atomic_outputs: bool,
        config: mlx_fast_metal_kernel_config_new, mlx_fast_metal_kernel_config,
        mlx_fast_metal_kernel_config_add_output_arg, mlx_fast_metal_kernel_config_set_grid,
        mlx_fast_metal_kernel_config_set_thread_group, mlx_fast_metal_kernel_config_set_init_value,
        mlx_fast_metal_kernel_config_set_verbose, mlx_fast_metal_kernel_config_add_template_arg_dtype,
        mlx_fast_metal_kernel_config_add_template_arg_int, mlx_fast_metal_kernel_config_add_template_arg_bool,
    }
}

kernel_type! {
    /// A CUDA kernel built once and applied many times.
    CudaKernel("CUDA", crate::cuda_is_available) {
        raw: mlx_fast_cuda_kernel, new: mlx_fast_cuda_kernel_new,
        free: mlx_fast_cuda_kernel_free, apply: mlx_fast_cuda_kernel_apply,
        /// `shared_memory` is the dynamic shared memory per block, in bytes.
        extra: shared_memory: i32,
        config: mlx_fast_cuda_kernel_config_new, mlx_fast_cuda_kernel_config,
        mlx_fast_cuda_kernel_config_add_output_arg, mlx_fast_cuda_kernel_config_set_grid,
        mlx_fast_cuda_kernel_config_set_thread_group, mlx_fast_cuda_kernel_config_set_init_value,
        mlx_fast_cuda_kernel_config_set_verbose, mlx_fast_cuda_kernel_config_add_template_arg_dtype,
        mlx_fast_cuda_kernel_config_add_template_arg_int, mlx_fast_cuda_kernel_config_add_template_arg_bool,
    }
}

/// MLX compiles CUDA kernels at run time (NVRTC) against the CCCL headers that
/// the `mlx-cuda` wheel ships in `include/cccl` beside `lib/`, and against the
/// CUDA toolkit's headers. Without them it fails only when a kernel first
/// runs, with a compiler log; checking up front gives an actionable message.
#[track_caller]
fn cuda_jit_prerequisites() -> Result<()> {
    if let Some(dir) = std::env::var_os("MLX_CCCL_DIR") {
        if std::path::Path::new(&dir).is_dir() {
            return cuda_toolkit_present();
        }
    }
    match loaded_libmlx_dir() {
        Some(lib_dir) => cccl_beside(&lib_dir)?,
        None => return Ok(()), // cannot tell where libmlx is; let MLX decide
    }
    cuda_toolkit_present()
}

/// `Err` unless `lib_dir/../include/cccl` exists (the layout MLX searches).
#[track_caller]
pub(crate) fn cccl_beside(lib_dir: &std::path::Path) -> Result<()> {
    let cccl = lib_dir.join("../include/cccl");
    if cccl.is_dir() {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "MLX's CUDA kernel compiler needs the CCCL headers that the mlx-cuda wheel ships \
         in include/cccl beside lib/, but {} does not exist: keep the wheel's folder layout \
         intact (copy include/ along with lib/) or set MLX_CCCL_DIR to the cccl folder",
        cccl.display()
    )))
}

#[track_caller]
fn cuda_toolkit_present() -> Result<()> {
    let candidates = ["CUDA_HOME", "CUDA_PATH"]
        .iter()
        .filter_map(std::env::var_os)
        .map(std::path::PathBuf::from)
        .chain(std::iter::once(std::path::PathBuf::from("/usr/local/cuda")));
    for home in candidates {
        if home.join("include").is_dir() {
            return Ok(());
        }
    }
    Err(Error::invalid(
        "MLX's CUDA kernel compiler needs the CUDA toolkit's headers: set CUDA_HOME (or \
         CUDA_PATH) to a CUDA installation with an include/ folder (default /usr/local/cuda)",
    ))
}

/// The folder of the libmlx this process loaded (Linux: from /proc/self/maps).
fn loaded_libmlx_dir() -> Option<std::path::PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.ends_with("/libmlx.so"))
        .and_then(|p| std::path::Path::new(p).parent().map(|d| d.to_path_buf()))
}

/// Resolves where a kernel runs, refusing CPU streams up front (MLX would only
/// fail later, at evaluation).
#[track_caller]
fn gpu_stream(on: StreamOrDevice<'_>, kernel: &str) -> Result<crate::Stream> {
    let stream = on.resolve()?;
    if stream.device()?.device_type() != DeviceType::Gpu {
        return Err(Error::invalid(format!(
            "custom kernel `{kernel}` needs a GPU stream; this one is on the CPU"
        )));
    }
    Ok(stream)
}

#[track_caller]
fn c_string(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::invalid(format!("string contains a NUL byte: {s:?}")))
}

/// An owned `mlx_vector_string`.
struct StringVector {
    raw: Owned<mlx_sys::mlx_vector_string>,
}

impl StringVector {
    #[track_caller]
    fn new(items: &[String]) -> Result<StringVector> {
        // SAFETY: creating an empty vector has no preconditions; this value
        // owns it.
        let v = StringVector {
            raw: unsafe { Owned::new(mlx_sys::mlx_vector_string_new()) },
        };
        for item in items {
            let c = c_string(item)?;
            let c: &CStr = &c;
            mlx_call!(mlx_vector_string_append_value(v.raw.get(), c.as_ptr()))?;
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_source_drops_comments_and_indentation_only() {
        let src = "// head\n#define N 4  // four\n  int a = 1; /* one\n two */ int b = 2;\n\n    \
                   const char* s = \"a // b /* c\";\n  char q = '\\'';  // x_shape\n";
        assert_eq!(
            compact_source(src),
            "#define N 4\nint a = 1;   int b = 2;\nconst char* s = \"a // b /* c\";\nchar q = '\\'';\n"
        );
        // Lines joined by a backslash are one line, comment or not, as in C.
        assert_eq!(compact_source("a; // x \\\n b;\nc;"), "a;\nc;\n");
        assert_eq!(
            compact_source("#define A(x) \\\n  (x) \\\n  // why\nint y;"),
            "#define A(x)   (x)\nint y;\n"
        );
        // A comment over several lines is one space: the directive goes on.
        assert_eq!(
            compact_source("#define B 1 /* a\n b */ + 2\nint z;"),
            "#define B 1   + 2\nint z;\n"
        );
        // What it cannot read safely goes through unchanged.
        for odd in [
            "auto r = R\"(//)\";",
            "int a; /* open",
            "char c = 'x",
            "s = \"a\nb\";",
        ] {
            assert_eq!(compact_source(odd), odd);
        }
    }

    #[test]
    fn missing_cccl_headers_are_a_clear_error() {
        let root = std::env::temp_dir().join(format!("mlx-rs-cccl-{}", std::process::id()));
        let lib = root.join("lib");
        std::fs::create_dir_all(&lib).unwrap();
        let err = cccl_beside(&lib).unwrap_err().to_string();
        assert!(
            err.contains("include/cccl") && err.contains("MLX_CCCL_DIR"),
            "{err}"
        );
        std::fs::create_dir_all(root.join("include/cccl")).unwrap();
        assert!(cccl_beside(&lib).is_ok());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
