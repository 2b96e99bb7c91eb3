//! The Python-like surface: trees and structured transforms, scalar operands,
//! methods with Python's defaults, nn functions, sort/clip/concatenate
//! conventions, IO conveniences, error locations, and CPU half-precision
//! products through float32. References are f64 math in Rust.

mod common;

use std::collections::{BTreeMap, HashMap};

use half::{bf16, f16};
use mlx_rs::ops::{self, nn};
use mlx_rs::{io, transforms, tree, Array, Device, Dtype, Tree};
use rand::Rng;

fn f32s(a: &Array) -> Vec<f32> {
    a.to_vec::<f32>().unwrap()
}

#[derive(Clone)]
struct Affine {
    w: Array,
    b: Array,
    extra: Option<Array>,
}
mlx_rs::impl_tree!(Affine { w, b, extra });

#[derive(Clone)]
struct Net {
    layers: Vec<Affine>,
    scale: Array,
}
mlx_rs::impl_tree!(Net { layers, scale });

fn affine(rng: &mut impl Rng, i: i32, o: i32) -> Affine {
    let w = common::uniform(&mut common_rng(rng), (i * o) as usize, -1.0, 1.0);
    let b = common::uniform(&mut common_rng(rng), o as usize, -1.0, 1.0);
    Affine {
        w: Array::from_slice(&w, &[i, o]).unwrap(),
        b: Array::from_slice(&b, &[o]).unwrap(),
        extra: None,
    }
}

fn common_rng(rng: &mut impl Rng) -> rand::rngs::StdRng {
    rand::SeedableRng::seed_from_u64(rng.gen())
}

#[test]
fn tree_order_and_names_are_stable() {
    let mut rng = common::rng();
    let net = Net {
        layers: vec![affine(&mut rng, 2, 3), affine(&mut rng, 3, 1)],
        scale: Array::scalar(2.0f32).unwrap(),
    };
    let names: Vec<String> = net.flatten_named().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "layers.0.w",
            "layers.0.b",
            "layers.1.w",
            "layers.1.b",
            "scale"
        ]
    );
    assert_eq!(net.num_leaves(), 5);

    // HashMap: sorted keys, whatever the insertion order.
    let mut map = HashMap::new();
    for k in ["zeta", "alpha", "mid"] {
        map.insert(k.to_string(), Array::scalar(k.len() as f32).unwrap());
    }
    let names: Vec<String> = map.flatten_named().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["alpha", "mid", "zeta"]);
    let btree: BTreeMap<String, Array> = map.clone().into_iter().collect();
    let (a, b) = (map.flatten(), btree.flatten());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.item::<f32>().unwrap(), y.item::<f32>().unwrap());
    }

    // Tuples and nested vectors, and an unflatten round trip with new leaves.
    let t = (
        Array::scalar(1.0f32).unwrap(),
        vec![
            Array::scalar(2.0f32).unwrap(),
            Array::scalar(3.0f32).unwrap(),
        ],
    );
    let names: Vec<String> = t.flatten_named().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["0", "1.0", "1.1"]);
    let doubled = t.map(|a| a * 2.0).unwrap();
    let vals: Vec<f32> = doubled
        .flatten()
        .iter()
        .map(|a| a.item().unwrap())
        .collect();
    assert_eq!(vals, [2.0, 4.0, 6.0]);
    let err = t
        .unflatten(vec![Array::scalar(0.0f32).unwrap()])
        .unwrap_err();
    assert!(err.to_string().contains("3 leaves"), "{err}");
}

#[test]
fn structured_value_and_grad_matches_f64() {
    let mut rng = common::rng();
    let (n, i) = (5usize, 3usize);
    let p = affine(&mut rng, i as i32, 1);
    let xs = common::uniform(&mut rng, n * i, -1.0, 1.0);
    let ys = common::uniform(&mut rng, n, -1.0, 1.0);
    let x = Array::from_slice(&xs, &[n as i32, i as i32]).unwrap();
    let y = Array::from_slice(&ys, &[n as i32, 1]).unwrap();
    // loss = mean((x w + b - y)^2)
    let vg = tree::value_and_grad(|p: &Affine, (x, y): &(Array, Array)| {
        ((x.matmul(&p.w)? + &p.b)? - y)?.square()?.mean()
    });
    let (loss, g) = vg.call(&p, &(x, y)).unwrap();

    let w = common::to_f64(&f32s(&p.w));
    let b = f32s(&p.b)[0] as f64;
    let r: Vec<f64> = (0..n)
        .map(|r| (0..i).map(|c| xs[r * i + c] as f64 * w[c]).sum::<f64>() + b - ys[r] as f64)
        .collect();
    let want_loss = r.iter().map(|v| v * v).sum::<f64>() / n as f64;
    let want_gw: Vec<f64> = (0..i)
        .map(|c| {
            (0..n)
                .map(|k| 2.0 * r[k] * xs[k * i + c] as f64)
                .sum::<f64>()
                / n as f64
        })
        .collect();
    let want_gb = r.iter().map(|v| 2.0 * v).sum::<f64>() / n as f64;
    // Gradients are sums that may cancel: tolerance relative to max(|want|, 0.1).
    common::assert_close_f32(&[loss.item::<f32>().unwrap()], &[want_loss], 1e-5, 0.1);
    common::assert_close_f32(&f32s(&g.w), &want_gw, 1e-5, 0.1);
    common::assert_close_f32(&f32s(&g.b), &[want_gb], 1e-5, 0.1);
    assert!(g.extra.is_none());
}

#[test]
fn non_scalar_loss_is_an_error_at_the_call_site() {
    let x = Array::from_slice(&[1.0f32, 2.0, 3.0], &[3]).unwrap();
    let vg = tree::value_and_grad(|p: &Array, _: &()| p * 2.0);
    let line = line!() + 1;
    let err = vg.call(&x, &()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("scalar loss") && msg.contains("mean"), "{msg}");
    let loc = err.location().unwrap();
    assert!(loc.file().ends_with("ergonomics.rs"), "{msg}");
    assert_eq!(loc.line(), line);

    // The flat transform says the same.
    let g = transforms::value_and_grad(|a: &[Array]| Ok(vec![(&a[0] * 2.0)?]), &[0]).unwrap();
    let err = g.call(std::slice::from_ref(&x)).unwrap_err();
    assert!(err.to_string().contains("scalar loss"), "{err}");
    assert!(err.location().unwrap().file().ends_with("ergonomics.rs"));
}

#[test]
fn compile_with_state_matches_uncompiled_steps() {
    let mut rng = common::rng();
    let p = affine(&mut rng, 4, 2);
    let xs = common::uniform(&mut rng, 6 * 4, -1.0, 1.0);
    let x = Array::from_slice(&xs, &[6, 4]).unwrap();
    let loss = |p: &Affine, x: &Array| (x.matmul(&p.w)? + &p.b)?.square()?.sum();
    let sgd = move |p: &mut Affine, x: &Array| {
        let (l, g) = tree::value_and_grad(loss).call(p, x)?;
        *p = p.zip_map(&g, |p, g| p - (g * 0.05)?)?;
        Ok(l)
    };
    let step = tree::compile_with_state(sgd).unwrap();
    let (mut a, mut b) = (p.clone(), p);
    for _ in 0..4 {
        let la = step.call_mut(&mut a, &x).unwrap();
        let lb = sgd(&mut b, &x).unwrap();
        a.eval().unwrap();
        common::assert_close_f32(
            &[la.item::<f32>().unwrap()],
            &[lb.item::<f32>().unwrap() as f64],
            1e-5,
            0.1,
        );
    }
    common::assert_close_f32(&f32s(&a.w), &common::to_f64(&f32s(&b.w)), 1e-5, 0.1);
    common::assert_close_f32(&f32s(&a.b), &common::to_f64(&f32s(&b.b)), 1e-5, 0.1);

    // Stateless compile over a tuple.
    let f = tree::compile(|(u, v): &(Array, Array)| (u * v)?.sum()).unwrap();
    let s = f.call(&(x.clone(), x.clone())).unwrap();
    let want: f64 = xs.iter().map(|v| (*v as f64) * (*v as f64)).sum();
    common::assert_close_f32(&[s.item::<f32>().unwrap()], &[want], 1e-5, 0.0);
}

#[test]
fn compile_with_state_takes_state_that_grows_on_the_first_call() {
    // An optimizer creates its moments on its first update: the state gains
    // a leaf while the first call is traced; later calls trace once more.
    let mut rng = common::rng();
    let (ws, xs) = (
        common::uniform(&mut rng, 4, -1.0, 1.0),
        common::uniform(&mut rng, 4, -1.0, 1.0),
    );
    let w = Array::from_slice(&ws, &[4]).unwrap();
    let x = Array::from_slice(&xs, &[4]).unwrap();
    let step = tree::compile_with_state(|s: &mut BTreeMap<String, Array>, x: &Array| {
        let m = match s.get("m") {
            Some(m) => ((m * 0.5)? + x)?,
            None => x.clone(),
        };
        s.insert("m".into(), m.clone());
        (&s["w"] * &m)?.sum()
    })
    .unwrap();
    let mut state = BTreeMap::from([("w".to_string(), w)]);
    let mut m = vec![0.0f64; 4];
    for t in 0..4 {
        let out = step.call_mut(&mut state, &x).unwrap();
        for (mi, xi) in m.iter_mut().zip(&xs) {
            *mi = if t == 0 {
                *xi as f64
            } else {
                0.5 * *mi + *xi as f64
            };
        }
        let want: f64 = ws.iter().zip(&m).map(|(w, m)| *w as f64 * m).sum();
        common::assert_close_f32(&[out.item::<f32>().unwrap()], &[want], 1e-5, 0.1);
    }
    assert_eq!(state.len(), 2);
    common::assert_close_f32(&f32s(&state["m"]), &m, 1e-6, 0.1);
}

#[test]
fn scalar_operands_both_sides_and_overflow() {
    let mut rng = common::rng();
    let v = common::uniform(&mut rng, 6, -2.0, 2.0);
    let a = Array::from_slice(&v, &[2, 3]).unwrap();
    let got = f32s(&(2.0 * &a).unwrap());
    let want: Vec<f64> = v.iter().map(|x| 2.0 * *x as f64).collect();
    common::assert_close_f32(&got, &want, 1e-7, 0.0);
    let got = f32s(&((&a * 2.0 - &a).unwrap() / 4).unwrap());
    let want: Vec<f64> = v.iter().map(|x| *x as f64 / 4.0).collect();
    common::assert_close_f32(&got, &want, 1e-6, 0.0);
    let got = f32s(&(1 - &a).unwrap());
    let want: Vec<f64> = v.iter().map(|x| 1.0 - *x as f64).collect();
    common::assert_close_f32(&got, &want, 1e-6, 0.0);

    let h = a.astype(Dtype::Bfloat16).unwrap();
    assert_eq!((&h * 0.5).unwrap().dtype(), Dtype::Bfloat16);
    assert_eq!((0.5 * &h).unwrap().dtype(), Dtype::Bfloat16);

    let u = Array::from_slice(&[1u8, 250], &[2]).unwrap();
    assert_eq!((&u + 5).unwrap().to_vec::<u8>().unwrap(), [6, 255]);
    let err = (&u + 300).unwrap_err();
    assert!(err.to_string().contains("does not fit"), "{err}");
    assert!((&u - -1).is_err());
    let i = Array::from_slice(&[1i32], &[1]).unwrap();
    assert!((&i + 3_000_000_000i64).is_err());
    assert_eq!(
        (&i + 2_000_000_000i64).unwrap().to_vec::<i32>().unwrap(),
        [2_000_000_001]
    );
    // Floats with integer arrays promote instead.
    assert_eq!((&u * 0.5).unwrap().dtype(), Dtype::Float32);

    // Ops that take numbers.
    let p = ops::power(&a, 2).unwrap();
    let want: Vec<f64> = v.iter().map(|x| (*x as f64).powi(2)).collect();
    common::assert_close_f32(&f32s(&p), &want, 1e-6, 0.0);
    let p = ops::power(2.0, &a).unwrap();
    let want: Vec<f64> = v.iter().map(|x| 2f64.powf(*x as f64)).collect();
    common::assert_close_f32(&f32s(&p), &want, 1e-6, 0.0);
    let m = a.maximum(0.5).unwrap().minimum(1.0).unwrap();
    let want: Vec<f64> = v.iter().map(|x| (*x as f64).clamp(0.5, 1.0)).collect();
    common::assert_close_f32(&f32s(&m), &want, 0.0, 0.0);
}

#[test]
fn methods_follow_python_defaults() {
    let mut rng = common::rng();
    let (b, r, c) = (2usize, 3usize, 4usize);
    let v = common::uniform(&mut rng, b * r * c, -3.0, 3.0);
    let x = Array::from_slice(&v, &[b as i32, r as i32, c as i32]).unwrap();
    let at = |i: usize, j: usize, k: usize| v[(i * r + j) * c + k] as f64;

    // permute + reshape with usize / i64 dims
    let y = x
        .permute([2usize, 0, 1])
        .unwrap()
        .reshape([c as i64, -1])
        .unwrap();
    assert_eq!(y.shape(), [c as i32, (b * r) as i32]);
    let want: Vec<f64> = (0..c)
        .flat_map(|k| (0..b).flat_map(move |i| (0..r).map(move |j| (i, j, k))))
        .map(|(i, j, k)| at(i, j, k))
        .collect();
    common::assert_close_f32(&f32s(&y), &want, 0.0, 0.0);

    let s = x.sum_axis(-1).unwrap();
    assert_eq!(s.shape(), [b as i32, r as i32]);
    let want: Vec<f64> = (0..b)
        .flat_map(|i| (0..r).map(move |j| (i, j)))
        .map(|(i, j)| (0..c).map(|k| at(i, j, k)).sum())
        .collect();
    // Reductions lose precision relative to the terms' size (|x| <= 3), not
    // to the result, which can cancel to nearly zero.
    common::assert_close_f32(&f32s(&s), &want, 1e-6, 3.0 * c as f64);

    let m = x.mean_keepdims([0, 2]).unwrap();
    assert_eq!(m.shape(), [1, r as i32, 1]);
    let want: Vec<f64> = (0..r)
        .map(|j| {
            (0..b)
                .flat_map(|i| (0..c).map(move |k| (i, k)))
                .map(|(i, k)| at(i, j, k))
                .sum::<f64>()
                / (b * c) as f64
        })
        .collect();
    common::assert_close_f32(&f32s(&m), &want, 1e-6, 3.0);

    let total = x.sum().unwrap().item::<f32>().unwrap() as f64;
    common::assert_close_f32(
        &[total as f32],
        &[v.iter().map(|x| *x as f64).sum()],
        1e-6,
        3.0 * v.len() as f64,
    );

    let am = x.argmax_axis(-1).unwrap().to_vec::<u32>().unwrap();
    for i in 0..b {
        for j in 0..r {
            let best = (0..c)
                .max_by(|&p, &q| at(i, j, p).total_cmp(&at(i, j, q)))
                .unwrap();
            assert_eq!(am[i * r + j] as usize, best);
        }
    }

    let sm = x.softmax(-1).unwrap();
    let want: Vec<f64> = (0..b)
        .flat_map(|i| (0..r).flat_map(move |j| (0..c).map(move |k| (i, j, k))))
        .map(|(i, j, k)| {
            let z: f64 = (0..c).map(|q| at(i, j, q).exp()).sum();
            at(i, j, k).exp() / z
        })
        .collect();
    common::assert_close_f32(&f32s(&sm), &want, 1e-5, 1e-7);

    let e = x.index((1, .., 0)).unwrap();
    let want: Vec<f64> = (0..r).map(|j| at(1, j, 0)).collect();
    common::assert_close_f32(&f32s(&e), &want, 0.0, 0.0);
    assert_eq!(x.t().unwrap().shape(), [b as i32, c as i32, r as i32]);
    assert_eq!(x.expand_dims([0, 2]).unwrap().shape(), [1, 2, 1, 3, 4]);
    assert!(x.reshape([usize::MAX]).is_err());
}

/// erf by its Taylor series (converges for all x; exact enough in f64 for |x| < 4).
fn erf(x: f64) -> f64 {
    let (mut sum, mut term, mut n) = (0.0f64, x, 0u32);
    while term.abs() > 1e-17 * sum.abs().max(1e-300) || n < 3 {
        sum += term / f64::from(2 * n + 1);
        n += 1;
        term *= -x * x / f64::from(n);
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

#[test]
fn nn_functions_match_f64() {
    let mut rng = common::rng();
    let v = common::uniform(&mut rng, 24, -4.0, 4.0);
    let x = Array::from_slice(&v, &[4, 6]).unwrap();
    let xs = common::to_f64(&v);
    // Relative to max(|want|, 0.1): `1 + erf(x)` cancels in f32 for
    // negative x, so tiny outputs carry absolute (not relative) f32 error.
    let check = |got: Array, f: &dyn Fn(f64) -> f64, rtol: f64| {
        let want: Vec<f64> = xs.iter().map(|&t| f(t)).collect();
        common::assert_close_f32(&f32s(&got), &want, rtol, 0.1);
    };
    check(nn::relu(&x).unwrap(), &|t| t.max(0.0), 0.0);
    check(
        x.gelu().unwrap(),
        &|t| t * 0.5 * (1.0 + erf(t / 2f64.sqrt())),
        1e-5,
    );
    let c = (2.0 / std::f64::consts::PI).sqrt();
    check(
        nn::gelu_tanh(&x).unwrap(),
        &|t| 0.5 * t * (1.0 + (c * (t + 0.044715 * t * t * t)).tanh()),
        1e-5,
    );
    check(nn::silu(&x).unwrap(), &|t| t / (1.0 + (-t).exp()), 1e-5);

    let ls = f32s(&nn::log_softmax(&x, -1).unwrap());
    let targets: Vec<i32> = (0..4).map(|_| rng.gen_range(0..6)).collect();
    let t = Array::from_slice(&targets, &[4]).unwrap();
    let ce = f32s(&nn::cross_entropy(&x, &t).unwrap());
    for r in 0..4 {
        let row = &xs[r * 6..r * 6 + 6];
        let lse = row.iter().map(|v| v.exp()).sum::<f64>().ln();
        let want: Vec<f64> = row.iter().map(|v| v - lse).collect();
        common::assert_close_f32(&ls[r * 6..r * 6 + 6], &want, 1e-5, 0.1);
        common::assert_close_f32(&ce[r..r + 1], &[lse - row[targets[r] as usize]], 1e-5, 0.1);
    }
    let oh = nn::one_hot(&t, 6, Dtype::Float32).unwrap();
    let want: Vec<f64> = (0..24)
        .map(|i| f64::from(u8::from(targets[i / 6] == (i % 6) as i32)))
        .collect();
    common::assert_close_f32(&f32s(&oh), &want, 0.0, 0.0);
    assert!(nn::cross_entropy(&x, &x).is_err());
    assert!(nn::cross_entropy(&x, &Array::from_slice(&[0i32; 3], &[3]).unwrap()).is_err());
    assert!(nn::one_hot(&x, 6, Dtype::Float32).is_err());
}

#[test]
fn sort_clip_and_concatenate_conventions() {
    let mut rng = common::rng();
    let v = common::uniform(&mut rng, 12, -1.0, 1.0);
    let x = Array::from_slice(&v, &[3, 4]).unwrap();
    let sorted = f32s(&ops::sort(&x).unwrap());
    for r in 0..3 {
        let mut row: Vec<f64> = common::to_f64(&v[r * 4..r * 4 + 4]);
        row.sort_by(f64::total_cmp);
        common::assert_close_f32(&sorted[r * 4..r * 4 + 4], &row, 0.0, 0.0);
    }
    assert_eq!(x.sort().unwrap().shape(), [3, 4]);
    let mut all = common::to_f64(&v);
    all.sort_by(f64::total_cmp);
    common::assert_close_f32(&f32s(&ops::sort_flat(&x).unwrap()), &all, 0.0, 0.0);
    let idx = ops::argsort(&x).unwrap();
    assert_eq!(idx.shape(), [3, 4]);
    let top = f32s(&ops::topk(&x, 2).unwrap().sort().unwrap());
    for r in 0..3 {
        let mut row: Vec<f64> = common::to_f64(&v[r * 4..r * 4 + 4]);
        row.sort_by(f64::total_cmp);
        common::assert_close_f32(&top[r * 2..r * 2 + 2], &row[2..], 0.0, 0.0);
    }

    let lo = Array::scalar(0.0f32).unwrap();
    let c = f32s(&ops::clip(&x, Some(&lo), None).unwrap());
    let want: Vec<f64> = v.iter().map(|t| (*t as f64).max(0.0)).collect();
    common::assert_close_f32(&c, &want, 0.0, 0.0);
    let c = f32s(&ops::clip(&x, None, Some(&lo)).unwrap());
    let want: Vec<f64> = v.iter().map(|t| (*t as f64).min(0.0)).collect();
    common::assert_close_f32(&c, &want, 0.0, 0.0);
    assert!(ops::clip(&x, None, None).is_err());
    let c = f32s(&x.clip(-0.5, 0.5).unwrap());
    let want: Vec<f64> = v.iter().map(|t| (*t as f64).clamp(-0.5, 0.5)).collect();
    common::assert_close_f32(&c, &want, 0.0, 0.0);

    let joined = ops::concatenate(&[&x, &x], 0).unwrap();
    assert_eq!(joined.shape(), [6, 4]);
    let mut want = common::to_f64(&v);
    want.extend(common::to_f64(&v));
    common::assert_close_f32(&f32s(&joined), &want, 0.0, 0.0);
    assert_eq!(ops::stack(&[&x, &x, &x], 1).unwrap().shape(), [3, 3, 4]);
    assert_eq!(
        ops::concatenate(&[x.clone(), x], 1).unwrap().shape(),
        [3, 8]
    );
}

#[test]
fn io_takes_paths_trees_and_optional_metadata() {
    let mut rng = common::rng();
    let p = Net {
        layers: vec![affine(&mut rng, 3, 2)],
        scale: Array::scalar(0.25f32).unwrap(),
    };
    let path = std::env::temp_dir().join(format!("mlx_rs_ergo_{}.safetensors", std::process::id()));
    io::save_safetensors(&path, &p, None).unwrap();
    let back = io::load_safetensors(path.to_str().unwrap()).unwrap();
    assert!(back.metadata.is_empty());
    let mut q = Net {
        layers: vec![affine(&mut rng, 3, 2)],
        scale: Array::scalar(0.0f32).unwrap(),
    };
    q.load_named(&back.arrays).unwrap();
    for (a, b) in p.flatten().iter().zip(q.flatten()) {
        assert_eq!(f32s(a), f32s(&b));
    }
    let meta = HashMap::from([("format".to_string(), "mlx".to_string())]);
    io::save_safetensors(&path, &back.arrays, &meta).unwrap();
    assert_eq!(
        io::load_safetensors(&path).unwrap().metadata["format"],
        "mlx"
    );
    // A missing or misshaped entry names the path.
    let mut partial = back.arrays.clone();
    partial.remove("layers.0.b");
    let err = q.load_named(&partial).unwrap_err();
    assert!(err.to_string().contains("layers.0.b"), "{err}");
    std::fs::remove_file(&path).unwrap();
}

/// Rounds `v` to the half type `dtype` and back to f64.
fn round_half(v: f32, dtype: Dtype) -> f64 {
    match dtype {
        Dtype::Bfloat16 => bf16::from_f32(v).to_f64(),
        _ => f16::from_f32(v).to_f64(),
    }
}

#[test]
fn cpu_half_matmul_addmm_conv_match_f64() {
    let mut rng = common::rng();
    let cpu = Device::cpu();
    let (m, k, n) = (17usize, 300usize, 23usize);
    for dtype in [Dtype::Bfloat16, Dtype::Float16] {
        let a32 = common::uniform(&mut rng, m * k, -1.0, 1.0);
        let b32 = common::uniform(&mut rng, k * n, -1.0, 1.0);
        let c32 = common::uniform(&mut rng, m * n, -1.0, 1.0);
        let a = Array::from_slice(&a32, &[m as i32, k as i32])
            .unwrap()
            .astype(dtype)
            .unwrap();
        let b = Array::from_slice(&b32, &[k as i32, n as i32])
            .unwrap()
            .astype(dtype)
            .unwrap();
        let c = Array::from_slice(&c32, &[m as i32, n as i32])
            .unwrap()
            .astype(dtype)
            .unwrap();
        // The exact product of the rounded inputs.
        let ah: Vec<f64> = a32.iter().map(|v| round_half(*v, dtype)).collect();
        let bh: Vec<f64> = b32.iter().map(|v| round_half(*v, dtype)).collect();
        let ch: Vec<f64> = c32.iter().map(|v| round_half(*v, dtype)).collect();
        let exact = common::matmul_f64(&ah, &bh, m, k, n);
        // One rounding of an f32-accumulated sum: within a half ulp of the
        // half type (relative 2^-8 for bf16, 2^-11 for f16) plus f32 noise.
        let rel = if dtype == Dtype::Bfloat16 {
            2f64.powi(-8)
        } else {
            2f64.powi(-11)
        };
        let scale = (k as f64).sqrt();
        let check = |got: Array, want: &[f64]| {
            assert_eq!(got.dtype(), dtype);
            let got = f32s(&got.astype(Dtype::Float32).unwrap());
            for (i, (g, w)) in got.iter().zip(want).enumerate() {
                let tol = rel * w.abs() + 1e-6 * scale;
                assert!(
                    (*g as f64 - w).abs() <= tol,
                    "{dtype} element {i}: {g} vs {w}"
                );
            }
        };
        check(ops::matmul_on(&a, &b, &cpu).unwrap(), &exact);
        let want: Vec<f64> = exact
            .iter()
            .zip(&ch)
            .map(|(p, c)| 0.5 * p + 2.0 * c)
            .collect();
        check(ops::addmm_on(&c, &a, &b, 0.5, 2.0, &cpu).unwrap(), &want);

        // conv1d: [1, L, Cin] * [Cout, K, Cin]
        let (l, cin, cout, kk) = (20usize, 16usize, 5usize, 3usize);
        let x32 = common::uniform(&mut rng, l * cin, -1.0, 1.0);
        let w32 = common::uniform(&mut rng, cout * kk * cin, -1.0, 1.0);
        let x = Array::from_slice(&x32, &[1, l as i32, cin as i32])
            .unwrap()
            .astype(dtype)
            .unwrap();
        let w = Array::from_slice(&w32, &[cout as i32, kk as i32, cin as i32])
            .unwrap()
            .astype(dtype)
            .unwrap();
        let lo = l - kk + 1;
        let mut want = vec![0.0f64; lo * cout];
        for p in 0..lo {
            for o in 0..cout {
                for t in 0..kk {
                    for ci in 0..cin {
                        want[p * cout + o] += round_half(x32[(p + t) * cin + ci], dtype)
                            * round_half(w32[(o * kk + t) * cin + ci], dtype);
                    }
                }
            }
        }
        check(ops::conv1d_on(&x, &w, 1, 0, 1, 1, &cpu).unwrap(), &want);
    }
}
