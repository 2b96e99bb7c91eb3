//! Element-wise arithmetic, math functions, comparisons and selection.

use crate::Array;

ops! {
    /// Converts to another element type.
    fn astype(a: &Array, dtype: crate::Dtype) => mlx_astype(a.as_raw(), dtype.to_raw());
    /// Element-wise negation.
    fn negative(a: &Array) => mlx_negative(a.as_raw());
    /// Element-wise absolute value.
    fn abs(a: &Array) => mlx_abs(a.as_raw());
    /// Element-wise sign (-1, 0 or 1).
    fn sign(a: &Array) => mlx_sign(a.as_raw());
    /// Element-wise square root.
    fn sqrt(a: &Array) => mlx_sqrt(a.as_raw());
    /// Element-wise reciprocal square root.
    fn rsqrt(a: &Array) => mlx_rsqrt(a.as_raw());
    /// Element-wise square.
    fn square(a: &Array) => mlx_square(a.as_raw());
    /// Element-wise reciprocal.
    fn reciprocal(a: &Array) => mlx_reciprocal(a.as_raw());
    /// Element-wise exponential.
    fn exp(a: &Array) => mlx_exp(a.as_raw());
    /// Element-wise `exp(x) - 1`, accurate near zero.
    fn expm1(a: &Array) => mlx_expm1(a.as_raw());
    /// Element-wise natural logarithm.
    fn log(a: &Array) => mlx_log(a.as_raw());
    /// Element-wise `ln(1 + x)`, accurate near zero.
    fn log1p(a: &Array) => mlx_log1p(a.as_raw());
    /// Element-wise base-2 logarithm.
    fn log2(a: &Array) => mlx_log2(a.as_raw());
    /// Element-wise base-10 logarithm.
    fn log10(a: &Array) => mlx_log10(a.as_raw());
    /// Element-wise sine.
    fn sin(a: &Array) => mlx_sin(a.as_raw());
    /// Element-wise cosine.
    fn cos(a: &Array) => mlx_cos(a.as_raw());
    /// Element-wise tangent.
    fn tan(a: &Array) => mlx_tan(a.as_raw());
    /// Element-wise inverse sine.
    fn arcsin(a: &Array) => mlx_arcsin(a.as_raw());
    /// Element-wise inverse cosine.
    fn arccos(a: &Array) => mlx_arccos(a.as_raw());
    /// Element-wise inverse tangent.
    fn arctan(a: &Array) => mlx_arctan(a.as_raw());
    /// Element-wise hyperbolic sine.
    fn sinh(a: &Array) => mlx_sinh(a.as_raw());
    /// Element-wise hyperbolic cosine.
    fn cosh(a: &Array) => mlx_cosh(a.as_raw());
    /// Element-wise hyperbolic tangent.
    fn tanh(a: &Array) => mlx_tanh(a.as_raw());
    /// Element-wise inverse hyperbolic sine.
    fn arcsinh(a: &Array) => mlx_arcsinh(a.as_raw());
    /// Element-wise inverse hyperbolic cosine.
    fn arccosh(a: &Array) => mlx_arccosh(a.as_raw());
    /// Element-wise inverse hyperbolic tangent.
    fn arctanh(a: &Array) => mlx_arctanh(a.as_raw());
    /// Element-wise error function.
    fn erf(a: &Array) => mlx_erf(a.as_raw());
    /// Element-wise inverse error function.
    fn erfinv(a: &Array) => mlx_erfinv(a.as_raw());
    /// Element-wise logistic sigmoid `1 / (1 + exp(-x))`.
    fn sigmoid(a: &Array) => mlx_sigmoid(a.as_raw());
    /// Element-wise floor.
    fn floor(a: &Array) => mlx_floor(a.as_raw());
    /// Element-wise ceiling.
    fn ceil(a: &Array) => mlx_ceil(a.as_raw());
    /// Element-wise test for NaN.
    fn isnan(a: &Array) => mlx_isnan(a.as_raw());
    /// Element-wise test for ±infinity.
    fn isinf(a: &Array) => mlx_isinf(a.as_raw());
    /// Element-wise test for finite values.
    fn isfinite(a: &Array) => mlx_isfinite(a.as_raw());
    /// Element-wise logical NOT.
    fn logical_not(a: &Array) => mlx_logical_not(a.as_raw());
    /// Radians to degrees.
    fn degrees(a: &Array) => mlx_degrees(a.as_raw());
    /// Degrees to radians.
    fn radians(a: &Array) => mlx_radians(a.as_raw());
    /// The same values, with no gradient flowing back through it.
    fn stop_gradient(a: &Array) => mlx_stop_gradient(a.as_raw());
    /// Element-wise `a + b` with broadcasting.
    fn add(a: &Array, b: &Array) => mlx_add(a.as_raw(), b.as_raw());
    /// Element-wise `a - b` with broadcasting.
    fn subtract(a: &Array, b: &Array) => mlx_subtract(a.as_raw(), b.as_raw());
    /// Element-wise `a * b` with broadcasting.
    fn multiply(a: &Array, b: &Array) => mlx_multiply(a.as_raw(), b.as_raw());
    /// Element-wise `a / b` with broadcasting (true division).
    fn divide(a: &Array, b: &Array) => mlx_divide(a.as_raw(), b.as_raw());
    /// Element-wise `ln(exp(a) + exp(b))`, computed stably.
    fn logaddexp(a: &Array, b: &Array) => mlx_logaddexp(a.as_raw(), b.as_raw());
    /// Element-wise `atan2(a, b)`.
    fn arctan2(a: &Array, b: &Array) => mlx_arctan2(a.as_raw(), b.as_raw());
    /// Element-wise `a == b` (bool result).
    fn equal(a: &Array, b: &Array) => mlx_equal(a.as_raw(), b.as_raw());
    /// Element-wise `a != b` (bool result).
    fn not_equal(a: &Array, b: &Array) => mlx_not_equal(a.as_raw(), b.as_raw());
    /// Element-wise `a < b` (bool result).
    fn less(a: &Array, b: &Array) => mlx_less(a.as_raw(), b.as_raw());
    /// Element-wise `a <= b` (bool result).
    fn less_equal(a: &Array, b: &Array) => mlx_less_equal(a.as_raw(), b.as_raw());
    /// Element-wise `a > b` (bool result).
    fn greater(a: &Array, b: &Array) => mlx_greater(a.as_raw(), b.as_raw());
    /// Element-wise `a >= b` (bool result).
    fn greater_equal(a: &Array, b: &Array) => mlx_greater_equal(a.as_raw(), b.as_raw());
    /// Element-wise logical AND.
    fn logical_and(a: &Array, b: &Array) => mlx_logical_and(a.as_raw(), b.as_raw());
    /// Element-wise logical OR.
    fn logical_or(a: &Array, b: &Array) => mlx_logical_or(a.as_raw(), b.as_raw());
    /// Element-wise bitwise AND (integer and bool arrays).
    fn bitwise_and(a: &Array, b: &Array) => mlx_bitwise_and(a.as_raw(), b.as_raw());
    /// Element-wise bitwise OR (integer and bool arrays).
    fn bitwise_or(a: &Array, b: &Array) => mlx_bitwise_or(a.as_raw(), b.as_raw());
    /// Element-wise bitwise XOR (integer and bool arrays).
    fn bitwise_xor(a: &Array, b: &Array) => mlx_bitwise_xor(a.as_raw(), b.as_raw());
    /// Element-wise `a << b` (integers).
    fn left_shift(a: &Array, b: &Array) => mlx_left_shift(a.as_raw(), b.as_raw());
    /// Element-wise `a >> b` (integers).
    fn right_shift(a: &Array, b: &Array) => mlx_right_shift(a.as_raw(), b.as_raw());
    /// Rounds to `decimals` decimal places (half to even).
    fn round(a: &Array, decimals: i32) => mlx_round(a.as_raw(), decimals);
    /// Picks from `x` where `condition` is true, else from `y` (broadcasting).
    fn r#where(condition: &Array, x: &Array, y: &Array) => mlx_where(condition.as_raw(), x.as_raw(), y.as_raw());
    /// Element-wise closeness test `|a - b| <= atol + rtol * |b|`.
    fn isclose(a: &Array, b: &Array, rtol: f64, atol: f64, equal_nan: bool) => mlx_isclose(a.as_raw(), b.as_raw(), rtol, atol, equal_nan);
    /// Whether all elements are close (a 0-d bool array).
    fn allclose(a: &Array, b: &Array, rtol: f64, atol: f64, equal_nan: bool) => mlx_allclose(a.as_raw(), b.as_raw(), rtol, atol, equal_nan);
    /// Whether `a` and `b` have the same shape and values (a 0-d bool array).
    fn array_equal(a: &Array, b: &Array, equal_nan: bool) => mlx_array_equal(a.as_raw(), b.as_raw(), equal_nan);
}

/// Integer division by zero, and `MIN / -1`, trap (SIGFPE) in MLX's CPU
/// kernels and kill the process. For integer (and bool) operands, divisors
/// of 0 and -1 are therefore replaced lazily by 1, and those positions are
/// answered in Rust-defined terms that match NumPy: `x // 0 == 0`,
/// `x % 0 == 0`, `x // -1 == -x` (wrapping, so `MIN // -1 == MIN`) and
/// `x % -1 == 0`. Float operands are passed through (IEEE results).
fn integer_division(
    a: &Array,
    b: &Array,
    s: &crate::Stream,
    op: fn(&Array, &Array, &crate::Stream) -> crate::Result<Array>,
    is_remainder: bool,
) -> crate::Result<Array> {
    use crate::{ffi::array_op, Dtype};
    let integral = |d: Dtype| d.is_integer() || d == Dtype::Bool;
    if !integral(a.dtype()) || !integral(b.dtype()) {
        return op(a, b, s);
    }
    let bd = b.dtype();
    let scalar = |v: i32| astype_on(&Array::scalar(v)?, bd, s);
    let signed = matches!(bd, Dtype::Int8 | Dtype::Int16 | Dtype::Int32 | Dtype::Int64);
    let is_zero = equal_on(b, &scalar(0)?, s)?;
    let is_neg_one = if signed {
        Some(equal_on(b, &scalar(-1)?, s)?)
    } else {
        None
    };
    let special = match &is_neg_one {
        Some(m) => logical_or_on(&is_zero, m, s)?,
        None => is_zero.clone(),
    };
    let safe_b = where_on(&special, &scalar(1)?, b, s)?;
    let quotient = op(a, &safe_b, s)?;
    // The special positions' answers, in the result's dtype.
    let zero = astype_on(&Array::scalar(0i32)?, quotient.dtype(), s)?;
    let fixed = match (&is_neg_one, is_remainder) {
        (Some(m), false) => {
            let negated = array_op!(mlx_multiply(a.as_raw(), b.as_raw(), s.as_raw()))?;
            let negated = astype_on(&negated, quotient.dtype(), s)?;
            where_on(m, &negated, &quotient, s)?
        }
        (Some(m), true) => where_on(m, &zero, &quotient, s)?,
        (None, _) => quotient,
    };
    where_on(&is_zero, &zero, &fixed, s)
}

op! {
    /// Element-wise floor division with broadcasting. For integer operands,
    /// `x // 0 == 0` and `MIN // -1 == MIN` (NumPy's results; MLX's kernel
    /// would trap). Integer quotients round toward zero (`-7 // 2 == -3`),
    /// as MLX 0.32.2 and Python MLX compute them, while [`remainder`] takes
    /// the divisor's sign; [`divmod`] gives the floored quotient.
    fn floor_divide(a: &Array, b: &Array) -> Array |s| {
        integer_division(a, b, &s, |a, b, s| crate::ffi::array_op!(mlx_floor_divide(a.as_raw(), b.as_raw(), s.as_raw())), false)
    }
}

op! {
    /// Element-wise remainder with the sign of the divisor, with broadcasting.
    /// For integer operands, `x % 0 == 0` and `x % -1 == 0` (NumPy's results;
    /// MLX's kernel would trap).
    fn remainder(a: &Array, b: &Array) -> Array |s| {
        integer_division(a, b, &s, |a, b, s| crate::ffi::array_op!(mlx_remainder(a.as_raw(), b.as_raw(), s.as_raw())), true)
    }
}

op! {
    /// Element-wise negation (alias of [`negative`]).
    fn neg(a: &Array) -> Array |s| { crate::ffi::array_op!(mlx_negative(a.as_raw(), s.as_raw())) }
}

/// Defines a binary op whose operands may be arrays or plain numbers.
macro_rules! scalar_binary {
    ($($(#[$m:meta])* fn $name:ident => $f:ident;)*) => {$(
        op! {
            $(#[$m])*
            ///
            /// Either operand may be an array or a plain number (a weak
            /// scalar: it takes the array's dtype; see [`crate::operators`]).
            fn $name(a: impl crate::operators::ArrayArg, b: impl crate::operators::ArrayArg) -> Array |s| {
                let (a, b) = crate::operators::operands(a, b)?;
                crate::ffi::array_op!($f(a.as_raw(), b.as_raw(), s.as_raw()))
            }
        }
    )*};
}

scalar_binary! {
    /// Element-wise `a ** b` with broadcasting (`ops::power(&x, 2)`).
    fn power => mlx_power;
    /// Element-wise maximum with broadcasting (NaN propagates).
    fn maximum => mlx_maximum;
    /// Element-wise minimum with broadcasting (NaN propagates).
    fn minimum => mlx_minimum;
}

op! {
    /// Limits values to `[min, max]`; either bound may be `None` (open),
    /// not both. Bounds broadcast against `a`.
    fn clip(a: &Array, min: Option<&Array>, max: Option<&Array>) -> Array |s| {
        if min.is_none() && max.is_none() {
            return Err(crate::Error::invalid("clip needs at least one bound"));
        }
        let null = mlx_sys::mlx_array { ctx: std::ptr::null_mut() };
        crate::ffi::array_op!(mlx_clip(
            a.as_raw(),
            min.map_or(null, Array::as_raw),
            max.map_or(null, Array::as_raw),
            s.as_raw()
        ))
    }
}

ops! {
    /// Rounds toward zero.
    fn trunc(a: &Array) => mlx_trunc(a.as_raw());
    /// `true` where `a` is `+inf`.
    fn isposinf(a: &Array) => mlx_isposinf(a.as_raw());
    /// `true` where `a` is `-inf`.
    fn isneginf(a: &Array) => mlx_isneginf(a.as_raw());
    /// Element-wise exclusive or of the truth values of `a` and `b`.
    fn logical_xor(a: &Array, b: &Array) => mlx_logical_xor(a.as_raw(), b.as_raw());
    /// Bitwise not of integers (logical not of booleans).
    fn bitwise_invert(a: &Array) => mlx_bitwise_invert(a.as_raw());
    /// The real part (complex input) or `a` itself.
    fn real(a: &Array) => mlx_real(a.as_raw());
    /// The imaginary part (complex input) or zeros.
    fn imag(a: &Array) => mlx_imag(a.as_raw());
    /// The complex conjugate (`a` itself for real input).
    fn conjugate(a: &Array) => mlx_conjugate(a.as_raw());
}

op! {
    /// `a` with NaN replaced by `nan`, `+inf` by `posinf` and `-inf` by
    /// `neginf`; absent bounds default to the largest and lowest finite value
    /// of `a`'s dtype (NumPy's `nan_to_num`). Non-float inputs are returned
    /// unchanged.
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let a = Array::from_slice(&[f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1.5], &[4])?;
    /// let b = ops::nan_to_num(&a, 0.0, Some(9.0), None)?;
    /// assert_eq!(b.to_vec::<f32>()?, [0.0, 9.0, f32::MIN, 1.5]);
    /// # Ok(()) }
    /// ```
    fn nan_to_num(a: &Array, nan: f32, posinf: Option<f32>, neginf: Option<f32>) -> Array |s| {
        let opt = |v: Option<f32>| mlx_sys::mlx_optional_float { value: v.unwrap_or(0.0), has_value: v.is_some() };
        crate::ffi::array_op!(mlx_nan_to_num(a.as_raw(), nan, opt(posinf), opt(neginf), s.as_raw()))
    }
}

op! {
    /// The quotient, rounded toward negative infinity (Python's `//`), and
    /// the remainder (like [`remainder`]) in one op: `[a // b, a % b]`. For
    /// integers, MLX 0.32.2's [`floor_divide`] rounds toward zero instead;
    /// this quotient does not. Division by zero gives 0 for both (NumPy's
    /// integer results; MLX's kernel would trap).
    ///
    /// ```
    /// # use mlx_rs_core::{ops, Array};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let a = Array::from_slice(&[7i32, -7], &[2])?;
    /// let qr = ops::divmod(&a, &Array::scalar(2i32)?)?;
    /// assert_eq!(qr[0].to_vec::<i32>()?, [3, -4]);
    /// assert_eq!(qr[1].to_vec::<i32>()?, [1, 1]);
    /// # Ok(()) }
    /// ```
    fn divmod(a: &Array, b: &Array) -> Vec<Array> |s| {
        let quotient = |a: &Array, b: &Array, s: &crate::Stream| -> crate::Result<Array> {
            let mut qr = crate::ffi::vector_op!(mlx_divmod(a.as_raw(), b.as_raw(), s.as_raw()))?;
            qr.truncate(1);
            qr.pop().ok_or_else(|| crate::Error::invalid("MLX's divmod returned no quotient"))
        };
        let q = integer_division(a, b, &s, quotient, false)?;
        let r = remainder_on(a, b, &s)?;
        Ok(vec![q, r])
    }
}
