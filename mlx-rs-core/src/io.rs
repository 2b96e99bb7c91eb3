//! Reading and writing arrays: safetensors (with metadata), GGUF (arrays and
//! metadata) and NumPy `.npy`, through MLX's own loaders and writers.
//!
//! ```
//! use std::collections::HashMap;
//! use std::path::Path;
//! use mlx_rs_core::{io, Array};
//! # fn main() -> mlx_rs_core::Result<()> {
//! let mut arrays = HashMap::new();
//! arrays.insert("w".to_string(), Array::from_slice(&[1.0f32, 2.0], &[2])?);
//! let meta = HashMap::from([("format".to_string(), "mlx".to_string())]);
//! let path = std::env::temp_dir().join(format!("w-{}.safetensors", std::process::id()));
//! io::save_safetensors(&path, &arrays, &meta)?;
//! let loaded = io::load_safetensors(&path)?;
//! assert_eq!(loaded.metadata["format"], "mlx");
//! assert_eq!(loaded.arrays["w"].to_vec::<f32>()?, [1.0, 2.0]);
//! # std::fs::remove_file(&path).ok();
//! # Ok(()) }
//! ```
//!
//! # Eager and lazy loading
//! MLX loads lazily (data is read when an array is first evaluated), which
//! would turn a short or corrupt file into a failure at some later, unrelated
//! evaluation. The `load_*` functions here evaluate what they load, so any
//! read error is returned by the load itself. For safetensors,
//! [`load_safetensors_lazy`] keeps MLX's laziness: the header checks below
//! (done from the header bytes alone, against the file's size) still run at
//! load time, and the data is read once, into the arrays, when evaluated.
//!
//! # Malformed files
//! Every `load_*` checks the file's header in Rust before MLX sees it, and
//! returns `Err` for anything inconsistent. MLX computes read positions and
//! sizes from these headers and reads the data later, during evaluation; a
//! failure there is not guaranteed to come back as an error. MLX 0.32.2's
//! safetensors loader does reject data offsets past the end of the file
//! itself (verified); the Rust checks keep the outcome independent of how
//! thoroughly each MLX loader validates (its GGUF reader in particular walks
//! the header through a C parser), and give precise messages. The checks:
//! - **safetensors**: at least 8 bytes; the little-endian header length fits
//!   in the file (and is at most 100 MB); the header is a JSON object; each
//!   entry (other than `__metadata__`, which must be null or map strings to
//!   strings) has
//!   a known dtype, non-negative dimensions, `data_offsets` `[begin, end]`
//!   with `begin <= end`, `end - begin == elements * dtype size` (no
//!   overflow) and `end` within the data section.
//! - **npy**: the `\x93NUMPY` magic, a version 1, 2 or 3 header whose length
//!   fits in the file, a header dict with a known `descr`, a boolean
//!   `fortran_order` and a shape of non-negative integers, and enough data
//!   bytes after the header for that shape (no overflow).
//! - **GGUF**: the `GGUF` magic, version 2 or 3, and a full walk of the
//!   key/value section and tensor table with every string, array and count
//!   bounded by the bytes left; no float64 metadata values (MLX 0.32.2's
//!   reader does not step over them and then parses garbage as the next
//!   key); tensor ranks 1–4 with positive dimensions; a
//!   tensor type MLX can load (F32, F16, BF16, Q4_0, Q4_1, Q8_0, I8, I16, I32,
//!   I64, F64); and each tensor's data (offset + size, after alignment)
//!   within the file.
//!
//! # Dtypes per format
//! - safetensors: every dtype except float64, which MLX's writer rejects
//!   (saving one returns `Err`; convert with `astype` first).
//! - npy: all dtypes except bfloat16 (NumPy has no bfloat16); saving a
//!   bfloat16 array returns `Err`.
//! - GGUF (saving): float32, float16, int8, int16, int32 (what MLX's writer
//!   takes); others, bfloat16 included, return `Err`.

use std::collections::HashMap;
use std::ffi::{c_char, CStr, CString};
use std::path::Path;

use crate::ffi::{mlx_call, mlx_value};
use crate::handles::{MlxString, Owned, ResultSlot};
use crate::tree::Tree;
use crate::{Array, Device, Dtype, Error, Result};

/// Arrays and metadata read from a safetensors file.
#[derive(Debug)]
pub struct SafeTensors {
    /// Tensors by name.
    pub arrays: HashMap<String, Array>,
    /// The `__metadata__` string map (empty when absent).
    pub metadata: HashMap<String, String>,
}

/// A GGUF metadata value, as far as MLX exposes them.
#[derive(Debug, Clone)]
pub enum GgufValue {
    /// A string.
    String(String),
    /// An array of strings.
    Strings(Vec<String>),
    /// A number, a boolean, or an array of them (0-dimensional for a scalar).
    Array(Array),
}

/// Arrays and metadata read from a GGUF file.
#[derive(Debug)]
pub struct Gguf {
    /// Tensors by name. Quantized tensors (Q4_0, Q4_1, Q8_0) come back as
    /// MLX's packed form under the tensor's name, with `<name>.scales` and
    /// `<name>.biases` arrays next to it.
    pub arrays: HashMap<String, Array>,
    /// Metadata by key.
    pub metadata: HashMap<String, GgufValue>,
}

// ---------------------------------------------------------------------------
// Small owned handles.

pub(crate) struct MapArrays(pub(crate) Owned<mlx_sys::mlx_map_string_to_array>);

impl MapArrays {
    fn new() -> Self {
        // SAFETY: creates an empty map, owned by this guard alone.
        MapArrays(unsafe { Owned::new(mlx_sys::mlx_map_string_to_array_new()) })
    }

    pub(crate) fn from_map(map: &HashMap<String, Array>) -> Result<Self> {
        let m = MapArrays::new();
        for (k, v) in map {
            let key = c_string(k)?;
            mlx_call!(mlx_map_string_to_array_insert(
                m.0.get(),
                key.as_ptr(),
                v.as_raw()
            ))?;
        }
        Ok(m)
    }

    fn to_map(&self) -> Result<HashMap<String, Array>> {
        let raw: mlx_sys::mlx_map_string_to_array_iterator =
            mlx_value!(mlx_map_string_to_array_iterator_new(self.0.get()))?;
        // SAFETY: a fresh iterator that only this guard owns.
        let it = unsafe { Owned::new(raw) };
        let mut out = HashMap::new();
        loop {
            let mut key: *const c_char = std::ptr::null();
            let mut slot = ResultSlot::new();
            let value = slot.as_mut_ptr();
            // mlx-c returns 2 (without an error message) at the end.
            let status = mlx_value!(mlx_map_string_to_array_iterator_next(
                &mut key,
                value,
                it.get()
            ))?;
            if status == 2 {
                break;
            }
            if status != 0 || key.is_null() {
                return Err(Error::invalid("MLX failed to iterate a map"));
            }
            // SAFETY: mlx-c returns a NUL-terminated key owned by the map.
            let k = unsafe { CStr::from_ptr(key) }
                .to_string_lossy()
                .into_owned();
            out.insert(k, slot.into_array()?);
        }
        Ok(out)
    }
}

struct MapStrings(Owned<mlx_sys::mlx_map_string_to_string>);

impl MapStrings {
    fn new() -> Self {
        // SAFETY: creates an empty map, owned by this guard alone.
        MapStrings(unsafe { Owned::new(mlx_sys::mlx_map_string_to_string_new()) })
    }

    fn from_map(map: &HashMap<String, String>) -> Result<Self> {
        let m = MapStrings::new();
        for (k, v) in map {
            let (key, value) = (c_string(k)?, c_string(v)?);
            mlx_call!(mlx_map_string_to_string_insert(
                m.0.get(),
                key.as_ptr(),
                value.as_ptr()
            ))?;
        }
        Ok(m)
    }

    fn to_map(&self) -> Result<HashMap<String, String>> {
        let raw: mlx_sys::mlx_map_string_to_string_iterator =
            mlx_value!(mlx_map_string_to_string_iterator_new(self.0.get()))?;
        // SAFETY: a fresh iterator that only this guard owns.
        let it = unsafe { Owned::new(raw) };
        let mut out = HashMap::new();
        loop {
            let mut key: *const c_char = std::ptr::null();
            let mut value: *const c_char = std::ptr::null();
            let status = mlx_value!(mlx_map_string_to_string_iterator_next(
                &mut key,
                &mut value,
                it.get()
            ))?;
            if status == 2 {
                break;
            }
            if status != 0 || key.is_null() || value.is_null() {
                return Err(Error::invalid("MLX failed to iterate a map"));
            }
            // SAFETY: mlx-c returns NUL-terminated strings owned by the map.
            let (k, v) = unsafe { (CStr::from_ptr(key), CStr::from_ptr(value)) };
            out.insert(
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            );
        }
        Ok(out)
    }
}

pub(crate) struct VecStrings(pub(crate) Owned<mlx_sys::mlx_vector_string>);

impl VecStrings {
    pub(crate) fn new() -> Self {
        // SAFETY: creates an empty vector, owned by this guard alone.
        VecStrings(unsafe { Owned::new(mlx_sys::mlx_vector_string_new()) })
    }

    pub(crate) fn to_vec(&self) -> Result<Vec<String>> {
        let n = mlx_value!(mlx_vector_string_size(self.0.get()))?;
        (0..n)
            .map(|i| {
                let mut s: *mut c_char = std::ptr::null_mut();
                mlx_call!(mlx_vector_string_get(&mut s, self.0.get(), i))?;
                if s.is_null() {
                    return Ok(String::new());
                }
                // SAFETY: mlx-c returns a NUL-terminated string owned by the vector.
                Ok(unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned())
            })
            .collect()
    }
}

struct GgufHandle(Owned<mlx_sys::mlx_io_gguf>);

// ---------------------------------------------------------------------------
// Helpers.

#[track_caller]
fn c_string(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::invalid(format!("{s:?} contains a NUL byte")))
}

#[track_caller]
pub(crate) fn c_path(path: &Path) -> Result<CString> {
    #[cfg(unix)]
    let bytes = {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes().to_vec()
    };
    #[cfg(not(unix))]
    let bytes = path
        .to_str()
        .ok_or_else(|| Error::invalid(format!("path {path:?} is not valid UTF-8")))?
        .as_bytes()
        .to_vec();
    CString::new(bytes).map_err(|_| Error::invalid(format!("path {path:?} contains a NUL byte")))
}

/// MLX appends its extension to paths that lack it; refuse instead of writing
/// somewhere other than `path`.
#[track_caller]
pub(crate) fn require_extension(path: &Path, ext: &str) -> Result<()> {
    if path.extension().and_then(|e| e.to_str()) == Some(ext) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "path {path:?} must end in .{ext} (MLX would otherwise append it)"
        )))
    }
}

#[track_caller]
fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::invalid(format!("cannot read {path:?}: {e}")))
}

#[track_caller]
fn malformed(format: &str, path: &Path, why: impl std::fmt::Display) -> Error {
    Error::invalid(format!("malformed {format} file {path:?}: {why}"))
}

fn cpu_stream() -> Result<crate::Stream> {
    Device::cpu().default_stream()
}

// ---------------------------------------------------------------------------
// safetensors

fn safetensors_dtype(name: &str) -> Option<Dtype> {
    Some(match name {
        "BOOL" => Dtype::Bool,
        "U8" => Dtype::Uint8,
        "U16" => Dtype::Uint16,
        "U32" => Dtype::Uint32,
        "U64" => Dtype::Uint64,
        "I8" => Dtype::Int8,
        "I16" => Dtype::Int16,
        "I32" => Dtype::Int32,
        "I64" => Dtype::Int64,
        "F16" => Dtype::Float16,
        "F32" => Dtype::Float32,
        "F64" => Dtype::Float64,
        "BF16" => Dtype::Bfloat16,
        "C64" => Dtype::Complex64,
        _ => return None,
    })
}

/// One tensor's entry in a safetensors header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// Element type.
    pub dtype: Dtype,
    /// Dimensions.
    pub shape: Vec<i32>,
}

/// A safetensors file's header, read and checked without its data.
#[derive(Clone, Debug)]
pub struct SafeTensorsHeader {
    /// Tensors by name.
    pub tensors: HashMap<String, TensorInfo>,
    /// The `__metadata__` string map (empty when absent).
    pub metadata: HashMap<String, String>,
}

/// Reads and checks a safetensors file's header: only the first `8 + n`
/// bytes are read, and the data section is checked against the file's size
/// (see the module docs for the checks). Cheap for any file size.
#[track_caller]
pub fn read_safetensors_header(path: impl AsRef<Path>) -> Result<SafeTensorsHeader> {
    let path = path.as_ref();
    use std::io::Read;
    let cannot = |e: std::io::Error| Error::invalid(format!("cannot read {path:?}: {e}"));
    let mut file = std::fs::File::open(path).map_err(cannot)?;
    let file_len = file.metadata().map_err(cannot)?.len();
    let bad = |why: String| malformed("safetensors", path, why);
    if file_len < 8 {
        return Err(bad(format!(
            "{file_len} bytes, shorter than the 8-byte header length"
        )));
    }
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(cannot)?;
    let n = u64::from_le_bytes(len);
    let rest = file_len - 8;
    if n > rest || n > 100_000_000 {
        return Err(bad(format!(
            "header length {n} exceeds the {rest} bytes that follow"
        )));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header).map_err(cannot)?;
    parse_safetensors_header(path, &header, rest - n)
}

/// Checks a safetensors header (the JSON after the length) against the size
/// of the data section that follows it.
fn parse_safetensors_header(
    path: &Path,
    header: &[u8],
    data_len: u64,
) -> Result<SafeTensorsHeader> {
    let bad = |why: String| malformed("safetensors", path, why);
    let json: serde_json::Value =
        serde_json::from_slice(header).map_err(|e| bad(format!("header is not JSON: {e}")))?;
    let obj = json
        .as_object()
        .ok_or_else(|| bad("header is not a JSON object".into()))?;
    let mut tensors = HashMap::new();
    let mut metadata = HashMap::new();
    for (name, entry) in obj {
        if name == "__metadata__" {
            // MLX writes `null` when there is no metadata.
            let ok = entry.is_null()
                || entry
                    .as_object()
                    .is_some_and(|m| m.values().all(|v| v.is_string()));
            if !ok {
                return Err(bad("__metadata__ must map strings to strings".into()));
            }
            if let Some(m) = entry.as_object() {
                for (k, v) in m {
                    metadata.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
                }
            }
            continue;
        }
        let e = entry
            .as_object()
            .ok_or_else(|| bad(format!("entry {name:?} is not an object")))?;
        let dtype = e
            .get("dtype")
            .and_then(|d| d.as_str())
            .and_then(safetensors_dtype)
            .ok_or_else(|| bad(format!("entry {name:?} has a missing or unknown dtype")))?;
        let dims = e
            .get("shape")
            .and_then(|s| s.as_array())
            .ok_or_else(|| bad(format!("entry {name:?} has no shape")))?;
        let mut elements: u64 = 1;
        let mut shape = Vec::with_capacity(dims.len());
        for d in dims {
            let d = d
                .as_u64()
                .filter(|&d| d <= i32::MAX as u64)
                .ok_or_else(|| bad(format!("entry {name:?} has a bad dimension {d}")))?;
            elements = elements
                .checked_mul(d)
                .ok_or_else(|| bad(format!("entry {name:?}: shape overflows")))?;
            shape.push(d as i32);
        }
        let offsets = e
            .get("data_offsets")
            .and_then(|o| o.as_array())
            .filter(|o| o.len() == 2)
            .and_then(|o| Some((o[0].as_u64()?, o[1].as_u64()?)))
            .ok_or_else(|| bad(format!("entry {name:?} has bad data_offsets")))?;
        let (begin, end) = offsets;
        let size = elements
            .checked_mul(dtype.size_of() as u64)
            .ok_or_else(|| bad(format!("entry {name:?}: size overflows")))?;
        if begin > end || end - begin != size {
            return Err(bad(format!(
                "entry {name:?}: data_offsets [{begin}, {end}] do not hold {size} bytes"
            )));
        }
        if end > data_len {
            return Err(bad(format!(
                "entry {name:?}: data ends at {end}, past the {data_len}-byte data section"
            )));
        }
        tensors.insert(name.clone(), TensorInfo { dtype, shape });
    }
    Ok(SafeTensorsHeader { tensors, metadata })
}

/// Loads every tensor and the metadata of a safetensors file, eagerly (see
/// the module docs for the header checks done first, from the header bytes
/// alone).
#[track_caller]
pub fn load_safetensors(path: impl AsRef<Path>) -> Result<SafeTensors> {
    let loaded = load_safetensors_lazy(path)?;
    crate::eval(loaded.arrays.values())?;
    Ok(loaded)
}

/// Like [`load_safetensors`] but lazy, as Python MLX's `mx.load`: the header
/// is read and checked now (so a truncated or malformed file is an `Err`
/// here), and each tensor's bytes are read straight into its array when the
/// array is first evaluated. Nothing holds the whole file in memory, so a
/// checkpoint as large as memory can be loaded and converted tensor by
/// tensor. A file changed on disk after this call is read as it then is.
#[track_caller]
pub fn load_safetensors_lazy(path: impl AsRef<Path>) -> Result<SafeTensors> {
    let path = path.as_ref();
    read_safetensors_header(path)?;
    let file = c_path(path)?;
    let s = cpu_stream()?;
    let mut arrays = MapArrays::new();
    let mut metadata = MapStrings::new();
    mlx_call!(mlx_load_safetensors(
        arrays.0.as_mut_ptr(),
        metadata.0.as_mut_ptr(),
        file.as_ptr(),
        s.as_raw()
    ))?;
    Ok(SafeTensors {
        arrays: arrays.to_map()?,
        metadata: metadata.to_map()?,
    })
}

/// Saves `arrays` (every dtype but float64, see the module docs) and an
/// optional string `metadata` map as safetensors. `arrays` is any
/// [`Tree`]: a `HashMap<String, Array>` (names as keys) or a parameter
/// struct (dotted paths as names, see [`Tree::flatten_named`]).
/// `path` must end in `.safetensors`.
///
/// ```
/// use std::collections::HashMap;
/// use mlx_rs_core::{io, Array};
/// # fn main() -> mlx_rs_core::Result<()> {
/// let path = std::env::temp_dir().join("mlx_rs_doc_save.safetensors");
/// let arrays = HashMap::from([("w".to_string(), Array::ones::<f32>([2, 2])?)]);
/// io::save_safetensors(&path, &arrays, None)?;
/// let back = io::load_safetensors(&path)?;
/// assert_eq!(back.arrays["w"].shape(), [2, 2]);
/// # std::fs::remove_file(&path).ok();
/// # Ok(()) }
/// ```
#[track_caller]
pub fn save_safetensors<'m>(
    path: impl AsRef<Path>,
    arrays: &impl Tree,
    metadata: impl Into<Option<&'m HashMap<String, String>>>,
) -> Result<()> {
    let path = path.as_ref();
    require_extension(path, "safetensors")?;
    let file = c_path(path)?;
    let a = MapArrays::from_map(&arrays.to_map())?;
    let empty = HashMap::new();
    let m = MapStrings::from_map(metadata.into().unwrap_or(&empty))?;
    // Saving evaluates the arrays inside one mlx-c call, arrays of any thread.
    crate::ffi::exclusive(|| mlx_call!(mlx_save_safetensors(file.as_ptr(), a.0.get(), m.0.get())))
}

// ---------------------------------------------------------------------------
// npy

fn npy_dtype(descr: &str) -> Option<Dtype> {
    let (order, code) = match descr.as_bytes().first() {
        Some(b'<' | b'>' | b'|' | b'=') => (&descr[..1], &descr[1..]),
        _ => ("", descr),
    };
    let _ = order;
    Some(match code {
        "b1" | "?" => Dtype::Bool,
        "u1" => Dtype::Uint8,
        "u2" => Dtype::Uint16,
        "u4" => Dtype::Uint32,
        "u8" => Dtype::Uint64,
        "i1" => Dtype::Int8,
        "i2" => Dtype::Int16,
        "i4" => Dtype::Int32,
        "i8" => Dtype::Int64,
        "f2" => Dtype::Float16,
        "f4" => Dtype::Float32,
        "f8" => Dtype::Float64,
        "c8" => Dtype::Complex64,
        _ => return None,
    })
}

/// The value text after `'key':` in a Python dict literal, up to the next
/// top-level comma or closing brace.
fn dict_value<'a>(dict: &'a str, key: &str) -> Option<&'a str> {
    let pat_single = format!("'{key}'");
    let pat_double = format!("\"{key}\"");
    let start = dict
        .find(&pat_single)
        .map(|i| i + pat_single.len())
        .or_else(|| dict.find(&pat_double).map(|i| i + pat_double.len()))?;
    let rest = dict[start..].trim_start().strip_prefix(':')?.trim_start();
    let mut depth = 0i32;
    for (i, c) in rest.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' | '}' if depth == 0 => return Some(rest[..i].trim()),
            _ => {}
        }
        if depth < 0 {
            return None;
        }
    }
    None
}

/// What a `.npy` header says, as [`validate_npy`] read it.
struct NpyHeader {
    dtype: Dtype,
    shape: Vec<i32>,
}

/// Checks an npy file's header against its size (see the module docs).
fn validate_npy(path: &Path, bytes: &[u8]) -> Result<NpyHeader> {
    let bad = |why: String| malformed("npy", path, why);
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("missing the \\x93NUMPY magic".into()));
    }
    let (header_len, header_start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(bad("truncated header length".into()));
            }
            (
                u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize,
                12,
            )
        }
        v => return Err(bad(format!("unsupported version {v}"))),
    };
    let header_end = header_start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| {
            bad(format!(
                "header length {header_len} runs past the end of the file"
            ))
        })?;
    let header = std::str::from_utf8(&bytes[header_start..header_end])
        .map_err(|_| bad("header is not text".into()))?;
    let dict = header.trim();
    if !dict.starts_with('{') || !dict.contains('}') {
        return Err(bad("header is not a dict".into()));
    }
    let descr = dict_value(dict, "descr")
        .map(|d| d.trim_matches(|c| c == '\'' || c == '"'))
        .ok_or_else(|| bad("no descr".into()))?;
    let dtype = npy_dtype(descr).ok_or_else(|| bad(format!("unsupported descr {descr:?}")))?;
    match dict_value(dict, "fortran_order") {
        Some("True" | "False") => {}
        _ => return Err(bad("fortran_order must be True or False".into())),
    }
    let shape = dict_value(dict, "shape").ok_or_else(|| bad("no shape".into()))?;
    let inner = shape
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| bad(format!("shape {shape:?} is not a tuple")))?;
    let mut elements: u64 = 1;
    let mut dims = Vec::new();
    for d in inner.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let d: u64 = d
            .trim_end_matches('L')
            .parse()
            .ok()
            .filter(|&d| d <= i32::MAX as u64)
            .ok_or_else(|| bad(format!("bad dimension {d:?}")))?;
        elements = elements
            .checked_mul(d)
            .ok_or_else(|| bad("shape overflows".into()))?;
        dims.push(d as i32); // at most i32::MAX, checked above
    }
    let need = elements
        .checked_mul(dtype.size_of() as u64)
        .ok_or_else(|| bad("size overflows".into()))?;
    let have = (bytes.len() - header_end) as u64;
    if need > have {
        return Err(bad(format!(
            "shape needs {need} data bytes, file has {have}"
        )));
    }
    Ok(NpyHeader { dtype, shape: dims })
}

/// Loads one array from a NumPy `.npy` file (eagerly; header checked first).
#[track_caller]
pub fn load_npy(path: impl AsRef<Path>) -> Result<Array> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    let header = validate_npy(path, &bytes)?;
    drop(bytes);
    let file = c_path(path)?;
    let s = cpu_stream()?;
    let mut slot = ResultSlot::new();
    let out = slot.as_mut_ptr();
    mlx_call!(mlx_load(out, file.as_ptr(), s.as_raw())).map_err(|e| {
        malformed(
            "npy",
            path,
            format!("a valid header, but laid out so that MLX's reader fails on it: {e}"),
        )
    })?;
    let a = slot.into_array()?;
    // MLX reads the dtype from fixed columns of the header and the shape from
    // its last parenthesis, so a header that is a valid dict can still read
    // differently there (a negative dimension after the dict, say); nothing
    // is read from the file until evaluation, so refuse such an array first.
    if a.dtype() != header.dtype || a.shape() != header.shape {
        return Err(malformed(
            "npy",
            path,
            format!(
                "the header says {} {:?}, but is laid out so that MLX would read {} {:?}",
                header.dtype,
                header.shape,
                a.dtype(),
                a.shape()
            ),
        ));
    }
    a.eval()?;
    Ok(a)
}

/// Saves `array` as a NumPy `.npy` file (every dtype but bfloat16, which
/// NumPy lacks: that returns `Err`). `path` must end in `.npy`.
#[track_caller]
pub fn save_npy(path: impl AsRef<Path>, array: &Array) -> Result<()> {
    let path = path.as_ref();
    require_extension(path, "npy")?;
    if array.dtype() == Dtype::Bfloat16 {
        return Err(Error::invalid(
            "npy has no bfloat16 dtype; convert with astype first",
        ));
    }
    let file = c_path(path)?;
    // Saving evaluates the array inside one mlx-c call.
    crate::ffi::exclusive(|| mlx_call!(mlx_save(file.as_ptr(), array.as_raw())))
}

// ---------------------------------------------------------------------------
// GGUF

/// A bounds-checked little-endian reader.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: u64) -> Option<&'a [u8]> {
        let n = usize::try_from(n).ok()?;
        let end = self.pos.checked_add(n)?;
        let s = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn string(&mut self) -> Option<&'a [u8]> {
        let n = self.u64()?;
        self.take(n)
    }
    fn left(&self) -> u64 {
        (self.bytes.len() - self.pos) as u64
    }
}

/// Size of one GGUF scalar metadata value of `ty`, or `None` for
/// strings/arrays/unknown types.
fn gguf_scalar_size(ty: u32) -> Option<u64> {
    Some(match ty {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        10..=12 => 8,
        _ => return None,
    })
}

/// Skips one metadata value of type `ty`; returns the u32 value for
/// `general.alignment`-style lookups when it is a u32.
fn gguf_skip_value(r: &mut Reader<'_>, ty: u32, depth: u32) -> Option<Option<u64>> {
    match ty {
        // MLX 0.32.2's metadata reader does not step over float64 values
        // (scalars or array items): it then reads the next key from the
        // value's bytes and crashed the process (SIGSEGV) on a fuzzed file.
        12 => None,
        8 => {
            r.string()?;
            Some(None)
        }
        9 => {
            if depth > 4 {
                return None;
            }
            let item_ty = r.u32()?;
            if item_ty == 12 {
                return None;
            }
            let count = r.u64()?;
            if let Some(size) = gguf_scalar_size(item_ty) {
                r.take(count.checked_mul(size)?)?;
            } else {
                // Each item takes at least 8 bytes (a string length or nested
                // header), so a count beyond that is a lie.
                if count > r.left() / 8 {
                    return None;
                }
                for _ in 0..count {
                    gguf_skip_value(r, item_ty, depth + 1)?;
                }
            }
            Some(None)
        }
        4 => Some(Some(r.u32()? as u64)),
        10 => Some(Some(r.u64()?)),
        _ => {
            r.take(gguf_scalar_size(ty)?)?;
            Some(None)
        }
    }
}

/// Bytes of a GGUF tensor of `ty` with `elements` elements, for the types MLX
/// loads; `None` otherwise.
fn gguf_tensor_bytes(ty: u32, elements: u64) -> Option<u64> {
    let block = |per: u64, bytes: u64| {
        if elements % per != 0 {
            None
        } else {
            (elements / per).checked_mul(bytes)
        }
    };
    match ty {
        0 => elements.checked_mul(4),       // F32
        1 | 30 => elements.checked_mul(2),  // F16, BF16
        2 => block(32, 18),                 // Q4_0
        3 => block(32, 20),                 // Q4_1
        8 => block(32, 34),                 // Q8_0
        24 => Some(elements),               // I8
        25 => elements.checked_mul(2),      // I16
        26 => elements.checked_mul(4),      // I32
        27 | 28 => elements.checked_mul(8), // I64, F64
        _ => None,
    }
}

/// Walks a GGUF file's header and tensor table with bounds checks (see the
/// module docs); returns the metadata keys.
fn validate_gguf(path: &Path, bytes: &[u8]) -> Result<Vec<String>> {
    let bad = |why: &str| malformed("GGUF", path, why);
    let mut r = Reader { bytes, pos: 0 };
    if r.take(4) != Some(b"GGUF".as_slice()) {
        return Err(bad("missing the GGUF magic"));
    }
    match r.u32() {
        Some(2 | 3) => {}
        Some(_) => return Err(bad("unsupported version (only 2 and 3)")),
        None => return Err(bad("truncated header")),
    }
    let n_tensors = r.u64().ok_or_else(|| bad("truncated header"))?;
    let n_kv = r.u64().ok_or_else(|| bad("truncated header"))?;
    // Every key/value takes at least 12 bytes, every tensor entry at least 24.
    if n_kv > r.left() / 12 || n_tensors > r.left() / 24 {
        return Err(bad("key or tensor count larger than the file"));
    }
    let mut keys = Vec::new();
    let mut alignment = 32u64;
    for _ in 0..n_kv {
        let key = r.string().ok_or_else(|| bad("truncated metadata key"))?;
        let key = std::str::from_utf8(key).map_err(|_| bad("metadata key is not UTF-8"))?;
        let ty = r.u32().ok_or_else(|| bad("truncated metadata"))?;
        let v = gguf_skip_value(&mut r, ty, 0).ok_or_else(|| {
            bad(&format!(
                "bad, truncated or float64 (which MLX cannot read) value for key {key:?}"
            ))
        })?;
        if key == "general.alignment" {
            alignment = v
                .filter(|&a| a > 0 && a <= 1 << 20 && a.is_power_of_two())
                .ok_or_else(|| bad("bad general.alignment"))?;
        }
        keys.push(key.to_string());
    }
    let mut tensors = Vec::new();
    for _ in 0..n_tensors {
        let name = r.string().ok_or_else(|| bad("truncated tensor name"))?;
        std::str::from_utf8(name).map_err(|_| bad("tensor name is not UTF-8"))?;
        let n_dims = r.u32().ok_or_else(|| bad("truncated tensor entry"))?;
        if !(1..=4).contains(&n_dims) {
            return Err(bad("tensor rank must be 1 to 4"));
        }
        let mut elements = 1u64;
        for _ in 0..n_dims {
            let d = r.u64().ok_or_else(|| bad("truncated tensor entry"))?;
            if d == 0 || d > i32::MAX as u64 {
                return Err(bad("bad tensor dimension"));
            }
            elements = elements
                .checked_mul(d)
                .ok_or_else(|| bad("tensor shape overflows"))?;
        }
        let ty = r.u32().ok_or_else(|| bad("truncated tensor entry"))?;
        let offset = r.u64().ok_or_else(|| bad("truncated tensor entry"))?;
        let size = gguf_tensor_bytes(ty, elements).ok_or_else(|| {
            bad(&format!(
                "tensor type {ty} is not loadable or its shape does not fit it"
            ))
        })?;
        tensors.push((offset, size));
    }
    let data_start = (r.pos as u64).div_ceil(alignment) * alignment;
    for (offset, size) in tensors {
        let end = data_start
            .checked_add(offset)
            .and_then(|s| s.checked_add(size))
            .ok_or_else(|| bad("tensor offset overflows"))?;
        if end > bytes.len() as u64 {
            return Err(bad("tensor data runs past the end of the file"));
        }
    }
    Ok(keys)
}

/// Loads the tensors and metadata of a GGUF file (eagerly; header and tensor
/// table checked first). Metadata values MLX does not expose (e.g. arrays of
/// arrays) are left out.
#[track_caller]
pub fn load_gguf(path: impl AsRef<Path>) -> Result<Gguf> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    let keys = validate_gguf(path, &bytes)?;
    drop(bytes);
    let file = c_path(path)?;
    let s = cpu_stream()?;
    // SAFETY: an empty handle (freed only if MLX fills it in).
    let mut handle = GgufHandle(unsafe {
        Owned::new(mlx_sys::mlx_io_gguf {
            ctx: std::ptr::null_mut(),
        })
    });
    mlx_call!(mlx_load_gguf(
        handle.0.as_mut_ptr(),
        file.as_ptr(),
        s.as_raw()
    ))?;
    if handle.0.is_empty() {
        return Err(Error::invalid("MLX returned no GGUF contents"));
    }

    let mut names = VecStrings::new();
    mlx_call!(mlx_io_gguf_get_keys(names.0.as_mut_ptr(), handle.0.get()))?;
    let mut arrays = HashMap::new();
    for name in names.to_vec()? {
        let key = c_string(&name)?;
        let mut slot = ResultSlot::new();
        let out = slot.as_mut_ptr();
        mlx_call!(mlx_io_gguf_get_array(out, handle.0.get(), key.as_ptr()))?;
        arrays.insert(name, slot.into_array()?);
    }
    crate::eval(arrays.values())?;

    let mut metadata = HashMap::new();
    for name in keys {
        let key = c_string(&name)?;
        // The `has_*` calls return 2 (no message) for keys MLX dropped.
        macro_rules! has {
            ($f:ident) => {{
                let mut flag = false;
                mlx_value!($f(&mut flag, handle.0.get(), key.as_ptr()))? == 0 && flag
            }};
        }
        let value = if has!(mlx_io_gguf_has_metadata_string) {
            let mut st = MlxString::new();
            mlx_call!(mlx_io_gguf_get_metadata_string(
                st.as_mut_ptr(),
                handle.0.get(),
                key.as_ptr()
            ))?;
            GgufValue::String(st.to_string_lossy()?)
        } else if has!(mlx_io_gguf_has_metadata_vector_string) {
            let mut v = VecStrings::new();
            mlx_call!(mlx_io_gguf_get_metadata_vector_string(
                v.0.as_mut_ptr(),
                handle.0.get(),
                key.as_ptr()
            ))?;
            GgufValue::Strings(v.to_vec()?)
        } else if has!(mlx_io_gguf_has_metadata_array) {
            let mut slot = ResultSlot::new();
            let out = slot.as_mut_ptr();
            mlx_call!(mlx_io_gguf_get_metadata_array(
                out,
                handle.0.get(),
                key.as_ptr()
            ))?;
            let a = slot.into_array()?;
            a.eval()?;
            GgufValue::Array(a)
        } else {
            continue;
        };
        metadata.insert(name, value);
    }
    Ok(Gguf { arrays, metadata })
}

/// Saves `arrays` and `metadata` as GGUF. `path` must end in `.gguf`; see the
/// module docs for the dtypes the format takes.
#[track_caller]
pub fn save_gguf<'m>(
    path: impl AsRef<Path>,
    arrays: &HashMap<String, Array>,
    metadata: impl Into<Option<&'m HashMap<String, GgufValue>>>,
) -> Result<()> {
    let path = path.as_ref();
    let empty = HashMap::new();
    let metadata = metadata.into().unwrap_or(&empty);
    require_extension(path, "gguf")?;
    let file = c_path(path)?;
    let raw = mlx_value!(mlx_io_gguf_new())?;
    // SAFETY: a fresh handle that only this guard owns.
    let handle = GgufHandle(unsafe { Owned::new(raw) });
    if handle.0.is_empty() {
        return Err(Error::invalid("MLX returned no GGUF handle"));
    }
    for (name, a) in arrays {
        let key = c_string(name)?;
        mlx_call!(mlx_io_gguf_set_array(
            handle.0.get(),
            key.as_ptr(),
            a.as_raw()
        ))?;
    }
    for (name, v) in metadata {
        let key = c_string(name)?;
        match v {
            GgufValue::String(s) => {
                let s = c_string(s)?;
                mlx_call!(mlx_io_gguf_set_metadata_string(
                    handle.0.get(),
                    key.as_ptr(),
                    s.as_ptr()
                ))?;
            }
            GgufValue::Strings(list) => {
                let v = VecStrings::new();
                for s in list {
                    let s = c_string(s)?;
                    mlx_call!(mlx_vector_string_append_value(v.0.get(), s.as_ptr()))?;
                }
                mlx_call!(mlx_io_gguf_set_metadata_vector_string(
                    handle.0.get(),
                    key.as_ptr(),
                    v.0.get()
                ))?;
            }
            GgufValue::Array(a) => {
                mlx_call!(mlx_io_gguf_set_metadata_array(
                    handle.0.get(),
                    key.as_ptr(),
                    a.as_raw()
                ))?;
            }
        }
    }
    // Saving evaluates the arrays inside one mlx-c call.
    crate::ffi::exclusive(|| mlx_call!(mlx_save_gguf(file.as_ptr(), handle.0.get())))
}
