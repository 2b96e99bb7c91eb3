//! A retrieval step as in a RAG pipeline: normalize a corpus of embeddings and
//! a few queries, score them by cosine similarity, and take the best matches.
//! The embeddings are random stand-ins for a sentence-embedding model's output
//! (384 dimensions, like all-MiniLM-L6-v2); the queries are noisy copies of
//! known documents, so the expected match is known.
//!
//! `cargo run --release --example embedding_search`
use mlx_rs::{kernels, ops, Array, Dtype};

const DOCS: i32 = 10_000;
const DIM: i32 = 384;

fn main() -> mlx_rs::Result<()> {
    let key = ops::random::key(7)?;
    let (k_docs, k_noise) = ops::random::split(&key)?;
    let corpus = ops::random::normal(&[DOCS, DIM], Dtype::Float32, 0.0, 1.0, Some(&k_docs))?;

    // Queries: documents 17, 4242 and 9001 plus noise.
    let targets = Array::from_slice(&[17i32, 4242, 9001], &[3])?;
    let noise = ops::random::normal(&[3, DIM], Dtype::Float32, 0.0, 0.3, Some(&k_noise))?;
    let queries = ops::add(&ops::take_axis(&corpus, &targets, 0)?, &noise)?;

    // Fused on a GPU, the reference composition elsewhere.
    let corpus = kernels::l2_normalize(&corpus, 1e-12)?;
    let queries = kernels::l2_normalize(&queries, 1e-12)?;
    let scores = ops::matmul(&queries, &ops::transpose(&corpus)?)?; // [3, DOCS]

    // Best 3 per query: sort descending by negating the scores.
    let order = ops::argsort_axis(&ops::negative(&scores)?, -1)?;
    let best = ops::slice(&order, &[0, 0], &[3, 3], &[1, 1])?;
    let best_scores = ops::take_along_axis(&scores, &best, -1)?;
    mlx_rs::eval([&best, &best_scores])?; // all the work happens here

    let ids = best.to_vec::<u32>()?;
    let sims = best_scores.to_vec::<f32>()?;
    for (q, target) in targets.to_vec::<i32>()?.iter().enumerate() {
        let row: Vec<String> =
            (0..3).map(|j| format!("doc {} ({:.3})", ids[q * 3 + j], sims[q * 3 + j])).collect();
        println!("query from doc {target}: {}", row.join(", "));
    }
    Ok(())
}
