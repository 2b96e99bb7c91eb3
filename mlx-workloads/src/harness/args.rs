//! The command line every benchmark program takes.

use std::fmt;
use std::path::PathBuf;

use mlx_rs_core::Dtype;

/// Which size of a workload runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// Tiny dimensions: the same code, fast enough for CI on a CPU.
    Small,
    /// The real dimensions.
    Full,
}

impl Preset {
    /// The flag value (`small` / `full`).
    pub fn name(self) -> &'static str {
        match self {
            Preset::Small => "small",
            Preset::Full => "full",
        }
    }
}

/// Which device the workload runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceChoice {
    /// MLX's CPU device.
    Cpu,
    /// MLX's GPU (CUDA or Metal).
    Gpu,
}

impl DeviceChoice {
    /// The flag value (`cpu` / `gpu`).
    pub fn name(self) -> &'static str {
        match self {
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Gpu => "gpu",
        }
    }
}

/// Parsed benchmark options.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Compute dtype: float32 or bfloat16 (`--dtype`, else `MLX_DTYPE`, else float32).
    pub dtype: Dtype,
    /// Timed iterations (`--iters`, default 20, at least 1).
    pub iters: usize,
    /// Untimed iterations before them (`--warmup`, default 3).
    pub warmup: usize,
    /// Items per iteration, e.g. queries (`--batch`, default 1, at least 1).
    pub batch: usize,
    /// Workload size (`--preset`, default small).
    pub preset: Preset,
    /// Device (`--device`; default: the GPU where MLX has one, else the CPU).
    pub device: Option<DeviceChoice>,
    /// Where to write a Chrome-trace profile (`--profile [PATH]`).
    pub profile: Option<PathBuf>,
    /// Where to write the JSON record (`--json PATH`).
    pub json: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            dtype: Dtype::Float32,
            iters: 20,
            warmup: 3,
            batch: 1,
            preset: Preset::Small,
            device: None,
            profile: None,
            json: None,
        }
    }
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Run with these options.
    Run(Options),
    /// Print the usage text and exit successfully.
    Help,
}

/// A command line that cannot be used; the message names the flag and the
/// accepted values. Programs print it and exit with code 2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgError(pub String);

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgError {}

/// The usage text for a program named `program`, whose default profile
/// path is `default_profile`.
pub fn usage(program: &str, about: &str, default_profile: &str) -> String {
    format!(
        "{about}

usage: {program} [flags]

  --dtype float32|bfloat16   compute dtype (default: env MLX_DTYPE, else float32)
  --iters N                  timed iterations (default 20)
  --warmup N                 untimed iterations first (default 3)
  --batch N                  items per iteration (default 1)
  --preset small|full        workload size (default small)
  --device cpu|gpu           device (default: the GPU where MLX has one, else the CPU)
  --profile [PATH]           write a Chrome-trace JSON (default {default_profile});
                             places an evaluation barrier after every stage
  --json PATH                write the results as JSON
  --help                     print this text
"
    )
}

/// Parses `args` (without the program name). `env_dtype` is the value of
/// `MLX_DTYPE`, the default when `--dtype` is absent. Flags take their value
/// as the next argument or after `=`; `--profile` takes a path only if the
/// next argument is not a flag.
///
/// ```
/// use mlx_workloads::harness::{parse_args, Command, Preset};
/// let args = ["--preset", "full", "--iters=5"].map(String::from);
/// let Command::Run(opts) = parse_args(args, None, "trace.json").unwrap() else { panic!() };
/// assert_eq!((opts.preset, opts.iters), (Preset::Full, 5));
/// assert!(parse_args(["--iters", "x"].map(String::from), None, "t.json").is_err());
/// ```
pub fn parse_args(
    args: impl IntoIterator<Item = String>,
    env_dtype: Option<&str>,
    default_profile: &str,
) -> Result<Command, ArgError> {
    let mut opts = Options::default();
    let mut dtype_flag = None;
    let mut args = args.into_iter().peekable();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, ArgError> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            match args.next() {
                Some(v) if !v.starts_with("--") => Ok(v),
                _ => Err(ArgError(format!("{name} needs a value"))),
            }
        };
        match flag.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--dtype" => dtype_flag = Some(value("--dtype")?),
            "--iters" => opts.iters = count("--iters", &value("--iters")?, 1)?,
            "--warmup" => opts.warmup = count("--warmup", &value("--warmup")?, 0)?,
            "--batch" => opts.batch = count("--batch", &value("--batch")?, 1)?,
            "--preset" => {
                opts.preset = match value("--preset")?.as_str() {
                    "small" => Preset::Small,
                    "full" => Preset::Full,
                    other => {
                        return Err(ArgError(format!(
                            "--preset: unknown value {other:?} (expected small or full)"
                        )))
                    }
                }
            }
            "--device" => {
                opts.device = Some(match value("--device")?.as_str() {
                    "cpu" => DeviceChoice::Cpu,
                    "gpu" => DeviceChoice::Gpu,
                    other => {
                        return Err(ArgError(format!(
                            "--device: unknown value {other:?} (expected cpu or gpu)"
                        )))
                    }
                })
            }
            "--profile" => {
                let path = match inline {
                    Some(v) => v,
                    None if args.peek().is_some_and(|v| !v.starts_with("--")) => {
                        args.next().unwrap_or_default()
                    }
                    None => default_profile.to_string(),
                };
                if path.is_empty() {
                    return Err(ArgError("--profile: empty path".into()));
                }
                opts.profile = Some(PathBuf::from(path));
            }
            "--json" => {
                let path = value("--json")?;
                if path.is_empty() {
                    return Err(ArgError("--json: empty path".into()));
                }
                opts.json = Some(PathBuf::from(path));
            }
            other => {
                return Err(ArgError(format!(
                    "unknown argument {other:?} (--help lists the flags)"
                )))
            }
        }
    }
    opts.dtype = match (dtype_flag, env_dtype) {
        (Some(v), _) => dtype("--dtype", &v)?,
        (None, Some(v)) => dtype("MLX_DTYPE", v)?,
        (None, None) => Dtype::Float32,
    };
    Ok(Command::Run(opts))
}

/// Program-specific `(flag, value)` pairs, in command-line order.
pub type TakenFlags = Vec<(String, String)>;

/// Takes out of `args` the program-specific flags named in `extra` (each
/// takes a value, as `--flag value` or `--flag=value`), returning the other
/// arguments (for [`parse_args`]) and the taken `(flag, value)` pairs in
/// order. A program uses it for flags beyond the shared ones.
///
/// ```
/// use mlx_workloads::harness::take_flags;
/// let args = ["--iters", "2", "--weights", "w.safetensors", "--seed=4"].map(String::from);
/// let (rest, taken) = take_flags(args, &["--weights", "--seed"]).unwrap();
/// assert_eq!(rest, ["--iters", "2"]);
/// assert_eq!(taken, [("--weights".into(), "w.safetensors".into()), ("--seed".into(), "4".into())]);
/// assert!(take_flags(["--weights".to_string()], &["--weights"]).is_err());
/// ```
pub fn take_flags(
    args: impl IntoIterator<Item = String>,
    extra: &[&str],
) -> Result<(Vec<String>, TakenFlags), ArgError> {
    let mut rest = Vec::new();
    let mut taken = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if !extra.contains(&flag.as_str()) {
            rest.push(arg);
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => match args.next() {
                Some(v) if !v.starts_with("--") => v,
                _ => return Err(ArgError(format!("{flag} needs a value"))),
            },
        };
        if value.is_empty() {
            return Err(ArgError(format!("{flag}: empty value")));
        }
        taken.push((flag, value));
    }
    Ok((rest, taken))
}

fn dtype(source: &str, value: &str) -> Result<Dtype, ArgError> {
    match value {
        "float32" => Ok(Dtype::Float32),
        "bfloat16" => Ok(Dtype::Bfloat16),
        other => Err(ArgError(format!(
            "{source}: unknown dtype {other:?} (expected float32 or bfloat16)"
        ))),
    }
}

fn count(flag: &str, value: &str, min: usize) -> Result<usize, ArgError> {
    match value.parse::<usize>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(ArgError(format!(
            "{flag}: expected a whole number >= {min}, got {value:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: Option<&str>) -> Result<Command, ArgError> {
        parse_args(args.iter().map(|s| s.to_string()), env, "default.json")
    }

    fn run(args: &[&str], env: Option<&str>) -> Options {
        match parse(args, env).unwrap() {
            Command::Run(o) => o,
            Command::Help => panic!("unexpected help"),
        }
    }

    #[test]
    fn defaults_and_every_flag() {
        assert_eq!(run(&[], None), Options::default());
        let o = run(
            &[
                "--dtype",
                "bfloat16",
                "--iters",
                "7",
                "--warmup=0",
                "--batch",
                "64",
                "--preset",
                "full",
                "--device",
                "cpu",
                "--profile",
                "p.json",
                "--json",
                "r.json",
            ],
            None,
        );
        assert_eq!(o.dtype, Dtype::Bfloat16);
        assert_eq!((o.iters, o.warmup, o.batch), (7, 0, 64));
        assert_eq!(o.preset, Preset::Full);
        assert_eq!(o.device, Some(DeviceChoice::Cpu));
        assert_eq!(o.profile, Some(PathBuf::from("p.json")));
        assert_eq!(o.json, Some(PathBuf::from("r.json")));
        assert_eq!(parse(&["--iters", "3", "--help"], None), Ok(Command::Help));
    }

    #[test]
    fn profile_path_is_optional() {
        let o = run(&["--profile", "--iters", "2"], None);
        assert_eq!(o.profile, Some(PathBuf::from("default.json")));
        assert_eq!(o.iters, 2);
        assert_eq!(
            run(&["--profile"], None).profile,
            Some(PathBuf::from("default.json"))
        );
        assert_eq!(
            run(&["--profile=x.json"], None).profile,
            Some(PathBuf::from("x.json"))
        );
    }

    #[test]
    fn env_dtype_is_the_default_and_the_flag_wins() {
        assert_eq!(run(&[], Some("bfloat16")).dtype, Dtype::Bfloat16);
        assert_eq!(
            run(&["--dtype", "float32"], Some("bfloat16")).dtype,
            Dtype::Float32
        );
        let err = parse(&[], Some("half")).unwrap_err().0;
        assert!(
            err.contains("MLX_DTYPE") && err.contains("\"half\""),
            "{err}"
        );
        // A bad environment value does not matter when the flag is given.
        assert_eq!(
            run(&["--dtype", "bfloat16"], Some("half")).dtype,
            Dtype::Bfloat16
        );
    }

    #[test]
    fn bad_flags_name_the_flag_and_the_accepted_values() {
        let cases: &[(&[&str], &str)] = &[
            (&["--dtype", "float16"], "expected float32 or bfloat16"),
            (&["--iters", "0"], "--iters: expected a whole number >= 1"),
            (&["--iters", "-3"], "--iters: expected a whole number >= 1"),
            (&["--warmup", "x"], "--warmup: expected a whole number >= 0"),
            (&["--batch", "2.5"], "--batch: expected a whole number >= 1"),
            (&["--preset", "huge"], "expected small or full"),
            (&["--device", "tpu"], "expected cpu or gpu"),
            (&["--iters"], "--iters needs a value"),
            (&["--json"], "--json needs a value"),
            (&["--json", "--iters", "2"], "--json needs a value"),
            (&["--json="], "--json: empty path"),
            (&["--frobnicate"], "unknown argument \"--frobnicate\""),
            (&["extra"], "unknown argument \"extra\""),
        ];
        for (args, want) in cases {
            let err = parse(args, None).unwrap_err().0;
            assert!(err.contains(want), "{args:?}: {err}");
        }
    }
}
