//! Data-parallel training of an MLP on scikit-learn's 8x8 digits: every
//! rank holds the same model, takes the gradient of its share of each batch,
//! and `all_sum` adds the shares up, so all ranks apply the full batch's
//! gradient and stay identical.
//!
//! ```sh
//! cargo build --release --example train_digits_dp --bin mlx-launch
//! target/release/mlx-launch -n 2 -- target/release/examples/train_digits_dp
//! target/release/examples/train_digits_dp          # one process, same result
//! ```
//!
//! Options: `--epochs N` (default 20), `--batch B` (global batch, default
//! 64), `--lr X` (default 0.5), `--check` (rank 0 also trains the same
//! model in one process on the full batches and reports the largest weight
//! difference; the program fails if it exceeds rounding).

#[path = "support/digits.rs"]
mod digits;
#[path = "support/dp_mlp.rs"]
mod dp_mlp;

use std::process::ExitCode;

use dp_mlp::{accuracy, loss_and_grad, sgd_step, Mlp};
use mlx_rs::distributed::{Backend, Group};
use mlx_rs::Array;

fn arg<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} needs a value")),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("train_digits_dp: {msg}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let epochs: usize = arg("--epochs", 20)?;
    let batch: usize = arg("--batch", 64)?;
    let lr: f32 = arg("--lr", 0.5)?;
    let check = std::env::args().any(|a| a == "--check");
    let e = |e: mlx_rs::Error| e.to_string();

    // A group of one when started outside a job.
    let group = Group::init_or_single(Backend::Any).map_err(e)?;
    let (rank, size) = (group.rank(), group.size());
    if batch < size {
        return Err(format!("--batch {batch} is smaller than the {size} ranks"));
    }
    let data = digits::load()?;
    let (train, test) = data.split(0.2, 0);
    let to_arrays = |d: &digits::Digits| -> Result<(Array, Array), String> {
        let rows = d.len() as i32;
        Ok((
            Array::from_slice(&d.features, &[rows, digits::FEATURES as i32]).map_err(e)?,
            Array::from_slice(&d.labels, &[rows]).map_err(e)?,
        ))
    };
    let (x_test, y_test) = to_arrays(&test)?;

    let vg = loss_and_grad().map_err(e)?;
    let mut model = Mlp::new(digits::FEATURES as i32, 64, digits::CLASSES as i32, 7).map_err(e)?;
    let mut reference = if check {
        Some(Mlp::new(digits::FEATURES as i32, 64, digits::CLASSES as i32, 7).map_err(e)?)
    } else {
        None
    };
    if rank == 0 {
        println!(
            "{} training images, {} test images; {size} rank(s), global batch {batch}",
            train.len(),
            test.len()
        );
    }
    let start = std::time::Instant::now();
    for epoch in 0..epochs {
        // The same shuffle on every rank; each batch is split by rows.
        let order = digits::permutation(train.len(), 1000 + epoch as u64);
        let mut total = 0.0;
        let mut steps = 0;
        for chunk in order.chunks(batch) {
            let (lo, hi) = (rank * chunk.len() / size, (rank + 1) * chunk.len() / size);
            let (x, y) = to_arrays(&train.select(&chunk[lo..hi]))?;
            total += sgd_step(&mut model, &vg, &x, &y, chunk.len(), lr, Some(&group)).map_err(e)?;
            steps += 1;
            if let Some(reference) = reference.as_mut() {
                let (x, y) = to_arrays(&train.select(chunk))?;
                sgd_step(reference, &vg, &x, &y, chunk.len(), lr, None).map_err(e)?;
            }
        }
        if rank == 0 && (epoch + 1) % 5 == 0 || epoch + 1 == epochs {
            let acc = accuracy(&model, &x_test, &y_test).map_err(e)?;
            if rank == 0 {
                println!(
                    "epoch {:>3}: loss {:.4}, test accuracy {:.1}%",
                    epoch + 1,
                    total / steps as f32,
                    100.0 * acc
                );
            }
        }
    }
    if rank == 0 {
        println!("trained in {:.2} s", start.elapsed().as_secs_f64());
    }
    if let Some(reference) = reference {
        let mut worst = 0f32;
        for (a, b) in model.params.iter().zip(&reference.params) {
            let (a, b) = (a.to_vec::<f32>().map_err(e)?, b.to_vec::<f32>().map_err(e)?);
            let top = b.iter().fold(0f32, |m, v| m.max(v.abs()));
            for (x, y) in a.iter().zip(&b) {
                worst = worst.max((x - y).abs() / top);
            }
        }
        println!("rank {rank}: largest weight difference to one process: {worst:.2e} of the largest weight");
        // Sums in another order differ by rounding, which SGD carries along.
        if worst > 1e-4 {
            return Err(format!(
                "weights differ from the one-process run by {worst:.2e}"
            ));
        }
    }
    Ok(())
}
