//! `rag`: index a corpus once with all-MiniLM-L6-v2, then answer queries
//! from the index.
//!
//! ```sh
//! rag index --corpus ~/.cache/mlx-rs/rag/stdlib/corpus.jsonl --out index.safetensors
//! rag query --index index.safetensors "how do I parse a date string"
//! printf 'read a zip file\nsleep for a while\n' | rag query --index index.safetensors
//! ```
//!
//! Bad input (an unknown flag, an empty corpus, an empty or over-long query,
//! a missing model or index file) prints a message and exits with code 2.
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use mlx_rs_core::{Device, Dtype};
use mlx_workloads::corpus;
use mlx_workloads::minilm::{self, Encoder, ModelFiles};
use mlx_workloads::rag::{Index, IndexFile, Scoring, CANDIDATES};

const USAGE: &str = "rag: retrieval over a corpus with all-MiniLM-L6-v2

usage:
  rag index --corpus CORPUS.jsonl --out INDEX.safetensors [options]
      embeds every passage once (CORPUS.jsonl: {\"id\", \"name\", \"text\"} per line,
      as written by mlx-workloads/scripts/rag_corpus.py) and saves the embeddings
      and passages
  rag query --index INDEX.safetensors [options] [QUERY...]
      answers each QUERY, or each non-empty line of stdin when none is given

options:
  --model-dir DIR          the model files (tokenizer.json, model.safetensors,
                           config.json); default ~/.cache/mlx-rs/minilm, fetched
                           there if missing (a given DIR is never fetched into)
  --dtype float32|bfloat16 compute dtype (default float32)
  --device cpu|gpu         device (default: the GPU where MLX has one, else the CPU)
  --batch N                passages per embedding batch (index; default 32)
  --top N                  answers per query (query; default 5, at most 100)
  --help                   print this text
";

/// An error that is the caller's to fix (exit code 2) or not (1).
enum Failure {
    Usage(String),
    Runtime(String),
}

fn usage(msg: impl Into<String>) -> Failure {
    Failure::Usage(msg.into())
}

/// Mistakes in the input (files, queries) surface as MLX invalid-argument
/// errors from the library; those are usage errors, the rest runtime ones.
fn classify(e: mlx_rs_core::Error) -> Failure {
    match e {
        mlx_rs_core::Error::InvalidArgument { .. } => Failure::Usage(e.message()),
        other => Failure::Runtime(other.to_string()),
    }
}

struct Options {
    corpus: Option<PathBuf>,
    out: Option<PathBuf>,
    index: Option<PathBuf>,
    model_dir: Option<PathBuf>,
    dtype: Dtype,
    device: Option<Device>,
    batch: usize,
    top: i32,
    queries: Vec<String>,
}

fn parse(mut args: impl Iterator<Item = String>, command: &str) -> Result<Options, Failure> {
    let mut o = Options {
        corpus: None,
        out: None,
        index: None,
        model_dir: None,
        dtype: Dtype::Float32,
        device: None,
        batch: 32,
        top: 5,
        queries: Vec::new(),
    };
    let number = |flag: &str, v: String, max: usize| -> Result<usize, Failure> {
        match v.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(usage(format!(
                "{flag}: expected a whole number from 1 to {max}, got {v:?}"
            ))),
        }
    };
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if command == "query" && arg == "--" {
            // Everything after `--` is a query, even text that looks like a flag.
            o.queries.extend(args.by_ref());
            break;
        }
        if !flag.starts_with("--") {
            if command == "query" {
                o.queries.push(arg);
                continue;
            }
            return Err(usage(format!("rag {command}: unexpected argument {arg:?}")));
        }
        let mut value = || -> Result<String, Failure> {
            match inline.clone().or_else(|| args.next()) {
                Some(v) if !v.is_empty() && !v.starts_with("--") => Ok(v),
                _ => Err(usage(format!("{flag} needs a value"))),
            }
        };
        let allowed: &[&str] = match command {
            "index" => &["--corpus", "--out", "--batch"],
            _ => &["--index", "--top"],
        };
        let common = ["--model-dir", "--dtype", "--device"];
        if !allowed.contains(&flag.as_str()) && !common.contains(&flag.as_str()) {
            return Err(usage(format!(
                "rag {command}: unknown flag {flag:?} (rag --help lists the flags)"
            )));
        }
        match flag.as_str() {
            "--corpus" => o.corpus = Some(value()?.into()),
            "--out" => o.out = Some(value()?.into()),
            "--index" => o.index = Some(value()?.into()),
            "--model-dir" => o.model_dir = Some(value()?.into()),
            "--batch" => o.batch = number("--batch", value()?, 4096)?,
            "--top" => o.top = number("--top", value()?, CANDIDATES as usize)? as i32,
            "--dtype" => {
                o.dtype = match value()?.as_str() {
                    "float32" => Dtype::Float32,
                    "bfloat16" => Dtype::Bfloat16,
                    other => {
                        return Err(usage(format!(
                            "--dtype: unknown value {other:?} (expected float32 or bfloat16)"
                        )))
                    }
                }
            }
            _ => {
                o.device = Some(match value()?.as_str() {
                    "cpu" => Device::cpu(),
                    "gpu" if Device::gpu().is_available() => Device::gpu(),
                    "gpu" => {
                        return Err(usage(
                            "--device gpu: this MLX build has no usable GPU (try --device cpu)",
                        ))
                    }
                    other => {
                        return Err(usage(format!(
                            "--device: unknown value {other:?} (expected cpu or gpu)"
                        )))
                    }
                })
            }
        }
    }
    Ok(o)
}

fn model_files(o: &Options) -> Result<ModelFiles, Failure> {
    match &o.model_dir {
        Some(dir) => minilm::locate(dir).ok_or_else(|| {
            usage(format!(
                "no model files in {} (needs tokenizer.json, model.safetensors and config.json; \
                 omit --model-dir to fetch them into the default cache)",
                dir.display()
            ))
        }),
        None => minilm::fetch(&minilm::default_dir()).map_err(|e| usage(e.0)),
    }
}

fn index(o: Options) -> Result<(), Failure> {
    let corpus_path = o
        .corpus
        .as_ref()
        .ok_or_else(|| usage("rag index: --corpus is required"))?;
    let out = o
        .out
        .as_ref()
        .ok_or_else(|| usage("rag index: --out is required"))?;
    if out.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        return Err(usage(format!(
            "--out: {} must end in .safetensors",
            out.display()
        )));
    }
    let passages = corpus::load_corpus(corpus_path).map_err(|e| usage(e.0))?;
    let encoder = Encoder::load(&model_files(&o)?, o.dtype).map_err(classify)?;
    let start = Instant::now();
    let texts: Vec<&str> = passages.iter().map(|p| p.text.as_str()).collect();
    let embeddings = encoder.embed_passages(&texts, o.batch).map_err(classify)?;
    let file = IndexFile {
        embeddings,
        passages,
        model: format!("all-MiniLM-L6-v2 ({})", o.dtype),
    };
    file.save(out).map_err(classify)?;
    println!(
        "indexed {} passages in {:.1} s -> {}",
        file.passages.len(),
        start.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}

fn query(mut o: Options) -> Result<(), Failure> {
    let path = o
        .index
        .as_ref()
        .ok_or_else(|| usage("rag query: --index is required"))?;
    if o.queries.is_empty() {
        for line in std::io::stdin().lock().lines() {
            let line = line.map_err(|e| usage(format!("cannot read stdin: {e}")))?;
            if !line.trim().is_empty() {
                o.queries.push(line);
            }
        }
        if o.queries.is_empty() {
            return Err(usage(
                "rag query: no queries (give them as arguments or on stdin)",
            ));
        }
    }
    let file = IndexFile::load(path).map_err(classify)?;
    let mut encoder = Encoder::load(&model_files(&o)?, o.dtype).map_err(classify)?;
    let device = mlx_rs_core::Device::default_device().map_err(classify)?;
    encoder.set_query_pad_multiple(mlx_workloads::minilm::query_pad_multiple_for(&device));
    // Check every query before answering any.
    let texts: Vec<&str> = o.queries.iter().map(String::as_str).collect();
    let batches: Vec<_> = texts
        .chunks(64)
        .map(|c| encoder.tokenize_queries(c))
        .collect::<Result<_, _>>()
        .map_err(classify)?;
    let index = Index::new(&file.embeddings, o.dtype).map_err(classify)?;
    let mut n = 0;
    for tokens in &batches {
        let q = encoder.embed(tokens).map_err(classify)?;
        let hits = index
            .search(&q, o.top, CANDIDATES, Scoring::Fused)
            .map_err(classify)?;
        let ids = hits.indices.to_vec::<u32>().map_err(classify)?;
        let scores = hits.scores.to_vec::<f32>().map_err(classify)?;
        let k = ids.len() / tokens.batch;
        for row in 0..tokens.batch {
            println!("query: {}", texts[n]);
            for j in 0..k {
                let p = &file.passages[ids[row * k + j] as usize];
                let line: String = p.text.split_whitespace().collect::<Vec<_>>().join(" ");
                // The text starts with the passage's name.
                let short: String = line.chars().take(120).collect();
                println!("  {:>2}. {:.4}  {short}", j + 1, scores[row * k + j]);
            }
            n += 1;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    // Before anything starts a thread or touches MLX (see the function).
    mlx_workloads::rag::turn_off_cuda_graphs_unless_set();
    let mut args = std::env::args().skip(1);
    let result = match args.next().as_deref() {
        None | Some("--help" | "-h" | "help") => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(cmd @ ("index" | "query")) => {
            let rest: Vec<String> = args.collect();
            if rest.iter().any(|a| a == "--help" || a == "-h") {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            parse(rest.into_iter(), cmd).and_then(|o| {
                if let Some(d) = &o.device {
                    d.set_default().map_err(classify)?;
                }
                if cmd == "index" {
                    index(o)
                } else {
                    query(o)
                }
            })
        }
        Some(other) => Err(usage(format!(
            "unknown command {other:?} (expected index or query)"
        ))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("rag: {msg}\nrun rag --help for usage");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(msg)) => {
            eprintln!("rag: {msg}");
            ExitCode::FAILURE
        }
    }
}
