//! Trains an MLP on the 8×8 handwritten digits that ship with scikit-learn
//! (1,797 images; 80% train, 20% test) and writes a loss/accuracy plot.
//!
//! ```text
//! cargo run --release --example train_digits -- [--epochs N] [--seed S] [--plot PATH]
//! ```
//!
//! The data comes from an installed scikit-learn or its wheel (see
//! `examples/support/digits.rs`; `python3 -m pip download --no-deps
//! scikit-learn -d ~/.cache/mlx-rs/digits` fetches it once).

#[path = "support/digits.rs"]
pub mod digits;
#[path = "support/plot.rs"]
mod plot;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use mlx_rs::nn::optim::{AdamW, Optimizer, Schedule};
use mlx_rs::nn::{losses, Activation, Linear, Module, Sequential};
use mlx_rs::Array;

/// What a run is asked to do.
pub struct Config {
    /// Passes over the training set.
    pub epochs: usize,
    /// Seeds the split, the shuffles and the initialization.
    pub seed: u64,
    /// Where to write the plot (none: no plot).
    pub plot: Option<PathBuf>,
    /// Draw a progress bar (on a terminal).
    pub progress: bool,
}

/// Per-epoch results.
pub struct History {
    /// Mean training loss per epoch.
    pub loss: Vec<f32>,
    /// Test accuracy after each epoch.
    pub test_accuracy: Vec<f32>,
}

const BATCH: usize = 32;

fn batch_arrays(set: &digits::Digits, rows: &[usize]) -> mlx_rs::Result<(Array, Array)> {
    let part = set.select(rows);
    let x = Array::from_slice(
        &part.features,
        &[rows.len() as i32, digits::FEATURES as i32],
    )?;
    let y = Array::from_slice(&part.labels, &[rows.len() as i32])?;
    Ok((x, y))
}

fn draw_bar(epoch: usize, epochs: usize, step: usize, steps: usize, loss: f32) {
    let done = (epoch * steps + step) as f64 / (epochs * steps).max(1) as f64;
    let width = 30;
    let filled = (done * width as f64).round() as usize;
    let mut err = std::io::stderr();
    let _ = write!(
        err,
        "\r[{}{}] epoch {}/{} loss {:.4} ",
        "#".repeat(filled),
        ".".repeat(width - filled),
        epoch + 1,
        epochs,
        loss
    );
    let _ = err.flush();
}

/// Trains and evaluates; the data set error is a `String` for the caller.
pub fn run(config: &Config) -> Result<History, String> {
    let data = digits::load()?;
    let (train, test) = data.split(0.2, config.seed);
    let mlx = |e: mlx_rs::Error| e.to_string();
    mlx_rs::ops::random::seed(config.seed).map_err(mlx)?;

    let mut model = Sequential::new()
        .add(
            Linear::new(64, 128, true)
                .map_err(mlx)?
                .with_activation(Activation::Relu),
        )
        .add(Linear::new(128, 10, true).map_err(mlx)?);
    let steps_per_epoch = train.len().div_ceil(BATCH);
    let total = (steps_per_epoch * config.epochs) as u64;
    let mut opt =
        AdamW::new(Schedule::warmup_cosine(1e-2, total / 20, total, 1e-4)).with_weight_decay(1e-4);
    let loss_and_grad = mlx_rs::nn::value_and_grad(|m: &Sequential, (x, y): &(Array, Array)| {
        losses::cross_entropy(&m.forward(x)?, y)
    });
    let all_test: Vec<usize> = (0..test.len()).collect();
    let (test_x, test_y) = batch_arrays(&test, &all_test).map_err(mlx)?;

    let mut history = History {
        loss: Vec::new(),
        test_accuracy: Vec::new(),
    };
    for epoch in 0..config.epochs {
        let order = digits::permutation(train.len(), config.seed.wrapping_add(epoch as u64 + 1));
        let mut sum = 0.0;
        for (step, rows) in order.chunks(BATCH).enumerate() {
            let (x, y) = batch_arrays(&train, rows).map_err(mlx)?;
            let (loss, grads) = loss_and_grad.call(&model, &(x, y)).map_err(mlx)?;
            opt.update(&mut model, &grads).map_err(mlx)?;
            let mut state = model.parameters().into_values().collect::<Vec<_>>();
            state.extend(opt.state_arrays());
            state.push(loss.clone());
            mlx_rs::eval(&state).map_err(mlx)?;
            let l = loss.item::<f32>().map_err(mlx)?;
            sum += l;
            if config.progress {
                draw_bar(epoch, config.epochs, step + 1, steps_per_epoch, l);
            }
        }
        model.eval_mode();
        let acc = losses::accuracy(&model.forward(&test_x).map_err(mlx)?, &test_y).map_err(mlx)?;
        model.train(true);
        history.loss.push(sum / steps_per_epoch as f32);
        history.test_accuracy.push(acc);
    }
    if config.progress {
        eprintln!();
    }
    if let Some(path) = &config.plot {
        let pts = |v: &[f32], scale: f64| -> Vec<(f64, f64)> {
            v.iter()
                .enumerate()
                .map(|(i, &y)| ((i + 1) as f64, y as f64 * scale))
                .collect()
        };
        let (loss, acc) = (pts(&history.loss, 1.0), pts(&history.test_accuracy, 100.0));
        plot::write_png(
            path,
            &[
                plot::Panel {
                    title: "train loss",
                    points: &loss,
                    color: [200, 60, 40],
                },
                plot::Panel {
                    title: "test accuracy (%)",
                    points: &acc,
                    color: [40, 90, 200],
                },
            ],
        )?;
    }
    Ok(history)
}

fn parse_args() -> Result<Config, String> {
    let mut config = Config {
        epochs: 30,
        seed: 0,
        plot: Some(PathBuf::from("train_digits.png")),
        progress: std::io::stderr().is_terminal(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--epochs" => {
                config.epochs = value("--epochs")?
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or("--epochs takes a positive integer")?
            }
            "--seed" => {
                config.seed = value("--seed")?
                    .parse()
                    .map_err(|_| "--seed takes an integer")?
            }
            "--plot" => config.plot = Some(PathBuf::from(value("--plot")?)),
            "--no-plot" => config.plot = None,
            "-h" | "--help" => {
                return Err(
                    "usage: train_digits [--epochs N] [--seed S] [--plot PATH | --no-plot]".into(),
                )
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(config)
}

#[allow(dead_code)] // a test includes this file for `run`
fn main() {
    let config = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    match run(&config) {
        Ok(h) => {
            for (i, (l, a)) in h.loss.iter().zip(&h.test_accuracy).enumerate() {
                println!(
                    "epoch {:>3}  loss {l:.4}  test accuracy {:.2}%",
                    i + 1,
                    a * 100.0
                );
            }
            if let Some(p) = &config.plot {
                println!("plot written to {}", p.display());
            }
        }
        Err(e) => {
            eprintln!("train_digits: {e}");
            std::process::exit(2);
        }
    }
}
