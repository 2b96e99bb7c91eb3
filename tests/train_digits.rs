//! The `train_digits` example, run for a few epochs: its test accuracy must
//! reach 95% on the real scikit-learn digits. Without the data set (no
//! scikit-learn, no wheel, no network for pip) the test reports `skipped`
//! (its own `main`, `harness = false`, keeps that apart from the passes).

mod common;

use common::harness::{self, Outcome};

#[allow(dead_code)]
#[path = "../examples/train_digits.rs"]
mod train_digits;

fn main() {
    harness::run::<Outcome>(&[(
        "train_digits_reaches_95_percent_in_a_few_epochs",
        train_digits_reaches_95_percent_in_a_few_epochs,
    )]);
}

fn train_digits_reaches_95_percent_in_a_few_epochs() -> Result<Outcome, String> {
    if let Err(e) = train_digits::digits::load() {
        return Ok(Outcome::Skipped(format!("digits data unavailable: {e}")));
    }
    let plot = std::env::temp_dir().join(format!("train_digits_{}.png", std::process::id()));
    let config = train_digits::Config {
        epochs: 10,
        seed: 0,
        plot: Some(plot.clone()),
        progress: false,
    };
    let h = train_digits::run(&config).expect("training runs");
    assert_eq!(h.loss.len(), 10);
    assert!(h.loss[9] < h.loss[0] * 0.5, "loss {:?}", h.loss);
    let acc = *h.test_accuracy.last().unwrap();
    println!("test accuracy after 10 epochs: {acc}");
    assert!(acc >= 0.95, "test accuracy {acc}");
    let png = std::fs::read(&plot).expect("plot written");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    std::fs::remove_file(plot).ok();
    Ok(Outcome::Passed)
}
