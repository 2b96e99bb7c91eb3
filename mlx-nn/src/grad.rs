//! [`value_and_grad`]: a loss and its gradients with respect to a model's
//! trainable parameters.

use std::rc::Rc;

use mlx_rs_core::{tree, Array, Result};

use crate::error::invalid;
use crate::module::{Module, Params};

/// A loss function of a model, made by [`value_and_grad`].
pub struct ValueAndGrad<M, F> {
    loss: Rc<F>,
    _model: std::marker::PhantomData<fn(&M)>,
}

/// Wraps `loss_fn(model, inputs) -> scalar loss` so that
/// [`ValueAndGrad::call`] returns the loss and its gradient with respect to
/// each trainable parameter of the model, by dotted name (frozen parameters
/// get none). Python MLX's `nn.value_and_grad(model, loss_fn)`.
///
/// ```
/// use mlx_nn::{Linear, Module};
/// use mlx_rs_core::{ops, Array};
/// # fn main() -> mlx_rs_core::Result<()> {
/// let model = Linear::from_weights(Array::from_slice(&[2.0f32], &[1, 1])?, None)?;
/// let f = mlx_nn::value_and_grad(|m: &Linear, x: &[Array]| ops::sum(&m.forward(&x[0])?, false));
/// let (loss, grads) = f.call(&model, &[Array::from_slice(&[3.0f32], &[1, 1])?])?;
/// assert_eq!(loss.item::<f32>()?, 6.0);
/// assert_eq!(grads["weight"].item::<f32>()?, 3.0); // d(w·x)/dw = x
/// # Ok(()) }
/// ```
pub fn value_and_grad<M, F>(loss_fn: F) -> ValueAndGrad<M, F>
where
    M: Module + Clone + 'static,
    F: Fn(&M, &[Array]) -> Result<Array> + 'static,
{
    ValueAndGrad {
        loss: Rc::new(loss_fn),
        _model: std::marker::PhantomData,
    }
}

impl<M, F> ValueAndGrad<M, F>
where
    M: Module + Clone + 'static,
    F: Fn(&M, &[Array]) -> Result<Array> + 'static,
{
    /// The loss at `model` and `inputs`, and its gradients by parameter name.
    #[track_caller]
    pub fn call(&self, model: &M, inputs: &[Array]) -> Result<(Array, Params)> {
        let trainable = model.trainable_parameters();
        if trainable.is_empty() {
            return Err(invalid(
                "value_and_grad: the model has no trainable parameters",
            ));
        }
        // Core differentiates the name -> array map; each evaluation puts the
        // traced arrays into a copy of the model and runs the loss on it.
        let template = model.clone();
        let loss = Rc::clone(&self.loss);
        let vg = tree::value_and_grad(move |params: &Params, inputs: &Vec<Array>| {
            let mut m = template.clone();
            m.update(params)?;
            loss(&m, inputs)
        });
        vg.call(&trainable, &inputs.to_vec())
    }
}
