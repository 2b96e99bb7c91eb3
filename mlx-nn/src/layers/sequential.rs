//! [`Sequential`]: layers applied one after another.

use mlx_rs_core::{Array, Result};

use crate::module::{with_path, Entry, EntryMut, Members, Module};

/// A module that can be cloned behind a `Box` (what [`Sequential`] stores).
pub trait BoxedModule: Module {
    /// A boxed copy (arrays are shared, as with `Clone`).
    fn clone_box(&self) -> Box<dyn BoxedModule>;
    /// The module as a plain [`Module`] trait object.
    fn as_module(&self) -> &dyn Module;
    /// The module as a plain mutable [`Module`] trait object.
    fn as_module_mut(&mut self) -> &mut dyn Module;
    /// Downcasting support (e.g. for [`crate::quantize`]).
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
}

impl<T: Module + Clone + 'static> BoxedModule for T {
    fn clone_box(&self) -> Box<dyn BoxedModule> {
        Box::new(self.clone())
    }
    fn as_module(&self) -> &dyn Module {
        self
    }
    fn as_module_mut(&mut self) -> &mut dyn Module {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// Layers applied in order; layer `i`'s parameters are named `i.…`
/// (`0.weight`, `2.bias`), as in PyTorch's `nn.Sequential`.
///
/// ```
/// use mlx_nn::{Activation, Linear, Module, Sequential};
/// use mlx_rs_core::{ops, Dtype};
/// # fn main() -> mlx_rs_core::Result<()> {
/// let mlp = Sequential::new()
///     .add(Linear::new(4, 8, true)?)
///     .add(Activation::Relu)
///     .add(Linear::new(8, 2, true)?);
/// assert!(mlp.parameters().contains_key("2.weight"));
/// let y = mlp.forward(&ops::ones(&[3, 4], Dtype::Float32)?)?;
/// assert_eq!(y.shape(), [3, 2]);
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn BoxedModule>>,
}

impl Clone for Sequential {
    fn clone(&self) -> Self {
        Sequential {
            layers: self.layers.iter().map(|l| l.clone_box()).collect(),
        }
    }
}

impl Sequential {
    /// An empty sequence (the identity).
    pub fn new() -> Sequential {
        Sequential::default()
    }

    /// Appends a layer.
    #[allow(clippy::should_implement_trait)] // builder, not arithmetic
    pub fn add(mut self, layer: impl Module + Clone + 'static) -> Sequential {
        self.layers.push(Box::new(layer));
        self
    }

    /// Appends a boxed layer.
    pub fn push(&mut self, layer: Box<dyn BoxedModule>) {
        self.layers.push(layer);
    }

    /// Number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether there are no layers.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The layers, mutably (e.g. to swap one for another).
    pub fn layers_mut(&mut self) -> &mut Vec<Box<dyn BoxedModule>> {
        &mut self.layers
    }
}

impl std::fmt::Debug for Sequential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sequential({} layers)", self.layers.len())
    }
}

impl Members for Sequential {
    fn entries(&self) -> Vec<(String, Entry<'_>)> {
        self.layers
            .iter()
            .enumerate()
            .map(|(i, l)| (i.to_string(), Entry::Module(l.as_module())))
            .collect()
    }

    fn entries_mut(&mut self) -> Vec<(String, EntryMut<'_>)> {
        self.layers
            .iter_mut()
            .enumerate()
            .map(|(i, l)| (i.to_string(), EntryMut::Module(l.as_module_mut())))
            .collect()
    }
}

crate::impl_tree_for_members!(Sequential);

impl Module for Sequential {
    /// Each layer's output feeds the next; an error names the failing layer.
    fn forward(&self, x: &Array) -> Result<Array> {
        let mut y = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            y = with_path(&format!("layer {i}"), layer.forward(&y))?;
        }
        Ok(y)
    }
}
