//! Helpers shared by the tests that run this crate's programs.
#![allow(dead_code)] // each test file uses a part

use std::process::Output;

/// The flags every benchmark program takes (the shared harness).
pub const HARNESS_FLAGS: [&str; 9] = [
    "--dtype",
    "--iters",
    "--warmup",
    "--batch",
    "--preset",
    "--device",
    "--profile",
    "--json",
    "--help",
];

/// A finished program's standard output and standard error as text.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Checks that the program exited with code 0 (showing both streams if not)
/// and returns them.
#[track_caller]
pub fn succeeded(out: &Output) -> (String, String) {
    let (stdout, stderr) = text(out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (stdout, stderr)
}

/// Checks that a benchmark program's report has a line starting with each
/// of the statistics every program prints, and with each of `extra`, and
/// that it lists the profile's top stages.
#[track_caller]
pub fn report_lines(stdout: &str, extra: &[&str]) {
    let common = [
        "preset",
        "dtype",
        "device",
        "avg",
        "std",
        "p50",
        "p95",
        "throughput",
        "peak memory",
    ];
    for key in common.iter().chain(extra) {
        assert!(
            stdout.lines().any(|l| l.starts_with(key)),
            "no {key:?} line:\n{stdout}"
        );
    }
    assert!(stdout.contains("top stages"), "{stdout}");
}

/// The names of the complete spans (`"ph": "X"`) of a `--profile` trace.
#[track_caller]
pub fn trace_span_names(path: &std::path::Path) -> Vec<String> {
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "X")
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

/// Checks that `--help` succeeded and names each of `items`.
#[track_caller]
pub fn help_lists(out: &Output, items: &[&str]) {
    let (stdout, _) = succeeded(out);
    for item in items {
        assert!(stdout.contains(item), "{item} missing:\n{stdout}");
    }
}
