//! [`Dropout`]: zeroes random elements while training.

use mlx_rs_core::{ops, Array, Result};

use crate::error::invalid;
use crate::module::Module;

/// While training, zeroes each element with probability `p` and scales the
/// rest by `1 / (1 - p)`; in evaluation mode ([`Module::eval_mode`]) it
/// returns its input unchanged.
///
/// ```
/// use mlx_nn::{Dropout, Module};
/// use mlx_rs_core::{ops, Dtype};
/// # fn main() -> mlx_rs_core::Result<()> {
/// let mut d = Dropout::new(0.5)?;
/// let x = ops::ones(&[1000], Dtype::Float32)?;
/// let kept = d.forward(&x)?.to_vec::<f32>()?;
/// assert!(kept.iter().all(|&v| v == 0.0 || v == 2.0));
/// d.eval_mode();
/// assert!(d.forward(&x)?.to_vec::<f32>()?.iter().all(|&v| v == 1.0));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Dropout {
    p: f32,
    training: bool,
}

impl Dropout {
    /// Dropout with drop probability `p` in `[0, 1)`.
    #[track_caller]
    pub fn new(p: f32) -> Result<Dropout> {
        if !(0.0..1.0).contains(&p) {
            return Err(invalid(format!(
                "Dropout probability must be in [0, 1), got {p}"
            )));
        }
        Ok(Dropout { p, training: true })
    }

    /// Whether the layer is in training mode.
    pub fn is_training(&self) -> bool {
        self.training
    }
}

crate::impl_members!(Dropout {});

impl Module for Dropout {
    fn forward(&self, x: &Array) -> Result<Array> {
        if !self.training || self.p == 0.0 {
            return Ok(x.clone());
        }
        let keep = 1.0 - self.p;
        let mask = ops::random::bernoulli(&Array::scalar(keep)?, Some(&x.shape()), None)?;
        let kept = ops::r#where(&mask, x, &ops::zeros_like(x)?)?;
        kept * (1.0 / keep)
    }

    fn set_training_flag(&mut self, training: bool) {
        self.training = training;
    }
}
