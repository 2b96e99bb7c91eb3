//! Finding an MLX prefix: `MLX_DIR`, then an installed Python package, then the
//! pinned wheel from the cache or from pip.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fetch;
use crate::MLX_VERSION;

/// What the build is for, from cargo's `CARGO_CFG_*` / `CARGO_FEATURE_*` variables.
pub struct Target {
    pub os: String,
    pub arch: String,
    pub cuda: bool,
    pub openblas: bool,
}

impl Target {
    pub fn from_env() -> Self {
        let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
        Target {
            arch: env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default(),
            cuda: env::var_os("CARGO_FEATURE_CUDA").is_some(),
            // The Linux wheels bundle reference BLAS; macOS uses Accelerate.
            openblas: env::var_os("CARGO_FEATURE_OPENBLAS").is_some() && os == "linux",
            os,
        }
    }

    pub fn lib_file(&self) -> &'static str {
        if self.os == "macos" {
            "libmlx.dylib"
        } else {
            "libmlx.so"
        }
    }

    /// The PyPI package holding libmlx for this target.
    fn wheel_package(&self) -> Result<&'static str, String> {
        match (self.os.as_str(), self.arch.as_str(), self.cuda) {
            ("linux", "x86_64", true) => Ok("mlx-cuda-13"),
            ("linux", _, true) => Err(format!(
                "feature `cuda`: no mlx-cuda-13 wheel for linux/{}",
                self.arch
            )),
            ("linux", _, false) => Ok("mlx-cpu"),
            ("macos", "aarch64", false) => Ok("mlx-metal"),
            (os, arch, cuda) => Err(format!(
                "no MLX wheel for {os}/{arch}{}",
                if cuda { " with CUDA" } else { "" }
            )),
        }
    }
}

/// An MLX installation: `root/include/mlx/...` and `root/lib/libmlx.*`.
pub struct Prefix {
    pub root: PathBuf,
    /// `cpu`, `cuda` or `metal`.
    pub backend: &'static str,
    /// How it was found, for diagnostics (`MLX_DIR`, `python`, `wheel`).
    pub source: &'static str,
}

impl Prefix {
    pub fn include_dir(&self) -> PathBuf {
        self.root.join("include")
    }
    pub fn lib_dir(&self) -> PathBuf {
        self.root.join("lib")
    }

    fn check(root: &Path, target: &Target) -> Result<(), String> {
        let header = root.join("include/mlx/mlx.h");
        let lib = root.join("lib").join(target.lib_file());
        for needed in [&header, &lib] {
            if !needed.exists() {
                return Err(format!("{} is missing", needed.display()));
            }
        }
        Ok(())
    }

    /// Guesses the backend of a prefix from what ships beside libmlx.
    fn detect_backend(root: &Path, target: &Target) -> &'static str {
        if target.os == "macos" {
            "metal"
        } else if root.join("include/cccl").exists()
            || root.join("../mlx_cuda_13.libs").exists()
            || target.cuda
        {
            "cuda"
        } else {
            "cpu"
        }
    }
}

/// One step of the search and why it did not yield MLX.
pub struct Attempt {
    pub step: &'static str,
    pub why: String,
}

pub fn locate(target: &Target) -> Result<Prefix, Vec<Attempt>> {
    let mut attempts = Vec::new();

    match env::var_os("MLX_DIR") {
        Some(dir) => {
            let root = PathBuf::from(dir);
            // An explicit override that is wrong is an error, not a reason to
            // silently use something else.
            if let Err(why) = Prefix::check(&root, target) {
                attempts.push(Attempt {
                    step: "MLX_DIR",
                    why,
                });
                return Err(attempts);
            }
            return Ok(Prefix {
                backend: Prefix::detect_backend(&root, target),
                root,
                source: "MLX_DIR",
            });
        }
        None => attempts.push(Attempt {
            step: "MLX_DIR",
            why: "not set".into(),
        }),
    }

    match python_package(target) {
        Ok(root) => {
            return Ok(Prefix {
                backend: Prefix::detect_backend(&root, target),
                root,
                source: "python",
            })
        }
        Err(why) => attempts.push(Attempt {
            step: "installed Python package `mlx`",
            why,
        }),
    }

    match target
        .wheel_package()
        .and_then(|pkg| fetch::wheel_prefix(pkg, target))
    {
        Ok(root) => {
            if let Err(why) = Prefix::check(&root, target) {
                attempts.push(Attempt {
                    step: "pinned wheel",
                    why,
                });
                return Err(attempts);
            }
            Ok(Prefix {
                backend: Prefix::detect_backend(&root, target),
                root,
                source: "wheel",
            })
        }
        Err(why) => {
            attempts.push(Attempt {
                step: "pinned wheel (pip download)",
                why,
            });
            Err(attempts)
        }
    }
}

pub fn python() -> String {
    env::var("MLX_RS_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Asks Python where an installed `mlx` package lives, without importing it
/// (importing may be slow or fail on a machine without the GPU it was built for).
fn python_package(target: &Target) -> Result<PathBuf, String> {
    const PROBE: &str = r#"
import importlib.util, importlib.metadata as md
spec = importlib.util.find_spec("mlx")
paths = list(spec.submodule_search_locations or []) if spec else []
versions = []
for dist in ("mlx-cpu", "mlx-cuda-13", "mlx-cuda-12", "mlx-metal", "mlx"):
    try:
        versions.append(dist + "=" + md.version(dist))
    except md.PackageNotFoundError:
        pass
print("\n".join(["paths"] + paths + ["versions"] + versions))
"#;
    let out = Command::new(python())
        .args(["-c", PROBE])
        .output()
        .map_err(|e| format!("cannot run `{}`: {e}", python()))?;
    if !out.status.success() {
        return Err(format!(
            "`{}` failed: {}",
            python(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let (paths, versions) = text
        .split_once("versions")
        .ok_or("unexpected probe output")?;
    let versions: Vec<&str> = versions.split_whitespace().collect();
    let pinned = format!("={MLX_VERSION}");
    if !versions.iter().any(|v| v.ends_with(&pinned)) {
        return Err(if versions.is_empty() {
            "not installed".to_string()
        } else {
            format!("installed {versions:?}, need {MLX_VERSION}")
        });
    }
    let mut why = String::from("no package folder holds MLX's headers and library");
    for path in paths.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let root = PathBuf::from(path.trim());
        match Prefix::check(&root, target) {
            Ok(()) => return Ok(root),
            Err(e) => {
                let _ = write!(why, "; {e}");
            }
        }
    }
    Err(why)
}

pub fn not_found_message(attempts: &[Attempt]) -> String {
    let mut msg = format!("mlx-sys could not find MLX {MLX_VERSION}.\n\nWhat was tried:\n");
    for a in attempts {
        let _ = writeln!(msg, "  - {}: {}", a.step, a.why);
    }
    let _ = write!(
        msg,
        "\nProvide MLX in any one of these ways:\n\
         \x20 1. Set MLX_DIR to a prefix holding include/mlx/mlx.h and lib/libmlx.so (or .dylib):\n\
         \x20    a source build's install prefix, a CUDA build, or a Python install's `mlx` folder.\n\
         \x20 2. Install the wheel into the Python that `{py}` runs (override with MLX_RS_PYTHON):\n\
         \x20    `{py} -m pip install mlx-cpu=={v}` (Linux), `mlx-metal=={v}` (macOS arm64)\n\
         \x20    or `mlx-cuda-13=={v}` (Linux x86-64, with feature `cuda`).\n\
         \x20 3. Let the build fetch the pinned wheel: needs `{py}` with pip and access to PyPI\n\
         \x20    once; later builds reuse the cache (MLX_RS_CACHE_DIR, default {cache}).\n\
         \x20    To prepare an offline machine, copy a filled cache folder there.\n",
        py = python(),
        v = MLX_VERSION,
        cache = fetch::cache_dir()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|e| e),
    );
    msg
}
