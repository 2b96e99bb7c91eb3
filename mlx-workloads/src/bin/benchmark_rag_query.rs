//! Times the RAG query path end to end: query text → tokens (all-MiniLM-L6-v2's
//! WordPiece) → embedding (the BERT encoder on mlx-nn, mean-pooled,
//! L2-normalized) → fused score + top-k (100 candidates) → exact f32 rerank
//! → the 10 answers read back to the host.
//!
//! `cargo run --release -p mlx-workloads --bin benchmark_rag_query -- --help`
//!
//! The corpus matrix holds the embeddings of real passages (Python
//! standard-library docstrings, see `mlx_workloads::corpus`) followed by
//! random unit rows up to the preset's size (distractors that give the
//! scoring step its real cost). The queries are the corpus' query texts;
//! recall@10 counts how often a query's own passage comes back.
use std::process::ExitCode;
use std::time::Instant;

use mlx_rs_core::ops;
use mlx_workloads::corpus::{self, DataError};
use mlx_workloads::harness::{self, Command, Preset, Report};
use mlx_workloads::minilm::{self, Encoder};
use mlx_workloads::rag::{self, Index, IndexFile, Scoring, CANDIDATES, EMBED_DIM, TOP_K};
use serde_json::json;

const NAME: &str = "benchmark_rag_query";
const ABOUT: &str =
    "Times the RAG query path: tokenize -> embed (all-MiniLM-L6-v2) -> fused score + \
top-k -> exact f32 rerank -> answers to the host.

presets: small = 256 embedded passages + random rows to 10,000 x 384;
         full  = every passage + random rows to 1,000,000 x 384.
environment:
  RAG_CORPUS_DIR=DIR      corpus.jsonl + queries.jsonl (default ~/.cache/mlx-rs/rag/stdlib;
                          made by mlx-workloads/scripts/rag_corpus.py)
  RAG_MODEL_DIR=DIR       the model files (default ~/.cache/mlx-rs/minilm; fetched if missing)
  RAG_INDEX=FILE          passages' embeddings from `rag index` instead of embedding them
  RAG_CORPUS_MATRIX=FILE  an [N, 384] f32 .npy searched as is (no recall: its rows are
                          not the passages)
  RAG_ROWS=N              corpus rows (random rows fill up to N; default by preset)
  RAG_SCORING=fused|reference  the scoring step (default fused; reference = MLX's
                          matmul + argpartition)
  RAG_QUERY_PAD=N         pad query batches to a multiple of N tokens (default 16 on a
                          GPU, where each new shape compiles kernels; 1 on a CPU)
  RAG_ENCODER_COMPILED=on|off  run the encoder's layers compiled (default off)
  MLX_USE_CUDA_GRAPHS=0|1 MLX's CUDA graphs; this program sets 0 unless given (faster
                          for this pipeline on an H200)

Every batch shape the iterations meet is run once before the warm-up (untimed), so
that kernel compilation for a new shape is start-up cost, not query latency.";
/// Passages embedded by the small preset (the embedding is untimed setup).
const SMALL_PASSAGES: usize = 256;
/// Batch size for embedding passages and for the recall pass.
const EMBED_BATCH: usize = 32;

/// Settings from the environment.
struct Env {
    scoring: Scoring,
    corpus_dir: std::path::PathBuf,
    model_dir: std::path::PathBuf,
    index: Option<std::path::PathBuf>,
    matrix: Option<std::path::PathBuf>,
    rows: Option<i32>,
    query_pad: Option<usize>,
    compiled: bool,
}

fn env() -> Result<Env, String> {
    let scoring = match std::env::var("RAG_SCORING").as_deref() {
        Err(_) | Ok("fused") => Scoring::Fused,
        Ok("reference") => Scoring::Reference,
        Ok(other) => {
            return Err(format!(
                "RAG_SCORING: unknown value {other:?} (expected fused or reference)"
            ))
        }
    };
    let path = |k: &str| std::env::var_os(k).map(std::path::PathBuf::from);
    let rows = match std::env::var("RAG_ROWS") {
        Err(_) => None,
        Ok(v) => match v.parse::<i32>() {
            Ok(n) if n >= 1 => Some(n),
            _ => return Err(format!("RAG_ROWS: expected a whole number >= 1, got {v:?}")),
        },
    };
    let query_pad = match std::env::var("RAG_QUERY_PAD") {
        Err(_) => None,
        Ok(v) => match v.parse::<usize>() {
            Ok(n) if (1..=256).contains(&n) => Some(n),
            _ => {
                return Err(format!(
                    "RAG_QUERY_PAD: expected a whole number in 1..=256, got {v:?}"
                ))
            }
        },
    };
    let compiled = match std::env::var("RAG_ENCODER_COMPILED").as_deref() {
        Err(_) | Ok("off") => false,
        Ok("on") => true,
        Ok(other) => {
            return Err(format!(
                "RAG_ENCODER_COMPILED: unknown value {other:?} (expected on or off)"
            ))
        }
    };
    let (index, matrix) = (path("RAG_INDEX"), path("RAG_CORPUS_MATRIX"));
    if index.is_some() && matrix.is_some() {
        return Err("RAG_INDEX and RAG_CORPUS_MATRIX: give one or the other".into());
    }
    Ok(Env {
        scoring,
        corpus_dir: path("RAG_CORPUS_DIR").unwrap_or_else(corpus::default_dir),
        model_dir: path("RAG_MODEL_DIR").unwrap_or_else(minilm::default_dir),
        index,
        matrix,
        rows,
        query_pad,
        compiled,
    })
}

fn main() -> ExitCode {
    // Before anything starts a thread or touches MLX (see the function).
    mlx_workloads::rag::turn_off_cuda_graphs_unless_set();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env_dtype = std::env::var("MLX_DTYPE").ok();
    let default_profile = format!("{NAME}.trace.json");
    let opts = match harness::parse_args(args, env_dtype.as_deref(), &default_profile) {
        Ok(Command::Run(opts)) => opts,
        Ok(Command::Help) => {
            print!("{}", harness::usage(NAME, ABOUT, &default_profile));
            return ExitCode::SUCCESS;
        }
        Err(e) => return harness::usage_error(NAME, &e.0),
    };
    let env = match env() {
        Ok(e) => e,
        Err(msg) => return harness::usage_error(NAME, &msg),
    };
    let device = match harness::select_device(opts.device) {
        Ok(d) => d,
        Err(msg) => return harness::usage_error(NAME, &msg),
    };
    let setup = match setup(&opts, &env, &device) {
        Ok(s) => s,
        // Missing or unusable input files: the caller's to fix.
        Err(e) => return harness::usage_error(NAME, &e),
    };
    match run(opts, env.scoring, device, setup) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{NAME}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What the timed loop needs, built untimed.
struct Setup {
    encoder: Encoder,
    index: Index,
    /// Query texts cycled through the iterations.
    queries: Vec<String>,
    /// The pairs whose passage is a row of the corpus matrix (for recall).
    pairs: Vec<corpus::QueryPair>,
    real_rows: usize,
    source: String,
    setup_s: f64,
    /// Query batches are padded to a multiple of this many tokens.
    query_pad: usize,
}

/// The query texts of iteration `i` (warm-up and timed iterations both
/// count from 0).
fn batch_texts(s: &Setup, i: usize, batch: usize) -> Vec<&str> {
    (i * batch..(i + 1) * batch)
        .map(|j| s.queries[j % s.queries.len()].as_str())
        .collect()
}

/// Runs the pipeline once for every batch shape the iterations will meet;
/// returns how many there were.
fn warm_shapes(s: &Setup, opts: &harness::Options, scoring: Scoring) -> mlx_rs_core::Result<usize> {
    let mut seen = std::collections::HashSet::new();
    for i in 0..opts.warmup.max(opts.iters) {
        let tokens = s.encoder.tokenize_queries(&batch_texts(s, i, opts.batch))?;
        if seen.insert((tokens.batch, tokens.len)) {
            let q = s.encoder.embed(&tokens)?;
            let hits = s.index.search(&q, TOP_K, CANDIDATES, scoring)?;
            mlx_rs_core::eval([&hits.indices, &hits.scores])?;
        }
    }
    Ok(seen.len())
}

fn setup(
    opts: &harness::Options,
    env: &Env,
    device: &mlx_rs_core::Device,
) -> Result<Setup, String> {
    let e = |e: mlx_rs_core::Error| e.message();
    device.set_default().map_err(e)?;
    let start = Instant::now();
    let dir = &env.corpus_dir;
    let passages = corpus::load_corpus(&dir.join("corpus.jsonl")).map_err(|d: DataError| d.0)?;
    let pairs =
        corpus::load_queries(&dir.join("queries.jsonl"), passages.len()).map_err(|d| d.0)?;
    if pairs.is_empty() {
        return Err(format!(
            "{}: no queries",
            dir.join("queries.jsonl").display()
        ));
    }
    let files = minilm::fetch(&env.model_dir).map_err(|d| d.0)?;
    let mut encoder = Encoder::load(&files, opts.dtype).map_err(e)?;
    encoder.set_compiled(env.compiled);
    let preset_rows = match opts.preset {
        Preset::Small => 10_000,
        Preset::Full => 1_000_000,
    };
    let (real, real_rows, source) = if let Some(path) = &env.matrix {
        let m = mlx_rs_core::io::load_npy(path).map_err(e)?;
        if m.ndim() != 2 || m.shape()[1] != EMBED_DIM || m.shape()[0] == 0 {
            return Err(format!(
                "{}: expected an [N, {EMBED_DIM}] matrix, got {:?}",
                path.display(),
                m.shape()
            ));
        }
        let src = format!("{} (given matrix)", path.display());
        (m, 0, src)
    } else if let Some(path) = &env.index {
        let file = IndexFile::load(path).map_err(e)?;
        let n = file.passages.len();
        if n > passages.len()
            || file
                .passages
                .iter()
                .zip(&passages)
                .any(|(a, b)| a.text != b.text)
        {
            return Err(format!(
                "{}: its passages are not the first {n} of {}",
                path.display(),
                dir.join("corpus.jsonl").display()
            ));
        }
        (
            file.embeddings,
            n,
            format!("{} (index file)", path.display()),
        )
    } else {
        let n = match opts.preset {
            Preset::Small => passages.len().min(SMALL_PASSAGES),
            Preset::Full => passages.len(),
        };
        let texts: Vec<&str> = passages[..n].iter().map(|p| p.text.as_str()).collect();
        let emb = encoder.embed_passages(&texts, EMBED_BATCH).map_err(e)?;
        (emb, n, format!("{n} passages embedded at start-up"))
    };
    let rows = env.rows.unwrap_or(preset_rows).max(real.shape()[0]);
    let matrix = if rows > real.shape()[0] {
        let fill = rag::random_corpus(rows - real.shape()[0], EMBED_DIM, 1).map_err(e)?;
        ops::concatenate(&[real, fill], 0).map_err(e)?
    } else {
        real
    };
    let index = Index::new(&matrix, opts.dtype).map_err(e)?;
    index.eval().map_err(e)?;
    let pairs: Vec<corpus::QueryPair> = pairs
        .into_iter()
        .filter(|p| (p.passage_id as usize) < real_rows || real_rows == 0)
        .collect();
    let queries: Vec<String> = pairs.iter().map(|p| p.query.clone()).collect();
    let pairs = if real_rows == 0 { Vec::new() } else { pairs };
    if queries.is_empty() {
        return Err("no query answers a passage in the corpus matrix".into());
    }
    let query_pad = env
        .query_pad
        .unwrap_or_else(|| minilm::query_pad_multiple_for(device));
    encoder.set_query_pad_multiple(query_pad);
    Ok(Setup {
        query_pad,
        encoder,
        index,
        queries,
        pairs,
        real_rows,
        source,
        setup_s: start.elapsed().as_secs_f64(),
    })
}

/// recall@10 of `pairs` (queries embedded and searched in batches).
fn recall(s: &Setup, scoring: Scoring) -> mlx_rs_core::Result<f64> {
    let mut found = Vec::new();
    for chunk in s.pairs.chunks(EMBED_BATCH) {
        let texts: Vec<&str> = chunk.iter().map(|p| p.query.as_str()).collect();
        let q = s.encoder.embed(&s.encoder.tokenize_queries(&texts)?)?;
        let hits = s.index.search(&q, TOP_K, CANDIDATES, scoring)?;
        found.extend(hits.indices.to_vec::<u32>()?);
    }
    let want: Vec<u32> = s.pairs.iter().map(|p| p.passage_id).collect();
    Ok(rag::recall(&found, TOP_K as usize, &want))
}

fn run(
    opts: harness::Options,
    scoring: Scoring,
    device: mlx_rs_core::Device,
    s: Setup,
) -> Result<(), Box<dyn std::error::Error>> {
    let batch = opts.batch;
    let shapes = warm_shapes(&s, &opts, scoring)?;
    let measurement = harness::run(&opts, true, |it| {
        let texts = batch_texts(&s, it.index(), batch);
        let tokens = it.host_stage("tokenize", || s.encoder.tokenize_queries(&texts))?;
        let q = it.stage("embed", || s.encoder.embed(&tokens))?;
        let (_, cand) = it.stage("score+top-k", || {
            s.index.candidates(&q, CANDIDATES, scoring)
        })?;
        let hits = it.stage("rerank", || {
            let h = s.index.rerank(&q, &cand, TOP_K)?;
            Ok((h.indices, h.scores))
        })?;
        it.eval(&[&hits.0, &hits.1])?;
        // The answers reach the host, as a server would return them.
        let ids = it.to_vec::<u32>(&hits.0)?;
        let scores = it.to_vec::<f32>(&hits.1)?;
        debug_assert_eq!(ids.len(), scores.len());
        Ok(())
    })?;

    // Quality, outside the timed region.
    let recall_value = if s.pairs.is_empty() {
        json!("not measured (the corpus matrix is not the passages' embeddings)")
    } else {
        json!(recall(&s, scoring)?)
    };
    let n = s.index.len();
    let report = Report {
        benchmark: "rag_query".into(),
        device: format!("{:?}", device.device_type()).to_lowercase(),
        items_per_iter: opts.batch as f64,
        unit: "queries".into(),
        metrics: vec![
            ("corpus".into(), json!(format!("{n} x {EMBED_DIM}"))),
            (
                "real passages".into(),
                json!(format!("{} rows from {}", s.real_rows, s.source)),
            ),
            (
                "encoder".into(),
                json!(format!(
                    "all-MiniLM-L6-v2, {}, layers {}",
                    s.encoder.model().dtype(),
                    if s.encoder.model().is_compiled() {
                        "compiled"
                    } else {
                        "op by op"
                    }
                )),
            ),
            (
                "CUDA graphs".into(),
                json!(std::env::var(mlx_workloads::rag::CUDA_GRAPHS_ENV)
                    .map(|v| format!("MLX_USE_CUDA_GRAPHS={v}"))
                    .unwrap_or_else(|_| "MLX's default".into())),
            ),
            (
                "query shapes".into(),
                json!(format!(
                    "{shapes} (padded to a multiple of {} tokens; each run once before timing)",
                    s.query_pad
                )),
            ),
            (
                "scoring".into(),
                json!(match scoring {
                    Scoring::Fused => "fused score+top-k",
                    Scoring::Reference => "matmul + argpartition (reference)",
                }),
            ),
            (
                "candidates / answers".into(),
                json!(format!("{CANDIDATES} / {TOP_K}")),
            ),
            ("recall@10 pairs".into(), json!(s.pairs.len())),
            ("recall@10".into(), recall_value),
            (
                "setup".into(),
                json!(format!(
                    "{:.2} s (corpus, model, index; untimed)",
                    s.setup_s
                )),
            ),
        ],
        notes: vec![format!(
            "each iteration tokenizes {batch} of the corpus' {} query texts, embeds them, scores, \
             reranks and reads the answers; rows after the real passages are random unit vectors.",
            s.queries.len()
        )],
        measurement,
        opts,
    };
    print!("{}", report.text());
    for path in report.write_files()? {
        println!("wrote {path}");
    }
    Ok(())
}
