//! The RAG query path: a corpus of embeddings, batched query embeddings,
//! fused score + top-k for candidates, exact f32 rerank of the candidates.
//!
//! Stages of a query: tokenize → embed → score + top-k → rerank → answers.
//! This module has the retrieval stages ([`Index`]) and the index file
//! ([`IndexFile`]). The embedding stage is the
//! [`QueryEncoder`] seam, implemented by [`crate::minilm::Encoder`]
//! (all-MiniLM-L6-v2, a BERT on `mlx-nn`).

use mlx_ext_kernels::{
    l2_normalize, score_topk, score_topk_path, score_topk_reference, KernelPath,
};
use mlx_rs_core::{ops, Array, Dtype, Result};

use crate::invalid;

/// Width of all-MiniLM-L6-v2 embeddings.
pub const EMBED_DIM: i32 = 384;
/// Candidates the fused step keeps per query for the rerank.
pub const CANDIDATES: i32 = 100;
/// Answers per query after the rerank.
pub const TOP_K: i32 = 10;

/// Turns query texts into L2-normalized embeddings `[B, EMBED_DIM]`: the
/// embedding stage of the query path, implemented by
/// [`crate::minilm::Encoder`].
pub trait QueryEncoder {
    /// Embeds `texts` (one row per text).
    fn encode(&self, texts: &[&str]) -> Result<Array>;
}

/// Which implementation scores the corpus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scoring {
    /// `mlx_ext_kernels::score_topk`: the fused kernel on GPUs.
    Fused,
    /// `mlx_ext_kernels::score_topk_reference`: MLX's matmul + argpartition.
    Reference,
}

/// A searchable corpus: the rows in the compute dtype for scoring, and in
/// f32 for the exact rerank (the same array when the compute dtype is f32).
pub struct Index {
    corpus: Array,
    master: Array,
}

/// The answers to a batch of queries: `[B, k]` corpus rows, best first, and
/// their exact f32 cosine scores.
pub struct Hits {
    /// uint32 corpus row indices.
    pub indices: Array,
    /// f32 scores.
    pub scores: Array,
}

impl Index {
    /// Indexes `embeddings` `[N, D]` (any float dtype): rows are
    /// L2-normalized in f32 and kept in f32 and in `dtype`.
    ///
    /// ```
    /// use mlx_rs_core::{Array, Dtype};
    /// use mlx_workloads::rag::{Index, Scoring};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let rows = Array::from_slice(&[3.0f32, 4.0, 0.0, 2.0, 1.0, 0.0], &[3, 2])?;
    /// let index = Index::new(&rows, Dtype::Float32)?;
    /// let query = Array::from_slice(&[0.0f32, 1.0], &[1, 2])?;
    /// let hits = index.search(&query, 2, 3, Scoring::Fused)?;
    /// assert_eq!(hits.indices.to_vec::<u32>()?, [1, 0]);
    /// # Ok(()) }
    /// ```
    pub fn new(embeddings: &Array, dtype: Dtype) -> Result<Index> {
        if embeddings.ndim() != 2 || embeddings.size() == 0 {
            return Err(invalid(format!(
                "the corpus must be a non-empty [N, D] matrix; got shape {:?}",
                embeddings.shape()
            )));
        }
        let master = l2_normalize(&ops::astype(embeddings, Dtype::Float32)?, 1e-12)?;
        let corpus = if dtype == Dtype::Float32 {
            master.clone()
        } else {
            ops::astype(&master, dtype)?
        };
        Ok(Index { corpus, master })
    }

    /// Rows in the corpus.
    pub fn len(&self) -> i32 {
        self.corpus.shape()[0]
    }

    /// Whether the corpus is empty (never, for a built index).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Embedding width.
    pub fn dim(&self) -> i32 {
        self.corpus.shape()[1]
    }

    /// The rows in the compute dtype (what scoring reads).
    pub fn corpus(&self) -> &Array {
        &self.corpus
    }

    /// Forces the index's arrays to be computed.
    pub fn eval(&self) -> Result<()> {
        mlx_rs_core::eval([&self.corpus, &self.master])
    }

    /// The best `k` rows per query (`queries` `[B, D]`, cast to the compute
    /// dtype if needed) by the scoring step: `(scores, indices)`, `[B, k]`.
    ///
    /// On the CPU the fused scoring reads float32 and bfloat16 rows as they
    /// are (the CPU primitive accumulates in f32); other half-precision
    /// indexes, and the reference, score the f32 rows: the CPU has no
    /// half-precision GEMM, so MLX's matmul would cast the whole corpus to
    /// f32 on every call (for one query that cast costs more than the
    /// product).
    pub fn candidates(&self, queries: &Array, k: i32, scoring: Scoring) -> Result<(Array, Array)> {
        let k = k.min(self.len());
        let device = mlx_rs_core::Device::default_device()?;
        let reads_own_rows = device.device_type() != mlx_rs_core::DeviceType::Cpu
            || (scoring == Scoring::Fused
                && score_topk_path(self.corpus.dtype(), &device)? == KernelPath::Cpu);
        let corpus = if reads_own_rows {
            &self.corpus
        } else {
            &self.master
        };
        let cast;
        let queries = if queries.dtype() == corpus.dtype() {
            queries
        } else {
            cast = ops::astype(queries, corpus.dtype())?;
            &cast
        };
        match scoring {
            Scoring::Fused => score_topk(queries, corpus, k),
            Scoring::Reference => score_topk_reference(queries, corpus, k),
        }
    }

    /// Re-scores the candidate rows `indices` `[B, C]` exactly in f32
    /// against the f32 rows and keeps the best `k`, best first (equal
    /// scores in MLX's argsort order).
    pub fn rerank(&self, queries: &Array, indices: &Array, k: i32) -> Result<Hits> {
        let (b, c) = (indices.shape()[0], indices.shape()[1]);
        let d = self.dim();
        let k = k.min(c);
        let rows = ops::take_axis(&self.master, &ops::reshape(indices, &[b * c])?, 0)?;
        let rows = ops::reshape(&rows, &[b, c, d])?;
        let q = ops::reshape(&ops::astype(queries, Dtype::Float32)?, &[b, d, 1])?;
        let exact = ops::reshape(&ops::matmul(&rows, &q)?, &[b, c])?;
        let order = ops::argsort_axis(&ops::negative(&exact)?, -1)?;
        let order = ops::slice(&order, &[0, 0], &[b, k], &[1, 1])?;
        Ok(Hits {
            indices: ops::take_along_axis(indices, &order, -1)?,
            scores: ops::take_along_axis(&exact, &order, -1)?,
        })
    }

    /// Candidates (`candidates` of them) then the exact rerank to `k`.
    pub fn search(
        &self,
        queries: &Array,
        k: i32,
        candidates: i32,
        scoring: Scoring,
    ) -> Result<Hits> {
        let (_, idx) = self.candidates(queries, candidates, scoring)?;
        self.rerank(queries, &idx, k)
    }
}

/// Fraction of queries whose expected row is among their returned rows
/// (`found` is `[B * k]` row-major, `expected` `[B]`).
///
/// ```
/// let r = mlx_workloads::rag::recall(&[3, 1, 7, 2], 2, &[1, 9]);
/// assert_eq!(r, 0.5);
/// ```
pub fn recall(found: &[u32], k: usize, expected: &[u32]) -> f64 {
    if expected.is_empty() || k == 0 {
        return 0.0;
    }
    let hits = expected
        .iter()
        .enumerate()
        .filter(|(q, want)| found[q * k..(q + 1) * k].contains(want))
        .count();
    hits as f64 / expected.len() as f64
}

/// Environment variable of MLX's CUDA backend: `0` launches each kernel
/// directly instead of recording the evaluation into a CUDA graph.
pub const CUDA_GRAPHS_ENV: &str = "MLX_USE_CUDA_GRAPHS";

/// Turns MLX's CUDA graphs off for this process unless
/// [`CUDA_GRAPHS_ENV`] is already set. MLX records each evaluation of the
/// query path (many small kernels) into a CUDA graph and updates a cached
/// executable; for this path that cost more than it saved: one query end to
/// end on an H200 took 2.96 ms median with graphs and 2.00 ms without
/// (`BENCHMARKS.md`). MLX reads the
/// variable once, at its first GPU evaluation, so the RAG programs call this
/// first thing in `main`, before any other thread exists.
///
/// ```
/// mlx_workloads::rag::turn_off_cuda_graphs_unless_set();
/// assert!(std::env::var_os(mlx_workloads::rag::CUDA_GRAPHS_ENV).is_some());
/// ```
pub fn turn_off_cuda_graphs_unless_set() {
    if std::env::var_os(CUDA_GRAPHS_ENV).is_none() {
        std::env::set_var(CUDA_GRAPHS_ENV, "0");
    }
}

/// Random unit-norm embeddings `[n, dim]` (f32), from `seed`: a stand-in
/// corpus for timing retrieval at scale.
pub fn random_corpus(n: i32, dim: i32, seed: u64) -> Result<Array> {
    let key = ops::random::key(seed)?;
    let x = ops::random::normal(&[n, dim], Dtype::Float32, 0.0, 1.0, Some(&key))?;
    l2_normalize(&x, 1e-12)
}

/// Queries that are noisy copies of known rows of `master` (f32 unit rows):
/// returns the normalized queries `[count, D]` in `dtype` and the rows they
/// were made from, so that retrieval quality can be checked on random data.
pub fn planted_queries(
    master: &Array,
    count: i32,
    noise: f32,
    dtype: Dtype,
    seed: u64,
) -> Result<(Array, Vec<u32>)> {
    let n = master.shape()[0];
    let d = master.shape()[1];
    let key = ops::random::key(seed)?;
    let (k_rows, k_noise) = ops::random::split(&key)?;
    let rows = ops::random::randint(0, n, &[count], Dtype::Int32, Some(&k_rows))?;
    let rows_host = rows
        .to_vec::<i32>()?
        .into_iter()
        .map(|r| r as u32)
        .collect();
    let noise = ops::random::normal(&[count, d], Dtype::Float32, 0.0, noise, Some(&k_noise))?;
    let q = ops::add(&ops::take_axis(master, &rows, 0)?, &noise)?;
    let q = ops::astype(&l2_normalize(&q, 1e-12)?, dtype)?;
    Ok((q, rows_host))
}

impl Index {
    /// The f32 rows (what the rerank reads).
    pub fn master(&self) -> &Array {
        &self.master
    }
}

/// The `format` metadata value of an index file.
pub const INDEX_FORMAT: &str = "mlx-workloads rag index 1";

/// A corpus embedded once and saved: unit-norm f32 embeddings `[N, D]`
/// (row `i` embeds `passages[i]`) and the passages, in one safetensors file
/// (tensor `embeddings`; metadata `format`, `model`, `passages` as JSON).
///
/// ```
/// use mlx_rs_core::Array;
/// use mlx_workloads::corpus::Passage;
/// use mlx_workloads::rag::IndexFile;
/// # fn main() -> mlx_rs_core::Result<()> {
/// let path = std::env::temp_dir().join("rag_doc_index.safetensors");
/// let file = IndexFile {
///     embeddings: Array::from_slice(&[0.6f32, 0.8, 1.0, 0.0], &[2, 2])?,
///     passages: vec![
///         Passage { id: 0, name: "a.f".into(), text: "a.f: does f".into() },
///         Passage { id: 1, name: "b.g".into(), text: "b.g: does g".into() },
///     ],
///     model: "test".into(),
/// };
/// file.save(&path)?;
/// let back = IndexFile::load(&path)?;
/// assert_eq!(back.passages, file.passages);
/// assert_eq!(back.embeddings.to_vec::<f32>()?, [0.6, 0.8, 1.0, 0.0]);
/// # std::fs::remove_file(&path).ok();
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct IndexFile {
    /// `[N, D]` f32.
    pub embeddings: Array,
    /// `N` passages, ids `0..N` in order.
    pub passages: Vec<crate::corpus::Passage>,
    /// The model that embedded them (e.g. `all-MiniLM-L6-v2`).
    pub model: String,
}

impl IndexFile {
    fn check(&self, source: &str) -> Result<()> {
        let s = self.embeddings.shape();
        if s.len() != 2 || s[0] as usize != self.passages.len() || s[0] == 0 {
            return Err(invalid(format!(
                "{source}: {} passages but embeddings of shape {s:?} (expected [{}, D], not empty)",
                self.passages.len(),
                self.passages.len()
            )));
        }
        if let Some((i, p)) = self
            .passages
            .iter()
            .enumerate()
            .find(|(i, p)| p.id as usize != *i)
        {
            return Err(invalid(format!("{source}: passage {i} has id {}", p.id)));
        }
        Ok(())
    }

    /// Writes the file (`path` must end in `.safetensors`).
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        self.check(&path.display().to_string())?;
        let passages: Vec<serde_json::Value> = self
            .passages
            .iter()
            .map(|p| serde_json::json!({"id": p.id, "name": p.name, "text": p.text}))
            .collect();
        let metadata = std::collections::HashMap::from([
            ("format".to_string(), INDEX_FORMAT.to_string()),
            ("model".to_string(), self.model.clone()),
            (
                "passages".to_string(),
                serde_json::Value::Array(passages).to_string(),
            ),
        ]);
        let arrays = std::collections::HashMap::from([(
            "embeddings".to_string(),
            ops::astype(&self.embeddings, Dtype::Float32)?,
        )]);
        mlx_rs_core::io::save_safetensors(path, &arrays, &metadata)
    }

    /// Reads a file written by [`IndexFile::save`]. `Err` with the path for
    /// a missing file, another kind of file, or passages and rows that
    /// disagree.
    pub fn load(path: &std::path::Path) -> Result<IndexFile> {
        let source = path.display().to_string();
        if !path.is_file() {
            return Err(invalid(format!("no index file at {source}")));
        }
        let mut st = mlx_rs_core::io::load_safetensors(path)
            .map_err(|e| invalid(format!("{source}: not a readable index: {}", e.message())))?;
        if st.metadata.get("format").map(String::as_str) != Some(INDEX_FORMAT) {
            return Err(invalid(format!(
                "{source}: not an index file (metadata format is {:?}, expected {INDEX_FORMAT:?})",
                st.metadata.get("format")
            )));
        }
        let embeddings = st
            .arrays
            .remove("embeddings")
            .ok_or_else(|| invalid(format!("{source}: no \"embeddings\" tensor")))?;
        let raw: Vec<serde_json::Value> = st
            .metadata
            .get("passages")
            .and_then(|t| serde_json::from_str(t).ok())
            .ok_or_else(|| invalid(format!("{source}: no readable \"passages\" metadata")))?;
        let passages = raw
            .iter()
            .map(|v| {
                Some(crate::corpus::Passage {
                    id: u32::try_from(v.get("id")?.as_u64()?).ok()?,
                    name: v.get("name")?.as_str()?.to_string(),
                    text: v.get("text")?.as_str()?.to_string(),
                })
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| invalid(format!("{source}: a passage lacks its id, name or text")))?;
        let file = IndexFile {
            embeddings: ops::astype(&embeddings, Dtype::Float32)?,
            passages,
            model: st.metadata.get("model").cloned().unwrap_or_default(),
        };
        file.check(&source)?;
        Ok(file)
    }
}
