//! [`value_and_grad`]: a loss and its gradients with respect to a model's
//! trainable parameters.

use std::rc::Rc;

use mlx_rs_core::tree::{self, Tree};
use mlx_rs_core::{Array, Result};

use crate::error::invalid;
use crate::module::{Module, Params};

/// A loss function of a model, made by [`value_and_grad`].
pub struct ValueAndGrad<M, A, F> {
    loss: Rc<F>,
    _model: std::marker::PhantomData<fn(&M, &A)>,
}

/// Wraps `loss_fn(model, inputs) -> scalar loss` so that
/// [`ValueAndGrad::call`] returns the loss and its gradient with respect to
/// each trainable parameter of the model, by dotted name (frozen parameters
/// get none). Python MLX's `nn.value_and_grad(model, loss_fn)`. The inputs
/// are any [`Tree`]: an array, a tuple `(x, y)`, a struct of arrays.
///
/// ```
/// use mlx_nn::{Linear, Module};
/// use mlx_rs_core::Array;
/// # fn main() -> mlx_rs_core::Result<()> {
/// let model = Linear::from_weights(Array::from_slice(&[2.0f32], &[1, 1])?, None)?;
/// let f = mlx_nn::value_and_grad(|m: &Linear, x: &Array| m.forward(x)?.sum());
/// let (loss, grads) = f.call(&model, &Array::from_slice(&[3.0f32], &[1, 1])?)?;
/// assert_eq!(loss.item::<f32>()?, 6.0);
/// assert_eq!(grads["weight"].item::<f32>()?, 3.0); // d(w·x)/dw = x
/// # Ok(()) }
/// ```
pub fn value_and_grad<M, A, F>(loss_fn: F) -> ValueAndGrad<M, A, F>
where
    M: Module + Clone + 'static,
    A: Tree + Clone + 'static,
    F: Fn(&M, &A) -> Result<Array> + 'static,
{
    ValueAndGrad {
        loss: Rc::new(loss_fn),
        _model: std::marker::PhantomData,
    }
}

impl<M, A, F> ValueAndGrad<M, A, F>
where
    M: Module + Clone + 'static,
    A: Tree + Clone + 'static,
    F: Fn(&M, &A) -> Result<Array> + 'static,
{
    /// The loss at `model` and `inputs`, and its gradients by parameter name.
    #[track_caller]
    pub fn call(&self, model: &M, inputs: &A) -> Result<(Array, Params)> {
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
        let vg = tree::value_and_grad(move |params: &Params, inputs: &A| {
            let mut m = template.clone();
            m.update(params)?;
            loss(&m, inputs)
        });
        vg.call(&trainable, inputs)
    }
}
