//! Helpers shared by the parity tests: fresh random inputs and f64 comparisons.
#![allow(dead_code)]

pub mod harness;

use std::path::PathBuf;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The GPU, for tests marked
/// `#[ignore = "needs a GPU: run with --include-ignored on a GPU host (scripts/gpu-suite.sh)"]`.
/// An ordinary `cargo test` reports them as ignored; run with `--ignored` or
/// `--include-ignored` where MLX has no usable GPU, they fail here with this
/// message instead of passing without running.
#[track_caller]
pub fn gpu() -> mlx_rs::Device {
    let gpu = mlx_rs::Device::gpu();
    assert!(
        gpu.is_available(),
        "this test needs a GPU, and the MLX loaded here (built against a `{}` libmlx) has \
         none; run the GPU tests on a GPU host (scripts/gpu-suite.sh)",
        mlx_rs::sys::BUILD_BACKEND
    );
    gpu
}

/// The test data folder (`tests/data`), found at run time so that test
/// binaries built on one machine run on another. In order: `MLX_RS_TEST_DATA`;
/// `tests/data` under `CARGO_MANIFEST_DIR` as cargo sets it when it runs the
/// tests; a `data` folder beside the executable (a staged copy); a
/// `tests/data` folder above it (the source tree the binary was built in).
pub fn data_dir() -> PathBuf {
    let mut tried = Vec::new();
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("MLX_RS_TEST_DATA") {
        candidates.push(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        candidates.push(PathBuf::from(dir).join("tests/data"));
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            candidates.push(dir.join("data"));
        }
        candidates.extend(exe.ancestors().skip(1).map(|d| d.join("tests/data")));
    }
    for dir in candidates {
        if dir.is_dir() {
            return dir;
        }
        tried.push(dir.display().to_string());
    }
    panic!(
        "cannot find the test data folder; set MLX_RS_TEST_DATA to the repository's \
         tests/data. Tried: {}",
        tried.join(", ")
    )
}

/// A generator seeded from the OS: every run draws new inputs. The seed is
/// printed so a failure can be replayed with `MLX_RS_TEST_SEED`.
pub fn rng() -> StdRng {
    let seed = std::env::var("MLX_RS_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    println!("seed: {seed}");
    StdRng::seed_from_u64(seed)
}

/// `n` uniform values in `[lo, hi)`, guaranteed not all zero.
pub fn uniform(rng: &mut StdRng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    loop {
        let v: Vec<f32> = (0..n).map(|_| rng.gen_range(lo..hi)).collect();
        if v.iter().any(|x| *x != 0.0) || n == 0 {
            return v;
        }
    }
}

/// Asserts `|got - want| <= rtol * max(|want|, scale_floor)` element-wise.
#[track_caller]
pub fn assert_close_f32(got: &[f32], want: &[f64], rtol: f64, scale_floor: f64) {
    assert_eq!(got.len(), want.len(), "length differs");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let g = *g as f64;
        if w.is_nan() {
            assert!(g.is_nan(), "element {i}: got {g}, want NaN");
            continue;
        }
        if w.is_infinite() {
            assert_eq!(g, *w, "element {i}");
            continue;
        }
        let tol = rtol * w.abs().max(scale_floor);
        assert!(
            (g - w).abs() <= tol,
            "element {i}: got {g}, want {w} (|diff| {:e} > tol {tol:e})",
            (g - w).abs()
        );
    }
}

/// Row-major f64 matrix product of `a` (m×k) and `b` (k×n).
pub fn matmul_f64(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut c = vec![0.0f64; m * n];
    for i in 0..m {
        for p in 0..k {
            let x = a[i * k + p];
            for j in 0..n {
                c[i * n + j] += x * b[p * n + j];
            }
        }
    }
    c
}

pub fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|x| *x as f64).collect()
}

/// erf in f64 to about 1e-15: its Maclaurin series for |x| ≤ 3, else erfc's
/// continued fraction.
pub fn erf_f64(x: f64) -> f64 {
    let a = x.abs();
    if a > 3.0 {
        // erfc(a) = exp(-a²)/√π · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + ...))))
        let mut f = 0.0;
        for k in (1..60).rev() {
            f = (k as f64 / 2.0) / (a + f);
        }
        let erfc = (-a * a).exp() / std::f64::consts::PI.sqrt() / (a + f);
        return x.signum() * (1.0 - erfc);
    }
    let (mut term, mut sum) = (x, x);
    for n in 1..200 {
        term *= -x * x / n as f64;
        sum += term / (2 * n + 1) as f64;
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

/// `0.5·v·(1 + tanh(√(2/π)·(v + 0.044715·v³)))` in f64.
pub fn gelu_tanh_f64(v: f64) -> f64 {
    let c = (2.0 / std::f64::consts::PI).sqrt();
    0.5 * v * (1.0 + (c * (v + 0.044715 * v * v * v)).tanh())
}

/// `0.5·v·(1 + erf(v/√2))` in f64.
pub fn gelu_erf_f64(v: f64) -> f64 {
    0.5 * v * (1.0 + erf_f64(v / std::f64::consts::SQRT_2))
}

/// `v·sigmoid(v)` in f64.
pub fn silu_f64(v: f64) -> f64 {
    v / (1.0 + (-v).exp())
}

/// Row-major strides of `shape`.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// NumPy broadcast of two shapes.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Vec<usize> {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| {
            let da = if i + a.len() >= n {
                a[i + a.len() - n]
            } else {
                1
            };
            let db = if i + b.len() >= n {
                b[i + b.len() - n]
            } else {
                1
            };
            assert!(da == db || da == 1 || db == 1, "shapes do not broadcast");
            da.max(db)
        })
        .collect()
}

/// The flat index into an array of `shape` that broadcasting maps output
/// position `out_idx` (of rank >= shape's) to.
pub fn broadcast_source(out_idx: &[usize], shape: &[usize]) -> usize {
    let off = out_idx.len() - shape.len();
    let st = strides(shape);
    shape
        .iter()
        .enumerate()
        .map(|(i, &d)| if d == 1 { 0 } else { out_idx[off + i] * st[i] })
        .sum()
}

/// Multi-index of flat position `flat` in `shape`.
pub fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for i in (0..shape.len()).rev() {
        idx[i] = flat % shape[i];
        flat /= shape[i];
    }
    idx
}

/// Element-wise binary op in f64 with NumPy broadcasting.
pub fn broadcast_binary(
    a: &[f64],
    sa: &[usize],
    b: &[f64],
    sb: &[usize],
    f: impl Fn(f64, f64) -> f64,
) -> (Vec<f64>, Vec<usize>) {
    let out_shape = broadcast_shape(sa, sb);
    let n: usize = out_shape.iter().product();
    let out = (0..n)
        .map(|i| {
            let idx = unravel(i, &out_shape);
            f(a[broadcast_source(&idx, sa)], b[broadcast_source(&idx, sb)])
        })
        .collect();
    (out, out_shape)
}

/// Reduces `x` (row-major, `shape`) over `axes` with `f` applied to each
/// group's values; returns the values in row-major order of the kept axes.
pub fn reduce_axes(
    x: &[f64],
    shape: &[usize],
    axes: &[usize],
    f: impl Fn(&[f64]) -> f64,
) -> Vec<f64> {
    let kept: Vec<usize> = (0..shape.len()).filter(|i| !axes.contains(i)).collect();
    let kept_shape: Vec<usize> = kept.iter().map(|&i| shape[i]).collect();
    let groups: usize = kept_shape.iter().product();
    let mut buckets = vec![Vec::new(); groups];
    for (flat, v) in x.iter().enumerate() {
        let idx = unravel(flat, shape);
        let key_idx: Vec<usize> = kept.iter().map(|&i| idx[i]).collect();
        let key: usize = key_idx
            .iter()
            .zip(strides(&kept_shape))
            .map(|(i, s)| i * s)
            .sum();
        buckets[key].push(*v);
    }
    buckets.iter().map(|b| f(b)).collect()
}

/// Runs `f` with the CPU as the default device. MLX computes float64 only on
/// the CPU, so tests that check against f64 arrays use this to run unchanged
/// on machines whose default device is a GPU. Ops MLX builds internally (in
/// transforms, in IO) follow MLX's process-wide default device rather than a
/// `with_device` scope, so that default is switched too, under a lock that
/// serializes the switching tests of one test binary; others may briefly see
/// the CPU as default, which changes where, not whether, they pass.
pub fn on_cpu<R>(f: impl FnOnce() -> R) -> R {
    let _serial = SWITCH.lock().unwrap_or_else(|e| e.into_inner());
    let previous = mlx_rs::Device::default_device().expect("a default device");
    mlx_rs::Device::cpu()
        .set_default()
        .expect("the CPU can be the default");
    struct Restore(mlx_rs::Device);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = self.0.set_default();
        }
    }
    let _restore = Restore(previous);
    mlx_rs::with_device(&mlx_rs::Device::cpu(), f).expect("the CPU has a default stream")
}

static SWITCH: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `f` while no [`on_cpu`] test of this binary switches the default
/// device (for tests that must see one device throughout, like compile
/// caches keyed by device).
pub fn serial<R>(f: impl FnOnce() -> R) -> R {
    let _serial = SWITCH.lock().unwrap_or_else(|e| e.into_inner());
    f()
}

/// Every multi-index of `shape`, row-major.
pub fn multi_indices(shape: &[usize]) -> Vec<Vec<usize>> {
    let mut out = vec![vec![]];
    for &d in shape {
        out = out
            .into_iter()
            .flat_map(|p| {
                (0..d).map(move |i| {
                    let mut q = p.clone();
                    q.push(i);
                    q
                })
            })
            .collect();
    }
    out
}

/// An element-wise graph of `3 * depth` ops on `x`, on `stream`:
/// `y <- sin(y) * 0.5 + x`, starting from `y = x` (shared by the thread
/// scaling test and benchmark).
pub fn elementwise_chain(
    x: &mlx_rs::Array,
    depth: usize,
    stream: &mlx_rs::Stream,
) -> mlx_rs::Result<mlx_rs::Array> {
    use mlx_rs::ops;
    let half = mlx_rs::Array::scalar(0.5f32)?;
    let mut y = x.clone();
    for _ in 0..depth {
        let s = ops::multiply_on(&ops::sin_on(&y, stream)?, &half, stream)?;
        y = ops::add_on(&s, x, stream)?;
    }
    Ok(y)
}

/// `elementwise_chain` in f64.
pub fn elementwise_chain_f64(x: f64, depth: usize) -> f64 {
    (0..depth).fold(x, |y, _| y.sin() * 0.5 + x)
}

/// Evaluations per second of `elementwise_chain` when `threads` threads each
/// evaluate `rounds` independent graphs over `n` elements on their own CPU
/// stream (a thread-local one: streams stay on their thread).
pub fn chain_throughput(
    threads: usize,
    n: usize,
    depth: usize,
    rounds: usize,
) -> mlx_rs::Result<f64> {
    parallel_throughput(threads, rounds, move || {
        thread_local! {
            static STREAM: mlx_rs::Stream = mlx_rs::Stream::new(&mlx_rs::Device::cpu())
                .expect("a CPU stream");
        }
        let data: Vec<f32> = (0..n).map(|i| (i % 1000) as f32 / 500.0 - 1.0).collect();
        let x = mlx_rs::Array::from_slice(&data, &[n as i32])?;
        STREAM.with(|s| elementwise_chain(&x, depth, s)?.eval())
    })
}

/// Runs per second when `threads` threads each run `f` `rounds` times,
/// started together (the slowest thread's time counts).
pub fn parallel_throughput(
    threads: usize,
    rounds: usize,
    f: impl Fn() -> mlx_rs::Result<()> + Send + Sync + 'static,
) -> mlx_rs::Result<f64> {
    use std::sync::{Arc, Barrier};
    let f = Arc::new(f);
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (f, barrier) = (f.clone(), barrier.clone());
            std::thread::spawn(move || -> mlx_rs::Result<f64> {
                f()?; // warm-up
                barrier.wait();
                let start = std::time::Instant::now();
                for _ in 0..rounds {
                    f()?;
                }
                Ok(start.elapsed().as_secs_f64())
            })
        })
        .collect();
    let mut slowest: f64 = 0.0;
    for h in handles {
        slowest = slowest.max(h.join().expect("thread panicked")?);
    }
    Ok((threads * rounds) as f64 / slowest)
}

/// Pure-Rust work of about the size of one `elementwise_chain` evaluation:
/// the control that shows how much two threads can gain on this machine
/// right now.
pub fn control_work(n: usize, depth: usize) -> mlx_rs::Result<()> {
    let mut v: Vec<f32> = (0..n).map(|i| (i % 1000) as f32 / 500.0 - 1.0).collect();
    for _ in 0..depth {
        for (i, y) in v.iter_mut().enumerate() {
            *y = y.sin() * 0.5 + (i % 1000) as f32 / 500.0 - 1.0;
        }
    }
    std::hint::black_box(&v);
    Ok(())
}

/// Checks a `score_topk` result against f64 scores of the values the inputs
/// hold: every returned score matches its row's f64 score, the scores come
/// best first (equal scores: lower index first), the indices are distinct,
/// and the j-th returned row's f64 score is the j-th best f64 score, all
/// within `rtol` of the largest sum of |terms|.
#[allow(clippy::too_many_arguments)]
pub fn check_topk(
    q: &[f64],
    c: &[f64],
    (b, n, d, k): (usize, usize, usize, usize),
    scores: &[f32],
    indices: &[u32],
    rtol: f64,
) {
    assert_eq!(scores.len(), b * k);
    assert_eq!(indices.len(), b * k);
    for qi in 0..b {
        let qr = &q[qi * d..(qi + 1) * d];
        let exact: Vec<f64> = (0..n)
            .map(|r| {
                let s: f64 = qr
                    .iter()
                    .zip(&c[r * d..(r + 1) * d])
                    .map(|(x, y)| x * y)
                    .sum();
                if s.is_nan() {
                    f64::NEG_INFINITY
                } else {
                    s
                }
            })
            .collect();
        let scale = (0..n)
            .map(|r| {
                qr.iter()
                    .zip(&c[r * d..(r + 1) * d])
                    .map(|(x, y)| (x * y).abs())
                    .filter(|v| v.is_finite())
                    .sum::<f64>()
            })
            .fold(1e-30, f64::max);
        let tol = rtol * scale;
        let mut best = exact.clone();
        best.sort_by(|x, y| y.total_cmp(x));
        let got_s = &scores[qi * k..(qi + 1) * k];
        let got_i = &indices[qi * k..(qi + 1) * k];
        let mut seen = std::collections::HashSet::new();
        for j in 0..k {
            let (s, i) = (got_s[j] as f64, got_i[j] as usize);
            assert!(i < n, "query {qi}, rank {j}: index {i} out of range");
            assert!(seen.insert(i), "query {qi}: index {i} returned twice");
            let want = exact[i];
            if want.is_infinite() {
                assert_eq!(s, want, "query {qi}, rank {j}, row {i}");
            } else {
                assert!(
                    (s - want).abs() <= tol,
                    "query {qi}, rank {j}, row {i}: score {s}, f64 {want}, tol {tol:e}"
                );
            }
            if best[j].is_finite() {
                assert!(
                    (want - best[j]).abs() <= 2.0 * tol,
                    "query {qi}, rank {j}: row {i} scores {want}, the rank's f64 best is {}",
                    best[j]
                );
            }
            if j > 0 {
                let (ps, pi) = (got_s[j - 1], got_i[j - 1]);
                assert!(
                    ps > got_s[j] || (ps == got_s[j] && pi < got_i[j]),
                    "query {qi}: ranks {} and {j} out of order: ({ps}, {pi}) then ({}, {})",
                    j - 1,
                    got_s[j],
                    got_i[j]
                );
            }
        }
    }
}
