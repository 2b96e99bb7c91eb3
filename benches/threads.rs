//! Concurrency benchmarks, each side by side in one run:
//!
//! 1. Thread scaling: evaluations per second of independent element-wise
//!    graphs (`y <- sin(y) * 0.5 + x`, 8 times, 2^16 float32 elements) with
//!    one and with two threads, each on its own CPU stream: this crate,
//!    Python MLX (`benches/py/threads.py`) and a pure-Rust control of the
//!    same size (what two threads can gain on this machine right now).
//! 2. Graph-building overhead: nanoseconds to record `c = a + b` (and drop
//!    it) through this crate vs raw mlx-c called from C
//!    (`benches/c/op_overhead.c`, built by `benches/c/build.sh`; its path
//!    is taken from `MLX_RS_BENCH_C`, else `target/release/op_overhead`).
//!
//! `cargo bench --bench threads`; medians over the repeats are printed.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use mlx_rs::{ops, Array};

const REPEATS: usize = 7;
const N: usize = 1 << 16;
const DEPTH: usize = 8;
const ROUNDS: usize = 30;
const OPS: usize = 20_000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn rust_ns_per_op() -> mlx_rs::Result<f64> {
    let data: Vec<f32> = (0..16).map(|i| i as f32 / 8.0 - 1.0).collect();
    let a = Array::from_slice(&data, &[16])?;
    let b = Array::from_slice(&data, &[16])?;
    drop(ops::add(&a, &b)?); // warm-up: caches this thread's default stream
    let t = Instant::now();
    for _ in 0..OPS {
        drop(ops::add(&a, &b)?);
    }
    Ok(t.elapsed().as_nanos() as f64 / OPS as f64)
}

/// The numbers of `"key": [a, b, ..]` in a one-line JSON object.
fn numbers(json: &str, key: &str) -> Vec<f64> {
    let Some(at) = json.find(&format!("\"{key}\": [")) else {
        return Vec::new();
    };
    let rest = &json[at + key.len() + 5..];
    rest[..rest.find(']').unwrap_or(0)]
        .split(',')
        .filter_map(|x| x.trim().parse().ok())
        .collect()
}

fn c_ns_per_op(bin: &PathBuf) -> Result<f64, String> {
    let out = Command::new(bin)
        .args([OPS.to_string(), "1".into()])
        .output()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    numbers(&String::from_utf8_lossy(&out.stdout), "ns_per_op")
        .first()
        .copied()
        .ok_or_else(|| "C side printed no time".to_string())
}

fn python_scaling() -> Result<(f64, f64), String> {
    let python = std::env::var("MLX_RS_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/py/threads.py");
    let out = Command::new(python)
        .arg(script)
        .args([N, DEPTH, ROUNDS, REPEATS].map(|v| v.to_string()))
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (one, two) = (numbers(&text, "one"), numbers(&text, "two"));
    if one.is_empty() || two.is_empty() {
        return Err(format!(
            "Python side printed no numbers: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok((median(one), median(two)))
}

fn main() -> mlx_rs::Result<()> {
    println!(
        "machine: {} logical CPUs",
        std::thread::available_parallelism().map_or(1, |c| c.get())
    );

    // 1. Thread scaling.
    let (mut r1, mut r2, mut c1, mut c2) = (vec![], vec![], vec![], vec![]);
    for _ in 0..REPEATS {
        r1.push(common::chain_throughput(1, N, DEPTH, ROUNDS)?);
        r2.push(common::chain_throughput(2, N, DEPTH, ROUNDS)?);
        c1.push(common::parallel_throughput(1, ROUNDS, || {
            common::control_work(N, DEPTH)
        })?);
        c2.push(common::parallel_throughput(2, ROUNDS, || {
            common::control_work(N, DEPTH)
        })?);
    }
    let ratios =
        |a: &[f64], b: &[f64]| -> Vec<f64> { a.iter().zip(b).map(|(x, y)| y / x).collect() };
    let (rr, cr) = (ratios(&r1, &r2), ratios(&c1, &c2));
    println!("\n| element-wise graphs, evals/s | 1 thread | 2 threads | ratio (median of per-repeat ratios) |");
    println!("| --- | ---: | ---: | ---: |");
    println!(
        "| mlx-rs | {:.1} | {:.1} | {:.2}x |",
        median(r1),
        median(r2),
        median(rr)
    );
    match python_scaling() {
        Ok((one, two)) => println!("| Python MLX | {one:.1} | {two:.1} | {:.2}x |", two / one),
        Err(e) => println!("| Python MLX | not run: {e} | | |"),
    }
    println!(
        "| pure-Rust control | {:.1} | {:.1} | {:.2}x |",
        median(c1),
        median(c2),
        median(cr)
    );

    // 2. Graph-building overhead, interleaved with the C side.
    let c_bin = std::env::var_os("MLX_RS_BENCH_C")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/target/release/op_overhead"
            ))
        });
    let (mut rust, mut c, mut per_run) = (vec![], vec![], vec![]);
    for _ in 0..REPEATS {
        let r = rust_ns_per_op()?;
        rust.push(r);
        match c_ns_per_op(&c_bin) {
            Ok(v) => {
                c.push(v);
                per_run.push(r / v);
            }
            Err(e) => {
                println!("C side not run: {e} (build it with benches/c/build.sh)");
                break;
            }
        }
    }
    println!("\n| record `a + b` and drop it | median ns/op |");
    println!("| --- | ---: |");
    println!("| mlx-rs `ops::add` | {:.0} |", median(rust.clone()));
    if !c.is_empty() {
        println!("| raw mlx-c from C | {:.0} |", median(c.clone()));
        println!(
            "| ratio | {:.2}x (median of {} paired runs; each: {:?}) |",
            median(per_run.clone()),
            per_run.len(),
            per_run
                .iter()
                .map(|r| (r * 100.0).round() / 100.0)
                .collect::<Vec<_>>()
        );
    }
    Ok(())
}
