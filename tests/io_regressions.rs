//! Inputs that crashed the loaders while fuzzing; each must now load as `Ok`
//! or fail with `Err`. Fuzzer finds live in `tests/data/`.

mod common;

use std::path::PathBuf;

use mlx_rs::io;

fn data(name: &str) -> PathBuf {
    common::data_dir().join(name)
}

fn write_temp(name: &str, bytes: &[u8]) -> PathBuf {
    let p = std::env::temp_dir().join(format!("mlx-rs-regression-{}-{name}", std::process::id()));
    std::fs::write(&p, bytes).expect("write a temp file");
    p
}

/// A GGUF v3 file without tensors holding `kvs` (already encoded), padded to
/// the 32-byte alignment.
fn gguf(kvs: &[Vec<u8>]) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    b.extend((kvs.len() as u64).to_le_bytes());
    for kv in kvs {
        b.extend(kv);
    }
    b.resize(b.len().div_ceil(32) * 32, 0);
    b
}

fn kv(key: &str, ty: u32, value: &[u8]) -> Vec<u8> {
    let mut b = (key.len() as u64).to_le_bytes().to_vec();
    b.extend(key.as_bytes());
    b.extend(ty.to_le_bytes());
    b.extend(value);
    b
}

/// Found by cargo-fuzz (gguf target, 293 bytes): 15 metadata entries, the
/// 14th a float64. MLX 0.32.2's metadata reader does not step over float64
/// values, reads the next key's length from the value's bytes and crashed
/// with SIGSEGV. The binding now rejects float64 metadata.
#[test]
fn gguf_crash_996c9c4f_float64_metadata() {
    let e = io::load_gguf(data("gguf-crash-996c9c4f.gguf")).expect_err("float64 metadata");
    assert!(e.message().contains("float64"), "{e}");
}

/// The same bug reduced: a float64 scalar, then any other key.
#[test]
fn gguf_float64_scalar_then_key() {
    let bytes = gguf(&[kv("a", 12, &1.5f64.to_le_bytes()), kv("b", 0, &[0])]);
    let p = write_temp("f64-scalar.gguf", &bytes);
    let r = io::load_gguf(&p);
    let _ = std::fs::remove_file(&p);
    assert!(r.expect_err("float64 scalar").message().contains("float64"));
}

/// The same bug through an array of float64.
#[test]
fn gguf_float64_array_then_key() {
    let mut value = 12u32.to_le_bytes().to_vec();
    value.extend(2u64.to_le_bytes());
    value.extend(1.0f64.to_le_bytes());
    value.extend(2.0f64.to_le_bytes());
    let bytes = gguf(&[kv("a", 9, &value), kv("b", 0, &[0])]);
    let p = write_temp("f64-array.gguf", &bytes);
    let r = io::load_gguf(&p);
    let _ = std::fs::remove_file(&p);
    assert!(r.expect_err("float64 array").message().contains("float64"));
}

/// Neighbours that MLX does read: other scalar types followed by a key load.
#[test]
fn gguf_other_scalars_then_key_load() {
    for (ty, size) in [(0u32, 1usize), (4, 4), (6, 4), (7, 1), (10, 8), (11, 8)] {
        let bytes = gguf(&[kv("a", ty, &vec![1u8; size]), kv("b", 0, &[0])]);
        let p = write_temp(&format!("t{ty}.gguf"), &bytes);
        let r = io::load_gguf(&p);
        let _ = std::fs::remove_file(&p);
        let g = r.unwrap_or_else(|e| panic!("type {ty}: {e}"));
        assert!(g.metadata.contains_key("b"), "type {ty}");
    }
}

/// A bool array loaded from a file may hold bytes other than 0 and 1; reading
/// it must give valid Rust bools (any non-zero byte is true).
#[test]
fn bool_bytes_from_files_read_as_valid_bools() {
    let mut header = b"{'descr': '|b1', 'fortran_order': False, 'shape': (4,), }".to_vec();
    // magic (6) + version (2) + header length (2) + header: a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut file = b"\x93NUMPY\x01\x00".to_vec();
    file.extend_from_slice(&(header.len() as u16).to_le_bytes());
    file.extend_from_slice(&header);
    file.extend_from_slice(&[0u8, 1, 2, 255]);
    let path = std::env::temp_dir().join(format!("mlx-rs-bool-bytes-{}.npy", std::process::id()));
    std::fs::write(&path, &file).unwrap();
    let loaded = mlx_rs::io::load_npy(&path);
    let _ = std::fs::remove_file(&path);
    let a = loaded.unwrap();
    assert_eq!(a.dtype(), mlx_rs::Dtype::Bool);
    assert_eq!(a.to_vec::<bool>().unwrap(), [false, true, true, true]);
}

/// A `.npy` file whose header holds the real dict, then more text.
fn npy_with_header(header: &str, data: &[u8]) -> Vec<u8> {
    let mut h = header.to_string();
    // Pad so that magic + version + length + header is a multiple of 64.
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((h.len() as u16).to_le_bytes());
    out.extend(h.as_bytes());
    out.extend(data);
    out
}

/// MLX's npy reader takes the dtype from fixed columns of the header and the
/// shape from its last parenthesis; a header whose dict says one thing and
/// whose text says another must be an `Err`, never an array of the other
/// shape (a negative one would size buffers from a negative count).
#[test]
fn npy_headers_read_differently_by_mlx_are_errors() {
    let data = [0u8; 24];
    let cases = [
        // A trailing parenthesis with a negative dimension.
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } (-100000, )",
        // A trailing parenthesis with a larger shape.
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } (4, 5)",
        // The dtype moved off the columns MLX reads.
        "{'fortran_order': False, 'descr': '<f4', 'shape': (2, 3), }",
    ];
    for (i, header) in cases.iter().enumerate() {
        let path = write_temp(
            &format!("mismatch-{i}.npy"),
            &npy_with_header(header, &data),
        );
        let loaded = mlx_rs::io::load_npy(&path);
        let _ = std::fs::remove_file(&path);
        let err = loaded.expect_err(header).to_string();
        assert!(err.contains("npy"), "case {i}: {err}");
    }
    // The same dict laid out as NumPy writes it loads, values in place.
    let values = [1.5f32, -2.0, 3.25, 4.0, -5.5, 6.0];
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let ok = npy_with_header(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
        &bytes,
    );
    let path = write_temp("mismatch-ok.npy", &ok);
    let a = mlx_rs::io::load_npy(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(a.shape(), [2, 3]);
    assert_eq!(a.to_vec::<f32>().unwrap(), values);
}

/// A fuzzer find: the input being loaded when a long npy fuzzing run hung in
/// MLX's `eval` (alone it does not hang). Its shape `(0,03,0)` (no spaces)
/// reads as `[0, 3]` in MLX's reader, so it is refused before evaluation.
#[test]
fn npy_hang_shape_read_differently() {
    let err = io::load_npy(data("npy_hang_shape_read_differently.npy")).unwrap_err();
    assert!(err.to_string().contains("MLX would read"), "{err}");
}

/// Empty arrays load (and read back empty).
#[test]
fn npy_empty_arrays_load() {
    for shape in ["(0, 3)", "(0,)", "(3, 0)"] {
        let header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
        let path = write_temp(
            &format!("empty-{}.npy", shape.len()),
            &npy_with_header(&header, &[]),
        );
        let a = io::load_npy(&path);
        let _ = std::fs::remove_file(&path);
        let a = a.unwrap_or_else(|e| panic!("{shape}: {e}"));
        assert_eq!(a.size(), 0, "{shape}");
        assert!(a.to_vec::<f32>().unwrap().is_empty());
    }
}
