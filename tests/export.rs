//! Exported functions (`.mlxfn`): importing files made by Python MLX,
//! exporting Rust closures and compiled functions, round trips. Imported
//! functions are checked against f64 math written here; the fixtures in
//! `tests/data/` come from `scripts/gen_mlxfn_fixtures.py` (Python MLX
//! 0.32.2).
//!
//! MLX 0.32.2 replays an imported graph on the stream index it was exported
//! with, and streams belong to threads: these checks run on the main thread
//! (`harness = false`), which takes the first CPU stream before anything
//! else, as the Python fixtures (exported on the CPU) expect.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use mlx_rs::closure::Closure;
use mlx_rs::export::{self, FunctionExporter, ImportedFunction};
use mlx_rs::{ops, transforms, Array, Device, Error};

/// `tests/data/NAME`, found at run time (see `common::data_dir`).
fn data_file(name: &str) -> PathBuf {
    common::data_dir().join(name)
}

/// A fresh path in the temporary folder, removed on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(tag: &str) -> TempPath {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        TempPath(std::env::temp_dir().join(format!(
            "mlx-rs-export-{}-{tag}-{n}.mlxfn",
            std::process::id()
        )))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn arr(data: &[f32], shape: &[i32]) -> Array {
    Array::from_slice(data, shape).unwrap()
}

fn read(a: &Array) -> Vec<f32> {
    a.to_vec::<f32>().unwrap()
}

/// f64 reference of the Python fixture `affine_tanh`:
/// `(tanh(x @ w) - x @ w, sum(x, axis=1))` for x `[2,3]`, w `[3,4]`.
fn affine_tanh_ref(x: &[f32], w: &[f32]) -> (Vec<f64>, Vec<f64>) {
    let xw = common::matmul_f64(&common::to_f64(x), &common::to_f64(w), 2, 3, 4);
    let first = xw.iter().map(|v| v.tanh() - v).collect();
    let second = (0..2)
        .map(|i| (0..3).map(|j| f64::from(x[i * 3 + j])).sum())
        .collect();
    (first, second)
}

fn imports_a_function_exported_by_python() {
    let mut rng = common::rng();
    let f = ImportedFunction::load(data_file("py_affine_tanh.mlxfn")).unwrap();
    for _ in 0..3 {
        let x = common::uniform(&mut rng, 6, -2.0, 2.0);
        let w = common::uniform(&mut rng, 12, -1.0, 1.0);
        let out = f.call(&[arr(&x, &[2, 3]), arr(&w, &[3, 4])]).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].shape(), [2, 4]);
        assert_eq!(out[1].shape(), [2]);
        let (want0, want1) = affine_tanh_ref(&x, &w);
        common::assert_close_f32(&read(&out[0]), &want0, 1e-5, 1.0);
        common::assert_close_f32(&read(&out[1]), &want1, 1e-5, 1.0);
    }
    // The trace is for [2,3] x [3,4] only.
    let wrong = f.call(&[arr(&[1.0; 3], &[1, 3]), arr(&[1.0; 12], &[3, 4])]);
    assert!(matches!(wrong, Err(Error::Mlx { .. })), "{wrong:?}");
    let too_few = f.call(&[arr(&[1.0; 6], &[2, 3])]);
    assert!(too_few.is_err());
}

fn imports_a_shapeless_python_function_at_several_shapes() {
    let mut rng = common::rng();
    let g = ImportedFunction::load(data_file("py_gauss_shapeless.mlxfn")).unwrap();
    for n in [1usize, 5, 33] {
        let x = common::uniform(&mut rng, n, -3.0, 3.0);
        let out = g.call(&[arr(&x, &[n as i32])]).unwrap();
        let want: Vec<f64> = x
            .iter()
            .map(|&v| (-f64::from(v) * f64::from(v)).exp() * 0.5)
            .collect();
        common::assert_close_f32(&read(&out[0]), &want, 1e-5, 1e-3);
    }
}

fn imports_a_python_function_with_keyword_arguments() {
    let mut rng = common::rng();
    let h = ImportedFunction::load(data_file("py_kwargs.mlxfn")).unwrap();
    let x = common::uniform(&mut rng, 3, -2.0, 2.0);
    let scale = common::uniform(&mut rng, 3, -2.0, 2.0);
    let shift = common::uniform(&mut rng, 1, -2.0, 2.0)[0];
    let kwargs = HashMap::from([
        ("scale".to_string(), arr(&scale, &[3])),
        ("shift".to_string(), Array::scalar(shift).unwrap()),
    ]);
    let out = h.call_kwargs(&[arr(&x, &[3])], &kwargs).unwrap();
    let want: Vec<f64> = (0..3)
        .map(|i| f64::from(x[i]) * f64::from(scale[i]) + f64::from(shift))
        .collect();
    common::assert_close_f32(&read(&out[0]), &want, 1e-6, 1.0);
    // A missing keyword, or keywords passed positionally, match no trace.
    let missing = HashMap::from([("scale".to_string(), arr(&scale, &[3]))]);
    assert!(h.call_kwargs(&[arr(&x, &[3])], &missing).is_err());
    assert!(h.call(&[arr(&x, &[3])]).is_err());
}

fn python_file_round_trips_through_rust_export() {
    // Python's file, wrapped as a Rust function, exported again from Rust and
    // imported back: the result still computes the same function.
    let mut rng = common::rng();
    let imported = ImportedFunction::load(data_file("py_affine_tanh.mlxfn")).unwrap();
    let wrapped = Closure::new(move |args: &[Array]| imported.call(args)).unwrap();
    let path = TempPath::new("roundtrip");
    let example = [arr(&[0.0; 6], &[2, 3]), arr(&[0.0; 12], &[3, 4])];
    export::export_function(&path.0, &wrapped, &example, false).unwrap();
    let again = ImportedFunction::load(&path.0).unwrap();
    let x = common::uniform(&mut rng, 6, -2.0, 2.0);
    let w = common::uniform(&mut rng, 12, -1.0, 1.0);
    let out = again.call(&[arr(&x, &[2, 3]), arr(&w, &[3, 4])]).unwrap();
    let (want0, want1) = affine_tanh_ref(&x, &w);
    common::assert_close_f32(&read(&out[0]), &want0, 1e-5, 1.0);
    common::assert_close_f32(&read(&out[1]), &want1, 1e-5, 1.0);
}

fn exports_a_rust_closure_and_a_compiled_function() {
    let mut rng = common::rng();
    // f(x, y) = [x * y + 3, max(x)]
    let body = |a: &[Array]| {
        let xy = ops::multiply(&a[0], &a[1])?;
        Ok(vec![
            ops::add(&xy, &Array::scalar(3.0f32)?)?,
            ops::max(&a[0], false)?,
        ])
    };
    let plain = Closure::new(body).unwrap();
    let compiled = transforms::compile(body, false).unwrap();
    for (tag, f) in [("plain", &plain), ("compiled", compiled.as_closure())] {
        let path = TempPath::new(tag);
        let example = [arr(&[0.0; 4], &[4]), arr(&[0.0; 4], &[4])];
        export::export_function(&path.0, f, &example, false).unwrap();
        let g = ImportedFunction::load(&path.0).unwrap();
        let x = common::uniform(&mut rng, 4, -5.0, 5.0);
        let y = common::uniform(&mut rng, 4, -5.0, 5.0);
        let out = g.call(&[arr(&x, &[4]), arr(&y, &[4])]).unwrap();
        let want: Vec<f64> = x
            .iter()
            .zip(&y)
            .map(|(&a, &b)| f64::from(a) * f64::from(b) + 3.0)
            .collect();
        common::assert_close_f32(&read(&out[0]), &want, 1e-6, 1.0);
        let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        assert_eq!(out[1].item::<f32>().unwrap(), max, "{tag}");
    }
}

fn exporter_stores_one_trace_per_shape() {
    let mut rng = common::rng();
    // Row sums: the output shape depends on the input's.
    let f = Closure::new(|a: &[Array]| Ok(vec![ops::sum_axis(&a[0], 1, false)?])).unwrap();
    let path = TempPath::new("multi");
    let exporter = FunctionExporter::new(&path.0, &f, false).unwrap();
    exporter.trace(&[arr(&[0.0; 6], &[2, 3])]).unwrap();
    exporter.trace(&[arr(&[0.0; 20], &[4, 5])]).unwrap();
    exporter.finish().unwrap();
    let g = ImportedFunction::load(&path.0).unwrap();
    for (rows, cols) in [(2usize, 3usize), (4, 5)] {
        let x = common::uniform(&mut rng, rows * cols, -1.0, 1.0);
        let out = g.call(&[arr(&x, &[rows as i32, cols as i32])]).unwrap();
        let want: Vec<f64> = (0..rows)
            .map(|r| (0..cols).map(|c| f64::from(x[r * cols + c])).sum())
            .collect();
        common::assert_close_f32(&read(&out[0]), &want, 1e-5, 1.0);
    }
    // No trace for [3, 3].
    assert!(g.call(&[arr(&[0.5; 9], &[3, 3])]).is_err());
}

fn export_errors_come_back_as_err() {
    let f = Closure::new(|a: &[Array]| Ok(vec![ops::exp(&a[0])?])).unwrap();
    let x = arr(&[1.0], &[1]);
    // MLX would silently append `.mlxfn`.
    let bad_ext = std::env::temp_dir().join("mlx-rs-export-no-extension.bin");
    assert!(export::export_function(&bad_ext, &f, std::slice::from_ref(&x), false).is_err());
    assert!(FunctionExporter::new(&bad_ext, &f, false).is_err());
    // A folder that does not exist.
    let nowhere = std::env::temp_dir().join("mlx-rs-no-such-dir/f.mlxfn");
    assert!(export::export_function(&nowhere, &f, std::slice::from_ref(&x), false).is_err());
    // Missing and malformed files.
    assert!(ImportedFunction::load(std::env::temp_dir().join("mlx-rs-missing.mlxfn")).is_err());
    let garbage = TempPath::new("garbage");
    std::fs::write(&garbage.0, b"not an mlx function at all").unwrap();
    assert!(ImportedFunction::load(&garbage.0).is_err());
    // A closure that fails while being traced: its own error comes back.
    let failing = Closure::new(|_: &[Array]| {
        Err(Error::InvalidArgument {
            message: "refusing to trace".into(),
            location: std::panic::Location::caller(),
        })
    })
    .unwrap();
    let path = TempPath::new("failing");
    let err = export::export_function(&path.0, &failing, &[x], false).unwrap_err();
    assert!(err.to_string().contains("refusing to trace"), "{err}");
}

fn main() {
    // Take the first CPU stream on this thread before anything else does.
    let stream = Device::cpu().default_stream().expect("a CPU stream");
    let checks: [(&str, fn()); 7] = [
        (
            "imports_a_function_exported_by_python",
            imports_a_function_exported_by_python,
        ),
        (
            "imports_a_shapeless_python_function_at_several_shapes",
            imports_a_shapeless_python_function_at_several_shapes,
        ),
        (
            "imports_a_python_function_with_keyword_arguments",
            imports_a_python_function_with_keyword_arguments,
        ),
        (
            "python_file_round_trips_through_rust_export",
            python_file_round_trips_through_rust_export,
        ),
        (
            "exports_a_rust_closure_and_a_compiled_function",
            exports_a_rust_closure_and_a_compiled_function,
        ),
        (
            "exporter_stores_one_trace_per_shape",
            exporter_stores_one_trace_per_shape,
        ),
        (
            "export_errors_come_back_as_err",
            export_errors_come_back_as_err,
        ),
    ];
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut ran = 0;
    mlx_rs::with_stream(&stream, || {
        for (name, check) in checks {
            if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
                continue;
            }
            // A failing check panics, which fails this test binary.
            check();
            println!("test {name} ... ok");
            ran += 1;
        }
    });
    println!("\ntest result: ok. {ran} passed; 0 failed; 0 ignored; 0 measured; 0 filtered out");
}
