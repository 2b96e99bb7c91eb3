//! A BERT encoder on `mlx-nn` with Hugging Face's parameter names, as used
//! by sentence-transformers' all-MiniLM-L6-v2: embeddings (word + position +
//! token type, LayerNorm), post-norm encoder layers (self-attention on MLX's
//! fused attention with a padding mask, exact-erf GELU feed-forward), mean
//! pooling over the real tokens, then the fused L2 normalization.
//!
//! Each layer's query, key and value projections are one [`Linear`]
//! (`attention.self.qkv`, weight `[3H, H]`: the query rows, then the key's,
//! then the value's), so that a layer runs one matmul for the three instead
//! of three. [`Bert::load`] checks the checkpoint's `attention.self.query`,
//! `.key` and `.value` tensors by those names and concatenates them; the
//! encoder's own parameter names (what [`Members`] lists) carry the fused
//! name, and nothing writes this encoder back to a checkpoint.
//!
//! ```
//! use mlx_nn::Module;
//! use mlx_rs_core::Array;
//! use mlx_workloads::bert::{Bert, BertConfig};
//! # fn main() -> mlx_rs_core::Result<()> {
//! let config = BertConfig { vocab_size: 50, hidden_size: 32, num_layers: 2, num_heads: 4,
//!     intermediate_size: 64, ..BertConfig::minilm_l6() };
//! let bert = Bert::new(&config)?;
//! // Two sequences, the second padded after 2 tokens.
//! let ids = Array::from_slice(&[1i32, 7, 9, 4, 8, 0], &[2, 3])?;
//! let mask = Array::from_slice(&[1i32, 1, 1, 1, 1, 0], &[2, 3])?;
//! let emb = bert.sentence_embeddings(&ids, &mask)?;
//! assert_eq!(emb.shape(), [2, 32]);
//! let norms = mlx_rs_core::ops::sum_axis(&mlx_rs_core::ops::square(&emb)?, 1, false)?;
//! for n in norms.to_vec::<f32>()? { assert!((n - 1.0).abs() < 1e-5); }
//! assert_eq!(bert.parameters()["encoder.layer.1.attention.self.qkv.weight"].shape(), [96, 32]);
//! # Ok(()) }
//! ```

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;

use mlx_nn::io::{load_params, load_params_file, LoadOptions};
use mlx_nn::{Activation, Embedding, Entry, EntryMut, LayerNorm, Linear, Members, Module};
use mlx_rs_core::ops::fast::{self, AttentionMask};
use mlx_rs_core::tree::{self, Compiled};
use mlx_rs_core::{ops, Array, Dtype, Result, Stream};
use serde_json::Value;

use crate::invalid;

/// Tensors that checkpoints of a `BertModel` carry and this encoder does not
/// use: the pooler (a dense + tanh over `[CLS]`, which sentence-transformers
/// skips for mean pooling) and the `position_ids` buffer (positions are
/// `0..L`). Loading accepts them by name; any other extra tensor is an error.
pub const UNUSED_TENSORS: [&str; 3] = [
    "pooler.dense.weight",
    "pooler.dense.bias",
    "embeddings.position_ids",
];

/// The shape of a BERT encoder (the fields of Hugging Face's `config.json`
/// that matter for inference).
#[derive(Clone, Debug, PartialEq)]
pub struct BertConfig {
    /// Rows of the word-embedding table.
    pub vocab_size: i32,
    /// Width of the hidden states.
    pub hidden_size: i32,
    /// Encoder layers.
    pub num_layers: i32,
    /// Attention heads (divides `hidden_size`).
    pub num_heads: i32,
    /// Width of the feed-forward layer.
    pub intermediate_size: i32,
    /// Rows of the position-embedding table (the longest input).
    pub max_position_embeddings: i32,
    /// Rows of the token-type table.
    pub type_vocab_size: i32,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f32,
}

impl BertConfig {
    /// all-MiniLM-L6-v2: 6 layers, hidden 384, 12 heads, intermediate 1536.
    pub fn minilm_l6() -> BertConfig {
        BertConfig {
            vocab_size: 30522,
            hidden_size: 384,
            num_layers: 6,
            num_heads: 12,
            intermediate_size: 1536,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
        }
    }

    /// Reads a Hugging Face `config.json`. `Err` for a missing or malformed
    /// file, a missing field, or a model this encoder does not implement
    /// (not `bert`, an activation other than the exact `gelu`, relative
    /// position embeddings).
    pub fn from_file(path: &Path) -> Result<BertConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| invalid(format!("{}: not JSON: {e}", path.display())))?;
        let text_field = |k: &str| v.get(k).and_then(Value::as_str);
        let checks = [
            ("model_type", "bert", text_field("model_type")),
            ("hidden_act", "gelu", text_field("hidden_act")),
            (
                "position_embedding_type",
                "absolute",
                text_field("position_embedding_type").or(Some("absolute")),
            ),
        ];
        for (key, want, got) in checks {
            if got != Some(want) {
                return Err(invalid(format!(
                    "{}: {key} is {got:?}; this encoder implements {want:?}",
                    path.display()
                )));
            }
        }
        let int = |k: &str| -> Result<i32> {
            v.get(k)
                .and_then(Value::as_i64)
                .and_then(|n| i32::try_from(n).ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid(format!("{}: no positive integer {k:?}", path.display())))
        };
        let config = BertConfig {
            vocab_size: int("vocab_size")?,
            hidden_size: int("hidden_size")?,
            num_layers: int("num_hidden_layers")?,
            num_heads: int("num_attention_heads")?,
            intermediate_size: int("intermediate_size")?,
            max_position_embeddings: int("max_position_embeddings")?,
            type_vocab_size: int("type_vocab_size")?,
            layer_norm_eps: v
                .get("layer_norm_eps")
                .and_then(Value::as_f64)
                .ok_or_else(|| invalid(format!("{}: no \"layer_norm_eps\"", path.display())))?
                as f32,
        };
        if config.hidden_size % config.num_heads != 0 {
            return Err(invalid(format!(
                "{}: hidden_size {} does not split into {} heads",
                path.display(),
                config.hidden_size,
                config.num_heads
            )));
        }
        Ok(config)
    }
}

/// Word, position and token-type embeddings, summed, then a LayerNorm.
struct Embeddings {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    norm: LayerNorm,
}

/// Implements [`Members`] (and `Tree`) for a struct from its fields under
/// their checkpoint names, which differ from the field names (dots allowed:
/// they become part of the parameter paths).
macro_rules! members {
    ($ty:ident { $($name:literal => $field:ident),* $(,)? }) => {
        impl Members for $ty {
            fn entries(&self) -> Vec<(String, Entry<'_>)> {
                vec![$(($name.into(), Entry::Module(&self.$field))),*]
            }
            fn entries_mut(&mut self) -> Vec<(String, EntryMut<'_>)> {
                vec![$(($name.into(), EntryMut::Module(&mut self.$field))),*]
            }
        }
        mlx_nn::impl_tree_for_members!($ty);
    };
}

impl Module for Embeddings {
    /// Embeds ids `[B, L]` (checked against the table; positions `0..L`,
    /// token type 0).
    fn forward(&self, ids: &Array) -> Result<Array> {
        let words = self.word.forward(ids)?;
        self.finish(words, ids.shape()[1])
    }
}

members!(Embeddings {
    "word_embeddings" => word,
    "position_embeddings" => position,
    "token_type_embeddings" => token_type,
    "LayerNorm" => norm,
});

impl Embeddings {
    /// Adds positions `0..len` and token type 0 to word vectors `[B, L, H]`,
    /// then normalizes.
    fn finish(&self, words: Array, len: i32) -> Result<Array> {
        // Positions 0..len are the table's first rows: a slice, no gather.
        let pos = ops::slice(&self.position.weight, &[0, 0], &[len, i32::MAX], &[1, 1])?;
        let kind = ops::slice(&self.token_type.weight, &[0, 0], &[1, i32::MAX], &[1, 1])?;
        let x = ops::add(&ops::add(&words, &pos)?, &kind)?;
        self.norm.forward(&x)
    }
}

/// One post-norm encoder layer.
#[derive(Clone)]
struct BertLayer {
    /// Query, key and value in one: `[H]` → `[3H]`.
    qkv: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    out_norm: LayerNorm,
    num_heads: i32,
}

impl BertLayer {
    fn new(c: &BertConfig) -> Result<BertLayer> {
        let (h, i) = (c.hidden_size, c.intermediate_size);
        Ok(BertLayer {
            qkv: Linear::new(h, 3 * h, true)?,
            attn_out: Linear::new(h, h, true)?,
            attn_norm: LayerNorm::new(h, c.layer_norm_eps, true)?,
            intermediate: Linear::new(h, i, true)?.with_activation(Activation::Gelu),
            output: Linear::new(i, h, true)?,
            out_norm: LayerNorm::new(h, c.layer_norm_eps, true)?,
            num_heads: c.num_heads,
        })
    }

    /// The fused projection `[B, L, 3H]` → query, key and value, each
    /// `[B, heads, L, H / heads]`: one reshape and one transpose to
    /// `[B, 3·heads, L, H / heads]`, then three slices (views, no copies).
    fn heads(&self, qkv: &Array) -> Result<[Array; 3]> {
        let s = qkv.shape();
        let n = self.num_heads;
        let split = ops::reshape(qkv, &[s[0], s[1], 3 * n, -1])?;
        let t = ops::transpose_axes(&split, &[0, 2, 1, 3])?;
        let part = |i: i32| {
            ops::slice(
                &t,
                &[0, i * n, 0, 0],
                &[i32::MAX, (i + 1) * n, i32::MAX, i32::MAX],
                &[1, 1, 1, 1],
            )
        };
        Ok([part(0)?, part(1)?, part(2)?])
    }

    /// The layer over `x` `[B, L, H]`; `mask` (boolean, `[B, 1, 1, L]`,
    /// `true` = a real token) keeps attention off the padding.
    fn forward_masked(&self, x: &Array, mask: Option<&Array>) -> Result<Array> {
        let s = x.shape();
        let [q, k, v] = self.heads(&self.qkv.forward(x)?)?;
        let scale = 1.0 / ((s[2] / self.num_heads) as f32).sqrt();
        let mask = mask.map_or(AttentionMask::None, AttentionMask::Array);
        let o = fast::scaled_dot_product_attention(&q, &k, &v, scale, mask)?;
        let o = ops::reshape(&ops::transpose_axes(&o, &[0, 2, 1, 3])?, &s)?;
        let a = self
            .attn_norm
            .forward(&ops::add(&self.attn_out.forward(&o)?, x)?)?;
        let f = self.output.forward(&self.intermediate.forward(&a)?)?;
        self.out_norm.forward(&ops::add(&f, &a)?)
    }
}

impl Module for BertLayer {
    /// The layer without padding.
    fn forward(&self, x: &Array) -> Result<Array> {
        self.forward_masked(x, None)
    }
}

members!(BertLayer {
    "attention.self.qkv" => qkv,
    "attention.output.dense" => attn_out,
    "attention.output.LayerNorm" => attn_norm,
    "intermediate.dense" => intermediate,
    "output.dense" => output,
    "output.LayerNorm" => out_norm,
});

/// A layer compiled: `(layer weights, [x] or [x, mask])` to the layer's
/// output.
type LayerFn = Compiled<(), (BertLayer, Vec<Array>), Array>;

thread_local! {
    // Compiled functions are neither Send nor Sync (MLX's compile cache is
    // per thread). The closure captures nothing: the layer (weights and head
    // count) comes in as the argument, so one function per stream serves
    // every layer of every encoder, one trace per input shape.
    static LAYERS: RefCell<Vec<(Stream, Rc<LayerFn>)>> = const { RefCell::new(Vec::new()) };
}

/// The compiled layer function of the current stream (built on first use).
fn compiled_layer() -> Result<Rc<LayerFn>> {
    let stream = Stream::current()?;
    let hit = LAYERS.with(|c| {
        c.borrow()
            .iter()
            .find(|(s, _)| *s == stream)
            .map(|(_, f)| Rc::clone(f))
    });
    if let Some(f) = hit {
        return Ok(f);
    }
    let f: Rc<LayerFn> = Rc::new(tree::compile(|(l, a): &(BertLayer, Vec<Array>)| {
        l.forward_masked(&a[0], a.get(1))
    })?);
    LAYERS.with(|c| c.borrow_mut().push((stream, Rc::clone(&f))));
    Ok(f)
}

/// Whether a new [`Bert`] runs its layers compiled ([`Bert::set_compiled`]):
/// off, as on the CPU it is no faster (one query: float32 and bfloat16
/// within noise; `BENCHMARKS.md`). GPU timing is not measured yet.
pub const DEFAULT_COMPILED: bool = false;

/// The BERT encoder (no pooler). Parameters carry Hugging Face's names
/// (`embeddings.word_embeddings.weight`,
/// `encoder.layer.3.attention.output.dense.weight`, ...), except each
/// layer's fused `attention.self.qkv` (see the [module docs](self)), so
/// [`Bert::load`] reads a `BertModel` checkpoint strictly.
pub struct Bert {
    embeddings: Embeddings,
    layers: Vec<BertLayer>,
    config: BertConfig,
    compiled: bool,
}

impl Bert {
    /// A randomly initialized encoder of shape `config` (f32).
    pub fn new(config: &BertConfig) -> Result<Bert> {
        let c = config;
        if c.hidden_size % c.num_heads != 0 {
            return Err(invalid(format!(
                "BERT: hidden_size {} does not split into {} heads",
                c.hidden_size, c.num_heads
            )));
        }
        Ok(Bert {
            embeddings: Embeddings {
                word: Embedding::new(c.vocab_size, c.hidden_size)?,
                position: Embedding::new(c.max_position_embeddings, c.hidden_size)?,
                token_type: Embedding::new(c.type_vocab_size, c.hidden_size)?,
                norm: LayerNorm::new(c.hidden_size, c.layer_norm_eps, true)?,
            },
            layers: (0..c.num_layers)
                .map(|_| BertLayer::new(c))
                .collect::<Result<_>>()?,
            config: c.clone(),
            compiled: DEFAULT_COMPILED,
        })
    }

    /// Loads a safetensors checkpoint of a `BertModel` strictly (every
    /// parameter present with its shape, the query, key and value
    /// projections by their checkpoint names; extra tensors only those in
    /// [`UNUSED_TENSORS`]), converting floating-point tensors to `dtype`.
    /// Lazy: tensors are read (and the projections concatenated) when first
    /// evaluated.
    pub fn load(config: &BertConfig, weights: &Path, dtype: Dtype) -> Result<Bert> {
        if !dtype.is_float() {
            return Err(invalid(format!(
                "BERT: the compute dtype must be floating point, not {dtype:?}"
            )));
        }
        if !weights.is_file() {
            return Err(invalid(format!(
                "no model weights at {}",
                weights.display()
            )));
        }
        let mut bert = Bert::new(config)?;
        bert.to_dtype(dtype)?;
        let mut params = load_params_file(weights)?;
        for name in UNUSED_TENSORS {
            params.remove(name);
        }
        let h = config.hidden_size;
        for i in 0..config.num_layers {
            let prefix = format!("encoder.layer.{i}.attention.self");
            for (part, shape) in [("weight", vec![h, h]), ("bias", vec![h])] {
                let mut three = Vec::with_capacity(3);
                for which in ["query", "key", "value"] {
                    let name = format!("{prefix}.{which}.{part}");
                    let t = params
                        .remove(&name)
                        .ok_or_else(|| invalid(format!("{}: missing {name}", weights.display())))?;
                    if t.shape() != shape {
                        return Err(invalid(format!(
                            "{}: {name} has shape {:?}, expected {shape:?}",
                            weights.display(),
                            t.shape()
                        )));
                    }
                    three.push(t);
                }
                params.insert(format!("{prefix}.qkv.{part}"), ops::concatenate(&three, 0)?);
            }
        }
        let options = LoadOptions {
            strict: true,
            convert_dtype: true,
        };
        load_params(&mut bert, &params, options)
            .map_err(|e| invalid(format!("{}: {}", weights.display(), e.message())))?;
        Ok(bert)
    }

    /// Runs each layer as one compiled function (`true`) or op by op
    /// (`false`, [`DEFAULT_COMPILED`]). Compiled, MLX fuses the element-wise
    /// work of a layer (bias adds, residuals, the LayerNorms' and GELU's
    /// arithmetic) into fewer kernels; the layer's weights are the function's
    /// inputs, so one function serves every layer, and the first call with a
    /// new input shape traces it. The results agree with the op-by-op ones to
    /// rounding.
    ///
    /// ```
    /// use mlx_rs_core::Array;
    /// use mlx_workloads::bert::{Bert, BertConfig};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let config = BertConfig { vocab_size: 50, hidden_size: 32, num_layers: 2, num_heads: 4,
    ///     intermediate_size: 64, ..BertConfig::minilm_l6() };
    /// let mut bert = Bert::new(&config)?;
    /// let ids = Array::from_slice(&[1i32, 7, 9, 4, 8, 0], &[2, 3])?;
    /// let mask = Array::from_slice(&[1i32, 1, 1, 1, 1, 0], &[2, 3])?;
    /// let plain = bert.sentence_embeddings(&ids, &mask)?;
    /// bert.set_compiled(true);
    /// assert!(bert.is_compiled());
    /// let fused = bert.sentence_embeddings(&ids, &mask)?;
    /// // Unit-norm rows: compiled kernels round differently by an ulp or
    /// // two, so components near 0 need an absolute tolerance.
    /// let close = mlx_rs_core::ops::allclose(&plain, &fused, 1e-5, 1e-6, false)?;
    /// assert!(close.item::<bool>()?);
    /// # Ok(()) }
    /// ```
    pub fn set_compiled(&mut self, compiled: bool) {
        self.compiled = compiled;
    }

    /// Whether the layers run compiled ([`Bert::set_compiled`]).
    pub fn is_compiled(&self) -> bool {
        self.compiled
    }

    /// The shape it was built with.
    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// The compute dtype (that of its weights).
    pub fn dtype(&self) -> Dtype {
        self.embeddings.word.weight.dtype()
    }

    /// Checks ids `[B, L]` and mask `[B, L]` (integer; 1 = token, 0 =
    /// padding) for shape and length; ids are range-checked by the
    /// embedding (which reads them).
    fn check(&self, ids: &Array, mask: &Array) -> Result<()> {
        let s = ids.shape();
        if s.len() != 2 || s[1] == 0 || mask.shape() != s {
            return Err(invalid(format!(
                "BERT: ids {:?} and mask {:?} must both be [B, L] with L >= 1",
                s,
                mask.shape()
            )));
        }
        if s[1] > self.config.max_position_embeddings {
            return Err(invalid(format!(
                "BERT: {} tokens exceed the {} positions",
                s[1], self.config.max_position_embeddings
            )));
        }
        Ok(())
    }

    /// The last hidden states `[B, L, H]` for ids `[B, L]` with padding
    /// `mask` `[B, L]`.
    pub fn hidden_states(&self, ids: &Array, mask: &Array) -> Result<Array> {
        self.check(ids, mask)?;
        let x = self.embeddings.forward(ids)?;
        self.encode(x, Some(mask))
    }

    /// [`Bert::hidden_states`] for ids the caller has checked against the
    /// vocabulary on the host, so that no device read is needed.
    /// `padded`: whether any mask entry is 0 (else attention needs no mask).
    fn hidden_states_trusted(&self, ids: &Array, mask: &Array, padded: bool) -> Result<Array> {
        self.check(ids, mask)?;
        let words = ops::take_axis(&self.embeddings.word.weight, ids, 0)?;
        let x = self.embeddings.finish(words, ids.shape()[1])?;
        self.encode(x, padded.then_some(mask))
    }

    fn encode(&self, mut x: Array, mask: Option<&Array>) -> Result<Array> {
        let keep = match mask {
            Some(m) => {
                let s = m.shape();
                Some(ops::reshape(&m.astype(Dtype::Bool)?, &[s[0], 1, 1, s[1]])?)
            }
            None => None,
        };
        if self.compiled {
            let f = compiled_layer()?;
            for layer in &self.layers {
                let mut a = vec![x];
                a.extend(keep.clone());
                x = f.call(&(layer.clone(), a))?;
            }
            return Ok(x);
        }
        for layer in &self.layers {
            x = layer.forward_masked(&x, keep.as_ref())?;
        }
        Ok(x)
    }

    /// Mean-pools `hidden` `[B, L, H]` over the tokens of `mask` in f32 and
    /// L2-normalizes the rows (the fused kernel): `[B, H]` f32.
    fn pool(hidden: &Array, mask: &Array) -> Result<Array> {
        let m = ops::expand_dims(&mask.astype(Dtype::Float32)?, -1)?;
        let sum = ops::sum_axis(
            &ops::multiply(&hidden.astype(Dtype::Float32)?, &m)?,
            1,
            false,
        )?;
        let count = ops::maximum(&ops::sum_axis(&m, 1, false)?, &Array::scalar(1e-9f32)?)?;
        mlx_ext_kernels::l2_normalize(&ops::divide(&sum, &count)?, 1e-12)
    }

    /// Sentence embeddings `[B, H]` (f32, unit rows): the hidden states
    /// mean-pooled over the real tokens, then L2-normalized, as
    /// sentence-transformers computes them.
    pub fn sentence_embeddings(&self, ids: &Array, mask: &Array) -> Result<Array> {
        Bert::pool(&self.hidden_states(ids, mask)?, mask)
    }

    /// [`Bert::sentence_embeddings`] of a host batch: ids are checked
    /// against the vocabulary on the host (no device read).
    pub fn embed_batch(&self, batch: &crate::minilm::TokenBatch) -> Result<Array> {
        let vocab = self.config.vocab_size;
        if let Some(bad) = batch.ids.iter().find(|&&t| t < 0 || t >= vocab) {
            return Err(invalid(format!(
                "BERT: token id {bad} is outside the vocabulary 0..{vocab}"
            )));
        }
        let (ids, mask) = batch.arrays()?;
        let padded = batch.mask.contains(&0);
        Bert::pool(&self.hidden_states_trusted(&ids, &mask, padded)?, &mask)
    }
}

impl Module for Bert {
    /// The last hidden states for ids `[B, L]` without padding.
    fn forward(&self, ids: &Array) -> Result<Array> {
        let mask = ops::ones(&ids.shape(), Dtype::Int32)?;
        self.hidden_states(ids, &mask)
    }
}

impl Members for Bert {
    fn entries(&self) -> Vec<(String, Entry<'_>)> {
        let mut v = vec![("embeddings".to_string(), Entry::Module(&self.embeddings))];
        for (i, l) in self.layers.iter().enumerate() {
            v.push((format!("encoder.layer.{i}"), Entry::Module(l)));
        }
        v
    }

    fn entries_mut(&mut self) -> Vec<(String, EntryMut<'_>)> {
        let mut v = vec![(
            "embeddings".to_string(),
            EntryMut::Module(&mut self.embeddings as &mut dyn Module),
        )];
        for (i, l) in self.layers.iter_mut().enumerate() {
            v.push((format!("encoder.layer.{i}"), EntryMut::Module(l)));
        }
        v
    }
}

mlx_nn::impl_tree_for_members!(Bert);
