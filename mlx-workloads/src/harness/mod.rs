//! The benchmark harness the workload programs share: flags ([`parse_args`]),
//! warm-up and timed iterations with evaluation inside the timed region
//! ([`run`]), statistics ([`Stats`]), peak memory from MLX's counters, a
//! progress bar on terminals, a Chrome-trace profile with one span per stage
//! ([`Trace`]), sync-point counts and a JSON record ([`Report`]).
//!
//! A program builds its inputs, then hands [`run`] a closure for one
//! iteration. Inside it, [`Iteration::stage`] names a stage; in profile mode
//! (`--profile`) it places an evaluation barrier after the stage so that the
//! span measures that stage's work, and only then. Every eval / to_vec /
//! item the iteration does goes through [`Iteration::eval`] or
//! [`Iteration::to_vec`], which count them as sync points.
//!
//! ```
//! use mlx_rs_core::{ops, Array};
//! use mlx_workloads::harness::{run, Options};
//! # fn main() -> mlx_rs_core::Result<()> {
//! let x = Array::from_slice(&[1.0f32, 2.0, 3.0], &[3])?;
//! let opts = Options { iters: 3, warmup: 1, ..Options::default() };
//! let m = run(&opts, false, |it| {
//!     let y = it.stage("square", || ops::square(&x))?;
//!     let total = it.stage("sum", || ops::sum(&y, false))?;
//!     assert_eq!(it.to_vec::<f32>(&total)?, [14.0]);
//!     Ok(())
//! })?;
//! assert_eq!(m.stats.n, 3);
//! assert_eq!(m.syncs_per_iter, 1.0);
//! # Ok(()) }
//! ```

mod args;
mod stats;
mod trace;

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

use mlx_rs_core::{memory, Array, Device, Element, Result};
use serde_json::{json, Value};

pub use args::{parse_args, take_flags, usage, ArgError, Command, DeviceChoice, Options, Preset};
pub use stats::{percentile, Stats};
pub use trace::{Span, Trace};

/// Arrays a stage produced, for the profile-mode barrier.
pub trait StageOutput {
    /// The arrays to evaluate at the end of the stage.
    fn arrays(&self) -> Vec<&Array>;
}

impl StageOutput for Array {
    fn arrays(&self) -> Vec<&Array> {
        vec![self]
    }
}

impl StageOutput for (Array, Array) {
    fn arrays(&self) -> Vec<&Array> {
        vec![&self.0, &self.1]
    }
}

impl StageOutput for Vec<Array> {
    fn arrays(&self) -> Vec<&Array> {
        self.iter().collect()
    }
}

/// One iteration's view of the harness: stages, sync points, the trace.
pub struct Iteration<'a> {
    index: usize,
    profiling: bool,
    trace: &'a mut Trace,
    syncs: usize,
    barriers: usize,
}

impl Iteration<'_> {
    /// Which iteration this is (warm-up and timed iterations count apart,
    /// from 0).
    pub fn index(&self) -> usize {
        self.index
    }

    /// Whether this iteration is profiled (barriers after stages).
    pub fn profiling(&self) -> bool {
        self.profiling
    }

    /// Runs one stage that builds MLX work. When profiling, evaluates its
    /// outputs (a barrier) and records a span; otherwise just runs `f`.
    pub fn stage<R: StageOutput>(
        &mut self,
        name: &str,
        f: impl FnOnce() -> Result<R>,
    ) -> Result<R> {
        if !self.profiling {
            return f();
        }
        let start = Instant::now();
        let out = f()?;
        mlx_rs_core::eval(out.arrays())?;
        self.barriers += 1;
        self.trace.record(name, self.index, start, Instant::now());
        Ok(out)
    }

    /// Runs one host-side stage (no MLX work, e.g. tokenizing), recording a
    /// span when profiling.
    pub fn host_stage<R>(&mut self, name: &str, f: impl FnOnce() -> R) -> R {
        if !self.profiling {
            return f();
        }
        let start = Instant::now();
        let out = f();
        self.trace.record(name, self.index, start, Instant::now());
        out
    }

    /// Evaluates `arrays`: one sync point.
    pub fn eval(&mut self, arrays: &[&Array]) -> Result<()> {
        self.syncs += 1;
        mlx_rs_core::eval(arrays.iter().copied())
    }

    /// Copies `a` to the host (evaluating it first if needed): one sync point.
    pub fn to_vec<T: Element>(&mut self, a: &Array) -> Result<Vec<T>> {
        self.syncs += 1;
        a.to_vec()
    }
}

/// What [`run`] measured.
#[derive(Debug)]
pub struct Measurement {
    /// Latency statistics of the timed iterations (seconds).
    pub stats: Stats,
    /// Each timed iteration's latency (seconds), in order.
    pub samples: Vec<f64>,
    /// MLX's peak memory during the timed iterations, in bytes (includes
    /// arrays alive before them, such as the inputs).
    pub peak_memory: usize,
    /// Sync points (eval / to_vec / item) per timed iteration, barriers of
    /// profile mode not included.
    pub syncs_per_iter: f64,
    /// Profile-mode barriers per timed iteration (0 without `--profile`).
    pub barriers_per_iter: f64,
    /// The stage spans, when profiling.
    pub trace: Option<Trace>,
}

/// Runs `opts.warmup` untimed and `opts.iters` timed iterations of `body`.
/// Timed iterations are profiled when `opts.profile` is set. `progress`
/// draws a bar on stderr, and only where stderr is a terminal.
pub fn run(
    opts: &Options,
    progress: bool,
    mut body: impl FnMut(&mut Iteration<'_>) -> Result<()>,
) -> Result<Measurement> {
    let bar = Progress::new(opts.warmup + opts.iters, progress);
    let mut scratch = Trace::new();
    for i in 0..opts.warmup {
        let mut it = Iteration {
            index: i,
            profiling: false,
            trace: &mut scratch,
            syncs: 0,
            barriers: 0,
        };
        body(&mut it)?;
        bar.update(i + 1, "warm-up");
    }
    let profiling = opts.profile.is_some();
    let mut trace = Trace::new();
    let mut samples = Vec::with_capacity(opts.iters);
    let (mut syncs, mut barriers) = (0usize, 0usize);
    memory::reset_peak_memory()?;
    for i in 0..opts.iters {
        let start = Instant::now();
        let mut it = Iteration {
            index: i,
            profiling,
            trace: &mut trace,
            syncs: 0,
            barriers: 0,
        };
        body(&mut it)?;
        let (s, b) = (it.syncs, it.barriers);
        let end = Instant::now();
        if profiling {
            trace.record("iteration", i, start, end);
        }
        samples.push((end - start).as_secs_f64());
        syncs += s;
        barriers += b;
        bar.update(opts.warmup + i + 1, "timed");
    }
    bar.finish();
    let peak_memory = memory::peak_memory()?;
    let stats = Stats::from_samples(&samples)
        .ok_or_else(|| crate::invalid("no finite timed samples".into()))?;
    let n = opts.iters as f64;
    Ok(Measurement {
        stats,
        samples,
        peak_memory,
        syncs_per_iter: syncs as f64 / n,
        barriers_per_iter: barriers as f64 / n,
        trace: profiling.then_some(trace),
    })
}

/// A one-line progress bar on stderr, drawn only on a terminal.
struct Progress {
    total: usize,
    on: bool,
}

impl Progress {
    fn new(total: usize, wanted: bool) -> Progress {
        Progress {
            total,
            on: wanted && std::io::stderr().is_terminal(),
        }
    }

    fn update(&self, done: usize, phase: &str) {
        if !self.on {
            return;
        }
        let width = 30;
        let filled = done * width / self.total.max(1);
        let mut err = std::io::stderr();
        let _ = write!(
            err,
            "\r[{}{}] {done}/{} {phase}   ",
            "#".repeat(filled),
            " ".repeat(width - filled),
            self.total
        );
        let _ = err.flush();
    }

    fn finish(&self) {
        if self.on {
            let _ = write!(std::io::stderr(), "\r{}\r", " ".repeat(60));
        }
    }
}

/// Reports bad input to a program's user on stderr (`program: message`,
/// then a pointer to `--help`) and gives exit code 2, the code every
/// program here uses for bad input.
///
/// ```
/// let code = mlx_workloads::harness::usage_error("bench", "--iters must be a number");
/// assert_eq!(code, std::process::ExitCode::from(2));
/// ```
pub fn usage_error(program: &str, message: &str) -> std::process::ExitCode {
    eprintln!("{program}: {message}\nrun with --help for the flags");
    std::process::ExitCode::from(2)
}

/// The machine's physical memory in bytes (`MemTotal` of `/proc/meminfo`),
/// where the system reports it (Linux); `None` elsewhere.
pub fn physical_memory() -> Option<u64> {
    parse_mem_total(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes.
fn parse_mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut parts = line.split_whitespace().skip(1);
    let n: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") => n.checked_mul(1024),
        None => Some(n),
        Some(_) => None,
    }
}

/// `Err` with a message when `needed` bytes (plus 10 % for everything
/// else) exceed the physical memory `available` (when known): a run that
/// would be killed for memory is refused up front instead.
///
/// ```
/// use mlx_workloads::harness::check_fits;
/// assert!(check_fits("weights", 10 << 30, Some(64 << 30)).is_ok());
/// assert!(check_fits("weights", 24 << 30, Some(24 << 30)).is_err());
/// assert!(check_fits("weights", 24 << 30, None).is_ok());
/// ```
pub fn check_fits(
    what: &str,
    needed: u64,
    available: Option<u64>,
) -> std::result::Result<(), String> {
    match available {
        Some(avail) if needed.saturating_add(needed / 10) > avail => Err(format!(
            "{what} need {:.1} GB and a tenth more for the rest: more than this machine's {:.1} GB of memory",
            needed as f64 / 1e9,
            avail as f64 / 1e9
        )),
        _ => Ok(()),
    }
}

/// The device `choice` names, or the GPU where MLX has one, else the CPU.
/// `Err` with a message when the GPU is asked for and MLX has none.
pub fn select_device(choice: Option<DeviceChoice>) -> std::result::Result<Device, String> {
    let gpu = Device::gpu();
    match choice {
        Some(DeviceChoice::Cpu) => Ok(Device::cpu()),
        Some(DeviceChoice::Gpu) if gpu.is_available() => Ok(gpu),
        Some(DeviceChoice::Gpu) => {
            Err("--device gpu: this MLX build has no usable GPU (try --device cpu)".into())
        }
        None if gpu.is_available() => Ok(gpu),
        None => Ok(Device::cpu()),
    }
}

/// Everything a benchmark program reports.
#[derive(Debug)]
pub struct Report {
    /// Benchmark name, e.g. `rag_query`.
    pub benchmark: String,
    /// The options it ran with.
    pub opts: Options,
    /// `cpu` or `gpu`.
    pub device: String,
    /// What [`run`] measured.
    pub measurement: Measurement,
    /// Items per iteration and their unit (e.g. `queries`).
    pub items_per_iter: f64,
    /// The unit of one item, plural (e.g. `queries`).
    pub unit: String,
    /// Workload-specific results (e.g. recall@10), printed and recorded.
    pub metrics: Vec<(String, Value)>,
    /// Lines printed after the results (what was and was not measured).
    pub notes: Vec<String>,
}

impl Report {
    /// The human-readable summary.
    pub fn text(&self) -> String {
        let m = &self.measurement;
        let s = &m.stats;
        let ms = |x: f64| format!("{:.3} ms", x * 1e3);
        let mut out = String::new();
        let mut line = |k: &str, v: String| out.push_str(&format!("{k:<22}{v}\n"));
        line("benchmark", self.benchmark.clone());
        line("preset", self.opts.preset.name().into());
        line("dtype", self.opts.dtype.to_string());
        line("device", self.device.clone());
        line("batch", self.opts.batch.to_string());
        line(
            "iterations",
            format!("{} timed, {} warm-up", s.n, self.opts.warmup),
        );
        line("avg", ms(s.avg));
        line("std", ms(s.std));
        line("p50", ms(s.p50));
        line("p95", ms(s.p95));
        line("min / max", format!("{} / {}", ms(s.min), ms(s.max)));
        line(
            "throughput",
            format!("{:.1} {}/s", s.throughput(self.items_per_iter), self.unit),
        );
        line(
            "peak memory",
            format!(
                "{:.1} MiB (MLX's counters)",
                m.peak_memory as f64 / 1048576.0
            ),
        );
        line("sync points / iter", format!("{}", m.syncs_per_iter));
        for (k, v) in &self.metrics {
            let v = match v {
                Value::String(s) => s.clone(),
                // Counts stay integers; measured values get four decimals.
                Value::Number(n) if n.is_f64() => {
                    n.as_f64().map_or(n.to_string(), |f| format!("{f:.4}"))
                }
                Value::Number(n) => n.to_string(),
                other => other.to_string(),
            };
            line(k, v);
        }
        if let Some(trace) = &m.trace {
            out.push_str(&format!(
                "profile: {} barriers / iter (timings above include them); top stages:\n",
                m.barriers_per_iter
            ));
            let total: f64 = trace
                .spans()
                .iter()
                .filter(|s| s.name == "iteration")
                .map(|s| s.dur_us)
                .sum();
            for (name, us, calls) in trace.top_stages(5) {
                out.push_str(&format!(
                    "  {name:<20}{:>10.3} ms total {:>8.3} ms/call {:>6.1}%\n",
                    us / 1e3,
                    us / 1e3 / calls as f64,
                    100.0 * us / total.max(1e-9)
                ));
            }
        }
        for n in &self.notes {
            out.push_str(&format!("note: {n}\n"));
        }
        out
    }

    /// The JSON record.
    pub fn to_json(&self) -> Value {
        let m = &self.measurement;
        let s = &m.stats;
        let ms = |x: f64| x * 1e3;
        let metrics: serde_json::Map<String, Value> = self.metrics.iter().cloned().collect();
        let top: Vec<Value> = m
            .trace
            .as_ref()
            .map(|t| {
                t.top_stages(5)
                    .into_iter()
                    .map(|(name, us, calls)| json!({"stage": name, "total_ms": us / 1e3, "calls": calls}))
                    .collect()
            })
            .unwrap_or_default();
        json!({
            "benchmark": self.benchmark,
            "mlx_version": mlx_rs_core::version().unwrap_or_default(),
            "unix_time": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            "preset": self.opts.preset.name(),
            "dtype": self.opts.dtype.to_string(),
            "device": self.device,
            "batch": self.opts.batch,
            "iters": s.n,
            "warmup": self.opts.warmup,
            "profiled": m.trace.is_some(),
            "latency_ms": {
                "avg": ms(s.avg), "std": ms(s.std), "p50": ms(s.p50), "p95": ms(s.p95),
                "min": ms(s.min), "max": ms(s.max),
                "samples": m.samples.iter().map(|x| ms(*x)).collect::<Vec<_>>(),
            },
            "throughput": {"value": s.throughput(self.items_per_iter), "unit": format!("{}/s", self.unit)},
            "peak_memory_bytes": m.peak_memory,
            "sync_points_per_iter": m.syncs_per_iter,
            "profile_barriers_per_iter": m.barriers_per_iter,
            "top_stages": top,
            "metrics": metrics,
            "notes": self.notes,
        })
    }

    /// Writes the JSON record and the profile where the options ask for
    /// them; returns the paths written.
    pub fn write_files(&self) -> std::io::Result<Vec<String>> {
        let mut written = Vec::new();
        if let Some(path) = &self.opts.json {
            write_json(path, &self.to_json())?;
            written.push(path.display().to_string());
        }
        if let (Some(path), Some(trace)) = (&self.opts.profile, &self.measurement.trace) {
            write_json(path, &trace.to_json(&self.benchmark))?;
            written.push(path.display().to_string());
        }
        Ok(written)
    }
}

fn write_json(path: &Path, value: &Value) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    std::fs::write(path, text + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_total_parses() {
        let text = "MemTotal:       24683652 kB\nMemFree:         5734136 kB\n";
        assert_eq!(parse_mem_total(text), Some(24683652 * 1024));
        assert_eq!(parse_mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(parse_mem_total("MemTotal: x kB\n"), None);
        assert_eq!(parse_mem_total("MemTotal: 5 MB\n"), None);
    }

    #[test]
    fn check_fits_keeps_a_tenth_spare() {
        let gb = 1_000_000_000u64;
        assert!(check_fits("w", 9 * gb, Some(10 * gb)).is_ok());
        let err = check_fits("the weights", 23_800_000_000, Some(25_275_000_000)).unwrap_err();
        assert!(err.contains("23.8 GB") && err.contains("25.3 GB"), "{err}");
    }
}
