//! A test runner for test binaries with their own `main` (`harness = false`),
//! used where libtest cannot say what happened: a case whose precondition
//! the machine does not meet reports `skipped` with its reason and is
//! counted apart from the passes, never as one.
//!
//! It understands what cargo and nextest pass: name filters (`--exact`
//! too), `--list`, `--ignored` (runs nothing: no case is ignored) and
//! `--include-ignored`; other libtest flags are accepted and mean nothing.

use std::time::Instant;

/// How a case ended when it did not fail.
pub enum Outcome {
    /// It ran and every assertion held.
    Passed,
    /// It did not run its assertions, for this reason.
    Skipped(String),
}

impl From<()> for Outcome {
    fn from((): ()) -> Outcome {
        Outcome::Passed
    }
}

/// A named case: `Err` holds the failure message.
pub type Case<T> = (&'static str, fn() -> Result<T, String>);

/// Runs the chosen cases one after another, prints one line each and a
/// summary, and exits with 101 if any failed.
pub fn run<T: Into<Outcome>>(cases: &[Case<T>]) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        if !args.iter().any(|a| a == "--ignored") {
            for (name, _) in cases {
                println!("{name}: test");
            }
        }
        return;
    }
    let exact = args.iter().any(|a| a == "--exact");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let wanted = |name: &str| {
        filters.is_empty()
            || filters.iter().any(|f| {
                if exact {
                    name == f.as_str()
                } else {
                    name.contains(f.as_str())
                }
            })
    };
    let chosen: Vec<_> = if args.iter().any(|a| a == "--ignored") {
        Vec::new()
    } else {
        cases.iter().filter(|(name, _)| wanted(name)).collect()
    };
    println!("\nrunning {} tests", chosen.len());
    let (mut passed, mut skipped, mut failed) = (0, 0, Vec::new());
    for (name, case) in chosen {
        let start = Instant::now();
        let result = std::panic::catch_unwind(case).unwrap_or_else(|p| {
            let message = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            Err(format!("panicked: {}", message.unwrap_or_default()))
        });
        let took = start.elapsed().as_secs_f64();
        match result.map(Into::into) {
            Ok(Outcome::Passed) => {
                passed += 1;
                println!("test {name} ... ok ({took:.1} s)");
            }
            Ok(Outcome::Skipped(why)) => {
                skipped += 1;
                println!("test {name} ... skipped: {why}");
            }
            Err(message) => {
                println!("test {name} ... FAILED\n{message}");
                failed.push(name);
            }
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {skipped} skipped; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len()
    );
    if !failed.is_empty() {
        std::process::exit(101);
    }
}
