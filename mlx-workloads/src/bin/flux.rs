//! FLUX.1 sampling: noise, N Euler steps of the transformer on BFL's
//! schedule, the final latents written as safetensors and, with the
//! autoencoder's weights, decoded to a PNG.
//!
//! `cargo run --release -p mlx-workloads --bin flux -- --help`
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use mlx_rs_core::{io, ops, Array, Dtype};
use mlx_workloads::flux::sampling::{self, euler_step, latent_grid, pack, schedule, unpack};
use mlx_workloads::flux::vae::{write_png, Decoder, VaeConfig};
use mlx_workloads::flux::{image_ids, Flux, FluxConfig, Inputs};
use mlx_workloads::harness::{self, DeviceChoice};

const NAME: &str = "flux";
const HELP: &str = "FLUX.1 sampling with the transformer of this crate: seeded noise, N Euler
steps on Black Forest Labs' schedule, the final latents written to a file and,
with the autoencoder (--vae), decoded to a PNG.

usage: flux [flags]

  --weights PATH          BFL-format transformer checkpoint (flux1-schnell.safetensors,
                          flux1-dev.safetensors with --variant dev), loaded strictly;
                          default: seeded synthetic weights
  --variant schnell|dev   schnell (default): no guidance, unshifted schedule;
                          dev: guidance_in and the resolution-shifted schedule
  --preset small|full     model size (default: full with --weights, else small, the
                          tiny CPU-sized model of benchmark_flux_forward_pass)
  --steps N               sampling steps (default 4 for schnell, 50 for dev)
  --guidance G            guidance strength for dev (default 3.5)
  --height H, --width W   image size in pixels (default 1024 x 1024 for full,
                          256 x 256 for small); the latent grid is ceil(H/16) x ceil(W/16)
  --seed N                noise seed (default 0; also seeds synthetic weights and text)
  --txt PATH              text conditioning: a safetensors file with `txt` [1, L, 4096]
                          (T5-XXL output) and `vec` [1, 768] (CLIP-L pooled output);
                          default: seeded random arrays of those shapes (L = 256 for
                          schnell, 512 for dev, 64 for small)
  --out PATH              write the final latents [1, 16, 2h, 2w] (what BFL's
                          autoencoder decodes, after z / 0.3611 + 0.1159) as safetensors
                          under the name `latents`
  --vae PATH              BFL's autoencoder (ae.safetensors; its decoder half is used,
                          loaded strictly, sizes read from the file)
  --png PATH              decode the latents with --vae and write the image as PNG
  --dtype float32|bfloat16  compute dtype (default: env MLX_DTYPE, else bfloat16)
  --device cpu|gpu        device (default: the GPU where MLX has one, else the CPU)
  --help                  print this text

Text encoders (T5-XXL, CLIP-L) are not part of this program: without --txt the
conditioning is random, so the latents (and the PNG) are not an image of any
prompt; with synthetic transformer weights they are not an image at all.
";

struct Args {
    weights: Option<PathBuf>,
    dev: bool,
    full: Option<bool>,
    steps: Option<usize>,
    guidance: f32,
    height: Option<u32>,
    width: Option<u32>,
    seed: u64,
    txt: Option<PathBuf>,
    out: Option<PathBuf>,
    vae: Option<PathBuf>,
    png: Option<PathBuf>,
    dtype: Dtype,
    device: Option<DeviceChoice>,
}

fn parse(args: Vec<String>, env_dtype: Option<&str>) -> Result<Option<Args>, String> {
    let mut a = Args {
        weights: None,
        dev: false,
        full: None,
        steps: None,
        guidance: 3.5,
        height: None,
        width: None,
        seed: 0,
        txt: None,
        out: None,
        vae: None,
        png: None,
        dtype: Dtype::Bfloat16,
        device: None,
    };
    let mut dtype_flag = None;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        let value = match inline {
            Some(v) => v,
            None => match it.next() {
                Some(v) if !v.starts_with("--") => v,
                _ if flag.starts_with("--") => return Err(format!("{flag} needs a value")),
                _ => {
                    return Err(format!(
                        "unknown argument {flag:?} (--help lists the flags)"
                    ))
                }
            },
        };
        let num = |min: u64| -> Result<u64, String> {
            match value.parse::<u64>() {
                Ok(n) if n >= min => Ok(n),
                _ => Err(format!(
                    "{flag}: expected a whole number >= {min}, got {value:?}"
                )),
            }
        };
        match flag.as_str() {
            "--weights" => a.weights = Some(PathBuf::from(&value)),
            "--variant" => {
                a.dev = match value.as_str() {
                    "schnell" => false,
                    "dev" => true,
                    v => {
                        return Err(format!(
                            "--variant: unknown value {v:?} (expected schnell or dev)"
                        ))
                    }
                }
            }
            "--preset" => {
                a.full = Some(match value.as_str() {
                    "small" => false,
                    "full" => true,
                    v => {
                        return Err(format!(
                            "--preset: unknown value {v:?} (expected small or full)"
                        ))
                    }
                })
            }
            "--steps" => a.steps = Some(num(1)?.min(10_000) as usize),
            "--guidance" => {
                a.guidance = match value.parse::<f32>() {
                    Ok(g) if g.is_finite() && g >= 0.0 => g,
                    _ => return Err(format!("--guidance: expected a number >= 0, got {value:?}")),
                }
            }
            "--height" => a.height = Some(num(1)?.min(u32::MAX as u64) as u32),
            "--width" => a.width = Some(num(1)?.min(u32::MAX as u64) as u32),
            "--seed" => a.seed = num(0)?,
            "--txt" => a.txt = Some(PathBuf::from(&value)),
            "--out" => a.out = Some(PathBuf::from(&value)),
            "--vae" => a.vae = Some(PathBuf::from(&value)),
            "--png" => a.png = Some(PathBuf::from(&value)),
            "--dtype" => dtype_flag = Some(value),
            "--device" => {
                a.device = Some(match value.as_str() {
                    "cpu" => DeviceChoice::Cpu,
                    "gpu" => DeviceChoice::Gpu,
                    v => {
                        return Err(format!(
                            "--device: unknown value {v:?} (expected cpu or gpu)"
                        ))
                    }
                })
            }
            _ => {
                return Err(format!(
                    "unknown argument {flag:?} (--help lists the flags)"
                ))
            }
        }
    }
    if a.png.is_some() && a.vae.is_none() {
        return Err("--png needs --vae PATH (the autoencoder that decodes the latents)".into());
    }
    let (source, d) = match (dtype_flag, env_dtype) {
        (Some(v), _) => ("--dtype", v),
        (None, Some(v)) => ("MLX_DTYPE", v.to_string()),
        (None, None) => return Ok(Some(a)),
    };
    a.dtype = match d.as_str() {
        "float32" => Dtype::Float32,
        "bfloat16" => Dtype::Bfloat16,
        other => {
            return Err(format!(
                "{source}: unknown dtype {other:?} (expected float32 or bfloat16)"
            ))
        }
    };
    Ok(Some(a))
}

fn main() -> ExitCode {
    let env_dtype = std::env::var("MLX_DTYPE").ok();
    let args = match parse(std::env::args().skip(1).collect(), env_dtype.as_deref()) {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => return harness::usage_error(NAME, &msg),
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => harness::usage_error(NAME, &msg),
        Err(Failure::Run(msg)) => {
            eprintln!("{NAME}: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// Bad input (exit 2) or a failure while running (exit 1).
enum Failure {
    Usage(String),
    Run(String),
}

impl From<mlx_rs_core::Error> for Failure {
    fn from(e: mlx_rs_core::Error) -> Failure {
        Failure::Run(e.to_string())
    }
}

/// The text conditioning from `--txt`, checked against the model.
fn load_txt(path: &PathBuf, c: &FluxConfig) -> Result<(Array, Array), Failure> {
    let file = io::load_safetensors(path).map_err(|e| Failure::Usage(format!("--txt: {e}")))?;
    let get = |k: &str| {
        file.arrays.get(k).cloned().ok_or_else(|| {
            let mut have: Vec<&String> = file.arrays.keys().collect();
            have.sort();
            Failure::Usage(format!(
                "--txt {}: no tensor {k:?} (has {have:?})",
                path.display()
            ))
        })
    };
    let (txt, vec) = (get("txt")?, get("vec")?);
    let (ts, vs) = (txt.shape(), vec.shape());
    if ts.len() != 3 || ts[0] != 1 || ts[1] < 1 || ts[2] != c.context_in_dim {
        return Err(Failure::Usage(format!(
            "--txt: txt has shape {ts:?}, expected [1, L, {}]",
            c.context_in_dim
        )));
    }
    if vs != [1, c.vec_in_dim] {
        return Err(Failure::Usage(format!(
            "--txt: vec has shape {vs:?}, expected [1, {}]",
            c.vec_in_dim
        )));
    }
    Ok((txt.astype(Dtype::Float32)?, vec.astype(Dtype::Float32)?))
}

fn run(a: Args) -> Result<(), Failure> {
    let device = harness::select_device(a.device).map_err(Failure::Usage)?;
    device.set_default()?;
    let full = a.full.unwrap_or(a.weights.is_some());
    let config = match (full, a.dev) {
        (true, false) => FluxConfig::schnell(),
        (true, true) => FluxConfig::dev(),
        (false, dev) => FluxConfig {
            guidance_embed: dev,
            ..FluxConfig::small()
        },
    };
    let side = if full { 1024 } else { 256 };
    let (height, width) = (a.height.unwrap_or(side), a.width.unwrap_or(side));
    let (rows, cols) = latent_grid(height, width).map_err(|e| Failure::Usage(e.to_string()))?;
    let steps = a.steps.unwrap_or(if a.dev { 50 } else { 4 });

    // On the CPU, weights beyond the machine's memory would only get the
    // process killed: refuse up front.
    if device.device_type() == mlx_rs_core::DeviceType::Cpu {
        let bytes = config.num_parameters() * a.dtype.size_of() as u64;
        let what = format!(
            "the {} model's {} weights",
            if full { "full" } else { "small" },
            a.dtype
        );
        harness::check_fits(&what, bytes, harness::physical_memory())
            .map_err(|m| Failure::Usage(format!("{m} (run it on a GPU)")))?;
    }
    let t0 = Instant::now();
    let model = match &a.weights {
        Some(p) => Flux::load(config.clone(), p, a.dtype)
            .map_err(|e| Failure::Usage(format!("--weights: {e}")))?,
        None => Flux::synthetic(config.clone(), a.dtype, a.seed)?,
    };
    let (txt, vec) = match &a.txt {
        Some(p) => load_txt(p, &config)?,
        None => {
            let len = if !full {
                64
            } else if a.dev {
                512
            } else {
                256
            };
            let s = Inputs::synthetic(&config, 1, len, 1, 1, 1.0, a.seed ^ 0x7e47)?;
            (s.txt, s.y)
        }
    };
    let vae = match &a.vae {
        Some(p) => {
            let cfg =
                VaeConfig::from_checkpoint(p).map_err(|e| Failure::Usage(format!("--vae: {e}")))?;
            Some(
                Decoder::load(cfg, p, a.dtype)
                    .map_err(|e| Failure::Usage(format!("--vae: {e}")))?,
            )
        }
        None => None,
    };
    model.eval_parameters()?;
    let load_s = t0.elapsed().as_secs_f64();

    let noise = sampling::noise(1, rows, cols, a.seed)?;
    let mut img = pack(&noise)?.astype(a.dtype)?;
    let n_img = (rows * cols) as usize;
    let timesteps = schedule(steps, n_img, a.dev);
    let l = txt.shape()[1];
    println!(
        "FLUX.1 [{}] {} model ({:.3} B parameters, {:?}, {} weights), {height} x {width} -> {rows} x {cols} latent tokens, {l} text tokens, {steps} steps, seed {}",
        if a.dev { "dev" } else { "schnell" },
        if full { "full" } else { "small" },
        config.num_parameters() as f64 / 1e9,
        a.dtype,
        if a.weights.is_some() { "checkpoint" } else { "synthetic" },
        a.seed
    );
    println!("weights ready in {load_s:.2} s");
    let mut inputs = Inputs {
        img: img.clone(),
        img_ids: image_ids(1, rows, cols)?,
        txt,
        txt_ids: ops::zeros(&[1, l, 3], Dtype::Float32)?,
        timesteps: Array::from_slice(&[1.0f32], &[1])?,
        y: vec,
        guidance: config
            .guidance_embed
            .then(|| Array::from_slice(&[a.guidance], &[1]))
            .transpose()?,
    };
    let total = Instant::now();
    for (i, pair) in timesteps.windows(2).enumerate() {
        let (t_curr, t_prev) = (pair[0], pair[1]);
        let step = Instant::now();
        inputs.img = img.clone();
        inputs.timesteps = Array::from_slice(&[t_curr as f32], &[1])?;
        let pred = model.forward(&inputs)?;
        img = euler_step(&img, &pred, t_curr, t_prev)?;
        mlx_rs_core::eval([&img])?;
        println!(
            "step {:>3}/{steps}  t {t_curr:.4} -> {t_prev:.4}  {:.3} s",
            i + 1,
            step.elapsed().as_secs_f64()
        );
    }
    let secs = total.elapsed().as_secs_f64();
    println!(
        "sampling: {secs:.3} s total, {:.3} s / step",
        secs / steps as f64
    );
    let latents = unpack(&img.astype(Dtype::Float32)?, rows, cols)?;
    let max = ops::max(&ops::abs(&latents)?, false)?.item::<f32>()?;
    if !max.is_finite() {
        return Err(Failure::Run(format!(
            "the latents are not finite (max |x| = {max})"
        )));
    }
    println!("latents {:?}, max |x| {max:.4}", latents.shape());
    match &a.out {
        Some(path) => {
            let tensors = HashMap::from([("latents".to_string(), latents.clone())]);
            let meta = HashMap::from([
                ("height".to_string(), height.to_string()),
                ("width".to_string(), width.to_string()),
                ("steps".to_string(), steps.to_string()),
                ("seed".to_string(), a.seed.to_string()),
                ("vae_scale_factor".to_string(), "0.3611".to_string()),
                ("vae_shift_factor".to_string(), "0.1159".to_string()),
            ]);
            io::save_safetensors(path, &tensors, &meta)?;
            println!("wrote {}", path.display());
        }
        None => println!("latents not written (--out PATH writes them)"),
    }
    match (&vae, &a.png) {
        (Some(vae), Some(png)) => {
            let t = Instant::now();
            let image = vae.decode(&latents)?;
            mlx_rs_core::eval([&image])?;
            let decode_s = t.elapsed().as_secs_f64();
            write_png(&image, png)?;
            println!(
                "decoded {:?} in {decode_s:.3} s; wrote {}",
                image.shape(),
                png.display()
            );
        }
        (Some(_), None) => println!("no image written (--png PATH writes one)"),
        _ => println!("no image written (--vae PATH --png PATH decode and write one)"),
    }
    Ok(())
}
