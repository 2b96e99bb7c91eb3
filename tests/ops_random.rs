//! `ops::random`: statistical checks of the samplers (moments within a few
//! standard errors, ranges, frequencies) and the key semantics (same key, same
//! numbers; split keys, different numbers).

mod common;

use mlx_rs::ops::random;
use mlx_rs::{ops, Array, Device, Dtype};
use rand::Rng;

/// Tolerance in standard errors: a false failure needs a 6-sigma deviation.
const Z: f64 = 6.0;

fn f64s(a: &Array) -> Vec<f64> {
    common::to_f64(&a.astype(Dtype::Float32).unwrap().to_vec::<f32>().unwrap())
}

fn mean_var(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

/// Asserts the sample mean and variance of `v` match a distribution with
/// mean `mu`, variance `var` and fourth central moment `m4`.
#[track_caller]
fn assert_moments(v: &[f64], mu: f64, var: f64, m4: f64) {
    let n = v.len() as f64;
    let (m, s2) = mean_var(v);
    let se_mean = (var / n).sqrt();
    assert!(
        (m - mu).abs() <= Z * se_mean,
        "mean {m}, want {mu} ± {}",
        Z * se_mean
    );
    let se_var = ((m4 - var * var) / n).sqrt();
    assert!(
        (s2 - var).abs() <= Z * se_var,
        "variance {s2}, want {var} ± {}",
        Z * se_var
    );
}

#[test]
fn keys_are_uint32_pairs_and_deterministic() {
    let seed = common::rng().gen::<u64>();
    let k = random::key(seed).unwrap();
    assert_eq!(k.shape(), vec![2]);
    assert_eq!(k.dtype(), Dtype::Uint32);
    assert_eq!(
        k.to_vec::<u32>().unwrap(),
        random::key(seed).unwrap().to_vec::<u32>().unwrap()
    );
    let a = random::normal(&[64], Dtype::Float32, 0.0, 1.0, Some(&k)).unwrap();
    let b = random::normal(&[64], Dtype::Float32, 0.0, 1.0, Some(&k)).unwrap();
    assert_eq!(a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
    let other = random::key(seed.wrapping_add(1)).unwrap();
    let c = random::normal(&[64], Dtype::Float32, 0.0, 1.0, Some(&other)).unwrap();
    assert_ne!(a.to_vec::<f32>().unwrap(), c.to_vec::<f32>().unwrap());
}

#[test]
fn split_keys_differ_and_give_different_numbers() {
    let k = random::key(common::rng().gen()).unwrap();
    let (k1, k2) = random::split(&k).unwrap();
    let (v0, v1, v2) = (
        k.to_vec::<u32>().unwrap(),
        k1.to_vec::<u32>().unwrap(),
        k2.to_vec::<u32>().unwrap(),
    );
    assert!(v0 != v1 && v0 != v2 && v1 != v2);
    let draw = |key: &Array| {
        random::uniform(0.0, 1.0, &[32], Dtype::Float32, Some(key))
            .unwrap()
            .to_vec::<f32>()
            .unwrap()
    };
    assert_ne!(draw(&k1), draw(&k2));
    // Splitting is deterministic too.
    let (k1b, _) = random::split(&k).unwrap();
    assert_eq!(v1, k1b.to_vec::<u32>().unwrap());

    let many = random::split_num(&k, 5).unwrap();
    assert_eq!(many.shape(), vec![5, 2]);
    let rows = many.to_vec::<u32>().unwrap();
    let mut pairs: Vec<_> = rows.chunks(2).map(|c| (c[0], c[1])).collect();
    pairs.sort();
    pairs.dedup();
    assert_eq!(pairs.len(), 5);
}

#[test]
fn seed_makes_the_global_generator_repeat() {
    let s = common::rng().gen::<u64>();
    random::seed(s).unwrap();
    let a = random::normal(&[16], Dtype::Float32, 0.0, 1.0, None)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let b = random::normal(&[16], Dtype::Float32, 0.0, 1.0, None)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert_ne!(a, b, "the global generator advances");
    random::seed(s).unwrap();
    let c = random::normal(&[16], Dtype::Float32, 0.0, 1.0, None)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(a, c);
}

#[test]
fn normal_moments() {
    let mut rng = common::rng();
    let k = random::key(rng.gen()).unwrap();
    let loc = rng.gen_range(-3.0f32..3.0);
    let scale = rng.gen_range(0.5f32..2.0);
    let x = random::normal(&[200, 500], Dtype::Float32, loc, scale, Some(&k)).unwrap();
    assert_eq!(x.shape(), vec![200, 500]);
    let v = f64s(&x);
    let var = (scale as f64).powi(2);
    assert_moments(&v, loc as f64, var, 3.0 * var * var);

    // Same key on an explicit device gives the same numbers (to rounding:
    // the CPU and GPU transforms of the shared random bits differ in ulps).
    let on = random::normal_on(
        &[200, 500],
        Dtype::Float32,
        loc,
        scale,
        Some(&k),
        &Device::cpu(),
    )
    .unwrap();
    for (a, b) in f64s(&on).iter().zip(&v) {
        assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "{a} vs {b}");
    }

    // Half precision keeps its dtype.
    let h = random::normal(&[100_000], Dtype::Bfloat16, 0.0, 1.0, Some(&k)).unwrap();
    assert_eq!(h.dtype(), Dtype::Bfloat16);
    assert_moments(&f64s(&h), 0.0, 1.0, 3.0);
}

#[test]
fn normal_array_broadcasts_parameters() {
    let mut rng = common::rng();
    let k = random::key(rng.gen()).unwrap();
    let locs = [rng.gen_range(-5.0f32..-1.0), rng.gen_range(1.0f32..5.0)];
    let loc = Array::from_slice(&locs, &[2, 1]).unwrap();
    let scale = Array::scalar(0.5f32).unwrap();
    let x = random::normal_array(
        &[2, 50_000],
        Dtype::Float32,
        Some(&loc),
        Some(&scale),
        Some(&k),
    )
    .unwrap();
    let v = f64s(&x);
    for (r, l) in locs.iter().enumerate() {
        assert_moments(
            &v[r * 50_000..(r + 1) * 50_000],
            *l as f64,
            0.25,
            3.0 * 0.0625,
        );
    }
}

#[test]
fn uniform_range_and_moments() {
    let mut rng = common::rng();
    let k = random::key(rng.gen()).unwrap();
    let lo = rng.gen_range(-4.0f32..0.0);
    let hi = lo + rng.gen_range(0.5f32..4.0);
    let v = f64s(&random::uniform(lo, hi, &[100_000], Dtype::Float32, Some(&k)).unwrap());
    assert!(v.iter().all(|x| *x >= lo as f64 && *x < hi as f64));
    let w = (hi - lo) as f64;
    let var = w * w / 12.0;
    assert_moments(&v, (lo + hi) as f64 / 2.0, var, w.powi(4) / 80.0);

    // Array bounds broadcast: one range per row.
    let low = Array::from_slice(&[0.0f32, 10.0], &[2, 1]).unwrap();
    let high = Array::from_slice(&[1.0f32, 20.0], &[2, 1]).unwrap();
    let x = random::uniform_array(&low, &high, &[2, 1000], Dtype::Float32, Some(&k)).unwrap();
    let v = f64s(&x);
    assert!(v[..1000].iter().all(|x| (0.0..1.0).contains(x)));
    assert!(v[1000..].iter().all(|x| (10.0..20.0).contains(x)));

    assert!(random::uniform(0.0, 1.0, &[4], Dtype::Int32, Some(&k)).is_err());
}

#[test]
fn randint_range_and_coverage() {
    let mut rng = common::rng();
    let k = random::key(rng.gen()).unwrap();
    let lo = rng.gen_range(-20..5);
    // At least three values: with two, the sample variance has no spread.
    let hi = lo + rng.gen_range(3..12);
    let x = random::randint(lo, hi, &[50_000], Dtype::Int32, Some(&k)).unwrap();
    assert_eq!(x.dtype(), Dtype::Int32);
    let v = x.to_vec::<i32>().unwrap();
    assert!(v.iter().all(|x| (lo..hi).contains(x)));
    for target in lo..hi {
        assert!(v.contains(&target), "{target} never drawn in [{lo}, {hi})");
    }
    let vf: Vec<f64> = v.iter().map(|x| *x as f64).collect();
    let m = (hi - lo) as f64;
    let var = (m * m - 1.0) / 12.0;
    // Fourth central moment of a discrete uniform on m points.
    let m4 = (m * m - 1.0) * (3.0 * m * m - 7.0) / 240.0;
    assert_moments(&vf, (lo + hi - 1) as f64 / 2.0, var, m4);

    assert!(random::randint(0, 5, &[4], Dtype::Float32, Some(&k)).is_err());
}

#[test]
fn bernoulli_rates() {
    let mut rng = common::rng();
    let k = random::key(rng.gen()).unwrap();
    let p = rng.gen_range(0.1f32..0.9);
    let n = 100_000;
    let x = random::bernoulli(&Array::scalar(p).unwrap(), Some(&[n]), Some(&k)).unwrap();
    assert_eq!(x.dtype(), Dtype::Bool);
    let hits = x.to_vec::<bool>().unwrap().iter().filter(|b| **b).count() as f64;
    let p = p as f64;
    let se = (p * (1.0 - p) / n as f64).sqrt();
    assert!((hits / n as f64 - p).abs() <= Z * se);

    // Per-column probabilities from a transposed (non-contiguous) array; the
    // output takes p's shape when none is given.
    let rows = 20_000;
    let probs = [0.05f32, 0.5, 0.95];
    let column = Array::from_slice(&probs, &[3, 1]).unwrap();
    let tiled = ops::transpose(&ops::tile(&column, &[1, rows]).unwrap()).unwrap();
    let x = random::bernoulli(&tiled, None, Some(&k)).unwrap();
    assert_eq!(x.shape(), vec![rows, 3]);
    let v = x.to_vec::<bool>().unwrap();
    for (c, p) in probs.iter().enumerate() {
        let p = *p as f64;
        let rate = (0..rows as usize).filter(|r| v[r * 3 + c]).count() as f64 / rows as f64;
        let se = (p * (1.0 - p) / rows as f64).sqrt();
        assert!((rate - p).abs() <= Z * se, "column {c}: rate {rate}, p {p}");
    }
}

/// Asserts category counts match `probs` within `Z` standard errors each.
#[track_caller]
fn assert_frequencies(samples: &[u32], probs: &[f64]) {
    let n = samples.len() as f64;
    for (c, p) in probs.iter().enumerate() {
        let count = samples.iter().filter(|s| **s as usize == c).count() as f64;
        let se = (p * (1.0 - p) / n).sqrt();
        assert!(
            (count / n - p).abs() <= Z * se + 1e-12,
            "category {c}: {} vs {p}",
            count / n
        );
    }
    assert!(samples.iter().all(|s| (*s as usize) < probs.len()));
}

fn softmax(logits: &[f32]) -> Vec<f64> {
    let m = logits.iter().cloned().fold(f32::MIN, f32::max) as f64;
    let e: Vec<f64> = logits.iter().map(|l| (*l as f64 - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|x| x / s).collect()
}

#[test]
fn categorical_frequencies() {
    let mut rng = common::rng();
    let k = random::key(rng.gen()).unwrap();
    let logits = common::uniform(&mut rng, 5, -2.0, 2.0);
    let probs = softmax(&logits);
    let l = Array::from_slice(&logits, &[5]).unwrap();

    let x = random::categorical_num_samples(&l, -1, 50_000, Some(&k)).unwrap();
    assert_eq!(x.shape(), vec![50_000]);
    assert_eq!(x.dtype(), Dtype::Uint32);
    assert_frequencies(&x.to_vec::<u32>().unwrap(), &probs);

    let x = random::categorical_shape(&l, 0, &[200, 100], Some(&k)).unwrap();
    assert_eq!(x.shape(), vec![200, 100]);
    assert_frequencies(&x.to_vec::<u32>().unwrap(), &probs);

    // One draw per row of a batch given transposed, categories along axis 0.
    let rows = 30_000;
    let batch = ops::broadcast_to(&l, &[rows, 5]).unwrap();
    let t = ops::transpose(&batch).unwrap(); // [5, rows]
    let x = random::categorical(&t, 0, Some(&k)).unwrap();
    assert_eq!(x.shape(), vec![rows]);
    assert_frequencies(&x.to_vec::<u32>().unwrap(), &probs);

    assert!(random::categorical(&l, 3, Some(&k)).is_err());
}

#[test]
fn other_distributions() {
    let mut rng = common::rng();
    let k = random::key(rng.gen()).unwrap();
    let n = 100_000;

    // Truncated normal stays inside its bounds.
    let (lo, hi) = (rng.gen_range(-2.0f32..-0.5), rng.gen_range(0.5f32..2.0));
    let x = random::truncated_normal(
        &Array::scalar(lo).unwrap(),
        &Array::scalar(hi).unwrap(),
        &[n],
        Dtype::Float32,
        Some(&k),
    )
    .unwrap();
    assert!(f64s(&x).iter().all(|v| *v >= lo as f64 && *v <= hi as f64));

    // Standard Gumbel: mean Euler–Mascheroni, variance π²/6.
    let g = f64s(&random::gumbel(&[n], Dtype::Float32, Some(&k)).unwrap());
    let var = std::f64::consts::PI.powi(2) / 6.0;
    assert_moments(&g, 0.577_215_664_901_532_9, var, (3.0 + 2.4) * var * var);

    // Laplace(loc, b): variance 2b², fourth central moment 24b⁴.
    let (loc, b) = (rng.gen_range(-1.0f32..1.0), rng.gen_range(0.5f32..1.5));
    let l = f64s(&random::laplace(&[n], Dtype::Float32, loc, b, Some(&k)).unwrap());
    let b = b as f64;
    assert_moments(&l, loc as f64, 2.0 * b * b, 24.0 * b.powi(4));

    // Permutations.
    let p = random::permutation_arange(100, Some(&k))
        .unwrap()
        .to_vec::<u32>()
        .unwrap();
    let mut sorted = p.clone();
    sorted.sort();
    assert_eq!(sorted, (0..100).collect::<Vec<u32>>());
    assert_ne!(p, sorted);
    let rows = Array::from_slice(&(0..12).collect::<Vec<i32>>(), &[4, 3]).unwrap();
    let shuffled = random::permutation(&rows, 0, Some(&k))
        .unwrap()
        .to_vec::<i32>()
        .unwrap();
    let mut firsts: Vec<i32> = shuffled
        .chunks(3)
        .map(|r| {
            assert_eq!([r[0] + 1, r[0] + 2], [r[1], r[2]], "rows stay whole");
            r[0]
        })
        .collect();
    firsts.sort();
    assert_eq!(firsts, vec![0, 3, 6, 9]);

    // Bits of 1 byte.
    let bits = random::bits(&[1000], 1, Some(&k)).unwrap();
    assert_eq!(bits.dtype(), Dtype::Uint8);
}

#[test]
fn multivariate_normal_covariance() {
    let mut rng = common::rng();
    let k = random::key(rng.gen()).unwrap();
    let mean = [rng.gen_range(-1.0f32..1.0), rng.gen_range(-1.0f32..1.0)];
    let c = rng.gen_range(-0.8f32..0.8);
    let cov = [1.0f32, c, c, 1.0];
    let n = 100_000;
    let x = random::multivariate_normal_on(
        &Array::from_slice(&mean, &[2]).unwrap(),
        &Array::from_slice(&cov, &[2, 2]).unwrap(),
        &[n],
        Dtype::Float32,
        Some(&k),
        &Device::cpu(),
    )
    .unwrap();
    assert_eq!(x.shape(), vec![n, 2]);
    let v = f64s(&x);
    let a: Vec<f64> = v.iter().step_by(2).cloned().collect();
    let b: Vec<f64> = v.iter().skip(1).step_by(2).cloned().collect();
    assert_moments(&a, mean[0] as f64, 1.0, 3.0);
    assert_moments(&b, mean[1] as f64, 1.0, 3.0);
    let (ma, mb) = (mean_var(&a).0, mean_var(&b).0);
    let cab = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - ma) * (y - mb))
        .sum::<f64>()
        / n as f64;
    // Var of the product of two unit normals with correlation c is 1 + c².
    let se = ((1.0 + (c * c) as f64) / n as f64).sqrt();
    assert!((cab - c as f64).abs() <= Z * se, "covariance {cab} vs {c}");
}

#[test]
fn bad_arguments_are_errors() {
    let k = random::key(1).unwrap();
    assert!(random::normal(&[4], Dtype::Int32, 0.0, 1.0, Some(&k)).is_err());
    assert!(random::normal(&[-1], Dtype::Float32, 0.0, 1.0, Some(&k)).is_err());
    let bad_key = Array::from_slice(&[1u32, 2, 3], &[3]).unwrap();
    assert!(random::split(&bad_key).is_err());
}
