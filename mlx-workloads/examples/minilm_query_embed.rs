//! Times one query through the MiniLM encoder (`Encoder::embed`, evaluated)
//! and counts the nodes of its graph, in f32 and bf16, with the layers run op
//! by op and compiled (`Bert::set_compiled`):
//! `cargo run --release -p mlx-workloads --example minilm_query_embed [ITERS]`.
//! Fetches the model files into the cache on first use.

use std::time::Instant;

use mlx_rs_core::Dtype;
use mlx_workloads::minilm::{self, Encoder};

const QUERY: &str = "How do I read a whole file into a string?";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let iters: usize = match std::env::args().nth(1) {
        None => 200,
        Some(s) => match s.parse() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("usage: minilm_query_embed [ITERS >= 1], not {s:?}");
                std::process::exit(2);
            }
        },
    };
    let files = minilm::fetch(&minilm::default_dir()).map_err(|e| e.0)?;
    for (dtype, compiled) in [
        (Dtype::Float32, false),
        (Dtype::Float32, true),
        (Dtype::Bfloat16, false),
        (Dtype::Bfloat16, true),
    ] {
        let mut encoder = Encoder::load(&files, dtype)?;
        encoder.set_compiled(compiled);
        let batch = encoder.tokenize_queries(&[QUERY])?;
        // Warm-up: reads the weights, so the counted graph is the query's own.
        for _ in 0..10 {
            mlx_rs_core::eval([&encoder.embed(&batch)?])?;
        }
        let out = encoder.embed(&batch)?;
        let text = mlx_rs_core::graph::print_graph(std::slice::from_ref(&out))?;
        let nodes = text.lines().filter(|l| l.contains(" -> ")).count();
        let mut ms: Vec<f64> = (0..iters)
            .map(|_| {
                let t = Instant::now();
                let e = encoder.embed(&batch)?;
                mlx_rs_core::eval([&e])?;
                Ok(t.elapsed().as_secs_f64() * 1e3)
            })
            .collect::<mlx_rs_core::Result<_>>()?;
        ms.sort_by(f64::total_cmp);
        let pick = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
        println!(
            "{dtype:?} compiled {compiled}: {} tokens, {nodes} graph nodes, embed p50 {:.3} ms p95 {:.3} ms ({iters} iters)",
            batch.ids.len(),
            pick(0.5),
            pick(0.95)
        );
    }
    Ok(())
}
