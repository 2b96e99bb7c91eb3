//! MLX's element types and the Rust types that stand for them.

use half::{bf16, f16};
use num_complex::Complex32;

/// The element type of an [`crate::Array`]: all 14 of MLX's dtypes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dtype {
    /// Boolean.
    Bool,
    /// Unsigned 8-bit integer.
    Uint8,
    /// Unsigned 16-bit integer.
    Uint16,
    /// Unsigned 32-bit integer.
    Uint32,
    /// Unsigned 64-bit integer.
    Uint64,
    /// Signed 8-bit integer.
    Int8,
    /// Signed 16-bit integer.
    Int16,
    /// Signed 32-bit integer.
    Int32,
    /// Signed 64-bit integer.
    Int64,
    /// IEEE half precision ([`half::f16`]).
    Float16,
    /// IEEE single precision.
    Float32,
    /// IEEE double precision (CPU only in MLX).
    Float64,
    /// Brain float ([`half::bf16`]).
    Bfloat16,
    /// Complex of two f32 ([`num_complex::Complex32`]).
    Complex64,
}

impl Dtype {
    /// Every dtype, in MLX's order.
    pub const ALL: [Dtype; 14] = [
        Dtype::Bool,
        Dtype::Uint8,
        Dtype::Uint16,
        Dtype::Uint32,
        Dtype::Uint64,
        Dtype::Int8,
        Dtype::Int16,
        Dtype::Int32,
        Dtype::Int64,
        Dtype::Float16,
        Dtype::Float32,
        Dtype::Float64,
        Dtype::Bfloat16,
        Dtype::Complex64,
    ];

    /// Size of one element in bytes.
    pub fn size_of(self) -> usize {
        match self {
            Dtype::Bool | Dtype::Uint8 | Dtype::Int8 => 1,
            Dtype::Uint16 | Dtype::Int16 | Dtype::Float16 | Dtype::Bfloat16 => 2,
            Dtype::Uint32 | Dtype::Int32 | Dtype::Float32 => 4,
            Dtype::Uint64 | Dtype::Int64 | Dtype::Float64 | Dtype::Complex64 => 8,
        }
    }

    /// Floating point (real) types.
    pub fn is_float(self) -> bool {
        matches!(
            self,
            Dtype::Float16 | Dtype::Float32 | Dtype::Float64 | Dtype::Bfloat16
        )
    }

    /// Signed or unsigned integer types (not bool).
    pub fn is_integer(self) -> bool {
        matches!(
            self,
            Dtype::Uint8
                | Dtype::Uint16
                | Dtype::Uint32
                | Dtype::Uint64
                | Dtype::Int8
                | Dtype::Int16
                | Dtype::Int32
                | Dtype::Int64
        )
    }

    pub(crate) fn to_raw(self) -> mlx_sys::mlx_dtype {
        use mlx_sys::*;
        match self {
            Dtype::Bool => MLX_BOOL,
            Dtype::Uint8 => MLX_UINT8,
            Dtype::Uint16 => MLX_UINT16,
            Dtype::Uint32 => MLX_UINT32,
            Dtype::Uint64 => MLX_UINT64,
            Dtype::Int8 => MLX_INT8,
            Dtype::Int16 => MLX_INT16,
            Dtype::Int32 => MLX_INT32,
            Dtype::Int64 => MLX_INT64,
            Dtype::Float16 => MLX_FLOAT16,
            Dtype::Float32 => MLX_FLOAT32,
            Dtype::Float64 => MLX_FLOAT64,
            Dtype::Bfloat16 => MLX_BFLOAT16,
            Dtype::Complex64 => MLX_COMPLEX64,
        }
    }

    pub(crate) fn from_raw(raw: mlx_sys::mlx_dtype) -> Option<Dtype> {
        Dtype::ALL.into_iter().find(|d| d.to_raw() == raw)
    }
}

impl std::fmt::Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Dtype::Bool => "bool",
            Dtype::Uint8 => "uint8",
            Dtype::Uint16 => "uint16",
            Dtype::Uint32 => "uint32",
            Dtype::Uint64 => "uint64",
            Dtype::Int8 => "int8",
            Dtype::Int16 => "int16",
            Dtype::Int32 => "int32",
            Dtype::Int64 => "int64",
            Dtype::Float16 => "float16",
            Dtype::Float32 => "float32",
            Dtype::Float64 => "float64",
            Dtype::Bfloat16 => "bfloat16",
            Dtype::Complex64 => "complex64",
        };
        f.write_str(name)
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A Rust type whose values are laid out exactly like one MLX element.
///
/// Sealed: implemented for `bool`, `u8`–`u64`, `i8`–`i64`, [`half::f16`], [`half::bf16`],
/// `f32`, `f64` and [`Complex32`]. Creating or reading an array through it
/// checks the dtype at compile time (creation) or run time (read-back).
pub trait Element: sealed::Sealed + Copy + Send + Sync + 'static {
    /// The dtype this type stands for.
    const DTYPE: Dtype;
}

macro_rules! element {
    ($($t:ty => $d:ident),* $(,)?) => {$(
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const DTYPE: Dtype = Dtype::$d;
        }
    )*};
}

element! {
    bool => Bool, u8 => Uint8, u16 => Uint16, u32 => Uint32, u64 => Uint64,
    i8 => Int8, i16 => Int16, i32 => Int32, i64 => Int64,
    f16 => Float16, f32 => Float32, f64 => Float64, bf16 => Bfloat16,
    Complex32 => Complex64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_round_trip_and_sizes() {
        for d in Dtype::ALL {
            assert_eq!(Dtype::from_raw(d.to_raw()), Some(d));
        }
        assert_eq!(std::mem::size_of::<Complex32>(), Dtype::Complex64.size_of());
        assert_eq!(std::mem::size_of::<bf16>(), Dtype::Bfloat16.size_of());
    }
}
