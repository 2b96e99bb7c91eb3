//! Optimizers (SGD with momentum / Nesterov / weight decay, Adam, AdamW),
//! learning-rate schedules, and optimizer state as safetensors.
//!
//! ```
//! use mlx_nn::optim::{Adam, Optimizer, Schedule};
//! use mlx_nn::{losses, Linear, Module};
//! use mlx_rs_core::Array;
//! # fn main() -> mlx_rs_core::Result<()> {
//! let mut model = Linear::new(3, 1, true)?;
//! let mut opt = Adam::new(Schedule::warmup_cosine(1e-2, 10, 100, 1e-4));
//! let loss_and_grad =
//!     mlx_nn::value_and_grad(|m: &Linear, (x, y): &(Array, Array)| losses::mse(&m.forward(x)?, y));
//! let batch = (Array::normal([8, 3])?, Array::normal([8, 1])?);
//! let (first, _) = loss_and_grad.call(&model, &batch)?;
//! for _ in 0..50 {
//!     let (_, grads) = loss_and_grad.call(&model, &batch)?;
//!     opt.update(&mut model, &grads)?;
//! }
//! let (last, _) = loss_and_grad.call(&model, &batch)?;
//! assert!(last.item::<f32>()? < first.item::<f32>()?);
//! # Ok(()) }
//! ```

use std::path::Path;
use std::sync::Arc;

use mlx_rs_core::{ops, Array, Dtype, Result};

use crate::error::invalid;
use crate::module::{Module, Params};

/// A learning rate as a function of the step (0 for the first update),
/// computed with array ops so a compiled training step
/// ([`compile_with_state`](mlx_rs_core::tree::compile_with_state)) follows
/// the schedule: the optimizer's step count is an array in its state.
#[derive(Clone)]
pub struct Schedule(Arc<ScheduleFn>);

type ScheduleFn = dyn Fn(&Array) -> Result<Array> + Send + Sync;

impl std::fmt::Debug for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.at(0) {
            Ok(lr) => write!(f, "Schedule(lr(0) = {lr})"),
            Err(e) => write!(f, "Schedule(lr(0) fails: {e})"),
        }
    }
}

impl From<f32> for Schedule {
    fn from(lr: f32) -> Schedule {
        Schedule::constant(lr)
    }
}

impl Schedule {
    /// Any function of the step, given as an integer scalar array; it must
    /// return a float32 scalar.
    ///
    /// ```
    /// use mlx_nn::optim::Schedule;
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// // Halve every 10 steps.
    /// let s = Schedule::new(|t| mlx_rs_core::ops::power(0.5, &(t.astype(mlx_rs_core::Dtype::Float32)? / 10.0)?.floor()?));
    /// assert_eq!(s.at(25)?, 0.25);
    /// # Ok(()) }
    /// ```
    pub fn new(f: impl Fn(&Array) -> Result<Array> + Send + Sync + 'static) -> Schedule {
        Schedule(Arc::new(f))
    }

    /// The same rate at every step.
    pub fn constant(lr: f32) -> Schedule {
        Schedule::new(move |_| Array::scalar(lr))
    }

    /// From `init` to `end` in a straight line over `steps` steps, then `end`.
    pub fn linear(init: f32, end: f32, steps: u64) -> Schedule {
        Schedule::new(move |t| {
            if steps == 0 {
                return Array::scalar(end);
            }
            let frac = (step_f32(t)? / steps as f32)?.clip(0.0, 1.0)?;
            (frac * (end - init))? + init
        })
    }

    /// `end + (init - end) · (1 + cos(π · t / steps)) / 2` for `t < steps`, then `end`.
    pub fn cosine_decay(init: f32, steps: u64, end: f32) -> Schedule {
        Schedule::new(move |t| {
            let frac = (step_f32(t)? / steps.max(1) as f32)?.clip(0.0, 1.0)?;
            let c = (((frac * std::f32::consts::PI)?.cos()? + 1.0)? * 0.5)?;
            (c * (init - end))? + end
        })
    }

    /// `first` until step `boundary`, then `then` with its steps counted from the boundary.
    pub fn join(first: Schedule, boundary: u64, then: Schedule) -> Schedule {
        Schedule::new(move |t| {
            let b = i64::try_from(boundary)
                .map_err(|_| invalid(format!("schedule boundary {boundary} is too large")))?;
            let before = t.less(b)?;
            ops::r#where(&before, &first.value(t)?, &then.value(&(t - b)?)?)
        })
    }

    /// Linear warmup from 0 to `peak` over `warmup` steps, then cosine decay
    /// to `end` at step `total`.
    pub fn warmup_cosine(peak: f32, warmup: u64, total: u64, end: f32) -> Schedule {
        Schedule::join(
            Schedule::linear(0.0, peak, warmup),
            warmup,
            Schedule::cosine_decay(peak, total.saturating_sub(warmup), end),
        )
    }

    /// The rate at `step` (an integer scalar array), lazily.
    #[track_caller]
    pub fn value(&self, step: &Array) -> Result<Array> {
        (self.0)(step)
    }

    /// The rate at step `t`, evaluated.
    ///
    /// ```
    /// use mlx_nn::optim::Schedule;
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// assert!((Schedule::linear(0.0, 1.0, 4).at(1)? - 0.25).abs() < 1e-7);
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn at(&self, t: u64) -> Result<f32> {
        let t = i64::try_from(t).map_err(|_| invalid(format!("step {t} is too large")))?;
        self.value(&Array::scalar(t)?)?
            .astype(Dtype::Float32)?
            .item::<f32>()
    }
}

fn step_f32(t: &Array) -> Result<Array> {
    t.astype(Dtype::Float32)
}

/// The update count as optimizers keep it: an int64 scalar array.
fn step_array(step: u64) -> Result<Array> {
    let step = i64::try_from(step).map_err(|_| invalid(format!("step {step} is too large")))?;
    Array::scalar(step)
}

/// An optimizer: updates a model's trainable parameters from gradients.
///
/// Its state (the step count and per-parameter slots) is arrays, and the
/// optimizers here are [`Tree`](mlx_rs_core::tree::Tree)s, so a training step that calls
/// [`Optimizer::update`] compiles with the model and the optimizer as its
/// state, as Python's `mx.compile(step, inputs=state, outputs=state)` with
/// `state = [model.state, optimizer.state]`:
///
/// ```
/// use mlx_nn::optim::{Adam, Optimizer};
/// use mlx_nn::{losses, Linear, Module};
/// use mlx_rs_core::{tree::{compile_with_state, Tree}, Array, Result};
/// # fn main() -> Result<()> {
/// let loss_fn = |m: &Linear, (x, y): &(Array, Array)| losses::mse(&m.forward(x)?, y);
/// let step = compile_with_state(move |(model, opt): &mut (Linear, Adam), batch: &(Array, Array)| {
///     let (loss, grads) = mlx_nn::value_and_grad(loss_fn).call(model, batch)?;
///     opt.update(model, &grads)?;
///     Ok(loss)
/// })?;
/// let mut state = (Linear::new(3, 1, true)?, Adam::new(0.1));
/// let x = Array::normal([16, 3])?;
/// let batch = (x.clone(), x.sum_keepdims([1])?);
/// let first = step.call_mut(&mut state, &batch)?.item::<f32>()?;
/// for _ in 0..50 {
///     step.call_mut(&mut state, &batch)?;
///     state.eval()?;
/// }
/// assert_eq!(state.1.step()?, 51);
/// assert!(step.call_mut(&mut state, &batch)?.item::<f32>()? < first / 10.0);
/// # Ok(()) }
/// ```
pub trait Optimizer {
    /// The new value of one parameter (and the optimizer's state for it),
    /// given its gradient and the learning rate of this step (a float32
    /// scalar array). [`Optimizer::step_count`] is still the count before
    /// this update.
    fn update_param(
        &mut self,
        name: &str,
        param: &Array,
        grad: &Array,
        lr: &Array,
    ) -> Result<Array>;

    /// Updates counted so far, as an int64 scalar array.
    fn step_count(&self) -> Result<Array>;

    /// Sets the update count (an integer scalar array).
    fn set_step_count(&mut self, step: Array);

    /// The learning-rate schedule.
    fn schedule(&self) -> &Schedule;

    /// Per-parameter state by `"<parameter>.<slot>"` (e.g. `fc1.weight.m`).
    fn slots(&self) -> Params;

    /// Replaces the per-parameter state (the format of [`Optimizer::slots`]).
    fn set_slots(&mut self, slots: Params) -> Result<()>;

    /// Updates counted so far (evaluates [`Optimizer::step_count`]).
    #[track_caller]
    fn step(&self) -> Result<u64> {
        let step = self.step_count()?.astype(Dtype::Int64)?.item::<i64>()?;
        u64::try_from(step).map_err(|_| invalid(format!("negative step {step}")))
    }

    /// Sets the update count.
    #[track_caller]
    fn set_step(&mut self, step: u64) -> Result<()> {
        self.set_step_count(step_array(step)?);
        Ok(())
    }

    /// Applies one update to every parameter named in `grads` (which must be
    /// parameters of `model`, with their shapes). All or nothing.
    ///
    /// Lazy, like everything else: evaluate [`Optimizer::state_arrays`] with
    /// the parameters after each update (or the `(model, optimizer)` tree),
    /// so that the step count does not build a graph across steps.
    #[track_caller]
    fn update(&mut self, model: &mut dyn Module, grads: &Params) -> Result<()> {
        let params = model.parameters();
        let step = self.step_count()?;
        let lr = self.schedule().value(&step)?;
        let mut new = Params::new();
        for (name, g) in grads {
            let p = params
                .get(name)
                .ok_or_else(|| invalid(format!("gradient for unknown parameter {name:?}")))?;
            if p.shape() != g.shape() {
                return Err(invalid(format!(
                    "{name}: gradient shape {:?} does not match the parameter's {:?}",
                    g.shape(),
                    p.shape()
                )));
            }
            new.insert(name.clone(), self.update_param(name, p, g, &lr)?);
        }
        model.update(&new)?;
        self.set_step_count((&step + 1)?);
        Ok(())
    }

    /// The arrays to evaluate after an update (the step count and new
    /// slots), e.g. with the model's parameters in one `mlx_rs_core::eval`
    /// call.
    fn state_arrays(&self) -> Vec<Array> {
        let mut out: Vec<Array> = self.step_count().into_iter().collect();
        out.extend(self.slots().into_values());
        out
    }

    /// Saves the step and every slot as safetensors (`step` is an int64 scalar).
    #[track_caller]
    fn save_state(&self, path: &Path) -> Result<()> {
        let mut all = self.slots();
        all.insert("step".into(), self.step_count()?.astype(Dtype::Int64)?);
        crate::io::save_params(&all, path)
    }

    /// Loads what [`Optimizer::save_state`] wrote.
    #[track_caller]
    fn load_state(&mut self, path: &Path) -> Result<()> {
        let mut all = crate::io::load_params_file(path)?;
        let step = all
            .remove("step")
            .ok_or_else(|| invalid(format!("{path:?} has no step entry")))?;
        let step = step.astype(Dtype::Int64)?.item::<i64>()?;
        let step = u64::try_from(step).map_err(|_| invalid(format!("negative step {step}")))?;
        mlx_rs_core::eval(all.values())?;
        self.set_slots(all)?;
        self.set_step(step)
    }
}

/// Checks that every loaded slot name is `<param>.<one of slots>`.
fn check_slots(slots: &Params, names: &[&str]) -> Result<()> {
    for k in slots.keys() {
        if !names.iter().any(|s| k.ends_with(&format!(".{s}"))) {
            return Err(invalid(format!(
                "unexpected optimizer state {k:?} (expected slots {names:?})"
            )));
        }
    }
    Ok(())
}

fn scalar_like(v: f32, like: &Array) -> Result<Array> {
    Array::scalar(v)?.astype(like.dtype())
}

/// The step count of an optimizer that has not updated yet is absent (no
/// array until the first update, so constructors need not fail).
fn count_or_zero(step: &Option<Array>) -> Result<Array> {
    match step {
        Some(s) => Ok(s.clone()),
        None => Array::scalar(0i64),
    }
}

/// Stochastic gradient descent with optional momentum, Nesterov momentum and
/// (L2) weight decay:
/// `g ← g + wd·p; v ← μ·v + (1 - dampening)·g; p ← p - lr·(nesterov ? g + μ·v : v)`
/// (plain `p ← p - lr·g` without momentum).
#[derive(Clone, Debug)]
pub struct Sgd {
    /// Learning rate.
    pub lr: Schedule,
    /// Momentum `μ`.
    pub momentum: f32,
    /// L2 weight decay.
    pub weight_decay: f32,
    /// Scales the gradient's share of the momentum.
    pub dampening: f32,
    /// Nesterov momentum.
    pub nesterov: bool,
    step: Option<Array>,
    velocity: Params,
}

mlx_rs_core::impl_tree!(Sgd { step, velocity });

impl Sgd {
    /// Plain SGD.
    pub fn new(lr: impl Into<Schedule>) -> Sgd {
        Sgd {
            lr: lr.into(),
            momentum: 0.0,
            weight_decay: 0.0,
            dampening: 0.0,
            nesterov: false,
            step: None,
            velocity: Params::new(),
        }
    }

    /// With momentum `μ` (and Nesterov's variant if `nesterov`).
    pub fn with_momentum(mut self, momentum: f32, nesterov: bool) -> Sgd {
        self.momentum = momentum;
        self.nesterov = nesterov;
        self
    }

    /// With L2 weight decay.
    pub fn with_weight_decay(mut self, weight_decay: f32) -> Sgd {
        self.weight_decay = weight_decay;
        self
    }
}

impl Optimizer for Sgd {
    fn update_param(&mut self, name: &str, p: &Array, g: &Array, lr: &Array) -> Result<Array> {
        let mut g = g.clone();
        if self.weight_decay != 0.0 {
            g = (&g + (p * &scalar_like(self.weight_decay, p)?)?)?;
        }
        if self.momentum != 0.0 {
            let mu = scalar_like(self.momentum, p)?;
            let v = match self.velocity.get(name) {
                Some(v) => ((v * &mu)? + (&g * &scalar_like(1.0 - self.dampening, p)?)?)?,
                None => g.clone(),
            };
            g = if self.nesterov {
                (&g + (&v * &mu)?)?
            } else {
                v.clone()
            };
            self.velocity.insert(name.to_string(), v);
        }
        p - (&g * &lr.astype(p.dtype())?)?
    }
    fn step_count(&self) -> Result<Array> {
        count_or_zero(&self.step)
    }
    fn set_step_count(&mut self, step: Array) {
        self.step = Some(step);
    }
    fn schedule(&self) -> &Schedule {
        &self.lr
    }
    fn slots(&self) -> Params {
        self.velocity
            .iter()
            .map(|(k, v)| (format!("{k}.v"), v.clone()))
            .collect()
    }
    fn set_slots(&mut self, slots: Params) -> Result<()> {
        check_slots(&slots, &["v"])?;
        self.velocity = slots
            .into_iter()
            .map(|(k, v)| (k.trim_end_matches(".v").to_string(), v))
            .collect();
        Ok(())
    }
}

/// Adam (Kingma & Ba), with bias correction:
/// `m ← β₁m + (1-β₁)g; v ← β₂v + (1-β₂)g²;
/// p ← p - lr·m̂/(√v̂ + ε)` with `m̂ = m/(1-β₁ᵗ)`, `v̂ = v/(1-β₂ᵗ)`.
/// [`AdamW`] adds decoupled weight decay.
#[derive(Clone, Debug)]
pub struct Adam {
    /// Learning rate.
    pub lr: Schedule,
    /// `β₁`, `β₂`.
    pub betas: (f32, f32),
    /// `ε`.
    pub eps: f32,
    /// Divide by `1 - βᵗ` (default `true`; Python MLX's Adam defaults to `false`).
    pub bias_correction: bool,
    step: Option<Array>,
    m: Params,
    v: Params,
}

mlx_rs_core::impl_tree!(Adam { step, m, v });

impl Adam {
    /// Adam with `β = (0.9, 0.999)`, `ε = 1e-8`.
    pub fn new(lr: impl Into<Schedule>) -> Adam {
        Adam {
            lr: lr.into(),
            betas: (0.9, 0.999),
            eps: 1e-8,
            bias_correction: true,
            step: None,
            m: Params::new(),
            v: Params::new(),
        }
    }

    fn adam_step(&mut self, name: &str, p: &Array, g: &Array, lr: &Array) -> Result<Array> {
        let (b1, b2) = self.betas;
        let m = match self.m.get(name) {
            Some(m) => ((m * &scalar_like(b1, p)?)? + (g * &scalar_like(1.0 - b1, p)?)?)?,
            None => (g * &scalar_like(1.0 - b1, p)?)?,
        };
        let g2 = ops::square(g)?;
        let v = match self.v.get(name) {
            Some(v) => ((v * &scalar_like(b2, p)?)? + (&g2 * &scalar_like(1.0 - b2, p)?)?)?,
            None => (&g2 * &scalar_like(1.0 - b2, p)?)?,
        };
        // The corrections in float32 from the step array, so a compiled step
        // computes them for the step it runs at.
        let (lr_c1, sqrt_c2) = if self.bias_correction {
            let t = (count_or_zero(&self.step)?.astype(Dtype::Float32)? + 1.0)?;
            let c1 = (1.0 - ops::power(b1, &t)?)?;
            let c2 = (1.0 - ops::power(b2, &t)?)?;
            ((lr / &c1)?, c2.sqrt()?)
        } else {
            (lr.clone(), Array::scalar(1.0f32)?)
        };
        let denom = ((ops::sqrt(&v)? / &sqrt_c2.astype(p.dtype())?)? + &scalar_like(self.eps, p)?)?;
        let upd = ((&m / &denom)? * &lr_c1.astype(p.dtype())?)?;
        self.m.insert(name.to_string(), m);
        self.v.insert(name.to_string(), v);
        p - &upd
    }

    fn adam_slots(&self) -> Params {
        let mut out = Params::new();
        for (k, v) in &self.m {
            out.insert(format!("{k}.m"), v.clone());
        }
        for (k, v) in &self.v {
            out.insert(format!("{k}.v"), v.clone());
        }
        out
    }

    fn set_adam_slots(&mut self, slots: Params) -> Result<()> {
        check_slots(&slots, &["m", "v"])?;
        self.m.clear();
        self.v.clear();
        for (k, a) in slots {
            if let Some(name) = k.strip_suffix(".m") {
                self.m.insert(name.to_string(), a);
            } else if let Some(name) = k.strip_suffix(".v") {
                self.v.insert(name.to_string(), a);
            }
        }
        Ok(())
    }
}

impl Optimizer for Adam {
    fn update_param(&mut self, name: &str, p: &Array, g: &Array, lr: &Array) -> Result<Array> {
        self.adam_step(name, p, g, lr)
    }
    fn step_count(&self) -> Result<Array> {
        count_or_zero(&self.step)
    }
    fn set_step_count(&mut self, step: Array) {
        self.step = Some(step);
    }
    fn schedule(&self) -> &Schedule {
        &self.lr
    }
    fn slots(&self) -> Params {
        self.adam_slots()
    }
    fn set_slots(&mut self, slots: Params) -> Result<()> {
        self.set_adam_slots(slots)
    }
}

/// Adam with decoupled weight decay (Loshchilov & Hutter):
/// `p ← p·(1 - lr·wd)`, then the [`Adam`] step.
#[derive(Clone, Debug)]
pub struct AdamW {
    /// The Adam part (learning rate, betas, eps, bias correction).
    pub adam: Adam,
    /// Decoupled weight decay (default 0.01).
    pub weight_decay: f32,
}

mlx_rs_core::impl_tree!(AdamW { adam });

impl AdamW {
    /// AdamW with `β = (0.9, 0.999)`, `ε = 1e-8`, weight decay 0.01.
    pub fn new(lr: impl Into<Schedule>) -> AdamW {
        AdamW {
            adam: Adam::new(lr),
            weight_decay: 0.01,
        }
    }

    /// With another weight decay.
    pub fn with_weight_decay(mut self, weight_decay: f32) -> AdamW {
        self.weight_decay = weight_decay;
        self
    }
}

impl Optimizer for AdamW {
    fn update_param(&mut self, name: &str, p: &Array, g: &Array, lr: &Array) -> Result<Array> {
        let keep = (1.0 - (lr * self.weight_decay)?)?;
        let decayed = (p * &keep.astype(p.dtype())?)?;
        self.adam.adam_step(name, &decayed, g, lr)
    }
    fn step_count(&self) -> Result<Array> {
        self.adam.step_count()
    }
    fn set_step_count(&mut self, step: Array) {
        self.adam.set_step_count(step);
    }
    fn schedule(&self) -> &Schedule {
        &self.adam.lr
    }
    fn slots(&self) -> Params {
        self.adam.adam_slots()
    }
    fn set_slots(&mut self, slots: Params) -> Result<()> {
        self.adam.set_adam_slots(slots)
    }
}
