//! Times one forward pass of the FLUX.1 transformer (BFL's `Flux.forward`):
//! embedders, 19 double-stream blocks, 38 single-stream blocks, final layer.
//!
//! `cargo run --release -p mlx-workloads --bin benchmark_flux_forward_pass -- --help`
//!
//! Weights are seeded synthetic ones unless `--weights` names a BFL-format
//! checkpoint (`flux1-schnell.safetensors`, or `flux1-dev.safetensors` with
//! `--variant dev`), which is loaded strictly. Inputs (latents, text tokens,
//! pooled vector) are seeded random arrays of the real shapes; the text
//! encoders are not part of this program.
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use mlx_rs_core::{ops, Dtype};
use mlx_workloads::flux::{Flux, FluxConfig, Inputs};
use mlx_workloads::harness::{self, Command, Preset, Report};
use serde_json::json;

const NAME: &str = "benchmark_flux_forward_pass";
const ABOUT: &str =
    "Times one forward pass of the FLUX.1 transformer (Black Forest Labs' architecture
and checkpoint names) on seeded inputs.

presets: full  = FLUX.1 (3072 wide, 24 heads x 128, 19 double + 38 single blocks,
                 12 B parameters), 512 text tokens, 1024 x 1024 image = 4096 image tokens;
         small = the same code at 128 wide, 2 heads x 64, 2 double + 4 single blocks,
                 64 text tokens, 256 x 256 image = 256 image tokens (runs on a CPU).
--batch is the number of images per forward pass.

program flags:
  --weights PATH             a BFL-format checkpoint (e.g. flux1-schnell.safetensors),
                             loaded strictly and lazily, converted to --dtype;
                             default: seeded synthetic weights
  --variant schnell|dev      schnell (default) or dev (adds guidance_in; guidance 3.5)
  --seed N                   seed of the synthetic weights and the inputs (default 0)
  --compiled on|off          run each block as one compiled function (MLX fuses the
                             element-wise work between GEMMs) or op by op
                             (default: on on a GPU, off on the CPU, the
                             faster on each)

Text encoders (T5-XXL, CLIP-L) are not included: txt and y are random arrays
of their output shapes.";

struct Flags {
    weights: Option<PathBuf>,
    dev: bool,
    seed: u64,
    /// `None`: the model's default for the device.
    compiled: Option<bool>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env_dtype = std::env::var("MLX_DTYPE").ok();
    let default_profile = format!("{NAME}.trace.json");
    let (rest, taken) =
        match harness::take_flags(args, &["--weights", "--variant", "--seed", "--compiled"]) {
            Ok(v) => v,
            Err(e) => return harness::usage_error(NAME, &e.0),
        };
    let opts = match harness::parse_args(rest, env_dtype.as_deref(), &default_profile) {
        Ok(Command::Run(opts)) => opts,
        Ok(Command::Help) => {
            print!("{}", harness::usage(NAME, ABOUT, &default_profile));
            return ExitCode::SUCCESS;
        }
        Err(e) => return harness::usage_error(NAME, &e.0),
    };
    let mut flags = Flags {
        weights: None,
        dev: false,
        seed: 0,
        compiled: None,
    };
    for (flag, value) in taken {
        match flag.as_str() {
            "--weights" => flags.weights = Some(PathBuf::from(value)),
            "--variant" => {
                flags.dev = match value.as_str() {
                    "schnell" => false,
                    "dev" => true,
                    other => {
                        return harness::usage_error(
                            NAME,
                            &format!(
                                "--variant: unknown value {other:?} (expected schnell or dev)"
                            ),
                        )
                    }
                }
            }
            "--compiled" => {
                flags.compiled = match value.as_str() {
                    "on" => Some(true),
                    "off" => Some(false),
                    other => {
                        return harness::usage_error(
                            NAME,
                            &format!("--compiled: unknown value {other:?} (expected on or off)"),
                        )
                    }
                }
            }
            _ => match value.parse() {
                Ok(s) => flags.seed = s,
                Err(_) => {
                    return harness::usage_error(
                        NAME,
                        &format!("--seed: expected a whole number >= 0, got {value:?}"),
                    )
                }
            },
        }
    }
    if let Some(w) = &flags.weights {
        if !w.is_file() {
            return harness::usage_error(NAME, &format!("--weights: no file at {}", w.display()));
        }
    }
    let device = match harness::select_device(opts.device) {
        Ok(d) => d,
        Err(msg) => return harness::usage_error(NAME, &msg),
    };
    if let Err(e) = device.set_default() {
        eprintln!("{NAME}: {e}");
        return ExitCode::FAILURE;
    }
    let config = match (opts.preset, flags.dev) {
        (Preset::Small, dev) => FluxConfig {
            guidance_embed: dev,
            ..FluxConfig::small()
        },
        (Preset::Full, false) => FluxConfig::schnell(),
        (Preset::Full, true) => FluxConfig::dev(),
    };
    // Weights larger than the machine's memory would only get the process
    // killed; on the CPU (where MLX's memory is the machine's) refuse up front.
    if device.device_type() == mlx_rs_core::DeviceType::Cpu {
        let bytes = config.num_parameters() * opts.dtype.size_of() as u64;
        let what = format!("the {} preset's {} weights", opts.preset.name(), opts.dtype);
        if let Err(msg) = harness::check_fits(&what, bytes, harness::physical_memory()) {
            return harness::usage_error(
                NAME,
                &format!("{msg} (run it on a GPU, or use --preset small)"),
            );
        }
    }
    // A checkpoint that does not fit the preset is bad input: exit 2.
    let setup = Instant::now();
    let model = match &flags.weights {
        Some(path) => match Flux::load(config.clone(), path, opts.dtype) {
            Ok(m) => m,
            Err(e) => return harness::usage_error(NAME, &format!("--weights: {e}")),
        },
        None => match Flux::synthetic(config.clone(), opts.dtype, flags.seed) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("{NAME}: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let model = match flags.compiled {
        Some(c) => model.with_compiled(c),
        None => model,
    };
    let device_name = format!("{:?}", device.device_type()).to_lowercase();
    match run(opts, &config, &model, &flags, setup, device_name) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{NAME}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(
    opts: harness::Options,
    config: &FluxConfig,
    model: &Flux,
    flags: &Flags,
    setup: Instant,
    device: String,
) -> Result<(), Box<dyn std::error::Error>> {
    let (txt_len, side) = match opts.preset {
        Preset::Small => (64, 256),
        Preset::Full => (512, 1024),
    };
    let (rows, cols) = mlx_workloads::flux::sampling::latent_grid(side, side)?;
    let batch = i32::try_from(opts.batch).map_err(|_| "--batch is too large")?;
    let inputs = Inputs::synthetic(config, batch, txt_len, rows, cols, 0.5, flags.seed ^ 0x5eed)?;
    model.eval_parameters()?;
    mlx_rs_core::eval([&inputs.img, &inputs.txt, &inputs.y, &inputs.img_ids])?;
    let setup_s = setup.elapsed().as_secs_f64();

    // Untimed by the harness: the first call traces and compiles the blocks
    // (when compiled); the graph's node count is that of one forward pass.
    let first = Instant::now();
    let out = model.forward(&inputs)?;
    mlx_rs_core::eval([&out])?;
    let first_s = first.elapsed().as_secs_f64();
    let nodes = graph_nodes(&model.forward(&inputs)?)?;

    let mut last = None;
    let measurement = harness::run(&opts, true, |it| {
        let (mut s, c) = it.stage("embedders", || model.embed(&inputs))?;
        for i in 0..config.depth {
            s = it.stage(&format!("double_blocks.{i}"), || {
                model.double_block(i, &s, &c)
            })?;
        }
        let mut x = None;
        for i in 0..config.depth_single_blocks {
            let prev = x.take();
            x = Some(it.stage(&format!("single_blocks.{i}"), || {
                let joint = match prev {
                    Some(x) => x,
                    None => model.join(&s)?,
                };
                model.single_block(i, &joint, &c)
            })?);
        }
        let joint = match x {
            Some(x) => x,
            None => model.join(&s)?,
        };
        let out = it.stage("final_layer", || model.final_layer(&joint, &c))?;
        it.eval(&[&out])?;
        last = Some(out);
        Ok(())
    })?;

    // Outside the timed region: the output is finite and of the right shape.
    let out = last.ok_or("no iteration ran")?;
    let max_abs = ops::max(&ops::abs(&out.astype(Dtype::Float32)?)?, false)?.item::<f32>()?;
    if !max_abs.is_finite() {
        return Err(format!("the output is not finite (max |out| = {max_abs})").into());
    }
    let params = config.num_parameters();
    let report = Report {
        benchmark: "flux_forward_pass".into(),
        device,
        items_per_iter: opts.batch as f64,
        unit: "images".into(),
        metrics: vec![
            ("variant".into(), json!(if flags.dev { "dev" } else { "schnell" })),
            (
                "model".into(),
                json!(format!(
                    "{} wide, {} heads x {}, {} double + {} single blocks, {:.3} M parameters",
                    config.hidden_size,
                    config.num_heads,
                    config.head_dim(),
                    config.depth,
                    config.depth_single_blocks,
                    params as f64 / 1e6
                )),
            ),
            (
                "tokens".into(),
                json!(format!("{txt_len} text + {} image ({side} x {side})", rows * cols)),
            ),
            (
                "weights".into(),
                json!(match &flags.weights {
                    Some(p) => p.display().to_string(),
                    None => format!("synthetic (seed {})", flags.seed),
                }),
            ),
            ("output shape".into(), json!(format!("{:?}", out.shape()))),
            ("max |output|".into(), json!(max_abs)),
            (
                "blocks".into(),
                json!(if model.is_compiled() {
                    "compiled (--compiled on)"
                } else {
                    "op by op (--compiled off)"
                }),
            ),
            ("graph nodes".into(), json!(nodes)),
            (
                "first call".into(),
                json!(format!(
                    "{:.1} ms (trace + compile + run, untimed)",
                    first_s * 1e3
                )),
            ),
            (
                "setup".into(),
                json!(format!("{setup_s:.2} s (weights + inputs, untimed)")),
            ),
        ],
        notes: vec![
            "one iteration = one transformer forward pass (one sampling step); text encoders and the VAE are not timed."
                .into(),
        ],
        measurement,
        opts,
    };
    print!("{}", report.text());
    for path in report.write_files()? {
        println!("wrote {path}");
    }
    Ok(())
}

/// Nodes (primitives) of the graph that computes `out`, from MLX's text
/// listing: one line per node, after a header of the graph's inputs.
fn graph_nodes(out: &mlx_rs_core::Array) -> Result<usize, Box<dyn std::error::Error>> {
    let text = mlx_rs_core::graph::print_graph(std::slice::from_ref(out))?;
    Ok(text.lines().filter(|l| l.contains(" -> ")).count())
}
