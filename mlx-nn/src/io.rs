//! Loading and saving a model's parameters as safetensors.
//!
//! Loading is strict by default: every problem (a parameter the file lacks,
//! a tensor the model lacks, a shape or dtype mismatch) is collected from the
//! file's header alone, before any data is read, and returned as one `Err`
//! that lists them all; the model is unchanged unless every check passed.
//! Loading is lazy: each tensor's bytes are read (once, straight into its
//! array) when the array is first evaluated, so a checkpoint close to the
//! size of memory loads without being held twice.

use std::collections::HashMap;
use std::path::Path;

use mlx_rs_core::{io, Array, Dtype, Result};

use crate::error::invalid;
use crate::module::{is_float, Module, Params};

/// How [`load_safetensors_with`] treats mismatches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// Reject parameters missing from the file and tensors the model does
    /// not have (default `true`). When `false`, those are skipped; shape
    /// mismatches of tensors that are loaded are always an `Err`.
    pub strict: bool,
    /// Convert floating-point tensors to the dtype of the parameter they
    /// load into (lazily, tensor by tensor) instead of rejecting a dtype
    /// mismatch (default `false`).
    pub convert_dtype: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            strict: true,
            convert_dtype: false,
        }
    }
}

impl LoadOptions {
    /// Missing and unexpected tensors are skipped.
    pub fn lenient() -> LoadOptions {
        LoadOptions {
            strict: false,
            ..LoadOptions::default()
        }
    }
}

/// Loads `model`'s parameters from a safetensors file, strictly and lazily
/// (see the [module docs](self)).
///
/// ```
/// use mlx_nn::{Linear, Module};
/// # fn main() -> mlx_rs_core::Result<()> {
/// let path = std::env::temp_dir().join("mlx_nn_doc_linear.safetensors");
/// let a = Linear::new(3, 2, true)?;
/// mlx_nn::save_safetensors(&a, &path)?;
/// let mut b = Linear::new(3, 2, true)?;
/// mlx_nn::load_safetensors(&mut b, &path)?;
/// assert_eq!(a.weight().to_vec::<f32>()?, b.weight().to_vec::<f32>()?);
/// // A model with another shape is rejected with every mismatch listed.
/// let mut c = Linear::new(4, 2, false)?;
/// let err = mlx_nn::load_safetensors(&mut c, &path).unwrap_err().to_string();
/// assert!(err.contains("weight") && err.contains("[2, 4]") && err.contains("unexpected"));
/// # Ok(()) }
/// ```
#[track_caller]
pub fn load_safetensors(model: &mut dyn Module, path: impl AsRef<Path>) -> Result<()> {
    load_safetensors_with(model, path, LoadOptions::default())
}

/// [`load_safetensors`] with options (lenient loading, dtype conversion).
#[track_caller]
pub fn load_safetensors_with(
    model: &mut dyn Module,
    path: impl AsRef<Path>,
    options: LoadOptions,
) -> Result<()> {
    let path = path.as_ref();
    let header = io::read_safetensors_header(path)?;
    let found: HashMap<String, (Dtype, Vec<i32>)> = header
        .tensors
        .iter()
        .map(|(k, t)| (k.clone(), (t.dtype, t.shape.clone())))
        .collect();
    let plan = check(model, &found, options)
        .map_err(|problems| mismatch_error(&path.display().to_string(), &problems))?;
    let loaded = io::load_safetensors_lazy(path)?;
    apply(model, loaded.arrays, &plan)
}

/// Loads `model`'s parameters from in-memory arrays with the same checks
/// as [`load_safetensors_with`].
#[track_caller]
pub fn load_params(model: &mut dyn Module, params: &Params, options: LoadOptions) -> Result<()> {
    let found: HashMap<String, (Dtype, Vec<i32>)> = params
        .iter()
        .map(|(k, a)| (k.clone(), (a.dtype(), a.shape())))
        .collect();
    let plan = check(model, &found, options)
        .map_err(|problems| mismatch_error("the given parameters", &problems))?;
    let arrays = params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    apply(model, arrays, &plan)
}

/// Saves every parameter of `model` under its dotted name.
/// `path` must end in `.safetensors`.
#[track_caller]
pub fn save_safetensors(model: &dyn Module, path: impl AsRef<Path>) -> Result<()> {
    save_params(&model.parameters(), path)
}

/// Saves named arrays (e.g. optimizer state) as safetensors.
#[track_caller]
pub fn save_params(params: &Params, path: impl AsRef<Path>) -> Result<()> {
    let arrays: HashMap<String, Array> =
        params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    io::save_safetensors(path.as_ref(), &arrays, &HashMap::new())
}

/// Reads every tensor of a safetensors file (lazily) as named arrays.
#[track_caller]
pub fn load_params_file(path: impl AsRef<Path>) -> Result<Params> {
    Ok(io::load_safetensors_lazy(path.as_ref())?
        .arrays
        .into_iter()
        .collect())
}

/// Which tensors to take, and to which dtype to convert them (if any).
type Plan = Vec<(String, Option<Dtype>)>;

fn check(
    model: &dyn Module,
    found: &HashMap<String, (Dtype, Vec<i32>)>,
    options: LoadOptions,
) -> std::result::Result<Plan, Vec<String>> {
    let expected = model.parameters();
    let mut problems = Vec::new();
    let mut plan = Vec::new();
    for (name, param) in &expected {
        let Some((dtype, shape)) = found.get(name) else {
            if options.strict {
                problems.push(format!(
                    "missing {name} (shape {:?}, {:?})",
                    param.shape(),
                    param.dtype()
                ));
            }
            continue;
        };
        if *shape != param.shape() {
            problems.push(format!(
                "{name}: shape {shape:?} in the file, {:?} in the model",
                param.shape()
            ));
            continue;
        }
        if *dtype != param.dtype() {
            if options.convert_dtype && is_float(*dtype) && is_float(param.dtype()) {
                plan.push((name.clone(), Some(param.dtype())));
            } else {
                problems.push(format!(
                    "{name}: dtype {dtype:?} in the file, {:?} in the model",
                    param.dtype()
                ));
            }
            continue;
        }
        plan.push((name.clone(), None));
    }
    if options.strict {
        let mut extra: Vec<&String> = found
            .keys()
            .filter(|k| !expected.contains_key(*k))
            .collect();
        extra.sort();
        for name in extra {
            let (dtype, shape) = &found[name];
            problems.push(format!("unexpected {name} (shape {shape:?}, {dtype:?})"));
        }
    }
    if problems.is_empty() {
        Ok(plan)
    } else {
        Err(problems)
    }
}

#[track_caller]
fn mismatch_error(source: &str, problems: &[String]) -> mlx_rs_core::Error {
    invalid(format!(
        "{source} does not match the model ({} problems; nothing was loaded):\n  {}",
        problems.len(),
        problems.join("\n  ")
    ))
}

fn apply(model: &mut dyn Module, mut arrays: HashMap<String, Array>, plan: &Plan) -> Result<()> {
    let mut update = Params::new();
    for (name, convert) in plan {
        let a = arrays
            .remove(name)
            .ok_or_else(|| invalid(format!("{name} disappeared from the loaded file")))?;
        let a = match convert {
            Some(d) => a.astype(*d)?,
            None => a,
        };
        update.insert(name.clone(), a);
    }
    model.update(&update)
}
