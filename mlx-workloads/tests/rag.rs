//! The retrieval stages against an f64 brute-force search.

use mlx_rs_core::{Array, Device, Dtype};
use mlx_workloads::rag::{Index, Scoring};
use rand::{Rng, SeedableRng};

#[test]
fn search_matches_f64_brute_force() {
    Device::cpu().set_default().unwrap();
    let seed: u64 = rand::random();
    println!("seed: {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (n, d, b, k) = (3000usize, 48usize, 5usize, 10usize);
    let c: Vec<f32> = (0..n * d).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let q: Vec<f32> = (0..b * d).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let unit = |v: &[f32]| -> Vec<f64> {
        let norm = v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        v.iter().map(|x| *x as f64 / norm).collect()
    };
    let cn: Vec<Vec<f64>> = c.chunks(d).map(unit).collect();
    for dtype in [Dtype::Float32, Dtype::Bfloat16] {
        let index = Index::new(
            &Array::from_slice(&c, &[n as i32, d as i32]).unwrap(),
            dtype,
        )
        .unwrap();
        let queries = mlx_rs_core::ops::astype(
            &Array::from_slice(&q, &[b as i32, d as i32]).unwrap(),
            dtype,
        )
        .unwrap();
        let qv = mlx_rs_core::ops::astype(&queries, Dtype::Float32)
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        for scoring in [Scoring::Fused, Scoring::Reference] {
            let hits = index.search(&queries, k as i32, 100, scoring).unwrap();
            let got = hits.indices.to_vec::<u32>().unwrap();
            let scores = hits.scores.to_vec::<f32>().unwrap();
            for qi in 0..b {
                let qr: Vec<f64> = qv[qi * d..(qi + 1) * d].iter().map(|x| *x as f64).collect();
                let exact: Vec<f64> = cn
                    .iter()
                    .map(|r| r.iter().zip(&qr).map(|(x, y)| x * y).sum())
                    .collect();
                let mut best = exact.clone();
                best.sort_by(|x, y| y.total_cmp(x));
                let scale = qr.iter().map(|x| x.abs()).sum::<f64>();
                for j in 0..k {
                    let row = got[qi * k + j] as usize;
                    // Exact f32 rerank against f32 rows: f32 accuracy.
                    assert!((scores[qi * k + j] as f64 - exact[row]).abs() <= 1e-5 * scale);
                    assert!(
                        (exact[row] - best[j]).abs() <= 2e-5 * scale,
                        "{dtype} {scoring:?} query {qi} rank {j}: {} vs best {}",
                        exact[row],
                        best[j]
                    );
                }
            }
        }
    }
}

#[test]
fn empty_or_flat_corpus_is_an_error() {
    let flat = Array::from_slice(&[1.0f32, 2.0], &[2]).unwrap();
    assert!(Index::new(&flat, Dtype::Float32).is_err());
    let empty = mlx_rs_core::ops::zeros(&[0, 4], Dtype::Float32).unwrap();
    let err = Index::new(&empty, Dtype::Float32)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("non-empty"), "{err}");
}
