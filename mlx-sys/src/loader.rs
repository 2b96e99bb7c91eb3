//! Loading mlx-c (and through it libmlx) at run time.
//!
//! Binaries carry no load-time dependency on either library, so they start
//! wherever they are copied; a library that cannot be found is reported by
//! [`load`] as a message naming the ways to point at MLX.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::Api;

#[cfg(target_os = "macos")]
const RTLD_GLOBAL: c_int = 0x8;
#[cfg(not(target_os = "macos"))]
const RTLD_GLOBAL: c_int = 0x100;
const RTLD_NOW: c_int = 2;

extern "C" {
    fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn dlerror() -> *mut c_char;
}

/// The file name of the mlx-c library this crate builds.
pub const MLXC_FILE_NAME: &str = if cfg!(target_os = "macos") {
    "libmlxc.dylib"
} else {
    "libmlxc.so"
};

static API: OnceLock<Result<Api, String>> = OnceLock::new();

// SAFETY: `Api` holds addresses of functions and of one global inside a
// library that is never unloaded; the addresses themselves are immutable.
unsafe impl Send for Api {}
// SAFETY: as above; sharing the table only shares those addresses.
unsafe impl Sync for Api {}

/// Loads mlx-c and libmlx, once per process; later calls return the first
/// outcome. Every other function of this crate needs a successful `load`
/// first: before it (or after a failure) they do nothing and return `-1`, a
/// null handle or zero.
///
/// Where mlx-c is looked for, in order:
/// 1. `$MLX_RS_CACHE_DIR/<its path inside the cache>`, when `MLX_RS_CACHE_DIR`
///    is set at run time (a cache moved after the build);
/// 2. the path the build put it at ([`BUILD_MLXC_PATH`](crate::BUILD_MLXC_PATH));
/// 3. the executable's own folder (a program deployed with a copy beside it);
/// 4. the dynamic loader's search path (`LD_LIBRARY_PATH`, `DYLD_LIBRARY_PATH`).
///
/// mlx-c then loads libmlx from the folder it was built against, unless
/// `MLX_DIR` is set at run time (then `$MLX_DIR/lib` is loaded first) or
/// `LD_LIBRARY_PATH` names a folder holding another libmlx 0.32.2.
pub fn load() -> Result<(), &'static str> {
    match API.get_or_init(open) {
        Ok(_) => Ok(()),
        Err(message) => Err(message),
    }
}

/// The resolved symbols, or `None` when mlx-c could not be loaded.
#[inline]
pub(crate) fn api() -> Option<&'static Api> {
    API.get_or_init(open).as_ref().ok()
}

/// Looks up `name` in `lib`.
///
/// # Safety
/// `lib` must be a live handle returned by `dlopen`.
pub(crate) unsafe fn symbol(lib: *mut c_void, name: &CStr) -> Result<*mut c_void, String> {
    let ptr = dlsym(lib, name.as_ptr());
    if ptr.is_null() {
        Err(format!(
            "{MLXC_FILE_NAME} has no symbol {}: it is not mlx-c {}",
            name.to_string_lossy(),
            crate::MLX_C_VERSION
        ))
    } else {
        Ok(ptr)
    }
}

/// Opens `path` (a file, or a bare name for the loader's search path).
fn open_library(path: &str, flags: c_int) -> Result<*mut c_void, String> {
    let c_path = CString::new(path).map_err(|_| format!("{path}: contains a NUL byte"))?;
    // SAFETY: `c_path` is NUL-terminated and lives for the call. Loading runs
    // the library's initializers, which is what loading mlx-c means.
    let handle = unsafe { dlopen(c_path.as_ptr(), RTLD_NOW | flags) };
    if handle.is_null() {
        // SAFETY: dlerror returns null or a NUL-terminated, thread-local message.
        let why = unsafe { dlerror() };
        Err(if why.is_null() {
            format!("{path}: cannot be loaded")
        } else {
            // SAFETY: checked non-null above; valid until the next dl* call here.
            unsafe { CStr::from_ptr(why) }
                .to_string_lossy()
                .into_owned()
        })
    } else {
        Ok(handle)
    }
}

fn candidates() -> Vec<String> {
    let mut paths: Vec<String> = Vec::new();
    if let (Some(cache), false) = (
        std::env::var_os("MLX_RS_CACHE_DIR"),
        crate::BUILD_MLXC_CACHE_PATH.is_empty(),
    ) {
        paths.push(path_string(
            &PathBuf::from(cache).join(crate::BUILD_MLXC_CACHE_PATH),
        ));
    }
    paths.push(crate::BUILD_MLXC_PATH.to_string());
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    {
        paths.push(path_string(&dir.join(MLXC_FILE_NAME)));
    }
    paths.push(MLXC_FILE_NAME.to_string());
    paths.dedup();
    paths
}

fn path_string(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn open() -> Result<Api, String> {
    let mut tried = Vec::new();
    // A run-time MLX_DIR picks libmlx: loaded first, it satisfies mlx-c's
    // dependency by name.
    if let Some(dir) = std::env::var_os("MLX_DIR") {
        let lib = PathBuf::from(dir)
            .join("lib")
            .join(if cfg!(target_os = "macos") {
                "libmlx.dylib"
            } else {
                "libmlx.so"
            });
        if let Err(why) = open_library(&path_string(&lib), RTLD_GLOBAL) {
            return Err(format!(
                "cannot load libmlx from MLX_DIR ({}): {why}\n\
                 MLX_DIR must name an MLX {} prefix holding lib/{}.",
                lib.display(),
                crate::MLX_VERSION,
                lib.file_name().unwrap_or_default().to_string_lossy()
            ));
        }
    }
    for path in candidates() {
        let is_file = path.contains('/');
        if is_file && !Path::new(&path).exists() {
            tried.push(format!("  - {path}: no such file"));
            continue;
        }
        match open_library(&path, 0) {
            // SAFETY: `lib` is a live handle to mlx-c, built by this crate's
            // build script from the headers the bindings were generated from.
            Ok(lib) => return unsafe { Api::resolve(lib) },
            Err(why) => tried.push(format!("  - {path}: {why}")),
        }
    }
    Err(format!(
        "cannot load mlx-c ({MLXC_FILE_NAME}) and MLX {}.\n\
         Tried:\n{}\n\
         The MLX this program was built with (found through MLX_DIR or the cache\n\
         MLX_RS_CACHE_DIR at build time) has moved or been deleted. Either rebuild the\n\
         program, or set MLX_RS_CACHE_DIR to where the cache now is, or put {MLXC_FILE_NAME}\n\
         beside the program and set MLX_DIR to an MLX {} prefix (holding lib/libmlx.*).",
        crate::MLX_VERSION,
        tried.join("\n"),
        crate::MLX_VERSION,
    ))
}
