//! Times the RAG query path's retrieval: score a batch of query embeddings
//! against the corpus matrix with the fused score + top-k (100 candidates),
//! rerank them exactly in f32, read the 10 answers per query back to the host.
//!
//! `cargo run --release -p mlx-workloads --bin benchmark_rag_query -- --help`
//!
//! The corpus and queries are random unit vectors (384 dimensions, the width
//! of all-MiniLM-L6-v2); each query is a noisy copy of a known row, and
//! recall@10 checks that the row comes back. The embedding stage (tokenize +
//! MiniLM encoder) is not built yet; this program says so and times the
//! stages that exist.
use std::process::ExitCode;
use std::time::Instant;

use mlx_rs_core::Array;
use mlx_workloads::harness::{self, Command, Preset, Report};
use mlx_workloads::rag::{self, Index, Scoring, CANDIDATES, EMBED_DIM, TOP_K};
use serde_json::json;

const NAME: &str = "benchmark_rag_query";
const ABOUT: &str = "Times the RAG query path's retrieval stages (fused score + top-k, exact f32 \
rerank, answers to the host) on a corpus of normalized embeddings.

presets: small = 10,000 x 384 corpus, full = 1,000,000 x 384.
env RAG_SCORING=fused|reference picks the scoring step (default fused;
reference = MLX's matmul + argpartition).";
/// Distinct query batches cycled through the iterations.
const BATCHES: usize = 8;
/// Per-dimension noise of the planted queries (unit rows have ~0.05 per dimension).
const NOISE: f32 = 0.04;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env_dtype = std::env::var("MLX_DTYPE").ok();
    let default_profile = format!("{NAME}.trace.json");
    let opts = match harness::parse_args(args, env_dtype.as_deref(), &default_profile) {
        Ok(Command::Run(opts)) => opts,
        Ok(Command::Help) => {
            print!("{}", harness::usage(NAME, ABOUT, &default_profile));
            return ExitCode::SUCCESS;
        }
        Err(e) => return usage_error(&e.0),
    };
    let scoring = match std::env::var("RAG_SCORING").as_deref() {
        Err(_) | Ok("fused") => Scoring::Fused,
        Ok("reference") => Scoring::Reference,
        Ok(other) => {
            return usage_error(&format!(
                "RAG_SCORING: unknown value {other:?} (expected fused or reference)"
            ))
        }
    };
    let device = match harness::select_device(opts.device) {
        Ok(d) => d,
        Err(msg) => return usage_error(&msg),
    };
    match run(opts, device, scoring) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{NAME}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("{NAME}: {msg}\nrun with --help for the flags");
    ExitCode::from(2)
}

fn run(
    opts: harness::Options,
    device: mlx_rs_core::Device,
    scoring: Scoring,
) -> Result<(), Box<dyn std::error::Error>> {
    device.set_default()?;
    let n = match opts.preset {
        Preset::Small => 10_000,
        Preset::Full => 1_000_000,
    };
    let batch = i32::try_from(opts.batch).map_err(|_| "--batch is too large")?;
    let setup = Instant::now();
    let index = Index::new(&rag::random_corpus(n, EMBED_DIM, 1)?, opts.dtype)?;
    index.eval()?;
    let (pool, planted) =
        rag::planted_queries(index.master(), batch * BATCHES as i32, NOISE, opts.dtype, 2)?;
    let batches: Vec<Array> = (0..BATCHES as i32)
        .map(|i| {
            mlx_rs_core::ops::slice(
                &pool,
                &[i * batch, 0],
                &[(i + 1) * batch, EMBED_DIM],
                &[1, 1],
            )
        })
        .collect::<mlx_rs_core::Result<_>>()?;
    mlx_rs_core::eval(batches.iter())?;
    let setup_s = setup.elapsed().as_secs_f64();

    let measurement = harness::run(&opts, true, |it| {
        let q = &batches[it.index() % BATCHES];
        let (_, cand) = it.stage("score+top-k", || index.candidates(q, CANDIDATES, scoring))?;
        let hits = it.stage("rerank", || {
            let h = index.rerank(q, &cand, TOP_K)?;
            Ok((h.indices, h.scores))
        })?;
        it.eval(&[&hits.0, &hits.1])?;
        // The answers reach the host, as a server would return them.
        let ids = it.to_vec::<u32>(&hits.0)?;
        let scores = it.to_vec::<f32>(&hits.1)?;
        debug_assert_eq!(ids.len(), scores.len());
        Ok(())
    })?;

    // Quality, outside the timed region: every planted query once.
    let hits = index.search(&pool, TOP_K, CANDIDATES, scoring)?;
    let recall = rag::recall(&hits.indices.to_vec::<u32>()?, TOP_K as usize, &planted);

    let report = Report {
        benchmark: "rag_query".into(),
        device: format!("{:?}", device.device_type()).to_lowercase(),
        items_per_iter: opts.batch as f64,
        unit: "queries".into(),
        metrics: vec![
            ("corpus".into(), json!(format!("{n} x {EMBED_DIM}"))),
            ("scoring".into(), json!(match scoring {
                Scoring::Fused => "fused score+top-k",
                Scoring::Reference => "matmul + argpartition (reference)",
            })),
            ("candidates / answers".into(), json!(format!("{CANDIDATES} / {TOP_K}"))),
            ("recall@10 (planted)".into(), json!(recall)),
            ("setup".into(), json!(format!("{setup_s:.2} s (index + queries, untimed)"))),
            ("embedding stage".into(), json!("not built yet (needs the MiniLM encoder on mlx-nn)")),
        ],
        notes: vec![
            "queries are random unit vectors, noisy copies of known corpus rows; recall@10 counts how many \
             of those rows come back. Tokenize and embed are not timed: the encoder does not exist yet."
                .into(),
        ],
        measurement,
        opts,
    };
    print!("{}", report.text());
    for path in report.write_files()? {
        println!("wrote {path}");
    }
    Ok(())
}
