//! Indexing ops against plain-Rust references: NumPy-style `index`, takes,
//! gathers, scatters and slices.

#![allow(clippy::type_complexity)] // tables of (name, op, reference) cases

mod common;

use mlx_rs::ops::{self, Index};
use mlx_rs::{Array, Device, Dtype};
use rand::rngs::StdRng;
use rand::Rng;

/// A row-major N-d f32 array in plain Rust.
#[derive(Clone, Debug)]
struct Nd {
    shape: Vec<usize>,
    data: Vec<f32>,
}

impl Nd {
    fn random(rng: &mut StdRng, shape: &[usize]) -> Nd {
        let n = shape.iter().product();
        Nd {
            shape: shape.to_vec(),
            data: common::uniform(rng, n, -10.0, 10.0),
        }
    }

    fn strides(&self) -> Vec<usize> {
        let mut s = vec![1; self.shape.len()];
        for i in (0..self.shape.len().saturating_sub(1)).rev() {
            s[i] = s[i + 1] * self.shape[i + 1];
        }
        s
    }

    fn get(&self, idx: &[usize]) -> f32 {
        let off: usize = idx.iter().zip(self.strides()).map(|(i, s)| i * s).sum();
        self.data[off]
    }

    fn to_mlx(&self) -> Array {
        let shape: Vec<i32> = self.shape.iter().map(|&d| d as i32).collect();
        Array::from_slice(&self.data, &shape).unwrap()
    }

    /// Reverses the axes (reference for `ops::transpose`).
    fn transposed(&self) -> Nd {
        let shape: Vec<usize> = self.shape.iter().rev().copied().collect();
        let mut out = Nd {
            shape: shape.clone(),
            data: Vec::with_capacity(self.data.len()),
        };
        for idx in common::multi_indices(&shape) {
            let rev: Vec<usize> = idx.iter().rev().copied().collect();
            out.data.push(self.get(&rev));
        }
        out
    }
}

fn ints(v: &[i32], shape: &[i32]) -> Array {
    Array::from_slice(v, shape).unwrap()
}

fn norm(i: i32, n: usize) -> usize {
    if i < 0 {
        (i + n as i32) as usize
    } else {
        i as usize
    }
}

fn shape_of(a: &Array) -> Vec<usize> {
    a.shape().iter().map(|&d| d as usize).collect()
}

fn values(a: &Array) -> Vec<f32> {
    a.to_vec::<f32>().unwrap()
}

/// Python's `slice(start, stop, step).indices(n)`, walked (CPython's
/// `PySlice_AdjustIndices`).
fn py_slice(start: Option<i32>, stop: Option<i32>, step: i32, n: usize) -> Vec<usize> {
    let n = n as i64;
    let step = step as i64;
    let adjust = |v: Option<i32>, default_neg: i64, default_pos: i64| -> i64 {
        match v {
            None => {
                if step < 0 {
                    default_neg
                } else {
                    default_pos
                }
            }
            Some(v) => {
                let mut v = v as i64;
                if v < 0 {
                    v += n;
                    if v < 0 {
                        v = if step < 0 { -1 } else { 0 };
                    }
                } else if v >= n {
                    v = if step < 0 { n - 1 } else { n };
                }
                v
            }
        }
    };
    let start = adjust(start, n - 1, 0);
    let stop = adjust(stop, -1, n);
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        out.push(i as usize);
        i += step;
    }
    out
}

/// One entry of a reference index expression (owned, no arrays).
#[derive(Clone, Copy, Debug)]
enum RefIdx {
    At(i32),
    Slice(Option<i32>, Option<i32>, i32),
    NewAxis,
}

/// Reference for basic indexing (integers, slices, new axes; implicit
/// trailing full slices).
fn ref_basic(a: &Nd, idx: &[RefIdx]) -> Nd {
    let mut per_axis: Vec<Vec<usize>> = Vec::new();
    let mut out_shape = Vec::new();
    let mut axis = 0;
    for i in idx {
        match *i {
            RefIdx::At(j) => {
                per_axis.push(vec![norm(j, a.shape[axis])]);
                axis += 1;
            }
            RefIdx::Slice(s, e, st) => {
                let sel = py_slice(s, e, st, a.shape[axis]);
                out_shape.push(sel.len());
                per_axis.push(sel);
                axis += 1;
            }
            RefIdx::NewAxis => out_shape.push(1),
        }
    }
    while axis < a.shape.len() {
        per_axis.push((0..a.shape[axis]).collect());
        out_shape.push(a.shape[axis]);
        axis += 1;
    }
    let counts: Vec<usize> = per_axis.iter().map(|v| v.len()).collect();
    let data = common::multi_indices(&counts)
        .into_iter()
        .map(|m| {
            let src: Vec<usize> = m.iter().zip(&per_axis).map(|(&k, v)| v[k]).collect();
            a.get(&src)
        })
        .collect();
    Nd {
        shape: out_shape,
        data,
    }
}

fn to_index(i: RefIdx) -> Index<'static> {
    match i {
        RefIdx::At(j) => Index::At(j),
        RefIdx::Slice(s, e, st) => Index::slice(s, e, st),
        RefIdx::NewAxis => Index::NewAxis,
    }
}

fn random_basic_index(rng: &mut StdRng, shape: &[usize]) -> Vec<RefIdx> {
    let mut idx = Vec::new();
    // Sometimes leave trailing axes implicit.
    let used = if rng.gen_bool(0.3) {
        rng.gen_range(0..=shape.len())
    } else {
        shape.len()
    };
    for &n in &shape[..used] {
        if rng.gen_bool(0.2) {
            idx.push(RefIdx::NewAxis);
        }
        let n = n as i32;
        let bound = |rng: &mut StdRng| {
            if rng.gen_bool(0.3) {
                None
            } else {
                Some(rng.gen_range(-n - 2..=n + 2))
            }
        };
        idx.push(match rng.gen_range(0..4) {
            0 => RefIdx::At(rng.gen_range(-n..n)),
            1 => RefIdx::Slice(None, None, 1),
            _ => {
                let steps = [-3, -2, -1, 1, 1, 2, 3];
                let step = steps[rng.gen_range(0..steps.len())];
                RefIdx::Slice(bound(rng), bound(rng), step)
            }
        });
    }
    if rng.gen_bool(0.2) {
        idx.push(RefIdx::NewAxis);
    }
    idx
}

#[test]
fn basic_indexing_matches_python_semantics() {
    let mut rng = common::rng();
    for _ in 0..200 {
        let ndim = rng.gen_range(1..=4);
        let shape: Vec<usize> = (0..ndim).map(|_| rng.gen_range(1..=6)).collect();
        let a = Nd::random(&mut rng, &shape);
        let idx = random_basic_index(&mut rng, &shape);
        let want = ref_basic(&a, &idx);
        let index: Vec<Index> = idx.iter().map(|&i| to_index(i)).collect();
        let got = ops::index(&a.to_mlx(), &index).unwrap();
        assert_eq!(shape_of(&got), want.shape, "shape {shape:?}, index {idx:?}");
        assert_eq!(values(&got), want.data, "shape {shape:?}, index {idx:?}");
    }
}

#[test]
fn basic_indexing_of_non_contiguous_inputs() {
    let mut rng = common::rng();
    for _ in 0..50 {
        let shape: Vec<usize> = (0..3).map(|_| rng.gen_range(2..=6)).collect();
        let a = Nd::random(&mut rng, &shape);
        // A transposed view, and a strided slice of it.
        let t = ops::transpose(&a.to_mlx()).unwrap();
        let t_ref = a.transposed();
        let idx = random_basic_index(&mut rng, &t_ref.shape);
        let index: Vec<Index> = idx.iter().map(|&i| to_index(i)).collect();
        let want = ref_basic(&t_ref, &idx);
        let got = ops::index(&t, &index).unwrap();
        assert_eq!(shape_of(&got), want.shape, "index {idx:?}");
        assert_eq!(values(&got), want.data, "index {idx:?}");

        let rev = ops::index(&t, &[Index::step_by(-1)]).unwrap();
        let rev_ref = ref_basic(&t_ref, &[RefIdx::Slice(None, None, -1)]);
        let want = ref_basic(&rev_ref, &idx);
        let got = ops::index(&rev, &index).unwrap();
        assert_eq!(values(&got), want.data, "index {idx:?} of reversed");
    }
}

#[test]
fn range_conversions_and_ellipsis() {
    let mut rng = common::rng();
    let a = Nd::random(&mut rng, &[4, 5, 6]);
    let x = a.to_mlx();
    let check = |index: &[Index], want: &[RefIdx]| {
        let w = ref_basic(&a, want);
        let got = ops::index(&x, index).unwrap();
        assert_eq!(shape_of(&got), w.shape, "{index:?}");
        assert_eq!(values(&got), w.data, "{index:?}");
    };
    use RefIdx::{At, NewAxis, Slice};
    check(&[(1..3).into()], &[Slice(Some(1), Some(3), 1)]);
    check(
        &[(..).into(), (2..).into()],
        &[Slice(None, None, 1), Slice(Some(2), None, 1)],
    );
    check(&[(..-1).into()], &[Slice(None, Some(-1), 1)]);
    check(&[(1..=2).into()], &[Slice(Some(1), Some(3), 1)]);
    check(&[(-3..=-1).into()], &[Slice(Some(-3), None, 1)]);
    check(
        &[(..=-1).into(), (..=2).into()],
        &[Slice(None, None, 1), Slice(None, Some(3), 1)],
    );
    check(
        &[(-2).into(), 0.into(), (-1).into()],
        &[At(-2), At(0), At(-1)],
    );
    // a[..., 2] == a[:, :, 2]
    check(
        &[Index::Ellipsis, 2.into()],
        &[Slice(None, None, 1), Slice(None, None, 1), At(2)],
    );
    // a[1, ..., None, ::-2]
    check(
        &[
            1.into(),
            Index::Ellipsis,
            Index::NewAxis,
            Index::step_by(-2),
        ],
        &[At(1), Slice(None, None, 1), NewAxis, Slice(None, None, -2)],
    );
    // a[..., None] and a[...] with every axis given.
    check(
        &[Index::Ellipsis, Index::NewAxis],
        &[
            Slice(None, None, 1),
            Slice(None, None, 1),
            Slice(None, None, 1),
            NewAxis,
        ],
    );
    check(
        &[0.into(), 1.into(), Index::Ellipsis, 2.into()],
        &[At(0), At(1), At(2)],
    );
    // The empty index is the whole array; a scalar gives a 0-d array.
    check(&[], &[]);
    let s = ops::index(&x, &[3.into(), (-5).into(), 5.into()]).unwrap();
    assert_eq!(s.shape(), Vec::<i32>::new());
    assert_eq!(s.item::<f32>().unwrap(), a.get(&[3, 0, 5]));
    // Empty slices.
    #[allow(clippy::reversed_empty_ranges)] // an empty range is the point
    let empty = 3..1;
    check(&[empty.into()], &[Slice(Some(3), Some(1), 1)]);
    check(&[Index::slice(1, 3, -1)], &[Slice(Some(1), Some(3), -1)]);
    // And the `_on` twin.
    let got = ops::index_on(&x, &[Index::step_by(-1)], &Device::cpu()).unwrap();
    assert_eq!(values(&got), ref_basic(&a, &[Slice(None, None, -1)]).data);
}

#[test]
fn array_indices_follow_numpy_rules() {
    let mut rng = common::rng();
    let a = Nd::random(&mut rng, &[4, 5, 6]);
    let x = a.to_mlx();
    let rand_idx = |rng: &mut StdRng, n: usize, len: usize| -> Vec<i32> {
        (0..len)
            .map(|_| rng.gen_range(-(n as i32)..n as i32))
            .collect()
    };

    // a[arr] with a 2-d index array (negative values count from the end).
    let i0 = rand_idx(&mut rng, 4, 6);
    let idx = ints(&i0, &[2, 3]);
    let got = ops::index(&x, &[(&idx).into()]).unwrap();
    assert_eq!(got.shape(), vec![2, 3, 5, 6]);
    let want: Vec<f32> = common::multi_indices(&[2, 3, 5, 6])
        .iter()
        .map(|m| a.get(&[norm(i0[m[0] * 3 + m[1]], 4), m[2], m[3]]))
        .collect();
    assert_eq!(values(&got), want);

    // a[1:3, arr, ::-1]
    let i1 = rand_idx(&mut rng, 5, 3);
    let idx = ints(&i1, &[3]);
    let got = ops::index(&x, &[(1..3).into(), (&idx).into(), Index::step_by(-1)]).unwrap();
    assert_eq!(got.shape(), vec![2, 3, 6]);
    let want: Vec<f32> = common::multi_indices(&[2, 3, 6])
        .iter()
        .map(|m| a.get(&[1 + m[0], norm(i1[m[1]], 5), 5 - m[2]]))
        .collect();
    assert_eq!(values(&got), want);

    // Adjacent arrays broadcast together in place: a[:, p, q], p: [2,1], q: [3].
    let p = rand_idx(&mut rng, 5, 2);
    let q = rand_idx(&mut rng, 6, 3);
    let (pa, qa) = (ints(&p, &[2, 1]), ints(&q, &[3]));
    let got = ops::index(&x, &[(..).into(), (&pa).into(), (&qa).into()]).unwrap();
    assert_eq!(got.shape(), vec![4, 2, 3]);
    let want: Vec<f32> = common::multi_indices(&[4, 2, 3])
        .iter()
        .map(|m| a.get(&[m[0], norm(p[m[1]], 5), norm(q[m[2]], 6)]))
        .collect();
    assert_eq!(values(&got), want);

    // Separated arrays put the broadcast dims first: a[p, :, q], p: [2,1], q: [3].
    let p = rand_idx(&mut rng, 4, 2);
    let (pa, qa) = (ints(&p, &[2, 1]), ints(&q, &[3]));
    let got = ops::index(&x, &[(&pa).into(), (..).into(), (&qa).into()]).unwrap();
    assert_eq!(got.shape(), vec![2, 3, 5]);
    let want: Vec<f32> = common::multi_indices(&[2, 3, 5])
        .iter()
        .map(|m| a.get(&[norm(p[m[0]], 4), m[2], norm(q[m[1]], 6)]))
        .collect();
    assert_eq!(values(&got), want);

    // An integer counts as an index array once one is present:
    // a[0, :, q] -> [3, 5] (separated), a[:, 1, q] -> [4, 3] (adjacent).
    let got = ops::index(&x, &[0.into(), (..).into(), (&qa).into()]).unwrap();
    assert_eq!(got.shape(), vec![3, 5]);
    let want: Vec<f32> = common::multi_indices(&[3, 5])
        .iter()
        .map(|m| a.get(&[0, m[1], norm(q[m[0]], 6)]))
        .collect();
    assert_eq!(values(&got), want);
    let got = ops::index(&x, &[(..).into(), (-4).into(), (&qa).into()]).unwrap();
    assert_eq!(got.shape(), vec![4, 3]);
    let want: Vec<f32> = common::multi_indices(&[4, 3])
        .iter()
        .map(|m| a.get(&[m[0], 1, norm(q[m[1]], 6)]))
        .collect();
    assert_eq!(values(&got), want);

    // New axes: a[None, p, ..., 2] -> [3, 1, 5] (separated by the ellipsis),
    // a[:, q5, None] -> [4, 3, 1, 6] (one array stays in place).
    let p3 = rand_idx(&mut rng, 4, 3);
    let p3a = ints(&p3, &[3]);
    let got = ops::index(
        &x,
        &[Index::NewAxis, (&p3a).into(), Index::Ellipsis, 2.into()],
    )
    .unwrap();
    assert_eq!(got.shape(), vec![3, 1, 5]);
    let want: Vec<f32> = common::multi_indices(&[3, 1, 5])
        .iter()
        .map(|m| a.get(&[norm(p3[m[0]], 4), m[2], 2]))
        .collect();
    assert_eq!(values(&got), want);
    let q5 = rand_idx(&mut rng, 5, 3);
    let q5a = ints(&q5, &[3]);
    let got = ops::index(&x, &[(..).into(), (&q5a).into(), Index::NewAxis]).unwrap();
    assert_eq!(got.shape(), vec![4, 3, 1, 6]);
    let want: Vec<f32> = common::multi_indices(&[4, 3, 1, 6])
        .iter()
        .map(|m| a.get(&[m[0], norm(q5[m[1]], 5), m[3]]))
        .collect();
    assert_eq!(values(&got), want);

    // Other integer dtypes, mixed with an integer index: a[p64, 2], a[pu32].
    let p64: Vec<i64> = p3.iter().map(|&v| v as i64).collect();
    let p64a = Array::from_slice(&p64, &[3]).unwrap();
    let got = ops::index(&x, &[(&p64a).into(), 2.into()]).unwrap();
    assert_eq!(got.shape(), vec![3, 6]);
    let want: Vec<f32> = common::multi_indices(&[3, 6])
        .iter()
        .map(|m| a.get(&[norm(p3[m[0]], 4), 2, m[1]]))
        .collect();
    assert_eq!(values(&got), want);
    let pu: Vec<u32> = p3.iter().map(|&v| norm(v, 4) as u32).collect();
    let pua = Array::from_slice(&pu, &[3]).unwrap();
    let got = ops::index(&x, &[(&pua).into()]).unwrap();
    let want: Vec<f32> = common::multi_indices(&[3, 5, 6])
        .iter()
        .map(|m| a.get(&[pu[m[0]] as usize, m[1], m[2]]))
        .collect();
    assert_eq!(values(&got), want);
}

#[test]
fn array_indices_on_non_contiguous_input() {
    let mut rng = common::rng();
    let a = Nd::random(&mut rng, &[4, 5, 6]);
    let t = ops::transpose(&a.to_mlx()).unwrap(); // [6, 5, 4]
    let tr = a.transposed();
    let p: Vec<i32> = (0..4).map(|_| rng.gen_range(-6..6)).collect();
    let pa = ints(&p, &[4]);
    // t[p, ::2, 1:]
    let got = ops::index(&t, &[(&pa).into(), Index::step_by(2), (1..).into()]).unwrap();
    assert_eq!(got.shape(), vec![4, 3, 3]);
    let want: Vec<f32> = common::multi_indices(&[4, 3, 3])
        .iter()
        .map(|m| tr.get(&[norm(p[m[0]], 6), 2 * m[1], 1 + m[2]]))
        .collect();
    assert_eq!(values(&got), want);
}

#[test]
fn index_errors() {
    let x = ops::reshape(
        &ops::arange(1.0, 25.0, 1.0, Dtype::Float32).unwrap(),
        &[2, 3, 4],
    )
    .unwrap();
    assert!(ops::index(&x, &[2.into()]).is_err());
    assert!(ops::index(&x, &[(-3).into()]).is_err());
    assert!(ops::index(&x, &[(..).into(), (..).into(), 4.into()]).is_err());
    assert!(ops::index(&x, &[0.into(), 0.into(), 0.into(), 0.into()]).is_err());
    assert!(ops::index(&x, &[Index::Ellipsis, Index::Ellipsis]).is_err());
    assert!(ops::index(&x, &[Index::step_by(0)]).is_err());
    let f = Array::from_slice(&[0.0f32, 1.0], &[2]).unwrap();
    assert!(ops::index(&x, &[(&f).into()]).is_err());
    let b = Array::from_slice(&[true, false], &[2]).unwrap();
    assert!(ops::index(&x, &[(&b).into()]).is_err());
    // Index arrays that do not broadcast together.
    let (p, q) = (ints(&[0, 1], &[2]), ints(&[0, 1, 2], &[3]));
    assert!(ops::index(&x, &[(&p).into(), (&q).into()]).is_err());
    let s = Array::scalar(1.0f32).unwrap();
    assert!(ops::index(&s, &[0.into()]).is_err());
}

#[test]
fn take_flat_and_along_an_axis() {
    let mut rng = common::rng();
    let a = Nd::random(&mut rng, &[4, 5]);
    let t = ops::transpose(&a.to_mlx()).unwrap(); // [5, 4], non-contiguous
    let tr = a.transposed();

    let flat: Vec<i32> = (0..6).map(|_| rng.gen_range(-20..20)).collect();
    let got = ops::take(&t, &ints(&flat, &[2, 3])).unwrap();
    assert_eq!(got.shape(), vec![2, 3]);
    let want: Vec<f32> = flat.iter().map(|&i| tr.data[norm(i, 20)]).collect();
    assert_eq!(values(&got), want);

    for axis in [0i32, 1, -1, -2] {
        let ax = if axis < 0 { axis + 2 } else { axis } as usize;
        let n = tr.shape[ax];
        let idx: Vec<i32> = (0..3)
            .map(|_| rng.gen_range(-(n as i32)..n as i32))
            .collect();
        let got = ops::take_axis(&t, &ints(&idx, &[3]), axis).unwrap();
        let mut shape = tr.shape.clone();
        shape[ax] = 3;
        assert_eq!(shape_of(&got), shape);
        let want: Vec<f32> = common::multi_indices(&shape)
            .iter()
            .map(|m| {
                let mut src = m.clone();
                src[ax] = norm(idx[m[ax]], n);
                tr.get(&src)
            })
            .collect();
        assert_eq!(values(&got), want, "axis {axis}");
    }
    let got = ops::take_axis_on(&t, &ints(&[1], &[1]), 0, &Device::cpu()).unwrap();
    assert_eq!(
        values(&got),
        ref_basic(&tr, &[RefIdx::Slice(Some(1), Some(2), 1)]).data
    );

    assert!(ops::take_axis(&t, &ints(&[0], &[1]), 2).is_err());
    assert!(ops::take_axis(&t, &ints(&[0], &[1]), -3).is_err());
    let f = Array::from_slice(&[0.0f32], &[1]).unwrap();
    assert!(ops::take(&t, &f).is_err());
}

#[test]
fn take_and_put_along_axis() {
    let mut rng = common::rng();
    let a = Nd::random(&mut rng, &[6, 4]);
    let t = ops::transpose(&a.to_mlx()).unwrap(); // [4, 6]
    let tr = a.transposed();

    // take_along_axis on the last axis (negative), indices [4, 3].
    let idx: Vec<i32> = (0..12).map(|_| rng.gen_range(-6..6)).collect();
    let got = ops::take_along_axis(&t, &ints(&idx, &[4, 3]), -1).unwrap();
    assert_eq!(got.shape(), vec![4, 3]);
    let want: Vec<f32> = common::multi_indices(&[4, 3])
        .iter()
        .map(|m| tr.get(&[m[0], norm(idx[m[0] * 3 + m[1]], 6)]))
        .collect();
    assert_eq!(values(&got), want);
    // Along axis 0 with indices [2, 1] broadcast over the columns.
    let idx0 = [rng.gen_range(0..4), rng.gen_range(-4..0)];
    let got = ops::take_along_axis(&t, &ints(&idx0, &[2, 1]), 0).unwrap();
    assert_eq!(got.shape(), vec![2, 6]);
    let want: Vec<f32> = common::multi_indices(&[2, 6])
        .iter()
        .map(|m| tr.get(&[norm(idx0[m[0]], 4), m[1]]))
        .collect();
    assert_eq!(values(&got), want);

    // put_along_axis: two distinct columns per row.
    let mut cols = Vec::new();
    for _ in 0..4 {
        let c0 = rng.gen_range(0..6);
        let c1 = (c0 + rng.gen_range(1..6)) % 6;
        cols.extend([c0 - 6 * (rng.gen_range(0..2)), c1]);
    }
    let vals = common::uniform(&mut rng, 8, -5.0, 5.0);
    let got = ops::put_along_axis(
        &t,
        &ints(&cols, &[4, 2]),
        &Array::from_slice(&vals, &[4, 2]).unwrap(),
        1,
    )
    .unwrap();
    let mut want = tr.clone();
    for r in 0..4 {
        for k in 0..2 {
            want.data[r * 6 + norm(cols[r * 2 + k], 6)] = vals[r * 2 + k];
        }
    }
    assert_eq!(values(&got), want.data);

    // scatter_add_axis accumulates repeated indices.
    let idx: Vec<i32> = (0..4 * 5).map(|_| rng.gen_range(-6..6)).collect();
    let vals = common::uniform(&mut rng, 20, -5.0, 5.0);
    let got = ops::scatter_add_axis(
        &t,
        &ints(&idx, &[4, 5]),
        &Array::from_slice(&vals, &[4, 5]).unwrap(),
        -1,
    )
    .unwrap();
    let mut want: Vec<f64> = common::to_f64(&tr.data);
    for r in 0..4 {
        for k in 0..5 {
            want[r * 6 + norm(idx[r * 5 + k], 6)] += vals[r * 5 + k] as f64;
        }
    }
    common::assert_close_f32(&values(&got), &want, 1e-5, 20.0);

    // Mismatched shapes and bad axes.
    assert!(ops::take_along_axis(&t, &ints(&[0, 1], &[2]), 0).is_err());
    assert!(ops::take_along_axis(&t, &ints(&[0], &[1, 1]), 2).is_err());
    let bad_vals = Array::from_slice(&[1.0f32, 2.0, 3.0], &[1, 3]).unwrap();
    assert!(ops::put_along_axis(&t, &ints(&[0, 1], &[1, 2]), &bad_vals, 1).is_err());
    assert!(ops::put_along_axis(&t, &ints(&[0, 1], &[1, 2]), &bad_vals, 5).is_err());
}

/// Reference scatter for index arrays of one shape `[m]` on `axes` with
/// blocks of ones on the indexed axes and full extent elsewhere.
fn ref_scatter(
    a: &Nd,
    indices: &[Vec<i32>],
    axes: &[usize],
    updates: &[f32],
    combine: impl Fn(f64, f64) -> f64,
) -> Vec<f64> {
    let mut out = common::to_f64(&a.data);
    let block: Vec<usize> = (0..a.shape.len())
        .map(|ax| if axes.contains(&ax) { 1 } else { a.shape[ax] })
        .collect();
    let block_size: usize = block.iter().product();
    let strides = a.strides();
    for k in 0..indices[0].len() {
        for (b, m) in common::multi_indices(&block).iter().enumerate() {
            let mut dst = m.clone();
            for (idx, &ax) in indices.iter().zip(axes) {
                dst[ax] = norm(idx[k], a.shape[ax]);
            }
            let off: usize = dst.iter().zip(&strides).map(|(i, s)| i * s).sum();
            out[off] = combine(out[off], updates[k * block_size + b] as f64);
        }
    }
    out
}

#[test]
fn scatter_family_matches_reference() {
    let mut rng = common::rng();
    let a = Nd::random(&mut rng, &[4, 6]);
    let t = ops::transpose(&a.to_mlx()).unwrap(); // [6, 4]
    let tr = a.transposed();

    // One axis (0), with repeated and negative indices: updates [m, 1, 4].
    let m = 8;
    let rows: Vec<i32> = (0..m).map(|_| rng.gen_range(-6..6)).collect();
    let upd = common::uniform(&mut rng, m * 4, 0.5, 2.0);
    let upd_a = Array::from_slice(&upd, &[m as i32, 1, 4]).unwrap();
    let idx = [ints(&rows, &[m as i32])];
    type Op = fn(&Array, &[Array], &Array, &[i32]) -> mlx_rs::Result<Array>;
    let cases: [(&str, Op, fn(f64, f64) -> f64); 4] = [
        ("add", ops::scatter_add, |x, u| x + u),
        ("prod", ops::scatter_prod, |x, u| x * u),
        ("max", ops::scatter_max, f64::max),
        ("min", ops::scatter_min, f64::min),
    ];
    for (name, op, combine) in cases {
        let got = op(&t, &idx, &upd_a, &[0]).unwrap();
        let want = ref_scatter(&tr, std::slice::from_ref(&rows), &[0], &upd, combine);
        let scale = if name == "prod" { 1.0 } else { 10.0 };
        common::assert_close_f32(&values(&got), &want, 1e-5, scale);
    }

    // Two axes, distinct positions (plain scatter has no defined winner for
    // repeats): updates [m, 1, 1].
    let m = 5;
    let mut cells: Vec<(i32, i32)> = Vec::new();
    while cells.len() < m {
        let c = (rng.gen_range(0..6), rng.gen_range(0..4));
        if !cells.contains(&c) {
            cells.push(c);
        }
    }
    let r: Vec<i32> = cells
        .iter()
        .map(|c| c.0 - 6 * rng.gen_range(0..2))
        .collect();
    let c: Vec<i32> = cells.iter().map(|c| c.1).collect();
    let upd = common::uniform(&mut rng, m, -3.0, 3.0);
    let upd_a = Array::from_slice(&upd, &[m as i32, 1, 1]).unwrap();
    let idx = [ints(&r, &[m as i32]), ints(&c, &[m as i32])];
    let got = ops::scatter(&t, &idx, &upd_a, &[0, -1]).unwrap();
    let want = ref_scatter(&tr, &[r.clone(), c.clone()], &[0, 1], &upd, |_, u| u);
    common::assert_close_f32(&values(&got), &want, 0.0, 0.0);
    let got = ops::scatter_on(&t, &idx, &upd_a, &[0, 1], &Device::cpu()).unwrap();
    common::assert_close_f32(&values(&got), &want, 0.0, 0.0);

    // Errors: index/axis count mismatch, updates of the wrong rank.
    assert!(ops::scatter(&t, &idx, &upd_a, &[0]).is_err());
    let flat = Array::from_slice(&upd, &[m as i32]).unwrap();
    assert!(ops::scatter_add(&t, &idx, &flat, &[0, 1]).is_err());
    assert!(ops::scatter_add(&t, &idx, &upd_a, &[0, 2]).is_err());
    assert!(ops::scatter_add(&t, &idx, &upd_a, &[-3, 1]).is_err());
}

#[test]
fn gather_matches_reference() {
    let mut rng = common::rng();
    let a = Nd::random(&mut rng, &[5, 6, 7]);
    let x = a.to_mlx();
    let rows: Vec<i32> = (0..4).map(|_| rng.gen_range(-6..6)).collect();
    // Blocks of [2, 1, 3] starting at (0, rows[k], 0).
    let got = ops::gather(&x, &[ints(&rows, &[4])], &[1], &[2, 1, 3]).unwrap();
    assert_eq!(got.shape(), vec![4, 2, 1, 3]);
    let want: Vec<f32> = common::multi_indices(&[4, 2, 1, 3])
        .iter()
        .map(|m| a.get(&[m[1], norm(rows[m[0]], 6), m[3]]))
        .collect();
    assert_eq!(values(&got), want);

    // Two axes, broadcast indices [3, 1] x [2], on a transposed input.
    let t = ops::transpose(&x).unwrap(); // [7, 6, 5]
    let tr = a.transposed();
    let i0: Vec<i32> = (0..3).map(|_| rng.gen_range(-7..7)).collect();
    let i2: Vec<i32> = (0..2).map(|_| rng.gen_range(0..5)).collect();
    let got = ops::gather(
        &t,
        &[ints(&i0, &[3, 1]), ints(&i2, &[2])],
        &[0, -1],
        &[1, 6, 1],
    )
    .unwrap();
    assert_eq!(got.shape(), vec![3, 2, 1, 6, 1]);
    let want: Vec<f32> = common::multi_indices(&[3, 2, 1, 6, 1])
        .iter()
        .map(|m| tr.get(&[norm(i0[m[0]], 7), m[3], i2[m[1]] as usize]))
        .collect();
    assert_eq!(values(&got), want);

    assert!(ops::gather(&x, &[ints(&rows, &[4])], &[1, 2], &[1, 1, 1]).is_err());
    assert!(ops::gather(&x, &[ints(&rows, &[4])], &[1], &[6, 1, 1]).is_err());
    assert!(ops::gather(&x, &[ints(&rows, &[4])], &[1], &[1, 1]).is_err());
}

#[test]
fn slice_and_slice_update() {
    let mut rng = common::rng();
    let a = Nd::random(&mut rng, &[5, 7]);
    let t = ops::transpose(&a.to_mlx()).unwrap(); // [7, 5]
    let tr = a.transposed();

    // t[1:6:2, -4:]
    let got = ops::slice(&t, &[1, -4], &[6, 5], &[2, 1]).unwrap();
    let want = ref_basic(
        &tr,
        &[
            RefIdx::Slice(Some(1), Some(6), 2),
            RefIdx::Slice(Some(-4), None, 1),
        ],
    );
    assert_eq!(shape_of(&got), want.shape);
    assert_eq!(values(&got), want.data);
    // t[::-1, 3:0:-2], a reverse stop of -n-1 runs through position 0.
    let got = ops::slice(&t, &[6, 3], &[-8, 0], &[-1, -2]).unwrap();
    let want = ref_basic(
        &tr,
        &[
            RefIdx::Slice(None, None, -1),
            RefIdx::Slice(Some(3), Some(0), -2),
        ],
    );
    assert_eq!(shape_of(&got), want.shape);
    assert_eq!(values(&got), want.data);

    // Write a [2, 3] block at rows 1, 3 and columns 0, 2, 4 (of a [5, 7]
    // copy), and a broadcast scalar at t[5:, ::-2].
    let upd = common::uniform(&mut rng, 6, 20.0, 30.0);
    let got = ops::slice_update(
        &a.to_mlx(),
        &Array::from_slice(&upd, &[2, 3]).unwrap(),
        &[1, 0],
        &[5, 6],
        &[2, 2],
    )
    .unwrap();
    let mut want = a.clone();
    for (i, r) in [1, 3].into_iter().enumerate() {
        for (j, c) in [0, 2, 4].into_iter().enumerate() {
            want.data[r * 7 + c] = upd[i * 3 + j];
        }
    }
    assert_eq!(values(&got), want.data);
    let got = ops::slice_update(
        &t,
        &Array::scalar(99.0f32).unwrap(),
        &[5, 4],
        &[7, -6],
        &[1, -2],
    )
    .unwrap();
    let mut want = tr.clone();
    for r in 5..7 {
        for c in [4, 2, 0] {
            want.data[r * 5 + c] = 99.0;
        }
    }
    assert_eq!(values(&got), want.data);

    // Errors: wrong number of entries, zero stride, non-broadcasting update.
    assert!(ops::slice(&t, &[0], &[1], &[1]).is_err());
    assert!(ops::slice(&t, &[0, 0], &[1, 1], &[1, 0]).is_err());
    let bad = Array::from_slice(&[0.0f32; 9], &[3, 3]).unwrap();
    assert!(ops::slice_update(&a.to_mlx(), &bad, &[1, 0], &[5, 6], &[2, 2]).is_err());
    assert!(ops::slice_update(&a.to_mlx(), &bad, &[0], &[3], &[1]).is_err());
}

#[test]
fn out_of_range_index_arrays_are_clamped_not_read_out_of_bounds() {
    let a = Array::from_slice(&[10.0f32, 11.0, 12.0, 13.0], &[4]).unwrap();
    let idx = Array::from_slice(&[1_000_000i32, -1, -4, -1_000_000, 2], &[5]).unwrap();
    let got = ops::take(&a, &idx).unwrap().to_vec::<f32>().unwrap();
    assert_eq!(got, [13.0, 13.0, 10.0, 10.0, 12.0]);
    let got = ops::take_axis(&a, &idx, 0)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(got, [13.0, 13.0, 10.0, 10.0, 12.0]);

    // A write far past the end lands on the last element instead.
    let at = Array::from_slice(&[1i32 << 30], &[1]).unwrap();
    let val = Array::from_slice(&[99.0f32], &[1]).unwrap();
    let got = ops::put_along_axis(&a, &at, &val, 0)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(got, [10.0, 11.0, 12.0, 99.0]);
    let upd = Array::from_slice(&[5.0f32], &[1, 1]).unwrap();
    let got = ops::scatter_add(&a, std::slice::from_ref(&at), &upd, &[0])
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(got, [10.0, 11.0, 12.0, 18.0]);
    // Unsigned and wide index types too; float indices are refused.
    let u = Array::from_slice(&[u32::MAX], &[1]).unwrap();
    assert_eq!(ops::take(&a, &u).unwrap().to_vec::<f32>().unwrap(), [13.0]);
    let w = Array::from_slice(&[i64::MIN], &[1]).unwrap();
    assert_eq!(ops::take(&a, &w).unwrap().to_vec::<f32>().unwrap(), [10.0]);
    assert!(ops::take(&a, &Array::from_slice(&[0.5f32], &[1]).unwrap()).is_err());
    // Taking from an empty axis has nothing to clamp to.
    let empty = Array::from_slice::<f32>(&[], &[0]).unwrap();
    assert!(ops::take(&empty, &idx).is_err());
}
