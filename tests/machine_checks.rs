//! Checks whose precondition depends on the machine they run on: two free
//! CPU cores, a CPU-only MLX, the OpenBLAS-patched libmlx. Where the
//! precondition does not hold, a check reports `skipped` with the reason,
//! counted apart from the passes (this file has its own `main`,
//! `harness = false`, because libtest can only skip at compile time).

mod common;

use common::harness::{self, Outcome};
use mlx_rs::{ops, Array};

type Check = Result<Outcome, String>;

fn main() {
    harness::run::<Outcome>(&[
        (
            "two_threads_evaluate_in_parallel",
            two_threads_evaluate_in_parallel,
        ),
        (
            "blas_and_lapack_resolve_to_openblas",
            blas_and_lapack_resolve_to_openblas,
        ),
    ]);
}

fn e2s(e: mlx_rs::Error) -> String {
    e.to_string()
}

/// Two threads, each evaluating its own element-wise graphs on its own CPU
/// stream, get more done than one.
///
/// The machine may be shared with other work, so each attempt also measures
/// a pure-Rust control of the same size: an attempt counts only if the
/// control, run right before and after, shows two free cores (1.6x to 2.2x)
/// both times, and then MLX must reach >= 1.3x (the goal, on an idle
/// machine, is >= 1.8x: BENCHMARKS.md). If no attempt finds two free cores,
/// the check is skipped.
fn two_threads_evaluate_in_parallel() -> Check {
    let (n, depth, rounds) = (1 << 16, 8, 30);
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    if cores < 2 {
        return Ok(Outcome::Skipped(
            "one CPU core, no parallel speed-up to measure".into(),
        ));
    }
    if mlx_rs::cuda_is_available() {
        // Where CUDA is usable every evaluation is serialized (crate docs).
        return Ok(Outcome::Skipped(
            "evaluations are serialized where CUDA is usable".into(),
        ));
    }
    let control = |threads| {
        common::parallel_throughput(threads, rounds, move || common::control_work(n, depth))
            .map_err(e2s)
    };
    let mut best: Option<f64> = None;
    for attempt in 0..8 {
        // The control runs right before and right after; both must show
        // two free cores for the attempt to count.
        let before = control(2)? / control(1)?;
        let one = common::chain_throughput(1, n, depth, rounds).map_err(e2s)?;
        let two = common::chain_throughput(2, n, depth, rounds).map_err(e2s)?;
        let after = control(2)? / control(1)?;
        let ratio = two / one;
        println!(
            "  attempt {attempt}: MLX 1 thread {one:.1}/s, 2 threads {two:.1}/s: {ratio:.2}x; \
             control {before:.2}x before, {after:.2}x after"
        );
        if (1.6..2.2).contains(&before) && (1.6..2.2).contains(&after) {
            best = Some(best.map_or(ratio, |b: f64| b.max(ratio)));
            if ratio >= 1.3 {
                break;
            }
        }
    }
    match best {
        None => Ok(Outcome::Skipped(
            "no attempt found two free CPU cores (machine busy)".into(),
        )),
        Some(best) if best >= 1.3 => Ok(Outcome::Passed),
        Some(best) => Err(format!(
            "with two free cores, two threads reached only {best:.2}x one thread's throughput"
        )),
    }
}

/// With feature `openblas` (Linux), libmlx's BLAS/LAPACK must be OpenBLAS.
fn blas_and_lapack_resolve_to_openblas() -> Check {
    if !cfg!(all(target_os = "linux", feature = "openblas")) {
        return Ok(Outcome::Skipped(
            "built without feature `openblas` (Linux)".into(),
        ));
    }
    // Force libmlx to load and run a BLAS call first.
    let a = Array::from_slice(&[2.0f32, 1.0, 1.0, 3.0], &[2, 2]).map_err(e2s)?;
    ops::matmul(&a, &a).map_err(e2s)?.eval().map_err(e2s)?;
    let maps = std::fs::read_to_string("/proc/self/maps").map_err(|e| e.to_string())?;
    let libmlx = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.ends_with("/libmlx.so"))
        .ok_or("libmlx is not mapped")?;
    let built = std::fs::canonicalize(mlx_rs::sys::BUILD_LIB_DIR).ok();
    let swapped = built.map_or(true, |b| !libmlx.starts_with(b.to_str().unwrap_or("")));
    if mlx_rs::sys::BUILD_SOURCE != "wheel" || swapped {
        return Ok(Outcome::Skipped(format!(
            "running {libmlx}, not the OpenBLAS-patched wheel (built from {})",
            mlx_rs::sys::BUILD_SOURCE
        )));
    }
    if !maps.contains("libopenblas.so.0") {
        return Err("OpenBLAS is not mapped".into());
    }
    if maps
        .lines()
        .any(|l| l.contains("libblas-") || l.contains("liblapack-"))
    {
        return Err("the reference BLAS is still mapped".into());
    }
    Ok(Outcome::Passed)
}
