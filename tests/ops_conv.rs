//! Convolutions against a direct f64 reference (channels-last layout).

mod common;

use mlx_rs::ops::{self, Index};
use mlx_rs::{Array, Device};
use rand::rngs::StdRng;
use rand::Rng;

/// Parameters of a general convolution, one entry per spatial axis.
#[derive(Clone, Debug)]
struct Conv {
    stride: Vec<usize>,
    pad_lo: Vec<usize>,
    pad_hi: Vec<usize>,
    kernel_dilation: Vec<usize>,
    input_dilation: Vec<usize>,
    groups: usize,
    flip: bool,
}

impl Conv {
    fn simple(d: usize, stride: &[usize], pad: &[usize], dil: &[usize], groups: usize) -> Conv {
        Conv {
            stride: stride.to_vec(),
            pad_lo: pad.to_vec(),
            pad_hi: pad.to_vec(),
            kernel_dilation: dil.to_vec(),
            input_dilation: vec![1; d],
            groups,
            flip: false,
        }
    }

    /// Output spatial sizes, or `None` if the kernel does not fit.
    fn out_spatial(&self, in_sp: &[usize], k_sp: &[usize]) -> Option<Vec<usize>> {
        (0..in_sp.len())
            .map(|i| {
                let eff =
                    (in_sp[i] - 1) * self.input_dilation[i] + 1 + self.pad_lo[i] + self.pad_hi[i];
                let span = self.kernel_dilation[i] * (k_sp[i] - 1) + 1;
                (eff >= span).then(|| (eff - span) / self.stride[i] + 1)
            })
            .collect()
    }
}

fn row_major(shape: &[usize], idx: &[usize]) -> usize {
    idx.iter().zip(shape).fold(0, |acc, (&i, &d)| acc * d + i)
}

/// Direct convolution: input `[N, sp.., Cin]`, weight `[Cout, k.., Cin/groups]`.
/// Returns the output shape, values, and the sums of |x·w| (error scale).
fn conv_ref(
    x: &[f32],
    x_shape: &[usize],
    w: &[f32],
    w_shape: &[usize],
    p: &Conv,
) -> (Vec<usize>, Vec<f64>, Vec<f64>) {
    let d = x_shape.len() - 2;
    let (n, cin) = (x_shape[0], x_shape[d + 1]);
    let (cout, cin_g) = (w_shape[0], w_shape[d + 1]);
    let in_sp = &x_shape[1..=d];
    let k_sp = &w_shape[1..=d];
    let out_sp = p.out_spatial(in_sp, k_sp).expect("kernel fits");
    let cout_g = cout / p.groups;
    assert_eq!(cin, cin_g * p.groups);
    let mut out_shape = vec![n];
    out_shape.extend(&out_sp);
    out_shape.push(cout);
    let mut vals = Vec::new();
    let mut scale = Vec::new();
    for oi in common::multi_indices(&out_shape) {
        let (b, o_sp, co) = (oi[0], &oi[1..=d], oi[d + 1]);
        let g = co / cout_g;
        let (mut acc, mut mag) = (0.0f64, 0.0f64);
        'taps: for k in common::multi_indices(k_sp) {
            let mut src = vec![b];
            for i in 0..d {
                // Position in the padded, input-dilated signal.
                let pos = o_sp[i] * p.stride[i] + k[i] * p.kernel_dilation[i];
                let Some(q) = pos.checked_sub(p.pad_lo[i]) else {
                    continue 'taps;
                };
                if q % p.input_dilation[i] != 0 || q / p.input_dilation[i] >= in_sp[i] {
                    continue 'taps;
                }
                src.push(q / p.input_dilation[i]);
            }
            let kk: Vec<usize> = if p.flip {
                k.iter().zip(k_sp).map(|(&k, &ks)| ks - 1 - k).collect()
            } else {
                k.clone()
            };
            for ci in 0..cin_g {
                let mut xi = src.clone();
                xi.push(g * cin_g + ci);
                let mut wi = vec![co];
                wi.extend(&kk);
                wi.push(ci);
                let prod = x[row_major(x_shape, &xi)] as f64 * w[row_major(w_shape, &wi)] as f64;
                acc += prod;
                mag += prod.abs();
            }
        }
        vals.push(acc);
        scale.push(mag);
    }
    (out_shape, vals, scale)
}

fn dims(shape: &[usize]) -> Vec<i32> {
    shape.iter().map(|&d| d as i32).collect()
}

#[track_caller]
fn assert_conv(got: &Array, want: &(Vec<usize>, Vec<f64>, Vec<f64>)) {
    assert_eq!(got.shape(), dims(&want.0));
    let g = got.to_vec::<f32>().unwrap();
    for (i, ((&g, &w), &scale)) in g.iter().zip(&want.1).zip(&want.2).enumerate() {
        let err = (g as f64 - w).abs();
        let tol = 1e-5 * scale.max(1e-6);
        assert!(err <= tol, "element {i}: got {g}, want {w} (scale {scale})");
    }
}

/// Random input and weight for `d` spatial axes whose kernel fits under `p`.
struct Case {
    x: Vec<f32>,
    x_shape: Vec<usize>,
    w: Vec<f32>,
    w_shape: Vec<usize>,
    p: Conv,
}

fn random_case(rng: &mut StdRng, d: usize, general: bool) -> Case {
    loop {
        // MLX supports groups only for 1-D and 2-D convolutions.
        let groups = if d <= 2 {
            [1, 2, 3][rng.gen_range(0..3)]
        } else {
            1
        };
        let cin_g = rng.gen_range(1..=3);
        let cout = groups * rng.gen_range(1..=3);
        let n = rng.gen_range(1..=2);
        let sp: Vec<usize> = (0..d).map(|_| rng.gen_range(3..=9)).collect();
        let ks: Vec<usize> = (0..d).map(|_| rng.gen_range(1..=4)).collect();
        let pick = |rng: &mut StdRng, lo: usize, hi: usize| -> Vec<usize> {
            (0..d).map(|_| rng.gen_range(lo..=hi)).collect()
        };
        let p = if general {
            Conv {
                stride: pick(rng, 1, 3),
                pad_lo: pick(rng, 0, 3),
                pad_hi: pick(rng, 0, 3),
                kernel_dilation: pick(rng, 1, 2),
                input_dilation: pick(rng, 1, 3),
                groups,
                flip: rng.gen_bool(0.5),
            }
        } else {
            let (s, pad, dil) = (pick(rng, 1, 3), pick(rng, 0, 2), pick(rng, 1, 2));
            Conv::simple(d, &s, &pad, &dil, groups)
        };
        if p.out_spatial(&sp, &ks).is_none() {
            continue;
        }
        let mut x_shape = vec![n];
        x_shape.extend(&sp);
        x_shape.push(cin_g * groups);
        let mut w_shape = vec![cout];
        w_shape.extend(&ks);
        w_shape.push(cin_g);
        return Case {
            x: common::uniform(rng, x_shape.iter().product(), -1.0, 1.0),
            w: common::uniform(rng, w_shape.iter().product(), -1.0, 1.0),
            x_shape,
            w_shape,
            p,
        };
    }
}

fn i32s(v: &[usize]) -> Vec<i32> {
    dims(v)
}

#[test]
fn conv1d_matches_reference() {
    let mut rng = common::rng();
    for _ in 0..30 {
        let c = random_case(&mut rng, 1, false);
        let x = Array::from_slice(&c.x, &dims(&c.x_shape)).unwrap();
        let w = Array::from_slice(&c.w, &dims(&c.w_shape)).unwrap();
        let p = &c.p;
        let got = ops::conv1d(
            &x,
            &w,
            p.stride[0] as i32,
            p.pad_lo[0] as i32,
            p.kernel_dilation[0] as i32,
            p.groups as i32,
        )
        .unwrap();
        assert_conv(&got, &conv_ref(&c.x, &c.x_shape, &c.w, &c.w_shape, p));
    }
}

#[test]
fn conv2d_matches_reference_on_channels_first_data() {
    let mut rng = common::rng();
    for _ in 0..20 {
        let c = random_case(&mut rng, 2, false);
        // Lay the input out as NCHW and view it as NHWC (non-contiguous), the
        // way PyTorch-layout data is brought in.
        let (n, h, wd, ch) = (c.x_shape[0], c.x_shape[1], c.x_shape[2], c.x_shape[3]);
        let mut nchw = vec![0.0f32; c.x.len()];
        for i in common::multi_indices(&c.x_shape) {
            nchw[row_major(&[n, ch, h, wd], &[i[0], i[3], i[1], i[2]])] =
                c.x[row_major(&c.x_shape, &i)];
        }
        let x = ops::transpose_axes(
            &Array::from_slice(&nchw, &dims(&[n, ch, h, wd])).unwrap(),
            &[0, 2, 3, 1],
        )
        .unwrap();
        let w = Array::from_slice(&c.w, &dims(&c.w_shape)).unwrap();
        let p = &c.p;
        eprintln!(
            "DBG x_shape={:?} w_shape={:?} p={:?}",
            c.x_shape, c.w_shape, p
        );
        let got = ops::conv2d(
            &x,
            &w,
            [p.stride[0] as i32, p.stride[1] as i32],
            [p.pad_lo[0] as i32, p.pad_lo[1] as i32],
            [p.kernel_dilation[0] as i32, p.kernel_dilation[1] as i32],
            p.groups as i32,
        )
        .unwrap();
        assert_conv(&got, &conv_ref(&c.x, &c.x_shape, &c.w, &c.w_shape, p));
    }
}

/// A case whose padding `ceil(pad_lo / stride)` exceeds the output size on
/// the first spatial axis, with kernel dilation and groups: MLX 0.32.2's CPU
/// kernel wrote past its output buffer for these (heap corruption).
fn padding_beyond_output_case(rng: &mut StdRng, d: usize, groups: usize) -> Case {
    let mut x_shape = vec![1, 3];
    x_shape.extend(vec![4; d - 1]);
    x_shape.push(2 * groups);
    let mut w_shape = vec![groups, 4];
    w_shape.extend(vec![1; d - 1]);
    w_shape.push(2);
    let mut dil = vec![1; d];
    dil[0] = 2;
    let mut pad = vec![0; d];
    pad[0] = 2;
    Case {
        x: common::uniform(rng, x_shape.iter().product(), -1.0, 1.0),
        w: common::uniform(rng, w_shape.iter().product(), -1.0, 1.0),
        x_shape,
        w_shape,
        p: Conv::simple(d, &vec![1; d], &pad, &dil, groups),
    }
}

#[test]
fn conv_with_padding_beyond_the_output() {
    let mut rng = common::rng();
    for _ in 0..20 {
        // The failing case of seed 13040734237302485311: x [1, 3, 4, 6],
        // w [3, 4, 1, 2], padding 2, dilation [2, 1], groups 3; both
        // contiguous and as a channels-first view.
        let c = padding_beyond_output_case(&mut rng, 2, 3);
        let want = conv_ref(&c.x, &c.x_shape, &c.w, &c.w_shape, &c.p);
        let w = Array::from_slice(&c.w, &dims(&c.w_shape)).unwrap();
        let x = Array::from_slice(&c.x, &dims(&c.x_shape)).unwrap();
        let x_view = ops::transpose_axes(
            &ops::contiguous(&ops::transpose_axes(&x, &[0, 3, 1, 2]).unwrap()).unwrap(),
            &[0, 2, 3, 1],
        )
        .unwrap();
        for x in [&x, &x_view] {
            assert_conv(
                &ops::conv2d(x, &w, [1, 1], [2, 0], [2, 1], 3).unwrap(),
                &want,
            );
        }
        let c = padding_beyond_output_case(&mut rng, 3, 1);
        let x = Array::from_slice(&c.x, &dims(&c.x_shape)).unwrap();
        let w = Array::from_slice(&c.w, &dims(&c.w_shape)).unwrap();
        let got = ops::conv3d(&x, &w, [1, 1, 1], [2, 0, 0], [2, 1, 1], 1).unwrap();
        assert_conv(&got, &conv_ref(&c.x, &c.x_shape, &c.w, &c.w_shape, &c.p));
        // conv_general with uneven padding.
        let mut c = padding_beyond_output_case(&mut rng, 2, 2);
        (c.p.pad_lo, c.p.pad_hi) = (vec![3, 0], vec![2, 2]);
        let x = Array::from_slice(&c.x, &dims(&c.x_shape)).unwrap();
        let w = Array::from_slice(&c.w, &dims(&c.w_shape)).unwrap();
        let got = ops::conv_general(
            &x,
            &w,
            &[1, 1],
            &[3, 0],
            &[2, 2],
            &[2, 1],
            &[1, 1],
            2,
            false,
        )
        .unwrap();
        assert_conv(&got, &conv_ref(&c.x, &c.x_shape, &c.w, &c.w_shape, &c.p));
    }
}

#[test]
fn conv3d_matches_reference() {
    let mut rng = common::rng();
    for _ in 0..5 {
        let c = random_case(&mut rng, 3, false);
        let x = Array::from_slice(&c.x, &dims(&c.x_shape)).unwrap();
        let w = Array::from_slice(&c.w, &dims(&c.w_shape)).unwrap();
        let p = &c.p;
        let arr = |v: &[usize]| [v[0] as i32, v[1] as i32, v[2] as i32];
        let got = ops::conv3d(
            &x,
            &w,
            arr(&p.stride),
            arr(&p.pad_lo),
            arr(&p.kernel_dilation),
            p.groups as i32,
        )
        .unwrap();
        assert_conv(&got, &conv_ref(&c.x, &c.x_shape, &c.w, &c.w_shape, p));
    }
}

#[test]
fn conv_general_matches_reference() {
    let mut rng = common::rng();
    for d in [1, 2, 1, 2, 2, 3] {
        for _ in 0..4 {
            let c = random_case(&mut rng, d, true);
            let x = Array::from_slice(&c.x, &dims(&c.x_shape)).unwrap();
            // The weight stored reversed along the kernel axes, read back
            // through a reversed (negative-stride) view.
            let mut w_rev = vec![0.0f32; c.w.len()];
            for i in common::multi_indices(&c.w_shape) {
                let mut j = i.clone();
                for a in 1..=d {
                    j[a] = c.w_shape[a] - 1 - i[a];
                }
                w_rev[row_major(&c.w_shape, &j)] = c.w[row_major(&c.w_shape, &i)];
            }
            let mut view = vec![Index::from(..)];
            view.extend((0..d).map(|_| Index::step_by(-1)));
            let w_stored = Array::from_slice(&w_rev, &dims(&c.w_shape)).unwrap();
            let w = ops::index(&w_stored, &view).unwrap();
            let p = &c.p;
            let got = ops::conv_general(
                &x,
                &w,
                &i32s(&p.stride),
                &i32s(&p.pad_lo),
                &i32s(&p.pad_hi),
                &i32s(&p.kernel_dilation),
                &i32s(&p.input_dilation),
                p.groups as i32,
                p.flip,
            )
            .unwrap();
            let want = conv_ref(&c.x, &c.x_shape, &c.w, &c.w_shape, p);
            assert_conv(&got, &want);
        }
    }
}

#[test]
fn conv_on_a_chosen_device_and_sliced_input() {
    let mut rng = common::rng();
    let c = random_case(&mut rng, 1, false);
    // Every other time step of a longer signal: x = long[:, ::2, :].
    let (n, l, ch) = (c.x_shape[0], c.x_shape[1], c.x_shape[2]);
    let long_data = common::uniform(&mut rng, n * 2 * l * ch, -1.0, 1.0);
    let long = Array::from_slice(&long_data, &dims(&[n, 2 * l, ch])).unwrap();
    let x = ops::index(&long, &[(..).into(), Index::step_by(2)]).unwrap();
    let mut xd = Vec::new();
    for b in 0..n {
        for t in 0..l {
            for k in 0..ch {
                xd.push(long_data[(b * 2 * l + 2 * t) * ch + k]);
            }
        }
    }
    let w = Array::from_slice(&c.w, &dims(&c.w_shape)).unwrap();
    let p = &c.p;
    let got = ops::conv1d_on(
        &x,
        &w,
        p.stride[0] as i32,
        p.pad_lo[0] as i32,
        p.kernel_dilation[0] as i32,
        p.groups as i32,
        &Device::cpu(),
    )
    .unwrap();
    assert_conv(&got, &conv_ref(&xd, &c.x_shape, &c.w, &c.w_shape, p));
}

#[test]
fn bad_shapes_are_errors() {
    let x = Array::from_slice(&[0.5f32; 2 * 8 * 4], &[2, 8, 4]).unwrap();
    let w = Array::from_slice(&[0.25f32; 3 * 3 * 4], &[3, 3, 4]).unwrap();
    assert!(ops::conv1d(&x, &w, 1, 0, 1, 1).is_ok());
    // Channel mismatch.
    let w3 = Array::from_slice(&[0.25f32; 3 * 3 * 3], &[3, 3, 3]).unwrap();
    assert!(ops::conv1d(&x, &w3, 1, 0, 1, 1).is_err());
    // Groups that do not divide the channels (4 inputs, 3 outputs).
    let w2 = Array::from_slice(&[0.25f32; 3 * 3 * 2], &[3, 3, 2]).unwrap();
    assert!(ops::conv1d(&x, &w2, 1, 0, 1, 2).is_err());
    // Kernel longer than the (padded) input.
    let wl = Array::from_slice(&[0.25f32; 9 * 4], &[1, 9, 4]).unwrap();
    assert!(ops::conv1d(&x, &wl, 1, 0, 1, 1).is_err());
    // Wrong rank for conv2d; zero stride.
    assert!(ops::conv2d(&x, &w, [1, 1], [0, 0], [1, 1], 1).is_err());
    assert!(ops::conv1d(&x, &w, 0, 0, 1, 1).is_err());
    // Groups in 3-D (unsupported by MLX).
    let x3 = Array::from_slice(&[0.5f32; 4 * 4 * 4 * 2], &[1, 4, 4, 4, 2]).unwrap();
    let w3d = Array::from_slice(&[0.25f32; 2 * 2 * 2 * 2], &[2, 2, 2, 2, 1]).unwrap();
    assert!(ops::conv3d(&x3, &w3d, [1; 3], [0; 3], [1; 3], 2).is_err());
    // conv_general with per-axis lists of the wrong length.
    assert!(ops::conv_general(&x, &w, &[1, 1], &[0], &[0], &[1], &[1], 1, false).is_err());
}
