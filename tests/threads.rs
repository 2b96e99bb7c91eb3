//! Threads: eight threads, each with its own CPU stream created on that
//! thread, build and evaluate random graphs for a fixed wall time and check
//! every result against a Rust f64 reference; then clones of one array are
//! evaluated concurrently. No crash, no wrong result. Throughput is printed.
//!
//! (Every MLX call is serialized by the binding's process-wide lock, see the
//! crate docs; this checks that the contract holds under contention.)

mod common;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use mlx_rs::{ops, Array, Device, Result, Stream};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const THREADS: usize = 8;
const RUN_FOR: Duration = Duration::from_secs(10);

/// One random graph on `stream`, checked against f64; returns ops evaluated.
fn one_round(rng: &mut StdRng, stream: &Stream) -> Result<usize> {
    let (m, k, n) = (
        rng.gen_range(1..=8usize),
        rng.gen_range(1..=8usize),
        rng.gen_range(1..=8usize),
    );
    let a = common::uniform(rng, m * k, -1.0, 1.0);
    let b = common::uniform(rng, k * n, -1.0, 1.0);
    let xa = Array::from_slice(&a, &[m as i32, k as i32])?;
    let xb = Array::from_slice(&b, &[k as i32, n as i32])?;
    let want = common::matmul_f64(&common::to_f64(&a), &common::to_f64(&b), m, k, n);
    match rng.gen_range(0..4) {
        0 => {
            let got = ops::matmul_on(&xa, &xb, stream)?.to_vec::<f32>()?;
            common::assert_close_f32(&got, &want, 1e-5, k as f64);
        }
        1 => {
            // Sum of the product's rows.
            let p = ops::matmul_on(&xa, &xb, stream)?;
            let got = ops::sum_axis_on(&p, 1, false, stream)?.to_vec::<f32>()?;
            let rows: Vec<f64> = want.chunks(n).map(|r| r.iter().sum()).collect();
            common::assert_close_f32(&got, &rows, 1e-5, (k * n) as f64);
        }
        2 => {
            // Element-wise chain on a transposed (non-contiguous) input.
            let t = ops::transpose_on(&xa, stream)?;
            let e = ops::add_on(&ops::multiply_on(&t, &t, stream)?, &t, stream)?;
            let got = e.to_vec::<f32>()?;
            let mut want = vec![0.0; m * k];
            for i in 0..m {
                for j in 0..k {
                    let v = a[i * k + j] as f64;
                    want[j * m + i] = v * v + v;
                }
            }
            common::assert_close_f32(&got, &want, 1e-5, 1.0);
        }
        _ => {
            // Full sum.
            let got = ops::sum_on(&xa, false, stream)?.item::<f32>()?;
            let want: f64 = a.iter().map(|&v| v as f64).sum();
            common::assert_close_f32(&[got], &[want], 1e-5, (m * k) as f64);
        }
    }
    Ok(1)
}

#[test]
fn eight_threads_with_their_own_streams() {
    let barrier = Arc::new(Barrier::new(THREADS));
    let seed: u64 = rand::random();
    println!("seed: {seed}");
    let start = Instant::now();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let barrier = barrier.clone();
            std::thread::spawn(move || -> Result<usize> {
                let stream = Stream::new(&Device::cpu())?;
                let mut rng = StdRng::seed_from_u64(seed ^ t as u64);
                barrier.wait();
                let until = Instant::now() + RUN_FOR;
                let mut rounds = 0;
                while Instant::now() < until {
                    rounds += one_round(&mut rng, &stream)?;
                }
                stream.synchronize()?;
                Ok(rounds)
            })
        })
        .collect();
    let counts: Vec<usize> = handles
        .into_iter()
        .map(|h| h.join().expect("thread panicked").expect("MLX error"))
        .collect();
    let total: usize = counts.iter().sum();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{THREADS} threads, {secs:.1} s: {total} checked graphs ({:.0}/s); per thread {counts:?}",
        total as f64 / secs
    );
    assert!(counts.iter().all(|&c| c > 0), "a thread made no progress");
}

#[test]
fn clones_of_one_array_shared_across_threads() -> Result<()> {
    let mut rng = common::rng();
    let n = 64;
    for round in 0..20 {
        let data = common::uniform(&mut rng, n * n, -1.0, 1.0);
        let x = Array::from_slice(&data, &[n as i32, n as i32])?;
        let d = common::to_f64(&data);
        let want: f64 = common::matmul_f64(&d, &d, n, n, n).iter().sum();

        // A lazy node built on this thread's stream cannot be evaluated from
        // another thread: MLX 0.32.2 binds streams, CPU ones included, to
        // their thread. It must be an Err, not a crash.
        let lazy = ops::sum(&ops::matmul(&x, &x)?, false)?;
        let elsewhere = lazy.clone();
        let e = std::thread::spawn(move || elsewhere.eval())
            .join()
            .expect("thread panicked");
        let e = e.expect_err("evaluating another thread's lazy node");
        if round == 0 {
            println!("lazy node evaluated on another thread: Err({e})");
        }

        // Evaluated here, its clones are read concurrently by all threads and
        // used as inputs on each thread's own stream.
        let shared = ops::sum(&ops::matmul(&x, &x)?, false)?;
        shared.eval()?;
        let barrier = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let mine = shared.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || -> Result<f32> {
                    let stream = Stream::new(&Device::cpu())?;
                    barrier.wait();
                    let v = mine.item::<f32>()?;
                    let two = Array::scalar(2.0f32)?;
                    let twice = ops::multiply_on(&mine, &two, &stream)?;
                    assert_eq!(twice.item::<f32>()?, 2.0 * v);
                    Ok(v)
                })
            })
            .collect();
        for h in handles {
            let got = h.join().expect("thread panicked")?;
            common::assert_close_f32(&[got], &[want], 1e-4, (n * n) as f64);
        }
    }
    println!("{THREADS} threads read and built on one shared evaluated array, 20 rounds");
    Ok(())
}
