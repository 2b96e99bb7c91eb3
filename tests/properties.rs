//! Property tests over the op surface: random shapes (rank 0–4, dims 0–6),
//! all 14 dtypes, valid and invalid (also negative) axes, compatible and
//! incompatible broadcasting pairs.
//!
//! The property, for every call: either it returns `Ok` with exactly the
//! shape an independent Rust shape function (NumPy's rules) predicts, and
//! evaluating it returns `Ok` or `Err`; or it returns `Err` with a non-empty
//! message. When the shape function says the call is invalid (bad axes,
//! shapes that do not broadcast, ...), it must be `Err`. When it says the
//! call is valid, the call and its evaluation must succeed, except for the
//! inputs MLX rejects by design, which each test names (see `Mode`): a dtype
//! the op does not support (bitwise ops on floats, integer matmul, `floor`
//! of complex), an empty max/min/argmax/logsumexp, repeated axes where MLX
//! refuses them. Those rejections are counted and printed. Never a crash.
//!
//! Inputs are fresh each run (proptest seeds from the OS; set
//! `PROPTEST_RNG_SEED` to replay). Each test prints how many cases it ran.

use std::sync::atomic::{AtomicUsize, Ordering};

use mlx_rs::ops::{self, Index};
use mlx_rs::{Array, Dtype, Error, Result};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Cases per test: 11 tests × 4,000 = 44,000 cases per run (a few seconds on
/// the CPU). `MLX_RS_PROPTEST_CASES` overrides it: on a GPU every new shape
/// and dtype compiles kernels first, so GPU runs use fewer cases.
fn cases() -> u32 {
    std::env::var("MLX_RS_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000)
}

static TOTAL: AtomicUsize = AtomicUsize::new(0);

type Shape = Vec<i32>;

// ---------------------------------------------------------------------------
// Inputs.

fn dim() -> impl Strategy<Value = i32> {
    // Mostly non-zero, so that most arrays have elements.
    prop_oneof![1 => Just(0), 2 => Just(1), 6 => 2..=6i32]
}

fn shape() -> impl Strategy<Value = Shape> {
    prop::collection::vec(dim(), 0..=4)
}

fn dtype() -> impl Strategy<Value = Dtype> {
    // float64 exists only on MLX's CPU; on a GPU it is documented to fail.
    let gpu_default =
        mlx_rs::Device::default_device().is_ok_and(|d| d.device_type() == mlx_rs::DeviceType::Gpu);
    let dtypes: Vec<Dtype> = Dtype::ALL
        .into_iter()
        .filter(|d| !(gpu_default && *d == Dtype::Float64))
        .collect();
    prop::sample::select(dtypes)
}

/// A possibly invalid axis for rank `n`: mostly in `-n..n`, sometimes just
/// outside, sometimes far outside.
fn axis_for(n: usize) -> impl Strategy<Value = i32> {
    let n = n as i32;
    prop_oneof![
        6 => (-n.max(1))..n.max(1),
        1 => prop_oneof![Just(n), Just(-n - 1)],
        1 => prop_oneof![Just(i32::MAX), Just(i32::MIN), -20..20i32],
    ]
}

/// An array of `shape` and `dtype` with values drawn from `seed`: small
/// numbers, with occasional NaN and ±inf.
fn make(shape: &[i32], dtype: Dtype, seed: u64) -> Result<Array> {
    let n: usize = shape.iter().map(|&d| d as usize).product();
    let mut rng = StdRng::seed_from_u64(seed);
    let special = rng.gen_bool(0.1);
    let data: Vec<f32> = (0..n)
        .map(|_| {
            if special && rng.gen_bool(0.2) {
                [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][rng.gen_range(0..3)]
            } else {
                (rng.gen_range(-8.0f32..8.0) * 4.0).round() / 4.0
            }
        })
        .collect();
    let a = Array::from_slice(&data, shape)?;
    if dtype == Dtype::Float32 {
        Ok(a)
    } else {
        ops::astype(&a, dtype)
    }
}

/// Integer indices (any integer dtype) or, rarely, a float array (invalid).
fn make_indices(shape: &[i32], dtype: Dtype, bound: i32, seed: u64) -> Result<Array> {
    let n: usize = shape.iter().map(|&d| d as usize).product();
    let mut rng = StdRng::seed_from_u64(seed);
    let b = bound.max(1);
    let data: Vec<i32> = (0..n).map(|_| rng.gen_range(-2 * b..2 * b)).collect();
    ops::astype(&Array::from_slice(&data, shape)?, dtype)
}

// ---------------------------------------------------------------------------
// Independent shape functions (NumPy rules).

fn norm_axis(axis: i32, ndim: usize) -> Option<usize> {
    let n = ndim as i64;
    let a = i64::from(axis);
    let a = if a < 0 { a + n } else { a };
    (0..n).contains(&a).then_some(a as usize)
}

fn norm_axes(axes: &[i32], ndim: usize) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    for &a in axes {
        let a = norm_axis(a, ndim)?;
        if out.contains(&a) {
            return None;
        }
        out.push(a);
    }
    Some(out)
}

fn broadcast(a: &[i32], b: &[i32]) -> Option<Shape> {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| {
            let da = if i + a.len() >= n {
                a[i + a.len() - n]
            } else {
                1
            };
            let db = if i + b.len() >= n {
                b[i + b.len() - n]
            } else {
                1
            };
            match (da, db) {
                _ if da == db => Some(da),
                (1, d) | (d, 1) => Some(d),
                _ => None,
            }
        })
        .collect()
}

fn reduce_shape(shape: &[i32], axes: &[usize], keepdims: bool) -> Shape {
    shape
        .iter()
        .enumerate()
        .filter_map(|(i, &d)| match (axes.contains(&i), keepdims) {
            (false, _) => Some(d),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect()
}

fn reshape_shape(from: &[i32], to: &[i32]) -> Option<Shape> {
    let size: i64 = from.iter().map(|&d| i64::from(d)).product();
    let infer = to.iter().filter(|&&d| d == -1).count();
    if infer > 1 || to.iter().any(|&d| d < -1) {
        return None;
    }
    let known: i64 = to
        .iter()
        .filter(|&&d| d != -1)
        .map(|&d| i64::from(d))
        .product();
    if infer == 1 {
        if known == 0 || size % known != 0 {
            return None;
        }
        Some(
            to.iter()
                .map(|&d| if d == -1 { (size / known) as i32 } else { d })
                .collect(),
        )
    } else {
        (known == size).then(|| to.to_vec())
    }
}

fn transpose_shape(shape: &[i32], perm: &[i32]) -> Option<Shape> {
    if perm.len() != shape.len() {
        return None;
    }
    let axes = norm_axes(perm, shape.len())?;
    Some(axes.iter().map(|&a| shape[a]).collect())
}

fn expand_dims_shape(shape: &[i32], axis: i32) -> Option<Shape> {
    let a = norm_axis(axis, shape.len() + 1)?;
    let mut out = shape.to_vec();
    out.insert(a, 1);
    Some(out)
}

fn squeeze_shape(shape: &[i32], axes: &[i32]) -> Option<Shape> {
    let axes = norm_axes(axes, shape.len())?;
    if axes.iter().any(|&a| shape[a] != 1) {
        return None;
    }
    Some(reduce_shape(shape, &axes, false))
}

fn concat_shape(shapes: &[Shape], axis: i32) -> Option<Shape> {
    let first = shapes.first()?;
    let ax = norm_axis(axis, first.len())?;
    let mut out = first.clone();
    for s in &shapes[1..] {
        if s.len() != first.len() || (0..s.len()).any(|i| i != ax && s[i] != first[i]) {
            return None;
        }
        out[ax] += s[ax];
    }
    Some(out)
}

fn broadcast_to_shape(from: &[i32], to: &[i32]) -> Option<Shape> {
    if to.len() < from.len() || to.iter().any(|&d| d < 0) {
        return None;
    }
    let off = to.len() - from.len();
    from.iter()
        .enumerate()
        .all(|(i, &d)| d == to[off + i] || d == 1)
        .then(|| to.to_vec())
}

fn matmul_shape(a: &[i32], b: &[i32]) -> Option<Shape> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let (a2, a_vec) = if a.len() == 1 {
        (vec![1, a[0]], true)
    } else {
        (a.to_vec(), false)
    };
    let (b2, b_vec) = if b.len() == 1 {
        (vec![b[0], 1], true)
    } else {
        (b.to_vec(), false)
    };
    let (m, k1) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k1 != k2 {
        return None;
    }
    let mut out = broadcast(&a2[..a2.len() - 2], &b2[..b2.len() - 2])?;
    if !a_vec {
        out.push(m);
    }
    if !b_vec {
        out.push(n);
    }
    Some(out)
}

/// NumPy's shape for basic indexing (integers, slices, new axes, one
/// ellipsis) plus at most one integer index array.
fn index_shape(shape: &[i32], entries: &[Entry]) -> Option<Shape> {
    let consuming = entries
        .iter()
        .filter(|e| matches!(e, Entry::At(_) | Entry::Range(..) | Entry::Array(_)))
        .count();
    let ellipses = entries
        .iter()
        .filter(|e| matches!(e, Entry::Ellipsis))
        .count();
    if ellipses > 1 || consuming > shape.len() {
        return None;
    }
    let fill = shape.len() - consuming;
    let mut expanded: Vec<Entry> = Vec::new();
    for e in entries {
        match e {
            Entry::Ellipsis => expanded.extend((0..fill).map(|_| Entry::Range(None, None, 1))),
            e => expanded.push(e.clone()),
        }
    }
    if ellipses == 0 {
        expanded.extend((0..fill).map(|_| Entry::Range(None, None, 1)));
    }
    let has_array = expanded.iter().any(|e| matches!(e, Entry::Array(_)));
    // (dims, is-advanced) per output item, in order.
    let mut items: Vec<(Shape, bool)> = Vec::new();
    let mut axis = 0;
    for e in &expanded {
        match e {
            Entry::At(i) => {
                norm_axis(*i, shape[axis] as usize)?;
                items.push((vec![], has_array));
                axis += 1;
            }
            Entry::Range(start, stop, step) => {
                items.push((vec![slice_len(shape[axis], *start, *stop, *step)?], false));
                axis += 1;
            }
            Entry::Array(s) => {
                items.push((s.clone(), true));
                axis += 1;
            }
            Entry::NewAxis => items.push((vec![1], false)),
            Entry::Ellipsis => unreachable!(),
        }
    }
    if !has_array {
        return Some(items.into_iter().flat_map(|(d, _)| d).collect());
    }
    let adv: Vec<usize> = (0..items.len()).filter(|&i| items[i].1).collect();
    let bshape = adv
        .iter()
        .try_fold(vec![], |acc: Shape, &i| broadcast(&acc, &items[i].0))?;
    let adjacent = adv[adv.len() - 1] - adv[0] + 1 == adv.len();
    let mut out = Vec::new();
    if !adjacent {
        out.extend_from_slice(&bshape);
    }
    for (i, (d, is_adv)) in items.iter().enumerate() {
        if !is_adv {
            out.extend_from_slice(d);
        } else if adjacent && i == adv[0] {
            out.extend_from_slice(&bshape);
        }
    }
    Some(out)
}

/// Python's `len(range(n)[start:stop:step])`; `None` for step 0.
fn slice_len(n: i32, start: Option<i32>, stop: Option<i32>, step: i32) -> Option<i32> {
    if step == 0 {
        return None;
    }
    let n = i64::from(n);
    let step = i64::from(step);
    let adj = |v: i32, lo: i64, hi: i64| {
        let v = i64::from(v);
        let v = if v < 0 { v + n } else { v };
        v.clamp(lo, hi)
    };
    let len = if step > 0 {
        let b = start.map_or(0, |v| adj(v, 0, n));
        let e = stop.map_or(n, |v| adj(v, 0, n));
        if e > b {
            (e - b + step - 1) / step
        } else {
            0
        }
    } else {
        let b = start.map_or(n - 1, |v| adj(v, -1, n - 1));
        let e = stop.map_or(-1, |v| adj(v, -1, n - 1));
        if b > e {
            (b - e - step - 1) / -step
        } else {
            0
        }
    };
    Some(len as i32)
}

/// Softmax keeps the shape. MLX returns an empty input as it is without
/// checking the axes (NumPy-style libraries would reject a bad axis).
fn softmax_want(shape: &[i32], axes_valid: bool) -> Option<Vec<Shape>> {
    let empty = shape.contains(&0);
    (axes_valid || empty).then(|| vec![shape.to_vec()])
}

// ---------------------------------------------------------------------------
// The property.

/// Whether a shape-valid call must succeed.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Must succeed, evaluation included.
    Strict,
    /// MLX rejects these inputs by design (the predicates below say which):
    /// `Err` is accepted and counted.
    Excused,
}

/// `Strict` when `must_succeed`, else `Excused`.
fn mode(must_succeed: bool) -> Mode {
    if must_succeed {
        Mode::Strict
    } else {
        Mode::Excused
    }
}

/// Bool or integer: what bitwise ops accept.
fn integral(d: Dtype) -> bool {
    d == Dtype::Bool || d.is_integer()
}

fn signed_integer(d: Dtype) -> bool {
    matches!(d, Dtype::Int8 | Dtype::Int16 | Dtype::Int32 | Dtype::Int64)
}

/// Unary ops MLX does not define for complex64 (and `negative` for bool).
fn unary_must_succeed(op: &str, d: Dtype) -> bool {
    match op {
        "ceil" | "floor" | "erf" | "erfinv" | "expm1" | "sigmoid" => d != Dtype::Complex64,
        "negative" => d != Dtype::Bool,
        _ => true,
    }
}

/// Bitwise ops need integral operands whose common type is integral (MLX
/// promotes uint64 with a signed integer to a float); three ops reject complex.
fn binary_must_succeed(op: &str, a: Dtype, b: Dtype) -> bool {
    match op {
        "bitwise_and" | "bitwise_xor" | "left_shift" | "right_shift" => {
            let mixed_u64 = (a == Dtype::Uint64 && signed_integer(b))
                || (b == Dtype::Uint64 && signed_integer(a));
            integral(a) && integral(b) && !mixed_u64
        }
        "arctan2" | "floor_divide" | "remainder" => a != Dtype::Complex64 && b != Dtype::Complex64,
        _ => true,
    }
}

/// MLX's GPU backends take argmax/argmin of real numbers only ("ArgReduce
/// Only real numbers supported"); its CPU also orders complex64.
fn gpu_rejects_arg_reduce(op: &str, d: Dtype) -> bool {
    op.starts_with("arg")
        && d == Dtype::Complex64
        && mlx_rs::Device::default_device()
            .is_ok_and(|g| g.device_type() == mlx_rs::DeviceType::Gpu)
}

/// Reductions over `axes` (normalized, maybe repeated) of an array of `shape`:
/// max/min need every reduced axis non-empty, logsumexp and argmax/argmin a
/// non-empty array, logsumexp and softmax distinct axes; MLX 0.32.2's argmax
/// of a 0-d array fails ("cannot create std::vector larger than max_size()").
fn reduce_must_succeed(op: &str, shape: &[i32], axes: &[usize], full: bool) -> bool {
    let size: i64 = shape.iter().map(|&d| i64::from(d)).product();
    let mut distinct = axes.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let distinct = distinct.len() == axes.len();
    let base = op.split('_').next().unwrap_or(op);
    match base {
        "max" | "min" => axes.iter().all(|&a| shape[a] > 0),
        "argmax" | "argmin" => size > 0 && !(full && shape.is_empty()),
        "logsumexp" => size > 0 && distinct,
        "softmax" => distinct,
        _ => true,
    }
}

fn nonempty_err(op: &str, e: &Error) -> Result<(), TestCaseError> {
    prop_assert!(!e.message().trim().is_empty(), "{op}: empty error message");
    Ok(())
}

/// Checks one call against the predicted shapes (`None`: must be `Err`).
/// With valid shapes, a `Strict` call and its evaluation must succeed; an
/// `Excused` one may return `Err` (counted in `rejected`).
fn verify(
    op: &str,
    got: Result<Vec<Array>>,
    want: Option<Vec<Shape>>,
    mode: Mode,
    rejected: &AtomicUsize,
) -> Result<(), TestCaseError> {
    match (got, want) {
        (Err(e), want) => {
            nonempty_err(op, &e)?;
            if let Some(w) = want {
                prop_assert!(
                    mode != Mode::Strict,
                    "{op}: expected shapes {w:?}, got Err: {e}"
                );
                rejected.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        }
        (Ok(arrays), None) => Err(TestCaseError::fail(format!(
            "{op}: expected Err, got Ok with shapes {:?}",
            arrays.iter().map(Array::shape).collect::<Vec<_>>()
        ))),
        (Ok(arrays), Some(want)) => {
            let shapes: Vec<Shape> = arrays.iter().map(Array::shape).collect();
            prop_assert_eq!(&shapes, &want, "{}: shape", op);
            for a in &arrays {
                if let Err(e) = a.eval() {
                    nonempty_err(op, &e)?;
                    prop_assert!(mode != Mode::Strict, "{op}: evaluation failed: {e}");
                    rejected.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(())
        }
    }
}

fn one(r: Result<Array>) -> Result<Vec<Array>> {
    r.map(|a| vec![a])
}

/// Runs `cases` cases of `strategy` through `body`, printing the count.
fn run<S: Strategy>(
    name: &str,
    strategy: S,
    body: impl Fn(S::Value, &AtomicUsize) -> Result<(), TestCaseError>,
) {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..Config::default()
    });
    let count = AtomicUsize::new(0);
    let rejected = AtomicUsize::new(0);
    let start = std::time::Instant::now();
    let result = runner.run(&strategy, |v| {
        count.fetch_add(1, Ordering::Relaxed);
        body(v, &rejected)
    });
    let n = count.load(Ordering::Relaxed);
    let total = TOTAL.fetch_add(n, Ordering::Relaxed) + n;
    println!(
        "{name}: {n} cases in {:.2?} ({} valid-shape calls rejected by MLX by design); \
         {total} cases so far in this binary",
        start.elapsed(),
        rejected.load(Ordering::Relaxed)
    );
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
}

// ---------------------------------------------------------------------------
// Tests.

type Unary = fn(&Array) -> Result<Array>;
const UNARY: &[(&str, Unary)] = &[
    ("abs", ops::abs),
    ("negative", ops::negative),
    ("sign", ops::sign),
    ("sqrt", ops::sqrt),
    ("rsqrt", ops::rsqrt),
    ("square", ops::square),
    ("reciprocal", ops::reciprocal),
    ("exp", ops::exp),
    ("expm1", ops::expm1),
    ("log", ops::log),
    ("log1p", ops::log1p),
    ("sin", ops::sin),
    ("cos", ops::cos),
    ("tan", ops::tan),
    ("arcsin", ops::arcsin),
    ("arctanh", ops::arctanh),
    ("tanh", ops::tanh),
    ("erf", ops::erf),
    ("erfinv", ops::erfinv),
    ("sigmoid", ops::sigmoid),
    ("floor", ops::floor),
    ("ceil", ops::ceil),
    ("isnan", ops::isnan),
    ("isinf", ops::isinf),
    ("logical_not", ops::logical_not),
    ("degrees", ops::degrees),
    ("stop_gradient", ops::stop_gradient),
    ("contiguous", ops::contiguous),
];

#[test]
fn unary_math() {
    let strat = (
        shape(),
        dtype(),
        any::<u64>(),
        0..UNARY.len(),
        any::<bool>(),
    );
    run("unary_math", strat, |(s, d, seed, op, transposed), rej| {
        let (name, f) = UNARY[op];
        let mut a = make(&s, d, seed).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut s = s;
        if transposed {
            // A non-contiguous input.
            a = ops::transpose(&a).map_err(|e| TestCaseError::fail(e.to_string()))?;
            s.reverse();
        }
        let m = mode(unary_must_succeed(name, d));
        verify(name, one(f(&a)), Some(vec![s]), m, rej)
    });
}

type Binary = fn(&Array, &Array) -> Result<Array>;
const BINARY: &[(&str, Binary)] = &[
    ("add", ops::add),
    ("subtract", ops::subtract),
    ("multiply", ops::multiply),
    ("divide", ops::divide),
    ("floor_divide", ops::floor_divide),
    ("remainder", ops::remainder),
    ("power", |a, b| ops::power(a, b)),
    ("maximum", |a, b| ops::maximum(a, b)),
    ("minimum", |a, b| ops::minimum(a, b)),
    ("logaddexp", ops::logaddexp),
    ("arctan2", ops::arctan2),
    ("equal", ops::equal),
    ("not_equal", ops::not_equal),
    ("less", ops::less),
    ("greater_equal", ops::greater_equal),
    ("logical_and", ops::logical_and),
    ("logical_or", ops::logical_or),
    ("bitwise_and", ops::bitwise_and),
    ("bitwise_xor", ops::bitwise_xor),
    ("left_shift", ops::left_shift),
    ("right_shift", ops::right_shift),
];

/// A second shape for `a`: broadcast-compatible (dims replaced by 1, leading
/// dims dropped or added) or arbitrary (often incompatible).
fn partner(a: Shape) -> impl Strategy<Value = (Shape, Shape)> {
    let n = a.len();
    let compatible = (
        prop::collection::vec(any::<bool>(), n),
        0..=n,
        prop::collection::vec(dim(), 0..=1),
    )
        .prop_map({
            let a = a.clone();
            move |(ones, drop, lead)| {
                let mut b: Shape = a
                    .iter()
                    .zip(&ones)
                    .map(|(&d, &o)| if o { 1 } else { d })
                    .collect();
                b.drain(..drop.min(b.len()));
                if b.len() == a.len() {
                    b.splice(0..0, lead);
                }
                (a.clone(), b)
            }
        });
    let arbitrary = shape().prop_map(move |b| (a.clone(), b));
    prop_oneof![3 => compatible, 2 => arbitrary]
}

fn pair() -> impl Strategy<Value = (Shape, Shape)> {
    shape()
        .prop_flat_map(partner)
        .prop_flat_map(|(a, b)| prop_oneof![Just((a.clone(), b.clone())), Just((b, a))])
}

#[test]
fn binary_broadcasting() {
    let strat = (pair(), dtype(), dtype(), any::<u64>(), 0..BINARY.len());
    run(
        "binary_broadcasting",
        strat,
        |((sa, sb), da, db, seed, op), rej| {
            let (name, f) = BINARY[op];
            let fail = |e: Error| TestCaseError::fail(e.to_string());
            let a = make(&sa, da, seed).map_err(fail)?;
            let b = make(&sb, db, seed ^ 1).map_err(fail)?;
            let want = broadcast(&sa, &sb).map(|s| vec![s]);
            let m = mode(binary_must_succeed(name, da, db));
            verify(name, one(f(&a, &b)), want, m, rej)
        },
    );
}

type AxesReduce = fn(&Array, &[i32], bool) -> Result<Array>;
const AXES_REDUCE: &[(&str, AxesReduce)] = &[
    ("sum_axes", ops::sum_axes),
    ("prod_axes", ops::prod_axes),
    ("max_axes", ops::max_axes),
    ("min_axes", ops::min_axes),
    ("mean_axes", ops::mean_axes),
    ("logsumexp_axes", ops::logsumexp_axes),
    ("all_axes", ops::all_axes),
    ("any_axes", ops::any_axes),
];

fn shape_and_axes() -> impl Strategy<Value = (Shape, Vec<i32>)> {
    shape().prop_flat_map(|s| {
        let n = s.len();
        (Just(s), prop::collection::vec(axis_for(n), 0..=3))
    })
}

#[test]
fn reductions_over_axes() {
    let strat = (
        shape_and_axes(),
        dtype(),
        any::<u64>(),
        0..AXES_REDUCE.len() + 3,
        any::<bool>(),
    );
    run(
        "reductions_over_axes",
        strat,
        |((s, axes), d, seed, op, keep), rej| {
            let a = make(&s, d, seed).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let in_range: Option<Vec<usize>> =
                axes.iter().map(|&a| norm_axis(a, s.len())).collect();
            let want = norm_axes(&axes, s.len()).map(|ax| vec![reduce_shape(&s, &ax, keep)]);
            let axes_n = in_range.clone().unwrap_or_default();
            let (name, got) = match op.checked_sub(AXES_REDUCE.len()) {
                None => (AXES_REDUCE[op].0, AXES_REDUCE[op].1(&a, &axes, keep)),
                Some(0) => ("var_axes", ops::var_axes(&a, &axes, keep, 0)),
                Some(1) => ("std_axes", ops::std_axes(&a, &axes, keep, 1)),
                Some(_) => ("softmax_axes", ops::softmax_axes(&a, &axes, keep)),
            };
            let want = if name == "logsumexp_axes" {
                // MLX accepts repeated axes here (NumPy would not).
                in_range.map(|ax| vec![reduce_shape(&s, &ax, keep)])
            } else if name == "softmax_axes" {
                // MLX accepts repeated axes for softmax.
                softmax_want(&s, in_range.is_some())
            } else {
                want
            };
            let m = mode(reduce_must_succeed(name, &s, &axes_n, false));
            verify(name, one(got), want, m, rej)
        },
    );
}

type AxisReduce = fn(&Array, i32, bool) -> Result<Array>;
const AXIS_REDUCE: &[(&str, AxisReduce)] = &[
    ("sum_axis", ops::sum_axis),
    ("max_axis", ops::max_axis),
    ("mean_axis", ops::mean_axis),
    ("argmax_axis", ops::argmax_axis),
    ("argmin_axis", ops::argmin_axis),
    ("logsumexp_axis", ops::logsumexp_axis),
];
type Full = fn(&Array, bool) -> Result<Array>;
const FULL_REDUCE: &[(&str, Full)] = &[
    ("sum", ops::sum),
    ("prod", ops::prod),
    ("max", ops::max),
    ("min", ops::min),
    ("mean", ops::mean),
    ("all", ops::all),
    ("argmax", ops::argmax),
    ("logsumexp", ops::logsumexp),
];

fn shape_and_axis() -> impl Strategy<Value = (Shape, i32)> {
    shape().prop_flat_map(|s| {
        let n = s.len();
        (Just(s), axis_for(n))
    })
}

#[test]
fn reductions_single_axis_and_full() {
    let strat = (
        shape_and_axis(),
        dtype(),
        any::<u64>(),
        0..AXIS_REDUCE.len() + FULL_REDUCE.len(),
        any::<bool>(),
    );
    run(
        "reductions_single_axis_and_full",
        strat,
        |((s, axis), d, seed, op, keep), rej| {
            let a = make(&s, d, seed).map_err(|e| TestCaseError::fail(e.to_string()))?;
            if let Some(full) = op.checked_sub(AXIS_REDUCE.len()) {
                let (name, f) = FULL_REDUCE[full];
                let all: Vec<usize> = (0..s.len()).collect();
                // argmax flattens: with keepdims every axis is kept as 1.
                let want = vec![reduce_shape(&s, &all, keep)];
                let m = mode(
                    reduce_must_succeed(name, &s, &all, true) && !gpu_rejects_arg_reduce(name, d),
                );
                return verify(name, one(f(&a, keep)), Some(want), m, rej);
            }
            let (name, f) = AXIS_REDUCE[op];
            let ax = norm_axis(axis, s.len());
            let want = ax.map(|ax| vec![reduce_shape(&s, &[ax], keep)]);
            let axes: Vec<usize> = ax.into_iter().collect();
            let m = mode(
                reduce_must_succeed(name, &s, &axes, false) && !gpu_rejects_arg_reduce(name, d),
            );
            verify(name, one(f(&a, axis, keep)), want, m, rej)
        },
    );
}

/// A reshape target: the same dims shuffled (maybe with one `-1`), or
/// arbitrary (maybe with several `-1` or other negatives).
fn reshape_case() -> impl Strategy<Value = (Shape, Shape)> {
    shape().prop_flat_map(|s| {
        let same = Just(s.clone()).prop_shuffle();
        let n = s.len();
        let with_infer = (Just(s.clone()).prop_shuffle(), 0..n.max(1)).prop_map(|(mut t, i)| {
            if !t.is_empty() {
                t[i] = -1;
            }
            t
        });
        let arbitrary = prop::collection::vec(prop_oneof![5 => dim(), 1 => -3..0i32], 0..=4);
        let target = prop_oneof![2 => same, 2 => with_infer, 2 => arbitrary];
        (Just(s), target)
    })
}

fn perm_case() -> impl Strategy<Value = (Shape, Vec<i32>)> {
    shape().prop_flat_map(|s| {
        let n = s.len() as i32;
        let valid = Just((0..n).collect::<Vec<i32>>())
            .prop_shuffle()
            .prop_flat_map(move |p| {
                // Some entries written as negative axes.
                (Just(p), prop::collection::vec(any::<bool>(), n as usize)).prop_map(
                    move |(p, neg)| {
                        p.iter()
                            .zip(&neg)
                            .map(|(&a, &ng)| if ng { a - n } else { a })
                            .collect()
                    },
                )
            });
        let invalid = prop::collection::vec(axis_for(s.len()), 0..=5);
        (Just(s), prop_oneof![3 => valid, 2 => invalid])
    })
}

#[test]
fn reshape_transpose_expand_squeeze() {
    let strat = (
        reshape_case(),
        perm_case(),
        shape_and_axis(),
        shape_and_axes(),
        dtype(),
        any::<u64>(),
        0..5usize,
    );
    run(
        "reshape_transpose_expand_squeeze",
        strat,
        |((rs, rt), (ps, perm), (es, eaxis), (qs, qaxes), d, seed, op), rej| {
            let fail = |e: Error| TestCaseError::fail(e.to_string());
            match op {
                0 => {
                    let a = make(&rs, d, seed).map_err(fail)?;
                    let want = reshape_shape(&rs, &rt).map(|s| vec![s]);
                    verify(
                        "reshape",
                        one(ops::reshape(&a, &rt)),
                        want,
                        Mode::Strict,
                        rej,
                    )
                }
                1 => {
                    let a = make(&ps, d, seed).map_err(fail)?;
                    let want = transpose_shape(&ps, &perm).map(|s| vec![s]);
                    let got = one(ops::transpose_axes(&a, &perm));
                    verify("transpose_axes", got, want, Mode::Strict, rej)
                }
                2 => {
                    // Axis may be one past the rank for expand_dims.
                    let a = make(&es, d, seed).map_err(fail)?;
                    let want = expand_dims_shape(&es, eaxis).map(|s| vec![s]);
                    let got = one(ops::expand_dims(&a, eaxis));
                    verify("expand_dims", got, want, Mode::Strict, rej)
                }
                3 => {
                    // Make some axes size 1 so that squeezes can succeed.
                    let qs: Shape = qs
                        .iter()
                        .enumerate()
                        .map(|(i, &v)| if i % 2 == (seed % 2) as usize { 1 } else { v })
                        .collect();
                    let a = make(&qs, d, seed).map_err(fail)?;
                    let want = squeeze_shape(&qs, &qaxes).map(|s| vec![s]);
                    let got = one(ops::squeeze_axes(&a, &qaxes));
                    verify("squeeze_axes", got, want, Mode::Strict, rej)
                }
                _ => {
                    let a = make(&qs, d, seed).map_err(fail)?;
                    let want: Shape = qs.iter().copied().filter(|&v| v != 1).collect();
                    verify(
                        "squeeze",
                        one(ops::squeeze(&a)),
                        Some(vec![want]),
                        Mode::Strict,
                        rej,
                    )
                }
            }
        },
    );
}

/// 1–3 shapes for concatenation: equal except along `axis`, or arbitrary.
fn concat_case() -> impl Strategy<Value = (Vec<Shape>, i32)> {
    shape().prop_flat_map(|s| {
        let n = s.len();
        let axis = axis_for(n);
        let others = prop::collection::vec(
            prop_oneof![
                3 => (Just(s.clone()), dim()).prop_map(|(s, d)| (s, Some(d))),
                1 => shape().prop_map(|s| (s, None)),
            ],
            0..=2,
        );
        (Just(s), others, axis).prop_map(|(s, others, axis)| {
            let mut shapes = vec![s.clone()];
            for (o, d) in others {
                let mut o = o;
                if let (Some(d), Some(ax)) = (d, norm_axis(axis, o.len())) {
                    o[ax] = d;
                }
                shapes.push(o);
            }
            (shapes, axis)
        })
    })
}

#[test]
fn concatenate_split_broadcast_to() {
    let strat = (
        concat_case(),
        shape_and_axis(),
        -1..=4i32,
        pair(),
        dtype(),
        dtype(),
        any::<u64>(),
        0..3usize,
    );
    run(
        "concatenate_split_broadcast_to",
        strat,
        |((cshapes, caxis), (ss, saxis), parts, (bf, bt), d1, d2, seed, op), rej| {
            let fail = |e: Error| TestCaseError::fail(e.to_string());
            match op {
                0 => {
                    let arrays = cshapes
                        .iter()
                        .enumerate()
                        .map(|(i, s)| make(s, if i == 0 { d1 } else { d2 }, seed + i as u64))
                        .collect::<Result<Vec<_>>>()
                        .map_err(fail)?;
                    // MLX returns a lone array as it is, without checking
                    // the axis (NumPy rejects a bad axis, or a 0-d array).
                    let want = if cshapes.len() == 1 {
                        Some(cshapes.clone())
                    } else {
                        concat_shape(&cshapes, caxis).map(|s| vec![s])
                    };
                    let got = one(ops::concatenate(&arrays, caxis));
                    verify("concatenate", got, want, Mode::Strict, rej)
                }
                1 => {
                    let a = make(&ss, d1, seed).map_err(fail)?;
                    let want = norm_axis(saxis, ss.len()).and_then(|ax| {
                        (parts > 0 && ss[ax] % parts == 0).then(|| {
                            let mut piece = ss.clone();
                            piece[ax] /= parts;
                            vec![piece; parts as usize]
                        })
                    });
                    verify(
                        "split",
                        ops::split(&a, parts, saxis),
                        want,
                        Mode::Strict,
                        rej,
                    )
                }
                _ => {
                    let a = make(&bf, d1, seed).map_err(fail)?;
                    let want = broadcast_to_shape(&bf, &bt).map(|s| vec![s]);
                    let got = one(ops::broadcast_to(&a, &bt));
                    verify("broadcast_to", got, want, Mode::Strict, rej)
                }
            }
        },
    );
}

/// Operand shapes for matmul: `[batch.., m, k] @ [batch.., k, n]` with
/// broadcast batch dims, 1-D operands, and mismatched inner dims or ranks.
fn matmul_case() -> impl Strategy<Value = (Shape, Shape)> {
    let batch = prop::collection::vec(1..=3i32, 0..=2).prop_flat_map(partner);
    let matched =
        (batch, 1..=5i32, 0..=5i32, 1..=5i32, 0..4u8).prop_map(|((ba, bb), m, k, n, kind)| {
            let mut a = ba;
            let mut b = bb;
            match kind {
                0 => {
                    a = vec![k];
                    b.extend([k, n]);
                }
                1 => {
                    a.extend([m, k]);
                    b = vec![k];
                }
                _ => {
                    a.extend([m, k]);
                    b.extend([k, n]);
                }
            }
            (a, b)
        });
    prop_oneof![3 => matched, 1 => (shape(), shape())]
}

#[test]
fn matmul_and_softmax() {
    let strat = (
        matmul_case(),
        shape_and_axis(),
        prop_oneof![
            6 => Just(Dtype::Float32),
            1 => Just(Dtype::Float16),
            1 => Just(Dtype::Bfloat16),
            2 => dtype()
        ],
        any::<u64>(),
        any::<bool>(),
    );
    run(
        "matmul_and_softmax",
        strat,
        |((sa, sb), (ss, axis), d, seed, softmax), rej| {
            let fail = |e: Error| TestCaseError::fail(e.to_string());
            if softmax {
                let a = make(&ss, d, seed).map_err(fail)?;
                let want = softmax_want(&ss, norm_axis(axis, ss.len()).is_some());
                let got = one(ops::softmax_axis(&a, axis, seed % 2 == 0));
                return verify("softmax_axis", got, want, Mode::Strict, rej);
            }
            let a = make(&sa, d, seed).map_err(fail)?;
            let b = make(&sb, d, seed ^ 7).map_err(fail)?;
            let want = matmul_shape(&sa, &sb).map(|s| vec![s]);
            verify(
                "matmul",
                one(ops::matmul(&a, &b)),
                want,
                // MLX multiplies only inexact (float, complex) types.
                mode(!integral(d)),
                rej,
            )
        },
    );
}

const INDEX_DTYPES: [Dtype; 9] = [
    Dtype::Uint8,
    Dtype::Uint16,
    Dtype::Uint32,
    Dtype::Uint64,
    Dtype::Int8,
    Dtype::Int16,
    Dtype::Int32,
    Dtype::Int64,
    Dtype::Float32, // invalid: must be Err
];

#[test]
fn take_and_take_axis() {
    let strat = (
        shape_and_axis(),
        prop::collection::vec(0..=4i32, 0..=2),
        dtype(),
        prop::sample::select(INDEX_DTYPES.to_vec()),
        any::<u64>(),
        any::<bool>(),
    );
    run(
        "take_and_take_axis",
        strat,
        |((s, axis), ishape, d, idt, seed, flat), rej| {
            let fail = |e: Error| TestCaseError::fail(e.to_string());
            let a = make(&s, d, seed).map_err(fail)?;
            let size: i32 = s.iter().product();
            let idx = make_indices(&ishape, idt, size.max(1), seed).map_err(fail)?;
            let valid_idx = idt.is_integer();
            if flat {
                // Taking from an empty array is only possible with no indices;
                // the binding rejects it outright.
                let want = (valid_idx && size > 0).then(|| vec![ishape.clone()]);
                return verify("take", one(ops::take(&a, &idx)), want, Mode::Strict, rej);
            }
            let want = norm_axis(axis, s.len())
                .filter(|&ax| valid_idx && s[ax] > 0)
                .map(|ax| {
                    let mut out = s[..ax].to_vec();
                    out.extend(&ishape);
                    out.extend(&s[ax + 1..]);
                    vec![out]
                });
            let got = one(ops::take_axis(&a, &idx, axis));
            verify("take_axis", got, want, Mode::Strict, rej)
        },
    );
}

/// An index entry description (for the shape function and for building
/// [`Index`] values).
#[derive(Clone, Debug)]
enum Entry {
    At(i32),
    Range(Option<i32>, Option<i32>, i32),
    NewAxis,
    Ellipsis,
    Array(Shape),
}

fn entry() -> impl Strategy<Value = Entry> {
    let bound = prop_oneof![3 => (-7..=7i32).prop_map(Some), 1 => Just(None)];
    prop_oneof![
        3 => (-7..=7i32).prop_map(Entry::At),
        4 => (bound.clone(), bound, prop_oneof![4 => 1..=3i32, 2 => -3..=-1i32, 1 => Just(0)])
            .prop_map(|(a, b, c)| Entry::Range(a, b, c)),
        1 => Just(Entry::NewAxis),
        1 => Just(Entry::Ellipsis),
        1 => prop::collection::vec(1..=3i32, 0..=2).prop_map(Entry::Array),
    ]
}

#[test]
fn numpy_index() {
    let strat = (
        shape(),
        prop::collection::vec(entry(), 0..=5),
        dtype(),
        any::<u64>(),
    );
    run("numpy_index", strat, |(s, entries, d, seed), rej| {
        let fail = |e: Error| TestCaseError::fail(e.to_string());
        let a = make(&s, d, seed).map_err(fail)?;
        // At most one index array (see `index_shape`); extra ones become `At(0)`.
        let mut seen_array = false;
        let entries: Vec<Entry> = entries
            .into_iter()
            .map(|e| match e {
                Entry::Array(_) if seen_array => Entry::At(0),
                Entry::Array(sh) => {
                    seen_array = true;
                    Entry::Array(sh)
                }
                e => e,
            })
            .collect();
        let arrays: Vec<Option<Array>> = entries
            .iter()
            .map(|e| match e {
                Entry::Array(sh) => make_indices(sh, Dtype::Int32, 6, seed).map(Some),
                _ => Ok(None),
            })
            .collect::<Result<_>>()
            .map_err(fail)?;
        let idx: Vec<Index<'_>> = entries
            .iter()
            .zip(&arrays)
            .map(|(e, arr)| match e {
                Entry::At(i) => Index::At(*i),
                Entry::Range(a, b, c) => Index::slice(*a, *b, *c),
                Entry::NewAxis => Index::NewAxis,
                Entry::Ellipsis => Index::Ellipsis,
                Entry::Array(_) => Index::Array(arr.as_ref().expect("built above")),
            })
            .collect();
        let mut want = index_shape(&s, &entries);
        // An index array into an empty axis has nothing to clamp to: the
        // binding rejects it.
        if want.is_some() && has_array_on_empty_axis(&s, &entries) {
            want = None;
        }
        verify(
            "index",
            one(ops::index(&a, &idx)),
            want.map(|w| vec![w]),
            Mode::Strict,
            rej,
        )
    });
}

/// Whether an [`Entry::Array`] lands on an axis of size 0.
fn has_array_on_empty_axis(shape: &[i32], entries: &[Entry]) -> bool {
    let consuming = entries
        .iter()
        .filter(|e| matches!(e, Entry::At(_) | Entry::Range(..) | Entry::Array(_)))
        .count();
    let mut axis = 0;
    for e in entries {
        match e {
            Entry::At(_) | Entry::Range(..) => axis += 1,
            Entry::Array(_) => {
                if shape[axis] == 0 {
                    return true;
                }
                axis += 1;
            }
            Entry::Ellipsis => axis += shape.len() - consuming,
            Entry::NewAxis => {}
        }
    }
    false
}

#[test]
fn sort_argsort_cumsum() {
    let strat = (
        shape_and_axis(),
        dtype(),
        any::<u64>(),
        0..8usize,
        any::<bool>(),
    );
    run(
        "sort_argsort_cumsum",
        strat,
        |((s, axis), d, seed, op, flag), rej| {
            let a = make(&s, d, seed).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let size: i32 = s.iter().product();
            let same = norm_axis(axis, s.len()).map(|_| vec![s.clone()]);
            let flat = Some(vec![vec![size]]);
            let (name, got, want) = match op {
                0 => ("sort_axis", ops::sort_axis(&a, axis), same),
                1 => ("argsort_axis", ops::argsort_axis(&a, axis), same),
                2 => ("sort_flat", ops::sort_flat(&a), flat),
                3 => ("argsort_flat", ops::argsort_flat(&a), flat),
                4 => ("cumsum_axis", ops::cumsum_axis(&a, axis, flag, !flag), same),
                5 => (
                    "cumprod_axis",
                    ops::cumprod_axis(&a, axis, flag, flag),
                    same,
                ),
                6 => ("cummax_axis", ops::cummax_axis(&a, axis, flag, true), same),
                _ => ("cumsum", ops::cumsum(&a, flag, true), flat),
            };
            verify(name, one(got), want, Mode::Strict, rej)
        },
    );
}

#[test]
fn astype_all_pairs() {
    let strat = (shape(), dtype(), dtype(), any::<u64>(), any::<bool>());
    run(
        "astype_all_pairs",
        strat,
        |(s, from, to, seed, sliced), rej| {
            let fail = |e: Error| TestCaseError::fail(e.to_string());
            let mut a = make(&s, from, seed).map_err(fail)?;
            let mut s = s;
            if sliced && !s.is_empty() && s[0] > 1 {
                // A strided view.
                a = ops::index(&a, &[Index::step_by(2)]).map_err(fail)?;
                s[0] = (s[0] + 1) / 2;
            }
            let got = ops::astype(&a, to);
            verify("astype", one(got), Some(vec![s.clone()]), Mode::Strict, rej)?;
            // The converted values read back as the target type's Rust element.
            if to == Dtype::Float32 {
                let b = ops::astype(&a, to).map_err(fail)?;
                let v = b.to_vec::<f32>().map_err(fail)?;
                prop_assert_eq!(v.len(), s.iter().product::<i32>() as usize);
            }
            Ok(())
        },
    );
}
