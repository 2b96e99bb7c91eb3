//! The CPU primitives of `ops::cpu` against f64 references computed here, on
//! the layouts their kernels treat differently (row-major, transposed and
//! strided views, broadcast bias), plus their errors.

mod common;

use half::bf16;
use mlx_rs::ops;
use mlx_rs::ops::cpu::{self, Epilogue};
use mlx_rs::{Array, Device, Dtype, Stream};

fn stream() -> Stream {
    Stream::new(&Device::cpu()).unwrap()
}

fn f64_of(a: &Array) -> Vec<f64> {
    common::to_f64(&a.astype(Dtype::Float32).unwrap().to_vec::<f32>().unwrap())
}

fn activate(v: f64, e: Epilogue) -> f64 {
    match e {
        Epilogue::Relu => v.max(0.0),
        Epilogue::GeluTanh => common::gelu_tanh_f64(v),
        Epilogue::GeluErf => common::gelu_erf_f64(v),
        Epilogue::Silu => common::silu_f64(v),
        _ => v,
    }
}

const EPILOGUES: [Epilogue; 5] = [
    Epilogue::Identity,
    Epilogue::Relu,
    Epilogue::GeluTanh,
    Epilogue::GeluErf,
    Epilogue::Silu,
];

/// `epilogue(x @ wᵀ + b)` in f64 from the values the views hold.
fn linear_f64(x: &Array, w: &Array, b: Option<&Array>, e: Epilogue) -> Vec<f64> {
    let (m, k, n) = (
        x.dim(0).unwrap() as usize,
        x.dim(1).unwrap() as usize,
        w.dim(0).unwrap() as usize,
    );
    let (xv, wv) = (f64_of(x), f64_of(w));
    let bv = b.map(f64_of);
    let mut out = Vec::with_capacity(m * n);
    for r in 0..m {
        for j in 0..n {
            let dot: f64 = (0..k).map(|p| xv[r * k + p] * wv[j * k + p]).sum();
            out.push(activate(dot + bv.as_ref().map_or(0.0, |b| b[j]), e));
        }
    }
    out
}

fn random(rng: &mut rand::rngs::StdRng, shape: &[i32], lo: f32, hi: f32) -> Array {
    let n = shape.iter().product::<i32>() as usize;
    Array::from_slice(&common::uniform(rng, n, lo, hi), shape).unwrap()
}

#[test]
fn linear_matches_f64_on_every_layout() {
    let s = stream();
    let mut rng = common::rng();
    // Up to 16 rows take the few-rows kernels (on x86-64 with AVX2: blocks of
    // three rows, then two or one; four weight rows at a time and the three
    // left over; elsewhere up to 4 rows, in pairs); 17 rows take BLAS.
    for m in [1, 3, 5, 7, 9, 17] {
        linear_layouts_match_f64(&s, &mut rng, m);
    }
}

fn linear_layouts_match_f64(s: &Stream, rng: &mut rand::rngs::StdRng, m: i32) {
    let (k, n) = (37, 23);
    let scale = 3.0 / (k as f32).sqrt();
    // x: row-major, and every other row of a taller matrix (a strided view).
    let x_dense = random(rng, &[m, k], -1.0, 1.0);
    let x_tall = random(rng, &[2 * m, k], -1.0, 1.0);
    let x_strided = ops::slice(&x_tall, &[0, 0], &[2 * m, k], &[2, 1]).unwrap();
    // w: row-major [N, K]; the transpose of a row-major [K, N] (handed to
    // BLAS as it lies); every other column of [N, 2K] (copied).
    let w_dense = random(rng, &[n, k], -scale, scale);
    let w_t = ops::transpose(&random(rng, &[k, n], -scale, scale)).unwrap();
    let w_wide = random(rng, &[n, 2 * k], -scale, scale);
    let w_strided = ops::slice(&w_wide, &[0, 0], &[n, 2 * k], &[1, 2]).unwrap();
    // b: dense, and every other element of [2N].
    let b_dense = random(rng, &[n], -1.0, 1.0);
    let b_strided = ops::slice(&random(rng, &[2 * n], -1.0, 1.0), &[1], &[2 * n], &[2]).unwrap();
    for (x, w, b) in [
        (&x_dense, &w_dense, Some(&b_dense)),
        (&x_strided, &w_dense, None),
        (&x_dense, &w_t, Some(&b_strided)),
        (&x_strided, &w_strided, Some(&b_dense)),
    ] {
        for e in EPILOGUES {
            let y = cpu::linear_on(x, w, b, e, s).unwrap();
            assert_eq!(y.shape(), vec![m, n]);
            assert_eq!(y.dtype(), Dtype::Float32);
            let want = linear_f64(x, w, b, e);
            common::assert_close_f32(&y.to_vec::<f32>().unwrap(), &want, 2e-6, 1.0);
        }
    }
}

#[test]
fn linear_with_empty_k_is_the_epilogue_of_the_bias() {
    let s = stream();
    let x = ops::zeros(&[3, 0], Dtype::Float32).unwrap();
    let w = ops::zeros(&[4, 0], Dtype::Float32).unwrap();
    let b = Array::from_slice(&[-2.0f32, -0.5, 0.5, 2.0], &[4]).unwrap();
    for e in EPILOGUES {
        let y = cpu::linear_on(&x, &w, Some(&b), e, &s).unwrap();
        let want: Vec<f64> = (0..3)
            .flat_map(|_| [-2.0, -0.5, 0.5, 2.0].map(|v| activate(v, e)))
            .collect();
        common::assert_close_f32(&y.to_vec::<f32>().unwrap(), &want, 2e-6, 1.0);
    }
}

#[test]
fn linear_propagates_nan_and_saturates() {
    let s = stream();
    let x = Array::from_slice(&[f32::NAN, 1e30, -1e30, 50.0, -50.0], &[5, 1]).unwrap();
    let w = Array::from_slice(&[1.0f32], &[1, 1]).unwrap();
    for e in EPILOGUES {
        let y = cpu::linear_on(&x, &w, None, e, &s)
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        assert!(y[0].is_nan(), "{e:?}: NaN in, {} out", y[0]);
        // The rational tanh / erf reach ±1 within f32's epsilon: the error
        // scales with |v|.
        assert!(
            (y[3] as f64 - activate(50.0, e)).abs() < 50.0 * 1e-7,
            "{e:?} at 50: {}",
            y[3]
        );
        assert!(
            (y[4] as f64 - activate(-50.0, e)).abs() < 50.0 * 1e-7,
            "{e:?} at -50: {}",
            y[4]
        );
        if e != Epilogue::Identity {
            assert_eq!(y[2], 0.0, "{e:?} of -1e30");
        }
        if e != Epilogue::Identity && e != Epilogue::Relu {
            assert!(
                (y[1] / 1e30 - 1.0).abs() < 1e-6,
                "{e:?} saturates to v: {}",
                y[1]
            );
        }
    }
}

#[test]
fn score_topk_matches_f64_for_one_and_many_queries_and_any_layout() {
    let s = stream();
    let mut rng = common::rng();
    for dtype in [Dtype::Float32, Dtype::Bfloat16] {
        // One query (the matrix-vector pass; rows not a multiple of 4; a
        // row width with 32-wide, 8-wide and single steps), several (blocks
        // through BLAS, a partial last block), k = N.
        for (b, n, d, k) in [
            (1usize, 1003usize, 384usize, 100usize),
            (1, 501, 45, 20),
            (5, 700, 48, 10),
            (3, 37, 9, 37),
        ] {
            let q = random(&mut rng, &[b as i32, d as i32], -1.0, 1.0)
                .astype(dtype)
                .unwrap();
            let dense = random(&mut rng, &[n as i32, d as i32], -1.0, 1.0)
                .astype(dtype)
                .unwrap();
            // The same rows as the transpose of a [D, N] matrix (copied first).
            let transposed =
                ops::transpose(&ops::contiguous(&ops::transpose(&dense).unwrap()).unwrap())
                    .unwrap();
            for c in [&dense, &transposed] {
                let (scores, indices) = cpu::score_topk_on(&q, c, k as i32, &s).unwrap();
                assert_eq!(scores.shape(), vec![b as i32, k as i32]);
                assert_eq!(
                    (scores.dtype(), indices.dtype()),
                    (Dtype::Float32, Dtype::Uint32)
                );
                common::check_topk(
                    &f64_of(&q),
                    &f64_of(c),
                    (b, n, d, k),
                    &scores.to_vec::<f32>().unwrap(),
                    &indices.to_vec::<u32>().unwrap(),
                    1e-5,
                );
            }
        }
    }
}

#[test]
fn score_topk_ranks_nan_last_and_breaks_ties_by_index() {
    let s = stream();
    // Rows 1, 3 and 4 tie; row 2 scores NaN; for both the single-query and
    // the blocked path.
    let c = Array::from_slice(
        &[
            0.5f32,
            0.0,
            1.0,
            1.0,
            f32::NAN,
            0.0,
            1.0,
            1.0,
            1.0,
            1.0,
            -3.0,
            0.0,
        ],
        &[6, 2],
    )
    .unwrap();
    for b in [1, 2] {
        let q = ops::ones(&[b, 2], Dtype::Float32).unwrap();
        let (scores, indices) = cpu::score_topk_on(&q, &c, 6, &s).unwrap();
        let (scores, indices) = (
            scores.to_vec::<f32>().unwrap(),
            indices.to_vec::<u32>().unwrap(),
        );
        for qi in 0..b as usize {
            assert_eq!(&indices[qi * 6..qi * 6 + 6], &[1, 3, 4, 0, 5, 2]);
            assert_eq!(
                &scores[qi * 6..qi * 6 + 6],
                &[2.0, 2.0, 2.0, 0.5, -3.0, f32::NEG_INFINITY]
            );
        }
    }
}

#[test]
fn bad_inputs_are_errors() {
    let s = stream();
    let err = |r: mlx_rs::Result<Array>| r.unwrap_err().to_string();
    let x = ops::ones(&[2, 3], Dtype::Float32).unwrap();
    let w = ops::ones(&[4, 3], Dtype::Float32).unwrap();
    let w_bad = ops::ones(&[4, 5], Dtype::Float32).unwrap();
    assert!(
        err(cpu::linear_on(&x, &w_bad, None, Epilogue::Relu, &s)).contains("x [2, 3], w [4, 5]")
    );
    let b_bad = ops::ones(&[3], Dtype::Float32).unwrap();
    assert!(err(cpu::linear_on(&x, &w, Some(&b_bad), Epilogue::Relu, &s)).contains("bias"));
    let xi = ops::ones(&[2, 3], Dtype::Int32).unwrap();
    assert!(err(cpu::linear_on(&xi, &w, None, Epilogue::Relu, &s)).contains("float32"));
    let x3 = ops::ones(&[1, 2, 3], Dtype::Float32).unwrap();
    assert!(err(cpu::linear_on(&x3, &w, None, Epilogue::Relu, &s)).contains("[M, K]"));

    let pair = |r: mlx_rs::Result<(Array, Array)>| r.unwrap_err().to_string();
    let q = ops::ones(&[1, 3], Dtype::Float32).unwrap();
    assert!(pair(cpu::score_topk_on(&q, &w, 0, &s)).contains("k = 0"));
    assert!(pair(cpu::score_topk_on(&q, &w, 5, &s)).contains("1..=4"));
    let qb = Array::from_slice(&[bf16::from_f32(1.0); 3], &[1, 3]).unwrap();
    assert!(pair(cpu::score_topk_on(&qb, &w, 1, &s)).contains("one dtype"));
    let (qh, wh) = (
        q.astype(Dtype::Float16).unwrap(),
        w.astype(Dtype::Float16).unwrap(),
    );
    assert!(pair(cpu::score_topk_on(&qh, &wh, 1, &s)).contains("bfloat16"));
    assert!(pair(cpu::score_topk_on(&q, &w_bad, 1, &s)).contains("[1, 3] and [4, 5]"));
}

/// On a GPU stream the primitives refuse before building anything.
#[test]
#[ignore = "needs a GPU: run with --include-ignored on a GPU host (scripts/gpu-suite.sh)"]
fn gpu_streams_are_refused() {
    let gpu = Stream::new(&common::gpu()).unwrap();
    let x = ops::ones(&[2, 3], Dtype::Float32).unwrap();
    let err = cpu::linear_on(&x, &x, None, Epilogue::Identity, &gpu).unwrap_err();
    assert!(err.to_string().contains("CPU streams only"), "{err}");
    let err = cpu::score_topk_on(&x, &x, 1, &gpu).unwrap_err();
    assert!(err.to_string().contains("CPU streams only"), "{err}");
}

/// Both primitives from two threads at once, each on its own CPU stream
/// (MLX runs each stream on its own worker thread), give what one thread
/// gives: the kernels keep no state between calls.
#[test]
fn two_threads_on_their_own_streams_agree_with_one() {
    let mut rng = common::rng();
    let (rows, d, m, n) = (3000usize, 64usize, 40usize, 96usize);
    let corpus = common::uniform(&mut rng, rows * d, -1.0, 1.0);
    let queries = common::uniform(&mut rng, 3 * d, -1.0, 1.0);
    let x = common::uniform(&mut rng, m * d, -1.0, 1.0);
    let w = common::uniform(&mut rng, n * d, -0.2, 0.2);
    type Outputs = Vec<(Vec<u32>, Vec<f32>, Vec<f32>)>;
    let run = move || -> Outputs {
        let s = stream();
        let c = Array::from_slice(&corpus, &[rows as i32, d as i32]).unwrap();
        let w = Array::from_slice(&w, &[n as i32, d as i32]).unwrap();
        let mut out = Vec::new();
        // One query (the row scan), three (blocks through BLAS); 3 rows of
        // x (the few-rows kernel), 40 (BLAS).
        for (b, xm) in [(1usize, 3usize), (3, m)] {
            let q = Array::from_slice(&queries[..b * d], &[b as i32, d as i32]).unwrap();
            let xa = Array::from_slice(&x[..xm * d], &[xm as i32, d as i32]).unwrap();
            for _ in 0..20 {
                let (scores, indices) = cpu::score_topk_on(&q, &c, 50, &s).unwrap();
                let y = cpu::linear_on(&xa, &w, None, Epilogue::GeluTanh, &s).unwrap();
                out.push((
                    indices.to_vec::<u32>().unwrap(),
                    scores.to_vec::<f32>().unwrap(),
                    y.to_vec::<f32>().unwrap(),
                ));
            }
        }
        out
    };
    let alone = run.clone()();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let run = run.clone();
            std::thread::spawn(run)
        })
        .collect();
    for t in threads {
        let together = t.join().unwrap();
        assert_eq!(together.len(), alone.len());
        for ((ti, ts, ty), (ai, as_, ay)) in together.iter().zip(&alone) {
            assert_eq!(ti, ai, "top-k rows differ between threads");
            common::assert_close_f32(ts, &common::to_f64(as_), 1e-6, 1.0);
            common::assert_close_f32(ty, &common::to_f64(ay), 1e-6, 1.0);
        }
    }
}
