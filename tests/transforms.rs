//! Function transformations: gradients against analytic forms and finite
//! differences, compile vs eager, vmap vs a loop, custom derivatives, and
//! errors/panics raised inside Rust closures.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use mlx_rs::closure::Closure;
use mlx_rs::transforms::{self, CustomFunction};
use mlx_rs::{ops, Array, Error, Result};
use rand::Rng;

fn rand_f64(rng: &mut rand::rngs::StdRng, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    loop {
        let v: Vec<f64> = (0..n).map(|_| rng.gen_range(lo..hi)).collect();
        if v.iter().any(|x| *x != 0.0) {
            return v;
        }
    }
}

/// MLX's CPU kernels compute f64 `sin`/`cos`/`exp`/`tanh` to about single
/// precision (relative error ~1e-8 observed), so results involving them are
/// compared at this tolerance; pure arithmetic stays near f64 rounding.
const TRANSCENDENTAL_TOL: f64 = 1e-6;

#[track_caller]
fn assert_close_f64(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * w.abs().max(1.0),
            "element {i}: got {g}, want {w}"
        );
    }
}

/// f(x) = sum(sin(x) * x^2)
fn f_sin_sq(a: &[Array]) -> Result<Vec<Array>> {
    let x = &a[0];
    Ok(vec![ops::sum(
        &ops::multiply(&ops::sin(x)?, &ops::square(x)?)?,
        false,
    )?])
}

#[test]
fn grad_matches_analytic_and_finite_differences_f64() -> Result<()> {
    common::on_cpu(|| {
        let mut rng = common::rng();
        let n = 7;
        let xs = rand_f64(&mut rng, n, -2.0, 2.0);
        let x = Array::from_slice(&xs, &[n as i32])?;
        let g = transforms::grad(f_sin_sq, &[0])?;
        let got: Vec<f64> = g.call(&[x])?[0].to_vec()?;
        assert_eq!(got.len(), n);

        // Analytic: cos(x) x^2 + 2 x sin(x), in Rust f64.
        let analytic: Vec<f64> = xs
            .iter()
            .map(|x| x.cos() * x * x + 2.0 * x * x.sin())
            .collect();
        assert_close_f64(&got, &analytic, TRANSCENDENTAL_TOL);

        // Central differences of the MLX forward pass (f64). The step balances
        // truncation error (h^2) against MLX's single-precision-level
        // transcendentals (~1e-8 relative, divided by h).
        let h = 1e-3;
        let f = |v: &[f64]| -> Result<f64> {
            let a = Array::from_slice(v, &[n as i32])?;
            f_sin_sq(&[a])?[0].item::<f64>()
        };
        for i in 0..n {
            let mut up = xs.clone();
            let mut down = xs.clone();
            up[i] += h;
            down[i] -= h;
            let fd = (f(&up)? - f(&down)?) / (2.0 * h);
            assert!(
                (fd - got[i]).abs() <= 1e-4 * got[i].abs().max(1.0),
                "element {i}: grad {} vs finite difference {fd}",
                got[i]
            );
        }
        Ok(())
    })
}

#[test]
fn value_and_grad_over_chosen_argnums_in_order() -> Result<()> {
    common::on_cpu(|| {
        let mut rng = common::rng();
        let av = rand_f64(&mut rng, 5, -1.0, 1.0);
        let bv = rand_f64(&mut rng, 5, -1.0, 1.0);
        let a = Array::from_slice(&av, &[5])?;
        let b = Array::from_slice(&bv, &[5])?;
        // f(a, b) = sum(a*b + exp(b)); aux output: a + b.
        let f = |x: &[Array]| -> Result<Vec<Array>> {
            let s = ops::sum(
                &ops::add(&ops::multiply(&x[0], &x[1])?, &ops::exp(&x[1])?)?,
                false,
            )?;
            Ok(vec![s, ops::add(&x[0], &x[1])?])
        };
        let vg = transforms::value_and_grad(f, &[1, 0])?;
        let (values, grads) = vg.call(&[a.clone(), b.clone()])?;
        assert_eq!(values.len(), 2);
        assert_eq!(grads.len(), 2);
        let want_value: f64 = av.iter().zip(&bv).map(|(a, b)| a * b + b.exp()).sum();
        assert_close_f64(
            &[values[0].item::<f64>()?],
            &[want_value],
            TRANSCENDENTAL_TOL,
        );
        let aux: Vec<f64> = values[1].to_vec()?;
        let want_aux: Vec<f64> = av.iter().zip(&bv).map(|(a, b)| a + b).collect();
        assert_close_f64(&aux, &want_aux, 1e-15);
        // grads[0] is d/db, grads[1] is d/da.
        let gb: Vec<f64> = grads[0].to_vec()?;
        let ga: Vec<f64> = grads[1].to_vec()?;
        let want_gb: Vec<f64> = av.iter().zip(&bv).map(|(a, b)| a + b.exp()).collect();
        assert_close_f64(&gb, &want_gb, TRANSCENDENTAL_TOL);
        assert_close_f64(&ga, &bv, 1e-15);

        // The same function object is reusable with new inputs.
        let (_, g2) = vg.call(&[b.clone(), a.clone()])?;
        let want: Vec<f64> = bv.iter().zip(&av).map(|(b, a)| b + a.exp()).collect();
        assert_close_f64(&g2[0].to_vec::<f64>()?, &want, TRANSCENDENTAL_TOL);
        Ok(())
    })
}

#[test]
fn grad_f32_on_transposed_input() -> Result<()> {
    let mut rng = common::rng();
    let v = common::uniform(&mut rng, 12, -1.5, 1.5);
    let x = ops::transpose(&Array::from_slice(&v, &[3, 4])?)?; // 4x3, non-contiguous
                                                               // d/dx sum(tanh(x)) = 1 - tanh(x)^2
    let g = transforms::grad(
        |a: &[Array]| Ok(vec![ops::sum(&ops::tanh(&a[0])?, false)?]),
        &[0],
    )?;
    let got: Vec<f32> = g.call(&[x])?[0].to_vec()?;
    let mut want = Vec::new();
    for j in 0..4 {
        for i in 0..3 {
            let t = (v[i * 4 + j] as f64).tanh();
            want.push(1.0 - t * t);
        }
    }
    common::assert_close_f32(&got, &want, 1e-5, 1e-3);
    Ok(())
}

#[test]
fn second_derivative_by_nesting_grad() -> Result<()> {
    common::on_cpu(|| {
        let mut rng = common::rng();
        let xs = rand_f64(&mut rng, 4, -2.0, 2.0);
        // d2/dx2 sum(x^3) = 6x
        let inner = Rc::new(transforms::grad(
            |a: &[Array]| {
                let x = &a[0];
                Ok(vec![ops::sum(&ops::multiply(&ops::square(x)?, x)?, false)?])
            },
            &[0],
        )?);
        let outer = transforms::grad(
            move |a: &[Array]| {
                let g = inner.call(a)?;
                Ok(vec![ops::sum(&g[0], false)?])
            },
            &[0],
        )?;
        let got: Vec<f64> = outer.call(&[Array::from_slice(&xs, &[4])?])?[0].to_vec()?;
        let want: Vec<f64> = xs.iter().map(|x| 6.0 * x).collect();
        assert_close_f64(&got, &want, 1e-12);
        Ok(())
    })
}

#[test]
fn vjp_and_jvp_match_analytic() -> Result<()> {
    common::on_cpu(|| {
        let mut rng = common::rng();
        let xs = rand_f64(&mut rng, 6, -2.0, 2.0);
        let cs = rand_f64(&mut rng, 6, -1.0, 1.0);
        let cube = |a: &[Array]| -> Result<Vec<Array>> {
            Ok(vec![ops::multiply(&ops::square(&a[0])?, &a[0])?])
        };
        let x = Array::from_slice(&xs, &[2, 3])?;
        let c = Array::from_slice(&cs, &[2, 3])?;
        let (outs, vjps) =
            transforms::vjp(cube, std::slice::from_ref(&x), std::slice::from_ref(&c))?;
        let want_out: Vec<f64> = xs.iter().map(|x| x * x * x).collect();
        let want_d: Vec<f64> = xs.iter().zip(&cs).map(|(x, c)| 3.0 * x * x * c).collect();
        assert_close_f64(&outs[0].to_vec::<f64>()?, &want_out, 1e-14);
        assert_close_f64(&vjps[0].to_vec::<f64>()?, &want_d, 1e-14);

        let (outs, jvps) = transforms::jvp(cube, &[x], &[c])?;
        assert_close_f64(&outs[0].to_vec::<f64>()?, &want_out, 1e-14);
        assert_close_f64(&jvps[0].to_vec::<f64>()?, &want_d, 1e-14);
        Ok(())
    })
}

#[test]
fn bad_transform_arguments_are_errors() -> Result<()> {
    let x = Array::from_slice(&[1.5f32, -0.5], &[2])?;
    // argnum out of range
    let g = transforms::grad(f_sin_sq, &[3])?;
    assert!(g.call(std::slice::from_ref(&x)).is_err());
    // empty / negative argnums
    assert!(transforms::grad(f_sin_sq, &[]).is_err());
    assert!(transforms::grad(f_sin_sq, &[-1]).is_err());
    assert!(transforms::grad(f_sin_sq, &[0, 0]).is_err());
    // non-scalar output
    let g = transforms::grad(|a: &[Array]| Ok(vec![ops::square(&a[0])?]), &[0])?;
    assert!(g.call(std::slice::from_ref(&x)).is_err());
    // vjp with a cotangent count mismatch
    assert!(transforms::vjp(
        |a: &[Array]| Ok(vec![ops::square(&a[0])?]),
        std::slice::from_ref(&x),
        &[]
    )
    .is_err());
    // vmap axis out of range, wrong in_axes count, negative out axis
    let v = transforms::vmap(|a: &[Array]| Ok(vec![a[0].clone()]), &[Some(2)], &[])?;
    assert!(v.call(std::slice::from_ref(&x)).is_err());
    let v = transforms::vmap(|a: &[Array]| Ok(vec![a[0].clone()]), &[Some(0), None], &[])?;
    assert!(v.call(std::slice::from_ref(&x)).is_err());
    assert!(transforms::vmap(|a: &[Array]| Ok(vec![a[0].clone()]), &[], &[-1]).is_err());
    Ok(())
}

fn poly(a: &[Array]) -> Result<Vec<Array>> {
    // exp(-x) * y + tanh(x * y), and x*x - y
    let (x, y) = (&a[0], &a[1]);
    let first = ops::add(
        &ops::multiply(&ops::exp(&ops::negative(x)?)?, y)?,
        &ops::tanh(&ops::multiply(x, y)?)?,
    )?;
    let second = ops::subtract(&ops::multiply(x, x)?, y)?;
    Ok(vec![first, second])
}

#[test]
fn compiled_equals_uncompiled_and_is_cached() -> Result<()> {
    common::serial(|| {
        let mut rng = common::rng();
        let calls = Rc::new(Cell::new(0usize));
        let counter = calls.clone();
        let compiled = transforms::compile(
            move |a: &[Array]| {
                counter.set(counter.get() + 1);
                poly(a)
            },
            false,
        )?;
        assert!(!compiled.is_shapeless());
        for round in 0..3 {
            let x = Array::from_slice(&common::uniform(&mut rng, 24, -2.0, 2.0), &[4, 6])?;
            let y = Array::from_slice(&common::uniform(&mut rng, 24, -2.0, 2.0), &[4, 6])?;
            let want = poly(&[x.clone(), y.clone()])?;
            let got = compiled.call(&[x, y])?;
            assert_eq!(got.len(), 2);
            for (g, w) in got.iter().zip(&want) {
                let w: Vec<f32> = w.to_vec()?;
                common::assert_close_f32(&g.to_vec::<f32>()?, &common::to_f64(&w), 1e-5, 1.0);
            }
            assert_eq!(
                calls.get(),
                1,
                "retraced on call {round} with the same shapes"
            );
        }
        // A new shape retraces (not shapeless).
        let x = Array::from_slice(&common::uniform(&mut rng, 5, -2.0, 2.0), &[5])?;
        let y = Array::from_slice(&common::uniform(&mut rng, 5, -2.0, 2.0), &[5])?;
        compiled.call(&[x, y])?[0].eval()?;
        assert_eq!(calls.get(), 2);
        Ok(())
    })
}

#[test]
fn shapeless_compile_is_reused_across_shapes() -> Result<()> {
    common::serial(|| {
        let mut rng = common::rng();
        let calls = Rc::new(Cell::new(0usize));
        let counter = calls.clone();
        let compiled = transforms::compile(
            move |a: &[Array]| {
                counter.set(counter.get() + 1);
                poly(a)
            },
            true,
        )?;
        assert!(compiled.is_shapeless());
        for shape in [[3, 5], [7, 2], [1, 9]] {
            let n = (shape[0] * shape[1]) as usize;
            let xv = common::uniform(&mut rng, n, -2.0, 2.0);
            let yv = common::uniform(&mut rng, n, -2.0, 2.0);
            let got = compiled.call(&[
                Array::from_slice(&xv, &shape)?,
                Array::from_slice(&yv, &shape)?,
            ])?;
            assert_eq!(got[0].shape(), shape.to_vec());
            let want0: Vec<f64> = xv
                .iter()
                .zip(&yv)
                .map(|(&x, &y)| {
                    let (x, y) = (x as f64, y as f64);
                    (-x).exp() * y + (x * y).tanh()
                })
                .collect();
            let want1: Vec<f64> = xv
                .iter()
                .zip(&yv)
                .map(|(&x, &y)| x as f64 * x as f64 - y as f64)
                .collect();
            common::assert_close_f32(&got[0].to_vec::<f32>()?, &want0, 1e-5, 1.0);
            common::assert_close_f32(&got[1].to_vec::<f32>()?, &want1, 1e-5, 1.0);
        }
        assert_eq!(calls.get(), 1, "shapeless compile traced more than once");
        Ok(())
    })
}

#[test]
fn grad_of_compiled_function() -> Result<()> {
    common::on_cpu(|| {
        let mut rng = common::rng();
        let xs = rand_f64(&mut rng, 5, -2.0, 2.0);
        let compiled = Rc::new(transforms::compile(f_sin_sq, false)?);
        let g = transforms::grad(move |a: &[Array]| compiled.call(a), &[0])?;
        let got: Vec<f64> = g.call(&[Array::from_slice(&xs, &[5])?])?[0].to_vec()?;
        let want: Vec<f64> = xs
            .iter()
            .map(|x| x.cos() * x * x + 2.0 * x * x.sin())
            .collect();
        assert_close_f64(&got, &want, TRANSCENDENTAL_TOL);
        Ok(())
    })
}

#[test]
fn vmap_matches_a_loop() -> Result<()> {
    let mut rng = common::rng();
    let (b, k, n) = (5usize, 3usize, 4usize);
    let xv = common::uniform(&mut rng, b * k, -1.0, 1.0);
    let wv = common::uniform(&mut rng, k * n, -1.0, 1.0);
    let x = Array::from_slice(&xv, &[b as i32, k as i32])?;
    let w = Array::from_slice(&wv, &[k as i32, n as i32])?;
    // Per row: tanh(row @ w), w not mapped.
    let row_fn = |a: &[Array]| -> Result<Vec<Array>> {
        assert_eq!(a[0].ndim(), 1, "vmap must hand the function one row");
        Ok(vec![ops::tanh(&ops::matmul(&a[0], &a[1])?)?])
    };
    let v = transforms::vmap(row_fn, &[Some(0), None], &[])?;
    let got = v.call(&[x.clone(), w.clone()])?;
    assert_eq!(got[0].shape(), vec![b as i32, n as i32]);
    let got: Vec<f32> = got[0].to_vec()?;

    // Reference: the same function in a loop over rows (values in Rust f64).
    let xd = common::to_f64(&xv);
    let wd = common::to_f64(&wv);
    let mut want = Vec::new();
    for r in 0..b {
        let row = common::matmul_f64(&xd[r * k..(r + 1) * k], &wd, 1, k, n);
        want.extend(row.iter().map(|v| v.tanh()));
    }
    common::assert_close_f32(&got, &want, 1e-5, 1.0);

    // And against MLX in a loop.
    for r in 0..b {
        let row = Array::from_slice(&xv[r * k..(r + 1) * k], &[k as i32])?;
        let one: Vec<f32> = row_fn(&[row, w.clone()])?[0].to_vec()?;
        common::assert_close_f32(&one, &common::to_f64(&got[r * n..(r + 1) * n]), 1e-5, 1.0);
    }

    // Mapping over axis 1 of a transposed input, stacking on output axis 1.
    let xt = ops::transpose(&x)?; // k x b
    let v = transforms::vmap(row_fn, &[Some(1), None], &[1])?;
    let got_t = v.call(&[xt, w])?;
    assert_eq!(got_t[0].shape(), vec![n as i32, b as i32]);
    let got_t: Vec<f32> = ops::transpose(&got_t[0])?.to_vec()?;
    common::assert_close_f32(&got_t, &want, 1e-5, 1.0);
    Ok(())
}

#[test]
fn custom_vjp_straight_through_round() -> Result<()> {
    let mut rng = common::rng();
    let xv = common::uniform(&mut rng, 10, -3.0, 3.0);
    let x = Array::from_slice(&xv, &[10])?;

    // Plain round(): gradient is zero everywhere.
    let plain = transforms::grad(
        |a: &[Array]| Ok(vec![ops::sum(&ops::round(&a[0], 0)?, false)?]),
        &[0],
    )?;
    let g: Vec<f32> = plain.call(std::slice::from_ref(&x))?[0].to_vec()?;
    assert!(g.iter().all(|v| *v == 0.0), "{g:?}");

    // Straight-through estimator: gradient passes through unchanged.
    let vjp_calls = Arc::new(AtomicUsize::new(0));
    let seen = vjp_calls.clone();
    let ste = Rc::new(
        CustomFunction::new(|a: &[Array]| Ok(vec![ops::round(&a[0], 0)?]))?
            .vjp(move |primals: &[Array], cot: &[Array], outs: &[Array]| {
                seen.fetch_add(1, Ordering::SeqCst);
                assert_eq!(primals.len(), 1);
                assert_eq!(outs.len(), 1);
                Ok(vec![cot[0].clone()])
            })?
            .build()?,
    );
    // Forward values are still round(x).
    let fwd: Vec<f32> = ste.call(std::slice::from_ref(&x))?[0].to_vec()?;
    let want: Vec<f64> = xv.iter().map(|v| (*v as f64).round_ties_even()).collect();
    common::assert_close_f32(&fwd, &want, 0.0, 1.0);

    let f = ste.clone();
    let g = transforms::grad(
        move |a: &[Array]| Ok(vec![ops::sum(&f.call(a)?[0], false)?]),
        &[0],
    )?;
    let got: Vec<f32> = g.call(std::slice::from_ref(&x))?[0].to_vec()?;
    assert_eq!(got, vec![1.0f32; 10]);
    assert_eq!(
        vjp_calls.load(Ordering::SeqCst),
        1,
        "custom vjp did not run once"
    );

    // The custom_vjp shorthand does the same, scaled to prove it's ours.
    let ste2 = Rc::new(transforms::custom_vjp(
        |a: &[Array]| Ok(vec![ops::round(&a[0], 0)?]),
        |_p: &[Array], cot: &[Array], _o: &[Array]| {
            let two = Array::scalar(2.0f32)?;
            Ok(vec![ops::multiply(&cot[0], &two)?])
        },
    )?);
    let g = transforms::grad(
        move |a: &[Array]| Ok(vec![ops::sum(&ste2.call(a)?[0], false)?]),
        &[0],
    )?;
    let got: Vec<f32> = g.call(&[x])?[0].to_vec()?;
    assert_eq!(got, vec![2.0f32; 10]);
    Ok(())
}

#[test]
fn custom_jvp_and_vmap_rules_are_used() -> Result<()> {
    let mut rng = common::rng();
    let xv = common::uniform(&mut rng, 6, -1.0, 1.0);
    let x = Array::from_slice(&xv, &[2, 3])?;
    let vmap_calls = Arc::new(AtomicUsize::new(0));
    let seen = vmap_calls.clone();
    // f(x) = sin(x) with a (deliberately wrong) jvp rule 10 * tangent, and a
    // vmap rule that applies sin to the whole batch at once.
    let f = Rc::new(
        CustomFunction::new(|a: &[Array]| Ok(vec![ops::sin(&a[0])?]))?
            .jvp(|_p: &[Array], t: &[Array], argnums: &[i32]| {
                assert_eq!(argnums, &[0]);
                Ok(vec![ops::multiply(&t[0], &Array::scalar(10.0f32)?)?])
            })?
            .vmap(move |inputs: &[Array], axes: &[i32]| {
                seen.fetch_add(1, Ordering::SeqCst);
                Ok((vec![ops::sin(&inputs[0])?], vec![axes[0]]))
            })?
            .build()?,
    );
    let t = Array::from_slice(&common::uniform(&mut rng, 6, -1.0, 1.0), &[2, 3])?;
    let f1 = f.clone();
    let (_, jv) = transforms::jvp(
        move |a: &[Array]| f1.call(a),
        std::slice::from_ref(&x),
        std::slice::from_ref(&t),
    )?;
    let tv: Vec<f32> = t.to_vec()?;
    let want: Vec<f64> = tv.iter().map(|t| 10.0 * *t as f64).collect();
    common::assert_close_f32(&jv[0].to_vec::<f32>()?, &want, 1e-6, 1.0);

    let f2 = f.clone();
    let v = transforms::vmap(move |a: &[Array]| f2.call(a), &[Some(0)], &[])?;
    let got: Vec<f32> = v.call(&[x])?[0].to_vec()?;
    let want: Vec<f64> = xv.iter().map(|v| (*v as f64).sin()).collect();
    common::assert_close_f32(&got, &want, 1e-5, 1.0);
    assert!(
        vmap_calls.load(Ordering::SeqCst) >= 1,
        "custom vmap rule not used"
    );
    Ok(())
}

#[test]
fn checkpoint_recomputes_and_keeps_gradients() -> Result<()> {
    common::on_cpu(|| {
        let mut rng = common::rng();
        let xs = rand_f64(&mut rng, 8, -2.0, 2.0);
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let ck = Rc::new(transforms::checkpoint(move |a: &[Array]| {
            seen.fetch_add(1, Ordering::SeqCst);
            f_sin_sq(a)
        })?);
        let g = transforms::grad(move |a: &[Array]| ck.call(a), &[0])?;
        let got: Vec<f64> = g.call(&[Array::from_slice(&xs, &[8])?])?[0].to_vec()?;
        let want: Vec<f64> = xs
            .iter()
            .map(|x| x.cos() * x * x + 2.0 * x * x.sin())
            .collect();
        assert_close_f64(&got, &want, TRANSCENDENTAL_TOL);
        assert!(
            calls.load(Ordering::SeqCst) >= 2,
            "checkpointed function was not recomputed in the backward pass"
        );
        Ok(())
    })
}

#[test]
fn closure_call_matches_direct_call() -> Result<()> {
    let mut rng = common::rng();
    let xv = common::uniform(&mut rng, 6, -2.0, 2.0);
    let yv = common::uniform(&mut rng, 6, -2.0, 2.0);
    let c = Closure::new(poly)?;
    let args = [Array::from_slice(&xv, &[6])?, Array::from_slice(&yv, &[6])?];
    let got = c.call(&args)?;
    let want = poly(&args)?;
    assert_eq!(got.len(), 2);
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.to_vec::<f32>()?, w.to_vec::<f32>()?);
    }
    Ok(())
}

fn user_error(tag: &str) -> Error {
    Error::InvalidArgument {
        message: format!("user error {tag}"),
        location: std::panic::Location::caller(),
    }
}

/// One named call's outcome.
type Outcome = (&'static str, Result<Vec<Array>>);

/// `f` called on `x` directly and through each transform (grad, compile,
/// shapeless compile, vmap, vjp, jvp, value_and_grad), with each call's name.
fn through_every_transform<F>(f: F, x: &Array) -> Result<Vec<Outcome>>
where
    F: Fn(&[Array]) -> Result<Vec<Array>> + Copy + 'static,
{
    let xs = std::slice::from_ref(x);
    Ok(vec![
        ("closure", Closure::new(f)?.call(xs)),
        ("grad", transforms::grad(f, &[0])?.call(xs)),
        ("compile", transforms::compile(f, false)?.call(xs)),
        ("shapeless", transforms::compile(f, true)?.call(xs)),
        ("vmap", transforms::vmap(f, &[], &[])?.call(xs)),
        ("vjp", transforms::vjp(f, xs, xs).map(|r| r.0)),
        ("jvp", transforms::jvp(f, xs, xs).map(|r| r.0)),
        (
            "value_and_grad",
            transforms::value_and_grad(f, &[0])?.call(xs).map(|r| r.0),
        ),
    ])
}

#[test]
fn closure_errors_propagate_unchanged() -> Result<()> {
    let x = Array::from_slice(&[0.25f32, 1.5, -2.0], &[3])?;
    let failing = |a: &[Array]| -> Result<Vec<Array>> {
        let _ = a;
        Err(user_error("A"))
    };
    let check = |r: Result<Vec<Array>>, what: &str| {
        let e = r.expect_err(what);
        assert_eq!(e.message(), "user error A", "{what}: {e}");
    };
    for (what, r) in through_every_transform(failing, &x)? {
        check(r, what);
    }

    // An MLX error raised inside the closure comes back with MLX's message.
    let bad_matmul = |a: &[Array]| -> Result<Vec<Array>> {
        let m = Array::from_slice(&[1.0f32, 2.0], &[2, 1])?;
        Ok(vec![ops::matmul(&a[0], &m)?])
    };
    let e = Closure::new(bad_matmul)?
        .call(&[Array::from_slice(&[1.0f32, 2.0, 3.0], &[1, 3])?])
        .expect_err("bad matmul");
    assert!(e.message().contains("matmul"), "{e}");

    // An error from a custom vjp rule.
    let f = Rc::new(transforms::custom_vjp(
        |a: &[Array]| Ok(vec![ops::sin(&a[0])?]),
        |_p: &[Array], _c: &[Array], _o: &[Array]| Err(user_error("A")),
    )?);
    let g = transforms::grad(
        move |a: &[Array]| Ok(vec![ops::sum(&f.call(a)?[0], false)?]),
        &[0],
    )?;
    check(g.call(std::slice::from_ref(&x)), "custom vjp");

    // Nested: the inner error reaches the outermost caller.
    let inner = Rc::new(Closure::new(failing)?);
    let outer = transforms::grad(
        move |a: &[Array]| {
            let r = inner.call(a)?;
            Ok(vec![ops::sum(&r[0], false)?])
        },
        &[0],
    )?;
    check(outer.call(std::slice::from_ref(&x)), "nested");

    // Nothing is left behind: a following good call succeeds.
    let ok = Closure::new(|a: &[Array]| Ok(vec![ops::square(&a[0])?]))?.call(&[x])?;
    assert_eq!(ok[0].to_vec::<f32>()?, [0.0625, 2.25, 4.0]);
    Ok(())
}

#[test]
fn panicking_closures_return_err_and_process_survives() -> Result<()> {
    let x = Array::from_slice(&[0.5f32, -1.0], &[2])?;
    let boom = |_: &[Array]| -> Result<Vec<Array>> { panic!("boom in closure") };
    let is_panic = |r: Result<Vec<Array>>, what: &str| match r {
        Err(Error::CallbackPanic { message }) => {
            assert!(message.contains("boom"), "{what}: {message}")
        }
        other => panic!("{what}: expected CallbackPanic, got {other:?}"),
    };
    for (what, r) in through_every_transform(boom, &x)? {
        is_panic(r, what);
    }
    // A panicking custom vjp rule.
    let f = Rc::new(transforms::custom_vjp(
        |a: &[Array]| Ok(vec![ops::sin(&a[0])?]),
        |_p: &[Array], _c: &[Array], _o: &[Array]| panic!("boom in vjp"),
    )?);
    let g = transforms::grad(
        move |a: &[Array]| Ok(vec![ops::sum(&f.call(a)?[0], false)?]),
        &[0],
    )?;
    is_panic(g.call(std::slice::from_ref(&x)), "custom vjp");
    // Panic inside a nested closure.
    let inner = Rc::new(Closure::new(boom)?);
    let outer = Closure::new(move |a: &[Array]| inner.call(a))?;
    is_panic(outer.call(std::slice::from_ref(&x)), "nested");

    // Still alive and working.
    let y = ops::add(&x, &x)?;
    assert_eq!(y.to_vec::<f32>()?, [1.0, -2.0]);
    Ok(())
}

#[test]
fn closures_are_dropped_with_their_functions() -> Result<()> {
    struct Flag(Arc<AtomicUsize>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    {
        let flag = Flag(dropped.clone());
        let c = transforms::compile(
            move |a: &[Array]| {
                let _ = &flag;
                Ok(vec![ops::square(&a[0])?])
            },
            false,
        )?;
        let x = Array::from_slice(&[3.0f32], &[1])?;
        assert_eq!(c.call(&[x])?[0].to_vec::<f32>()?, [9.0]);
        assert_eq!(dropped.load(Ordering::SeqCst), 0);
    }
    // A drop never waits for the graph lock: while another test's thread
    // holds it, the free is queued and run when the lock is next released.
    // Taking the lock once here (creating an array does) ensures that
    // release has happened.
    Array::from_slice(&[0.0f32], &[1])?;
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "closure payload leaked");
    Ok(())
}

#[test]
fn every_transform_runs_its_function_inside_an_mlx_function() -> Result<()> {
    use mlx_rs::closure::in_mlx_function;
    let x = Array::from_slice(&[0.25f32, 1.5, -2.0], &[3])?;
    assert!(!in_mlx_function());
    // Whatever each transform makes of the function's output (grad wants a
    // scalar, vjp gets `x` as the cotangent), the function counts whether it
    // ran marked.
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    static UNMARKED: AtomicUsize = AtomicUsize::new(0);
    let counted = |a: &[Array]| -> Result<Vec<Array>> {
        RUNS.fetch_add(1, Ordering::SeqCst);
        if !in_mlx_function() {
            UNMARKED.fetch_add(1, Ordering::SeqCst);
        }
        Ok(vec![ops::sum(&ops::sin(&a[0])?, false)?])
    };
    for (name, _) in through_every_transform(counted, &x)? {
        assert!(!in_mlx_function(), "{name} left the mark set");
    }
    assert!(RUNS.load(Ordering::SeqCst) >= 8);
    assert_eq!(UNMARKED.load(Ordering::SeqCst), 0);
    // A custom function's derivative rule runs marked as well.
    let rule_marked = Arc::new(AtomicUsize::new(0));
    let seen = rule_marked.clone();
    let f = Rc::new(transforms::custom_vjp(
        |a: &[Array]| Ok(vec![ops::sin(&a[0])?]),
        move |_p: &[Array], cot: &[Array], _o: &[Array]| {
            if in_mlx_function() {
                seen.fetch_add(1, Ordering::SeqCst);
            }
            Ok(vec![cot[0].clone()])
        },
    )?);
    let g = transforms::grad(
        move |a: &[Array]| Ok(vec![ops::sum(&f.call(a)?[0], false)?]),
        &[0],
    )?;
    assert_eq!(g.call(&[x])?[0].to_vec::<f32>()?, [1.0f32; 3]);
    assert_eq!(rule_marked.load(Ordering::SeqCst), 1);
    assert!(!in_mlx_function());
    Ok(())
}
