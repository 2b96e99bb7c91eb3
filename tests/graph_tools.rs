//! Graph printing (DOT and text), the compile mode and compile cache
//! controls, and device info.

mod common;

use std::cell::Cell;
use std::rc::Rc;

use mlx_rs::transforms::{self, CompileMode};
use mlx_rs::{graph, ops, Array, Device, DeviceInfoValue};

fn arr(data: &[f32], shape: &[i32]) -> Array {
    Array::from_slice(data, shape).unwrap()
}

fn read(a: &Array) -> Vec<f32> {
    a.to_vec::<f32>().unwrap()
}

#[test]
fn dot_and_text_graphs_name_the_ops() {
    let x = arr(&[1.0, 2.0], &[2]);
    let y = ops::sqrt(&ops::multiply(&x, &x).unwrap()).unwrap();
    let dot = graph::to_dot(
        std::slice::from_ref(&y),
        &[(&x, "input_x"), (&y, "result_y")],
    )
    .unwrap();
    assert!(dot.trim_start().starts_with("digraph"), "{dot}");
    assert!(dot.contains("Multiply") && dot.contains("Sqrt"), "{dot}");
    assert!(dot.contains("input_x") && dot.contains("result_y"), "{dot}");
    assert!(dot.trim_end().ends_with('}'), "{dot}");
    let text = graph::print_graph(std::slice::from_ref(&y)).unwrap();
    assert!(text.contains("Multiply") && text.contains("Sqrt"), "{text}");
    // Printing evaluates nothing; the value is still right afterwards.
    assert_eq!(read(&y), [1.0, 2.0]);
    assert!(graph::to_dot(&[y], &[(&x, "bad\0name")]).is_err());
}

/// Serializes the tests that change the process-wide compile mode.
static COMPILE_MODE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A compiled `exp(x) * 2` that counts how often MLX runs (traces) the closure.
fn counting_compiled() -> (transforms::CompiledFn, Rc<Cell<usize>>) {
    let calls = Rc::new(Cell::new(0usize));
    let seen = calls.clone();
    let f = transforms::compile(
        move |a: &[Array]| {
            seen.set(seen.get() + 1);
            Ok(vec![ops::multiply(
                &ops::exp(&a[0])?,
                &Array::scalar(2.0f32)?,
            )?])
        },
        false,
    )
    .unwrap();
    (f, calls)
}

#[test]
fn compile_mode_and_cache_controls() {
    let _serial = COMPILE_MODE.lock().unwrap_or_else(|e| e.into_inner());
    let x = arr(&[0.0, 1.0], &[2]);
    let want = [2.0f64, 2.0 * std::f64::consts::E];
    let (f, calls) = counting_compiled();

    // Enabled: traced once, then served from the cache.
    for _ in 0..3 {
        common::assert_close_f32(
            &read(&f.call(std::slice::from_ref(&x)).unwrap()[0]),
            &want,
            1e-6,
            1.0,
        );
    }
    assert_eq!(calls.get(), 1);

    // Clearing the cache makes the next call trace again, once.
    transforms::clear_compile_cache().unwrap();
    for _ in 0..2 {
        common::assert_close_f32(
            &read(&f.call(std::slice::from_ref(&x)).unwrap()[0]),
            &want,
            1e-6,
            1.0,
        );
    }
    assert_eq!(calls.get(), 2);

    // Disabled: a function compiled now runs the closure on every call.
    transforms::set_compile_mode(CompileMode::Disabled).unwrap();
    let (d, d_calls) = counting_compiled();
    for _ in 0..3 {
        common::assert_close_f32(
            &read(&d.call(std::slice::from_ref(&x)).unwrap()[0]),
            &want,
            1e-6,
            1.0,
        );
    }
    let result = d_calls.get();
    // The reduced modes still compile (trace once for new inputs) and agree.
    transforms::set_compile_mode(CompileMode::NoFuse).unwrap();
    let (g, g_calls) = counting_compiled();
    for _ in 0..2 {
        common::assert_close_f32(
            &read(&g.call(std::slice::from_ref(&x)).unwrap()[0]),
            &want,
            1e-6,
            1.0,
        );
    }
    transforms::set_compile_mode(CompileMode::NoSimplify).unwrap();
    let (h, h_calls) = counting_compiled();
    for _ in 0..2 {
        common::assert_close_f32(
            &read(&h.call(std::slice::from_ref(&x)).unwrap()[0]),
            &want,
            1e-6,
            1.0,
        );
    }
    transforms::set_compile_mode(CompileMode::Enabled).unwrap();
    println!(
        "calls: disabled {result}, no-fuse {}, no-simplify {}",
        g_calls.get(),
        h_calls.get()
    );
    assert_eq!(
        result, 3,
        "disabled mode must run the closure on every call"
    );
    assert_eq!(g_calls.get(), 1);
    assert_eq!(h_calls.get(), 1);
}

#[test]
fn cpu_device_info_is_readable() {
    let info = Device::cpu().info().unwrap();
    println!("cpu info: {:?}", info.entries());
    for (key, value) in info.entries() {
        match value {
            DeviceInfoValue::Text(t) => assert_eq!(info.text(key), Some(t.as_str())),
            DeviceInfoValue::Size(n) => assert_eq!(info.size(key), Some(*n)),
        }
    }
    assert_eq!(info.get("no such key"), None);
}

#[test]
fn gpu_device_info_matches_availability() {
    // Where MLX has no GPU backend, asking is an `Err` or reports nothing
    // (never a crash); where it has one, the GPU reports its name and memory.
    let available = Device::gpu().is_available();
    let info = Device::gpu().info();
    if !available {
        assert!(info.map_or(true, |i| i.entries().is_empty()));
    } else {
        let info = info.unwrap();
        println!("gpu info: {:?}", info.entries());
        let name = info.text("device_name").expect("a GPU reports its name");
        assert!(!name.is_empty());
        // Metal names it `memory_size`, CUDA `total_memory`.
        let memory = info
            .size("memory_size")
            .or_else(|| info.size("total_memory"))
            .expect("a GPU reports its memory");
        assert!(memory > 1 << 30, "{memory} bytes");
    }
}
