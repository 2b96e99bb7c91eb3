//! mlx-nn training: `value_and_grad` against analytic f64 gradients, each
//! optimizer against an f64 re-implementation of its update rule over several
//! steps, the schedules' values, and optimizer state that saves, loads and
//! continues exactly.

mod common;

use common::{assert_close_f32, rng, to_f64, uniform};
use mlx_rs::nn::optim::{Adam, AdamW, Optimizer, Schedule, Sgd};
use mlx_rs::nn::{self, Linear, Module, Params};
use mlx_rs::{compile_with_state, ops, Array, Tree};

fn f32s(a: &Array) -> Vec<f32> {
    a.to_vec::<f32>().unwrap()
}

/// loss = mean((x wᵀ + b - y)²) for a 1-output Linear; returns (loss, dw, db) in f64.
fn mse_grad_f64(
    x: &[f64],
    y: &[f64],
    w: &[f64],
    b: f64,
    n: usize,
    k: usize,
) -> (f64, Vec<f64>, f64) {
    let mut loss = 0.0;
    let mut dw = vec![0.0; k];
    let mut db = 0.0;
    for i in 0..n {
        let pred: f64 = (0..k).map(|j| x[i * k + j] * w[j]).sum::<f64>() + b;
        let e = pred - y[i];
        loss += e * e / n as f64;
        for j in 0..k {
            dw[j] += 2.0 * e * x[i * k + j] / n as f64;
        }
        db += 2.0 * e / n as f64;
    }
    (loss, dw, db)
}

fn setup(r: &mut rand::rngs::StdRng, n: usize, k: usize) -> (Linear, Array, Array) {
    let w = uniform(r, k, -1.0, 1.0);
    let b = uniform(r, 1, -1.0, 1.0);
    let model = Linear::from_weights(
        Array::from_slice(&w, &[1, k as i32]).unwrap(),
        Some(Array::from_slice(&b, &[1]).unwrap()),
    )
    .unwrap();
    let x = Array::from_slice(&uniform(r, n * k, -1.0, 1.0), &[n as i32, k as i32]).unwrap();
    let y = Array::from_slice(&uniform(r, n, -1.0, 1.0), &[n as i32, 1]).unwrap();
    (model, x, y)
}

type Batch = (Array, Array);

fn loss_fn() -> nn::ValueAndGrad<Linear, Batch, impl Fn(&Linear, &Batch) -> mlx_rs::Result<Array>> {
    nn::value_and_grad(|m: &Linear, (x, y): &Batch| nn::losses::mse(&m.forward(x)?, y))
}

#[test]
fn value_and_grad_matches_analytic_gradient() {
    let mut r = rng();
    let (n, k) = (6, 4);
    let (model, x, y) = setup(&mut r, n, k);
    let (loss, grads) = loss_fn().call(&model, &(x.clone(), y.clone())).unwrap();
    let (l, dw, db) = mse_grad_f64(
        &to_f64(&f32s(&x)),
        &to_f64(&f32s(&y)),
        &to_f64(&f32s(model.weight())),
        f32s(model.bias().unwrap())[0] as f64,
        n,
        k,
    );
    assert_close_f32(&[loss.item::<f32>().unwrap()], &[l], 1e-5, 1.0);
    assert_close_f32(&f32s(&grads["weight"]), &dw, 1e-5, 1.0);
    assert_close_f32(&f32s(&grads["bias"]), &[db], 1e-5, 1.0);
}

#[test]
fn value_and_grad_skips_frozen_and_rejects_non_scalar_loss() {
    let mut r = rng();
    let (mut model, x, y) = setup(&mut r, 5, 3);
    model.set_trainable_under("bias", false);
    let (_, grads) = loss_fn().call(&model, &(x.clone(), y)).unwrap();
    assert_eq!(grads.keys().collect::<Vec<_>>(), ["weight"]);
    let bad = nn::value_and_grad(|m: &Linear, x: &Array| m.forward(x));
    let err = bad.call(&model, &x).unwrap_err().to_string();
    assert!(err.contains("scalar"), "{err}");
}

/// Runs `steps` updates of `opt` on the MSE problem, eagerly and as a
/// compiled step with the model and the optimizer as its state, and the same
/// updates in f64 through `rule(step, w, g, state) -> w`.
fn check_optimizer<O: Optimizer + Tree + Clone + 'static>(
    opt: O,
    steps: usize,
    mut rule: impl FnMut(usize, &mut [f64], &[f64], &mut Vec<Vec<f64>>),
) {
    let mut r = rng();
    let (n, k) = (8, 3);
    let (model, x, y) = setup(&mut r, n, k);
    let xs = to_f64(&f32s(&x));
    let ys = to_f64(&f32s(&y));
    // Parameters in f64: [w.., b].
    let mut p: Vec<f64> = to_f64(&f32s(model.weight()));
    p.push(f32s(model.bias().unwrap())[0] as f64);
    let mut state: Vec<Vec<f64>> = Vec::new();
    let f = loss_fn();
    let batch = (x, y);
    let step = compile_with_state(|(m, o): &mut (Linear, O), batch: &Batch| {
        let (loss, grads) = loss_fn().call(m, batch)?;
        o.update(m, &grads)?;
        Ok(loss)
    })
    .unwrap();
    let mut eager = (model.clone(), opt.clone());
    let mut compiled = (model, opt);
    for t in 0..steps {
        let (_, grads) = f.call(&eager.0, &batch).unwrap();
        eager.1.update(&mut eager.0, &grads).unwrap();
        step.call_mut(&mut compiled, &batch).unwrap();
        compiled.eval().unwrap();
        let (_, dw, db) = mse_grad_f64(&xs, &ys, &p[..k], p[k], n, k);
        let mut g = dw;
        g.push(db);
        rule(t, &mut p, &g, &mut state);
    }
    for (model, opt) in [&eager, &compiled] {
        let mut got = f32s(model.weight());
        got.extend(f32s(model.bias().unwrap()));
        assert_close_f32(&got, &p, 2e-4, 1.0);
        assert_eq!(opt.step().unwrap(), steps as u64);
    }
}

#[test]
fn sgd_variants_match_f64() {
    let lr = 0.1;
    check_optimizer(Sgd::new(lr as f32), 5, |_, p, g, _| {
        for i in 0..p.len() {
            p[i] -= lr * g[i];
        }
    });
    for nesterov in [false, true] {
        let (mu, wd) = (0.9, 0.01);
        check_optimizer(
            Sgd::new(lr as f32)
                .with_momentum(mu as f32, nesterov)
                .with_weight_decay(wd as f32),
            6,
            move |t, p, g, st| {
                if st.is_empty() {
                    st.push(vec![0.0; p.len()]);
                }
                for i in 0..p.len() {
                    let gi = g[i] + wd * p[i];
                    let v = if t == 0 { gi } else { mu * st[0][i] + gi };
                    st[0][i] = v;
                    let step = if nesterov { gi + mu * v } else { v };
                    p[i] -= lr * step;
                }
            },
        );
    }
}

fn adam_rule(
    lr_at: impl Fn(usize) -> f64,
    wd: f64,
) -> impl FnMut(usize, &mut [f64], &[f64], &mut Vec<Vec<f64>>) {
    move |t, p, g, st| {
        let lr = lr_at(t);
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f64);
        if st.is_empty() {
            st.push(vec![0.0; p.len()]);
            st.push(vec![0.0; p.len()]);
        }
        let tt = (t + 1) as i32;
        for i in 0..p.len() {
            p[i] *= 1.0 - lr * wd;
            st[0][i] = b1 * st[0][i] + (1.0 - b1) * g[i];
            st[1][i] = b2 * st[1][i] + (1.0 - b2) * g[i] * g[i];
            let mh = st[0][i] / (1.0 - b1.powi(tt));
            let vh = st[1][i] / (1.0 - b2.powi(tt));
            p[i] -= lr * mh / (vh.sqrt() + eps);
        }
    }
}

#[test]
fn adam_and_adamw_match_f64() {
    check_optimizer(Adam::new(0.05), 7, adam_rule(|_| 0.05, 0.0));
    check_optimizer(
        AdamW::new(0.05).with_weight_decay(0.1),
        7,
        adam_rule(|_| 0.05, 0.1),
    );
}

#[test]
fn compiled_steps_follow_the_schedule() {
    // The rate changes every step for 4 steps: a compiled step that baked
    // in the first step's rate or bias correction would drift from f64.
    let lr_at = |t: usize| 0.01 + 0.04 * (t as f64 / 4.0).min(1.0);
    check_optimizer(
        Adam::new(Schedule::linear(0.01, 0.05, 4)),
        7,
        adam_rule(lr_at, 0.0),
    );
    check_optimizer(
        AdamW::new(Schedule::linear(0.01, 0.05, 4)).with_weight_decay(0.1),
        7,
        adam_rule(lr_at, 0.1),
    );
    check_optimizer(Sgd::new(Schedule::linear(0.2, 0.0, 3)), 5, |t, p, g, _| {
        let lr = 0.2 * (1.0 - (t as f64 / 3.0).min(1.0));
        for i in 0..p.len() {
            p[i] -= lr * g[i];
        }
    });
}

#[test]
fn schedules_have_the_documented_values() {
    let s = Schedule::warmup_cosine(1.0, 10, 110, 0.1);
    assert_eq!(s.at(0).unwrap(), 0.0);
    assert!((s.at(5).unwrap() - 0.5).abs() < 1e-6);
    assert!((s.at(10).unwrap() - 1.0).abs() < 1e-6);
    let mid = 0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * 0.5).cos());
    assert!((s.at(60).unwrap() as f64 - mid).abs() < 1e-6);
    assert!((s.at(110).unwrap() - 0.1).abs() < 1e-6);
    assert!((s.at(1000).unwrap() - 0.1).abs() < 1e-6);
    assert_eq!(Schedule::constant(0.3).at(99).unwrap(), 0.3);
    assert!((Schedule::linear(0.0, 1.0, 4).at(1).unwrap() - 0.25).abs() < 1e-7);
}

#[test]
fn optimizer_state_round_trips_and_continues_exactly() {
    let mut r = rng();
    let (model, x, y) = setup(&mut r, 8, 3);
    let f = loss_fn();
    let dir = std::env::temp_dir().join(format!("mlx_nn_optim_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("adam.safetensors");

    let run = |m: &mut Linear, opt: &mut AdamW, steps: usize| {
        for _ in 0..steps {
            let (_, g) = f.call(m, &(x.clone(), y.clone())).unwrap();
            opt.update(m, &g).unwrap();
        }
    };
    let (mut a, mut opt_a) = (model.clone(), AdamW::new(0.02));
    run(&mut a, &mut opt_a, 6);

    let (mut b, mut opt_b) = (model.clone(), AdamW::new(0.02));
    run(&mut b, &mut opt_b, 3);
    opt_b.save_state(&path).unwrap();
    nn::save_safetensors(&b, dir.join("model.safetensors")).unwrap();
    let mut c = model.clone();
    nn::load_safetensors(&mut c, dir.join("model.safetensors")).unwrap();
    let mut opt_c = AdamW::new(0.02);
    opt_c.load_state(&path).unwrap();
    assert_eq!(opt_c.step().unwrap(), 3);
    run(&mut c, &mut opt_c, 3);
    assert_eq!(f32s(a.weight()), f32s(c.weight()));
    assert_eq!(f32s(a.bias().unwrap()), f32s(c.bias().unwrap()));

    // Bad state is an Err, not a silent partial load.
    let mut junk = Params::new();
    junk.insert("step".into(), Array::scalar(1i64).unwrap());
    junk.insert(
        "weight.q".into(),
        ops::zeros(&[1], mlx_rs::Dtype::Float32).unwrap(),
    );
    nn::io::save_params(&junk, dir.join("junk.safetensors")).unwrap();
    assert!(AdamW::new(0.1)
        .load_state(&dir.join("junk.safetensors"))
        .is_err());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn optimizer_rejects_unknown_or_misshapen_gradients() {
    let mut r = rng();
    let (mut model, _, _) = setup(&mut r, 2, 3);
    let mut opt = Sgd::new(0.1);
    let g = Params::from([(
        "nope".to_string(),
        ops::zeros(&[1], mlx_rs::Dtype::Float32).unwrap(),
    )]);
    assert!(opt.update(&mut model, &g).is_err());
    let g = Params::from([(
        "weight".to_string(),
        ops::zeros(&[3, 1], mlx_rs::Dtype::Float32).unwrap(),
    )]);
    let err = opt.update(&mut model, &g).unwrap_err().to_string();
    assert!(err.contains("[3, 1]") && err.contains("[1, 3]"), "{err}");
    assert_eq!(opt.step().unwrap(), 0);
}

mlx_rs::nn::module_struct! {
    /// `layers(x * scale + shift)`: parameters of every kind a field may hold.
    struct Affine { scale: nn::Param, shift: Option<nn::Param>, layers: Vec<Linear> }
}

impl Module for Affine {
    fn forward(&self, x: &Array) -> mlx_rs::Result<Array> {
        let mut h = (x * &*self.scale)?;
        if let Some(s) = &self.shift {
            h = (&h + &**s)?;
        }
        for l in &self.layers {
            h = l.forward(&h)?;
        }
        Ok(h)
    }
}

#[test]
fn module_struct_names_trees_and_compiled_sgd_match_f64() {
    let mut r = rng();
    let (n, k) = (5usize, 3usize);
    let vals = |r: &mut rand::rngs::StdRng, len: usize| uniform(r, len, -1.0, 1.0);
    let (s, h, w, b) = (
        vals(&mut r, k),
        vals(&mut r, k),
        vals(&mut r, k),
        vals(&mut r, 1),
    );
    let xs = vals(&mut r, n * k);
    let arr = |v: &[f32], shape: &[i32]| Array::from_slice(v, shape).unwrap();
    let model = Affine {
        scale: nn::Param::new(arr(&s, &[k as i32])),
        shift: Some(nn::Param::new(arr(&h, &[k as i32]))),
        layers: vec![Linear::from_weights(arr(&w, &[1, k as i32]), Some(arr(&b, &[1]))).unwrap()],
    };
    let names: Vec<String> = model.parameters().into_keys().collect();
    assert_eq!(
        names,
        ["layers.0.bias", "layers.0.weight", "scale", "shift"]
    );
    // The tree's leaves are the parameters, in field order.
    let leaves: Vec<String> = model.flatten_named().into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        leaves,
        ["scale", "shift", "layers.0.weight", "layers.0.bias"]
    );

    // loss = sum_i (sum_j w_j (x_ij s_j + h_j) + b): one compiled SGD step.
    let lr = 0.1;
    let step = compile_with_state(|(m, o): &mut (Affine, Sgd), x: &Array| {
        let (loss, grads) =
            nn::value_and_grad(|m: &Affine, x: &Array| m.forward(x)?.sum()).call(m, x)?;
        o.update(m, &grads)?;
        Ok(loss)
    })
    .unwrap();
    let mut state = (model, Sgd::new(lr as f32));
    let x = arr(&xs, &[n as i32, k as i32]);
    let loss = step.call_mut(&mut state, &x).unwrap();
    state.eval().unwrap();
    let f = |v: &[f32]| to_f64(v);
    let (s, h, w, b, xs) = (f(&s), f(&h), f(&w), f(&b), f(&xs));
    let col = |j: usize| (0..n).map(|i| xs[i * k + j]).sum::<f64>();
    let want_loss: f64 = (0..k)
        .map(|j| w[j] * (col(j) * s[j] + n as f64 * h[j]))
        .sum::<f64>()
        + n as f64 * b[0];
    assert_close_f32(&[loss.item::<f32>().unwrap()], &[want_loss], 1e-5, 1.0);
    let m = &state.0;
    let want_s: Vec<f64> = (0..k).map(|j| s[j] - lr * w[j] * col(j)).collect();
    let want_h: Vec<f64> = (0..k).map(|j| h[j] - lr * n as f64 * w[j]).collect();
    let want_w: Vec<f64> = (0..k)
        .map(|j| w[j] - lr * (col(j) * s[j] + n as f64 * h[j]))
        .collect();
    assert_close_f32(&f32s(&m.scale), &want_s, 1e-5, 1.0);
    assert_close_f32(&f32s(m.shift.as_ref().unwrap()), &want_h, 1e-5, 1.0);
    assert_close_f32(&f32s(m.layers[0].weight()), &want_w, 1e-5, 1.0);
    assert_close_f32(
        &f32s(m.layers[0].bias().unwrap()),
        &[b[0] - lr * n as f64],
        1e-5,
        1.0,
    );
    assert_eq!(state.1.step().unwrap(), 1);
}

mlx_rs::nn::module_struct! {
    /// Two layers built by the declared constructor; `hidden` must be positive.
    struct TwoLayer(inputs: i32, hidden: i32, bias: bool) {
        first: Linear = Linear::new(inputs, hidden, bias)?,
        second: Linear = Linear::new(hidden, 1, true)?,
    }
}

impl Module for TwoLayer {
    fn forward(&self, x: &Array) -> mlx_rs::Result<Array> {
        self.second.forward(&self.first.forward(x)?)
    }
}

#[test]
fn module_struct_constructor_form_builds_in_order_and_propagates_errors() {
    let model = TwoLayer::new(3, 4, false).unwrap();
    let params = model.parameters();
    let shapes: Vec<(String, Vec<i32>)> = params
        .iter()
        .map(|(k, v)| (k.clone(), v.shape().to_vec()))
        .collect();
    assert_eq!(
        shapes,
        [
            ("first.weight".to_string(), vec![4, 3]),
            ("second.bias".to_string(), vec![1]),
            ("second.weight".to_string(), vec![1, 4]),
        ]
    );
    // The forward pass is the two products, checked in f64.
    let mut r = rng();
    let xs = uniform(&mut r, 2 * 3, -1.0, 1.0);
    let x = Array::from_slice(&xs, &[2, 3]).unwrap();
    let got = model.forward(&x).unwrap().to_vec::<f32>().unwrap();
    let w1 = to_f64(&params["first.weight"].to_vec::<f32>().unwrap());
    let w2 = to_f64(&params["second.weight"].to_vec::<f32>().unwrap());
    let b2 = params["second.bias"].to_vec::<f32>().unwrap()[0] as f64;
    let want: Vec<f64> = (0..2)
        .map(|i| {
            (0..4)
                .map(|h| {
                    let hidden: f64 = (0..3).map(|j| xs[i * 3 + j] as f64 * w1[h * 3 + j]).sum();
                    hidden * w2[h]
                })
                .sum::<f64>()
                + b2
        })
        .collect();
    assert_close_f32(&got, &want, 1e-5, 1.0);
    // A member that fails to build fails the constructor with its error.
    let err = TwoLayer::new(3, -1, true)
        .err()
        .expect("negative width is an error");
    assert!(err.to_string().contains("-1"), "{err}");
}
