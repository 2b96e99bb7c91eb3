//! The FLUX VAE decoder against an independent NumPy float64
//! implementation of BFL's `Decoder` (fixture written by
//! `scripts/flux_vae_fixture.py`), strict loading, and the PNG writer.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use mlx_nn::Module;
use mlx_rs_core::{io, ops, Array, Device, Dtype};
use mlx_workloads::flux::vae::{png_bytes, to_rgb8, write_png, Decoder, VaeConfig};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn config() -> VaeConfig {
    let h = io::read_safetensors_header(data("flux_vae_tiny.weights.safetensors")).unwrap();
    let m = &h.metadata;
    VaeConfig {
        ch: m["ch"].parse().unwrap(),
        out_ch: m["out_ch"].parse().unwrap(),
        ch_mult: m["ch_mult"]
            .split(',')
            .map(|v| v.parse().unwrap())
            .collect(),
        num_res_blocks: m["num_res_blocks"].parse().unwrap(),
        z_channels: m["z_channels"].parse().unwrap(),
        ..VaeConfig::flux()
    }
}

/// Float32 against the f64 reference: 1e-4 of the largest magnitude (the
/// weights are the same float16 values on both sides; what differs is f32
/// rounding through 16 convolutions, 12 group norms and one attention;
/// measured 4e-7). Bfloat16: 3 % (8-bit mantissas through the same depth;
/// measured 1.2 %).
#[test]
fn decoder_matches_numpy_f64() {
    Device::cpu().set_default().unwrap();
    let io_file = io::load_safetensors(data("flux_vae_tiny.io.safetensors")).unwrap();
    let (z, want) = (&io_file.arrays["z"], &io_file.arrays["image"]);
    let w = want.to_vec::<f32>().unwrap();
    let scale = w.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.5);
    for (dtype, tol) in [(Dtype::Float32, 1e-4f32), (Dtype::Bfloat16, 3e-2)] {
        let dec =
            Decoder::load(config(), data("flux_vae_tiny.weights.safetensors"), dtype).unwrap();
        let got = dec.decode(z).unwrap();
        assert_eq!(got.shape(), [1, 3, 8, 10]);
        assert_eq!(got.dtype(), dtype);
        let g = got.astype(Dtype::Float32).unwrap().to_vec::<f32>().unwrap();
        let err = g
            .iter()
            .zip(&w)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        println!("{dtype:?}: max err {err:.3e} of max |image| {scale:.3}");
        assert!(err <= tol * scale, "{dtype:?}: {err} > {tol} x {scale}");
        // Module::forward is decode.
        let again = Module::forward(&dec, z)
            .unwrap()
            .astype(Dtype::Float32)
            .unwrap();
        assert_eq!(again.to_vec::<f32>().unwrap(), g);
    }
}

#[test]
fn config_is_read_from_the_checkpoint() {
    let c = VaeConfig::from_checkpoint(data("flux_vae_tiny.weights.safetensors")).unwrap();
    // ch 32 x [2, 1] and ch 32 x [2, 1] are the same channels: 64 then 32.
    assert_eq!(
        c.ch_mult.iter().map(|m| m * c.ch).collect::<Vec<_>>(),
        [64, 32]
    );
    assert_eq!((c.num_res_blocks, c.z_channels, c.out_ch), (1, 16, 3));
    assert_eq!((c.scale_factor, c.shift_factor), (0.3611, 0.1159));
    let flux = data("flux_schnell_tiny.weights.safetensors");
    assert!(VaeConfig::from_checkpoint(flux)
        .unwrap_err()
        .to_string()
        .contains("not a FLUX autoencoder"));
    // A 0-d weight where a 4-d one belongs: an error from loading, no panic.
    let mut odd = io::load_safetensors(data("flux_vae_tiny.weights.safetensors"))
        .unwrap()
        .arrays;
    odd.insert(
        "decoder.conv_out.weight".into(),
        Array::scalar(1.0f32).unwrap(),
    );
    let path = std::env::temp_dir().join(format!("flux-vae-0d-{}.safetensors", std::process::id()));
    io::save_safetensors(&path, &odd, None).unwrap();
    let loaded = VaeConfig::from_checkpoint(&path)
        .and_then(|c| Decoder::load(c, &path, Dtype::Float32).map(|_| ()));
    std::fs::remove_file(&path).ok();
    assert!(loaded.is_err(), "a 0-d conv_out weight loaded");
}

#[test]
fn loading_is_strict_over_the_decoder() {
    Device::cpu().set_default().unwrap();
    let good = io::load_safetensors(data("flux_vae_tiny.weights.safetensors"))
        .unwrap()
        .arrays;
    let dir = std::env::temp_dir().join(format!("flux-vae-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let save = |name: &str, t: &HashMap<String, Array>| {
        let p = dir.join(name);
        io::save_safetensors(&p, t, &HashMap::new()).unwrap();
        p
    };
    let mut bad = good.clone();
    bad.remove("decoder.mid.attn_1.q.bias");
    bad.insert(
        "decoder.up.0.block.0.conv3.weight".into(),
        ops::zeros(&[2], Dtype::Float32).unwrap(),
    );
    bad.insert(
        "decoder.conv_out.weight".into(),
        ops::zeros(&[3, 64, 1, 1], Dtype::Float32).unwrap(),
    );
    let err = Decoder::load(config(), save("bad.safetensors", &bad), Dtype::Float32)
        .unwrap_err()
        .to_string();
    for want in [
        "missing decoder.mid.attn_1.q.bias",
        "unexpected decoder.up.0.block.0.conv3.weight",
        "decoder.conv_out.weight: shape [3, 1, 1, 64]",
    ] {
        assert!(err.contains(want), "{want:?} not in:\n{err}");
    }
    let mut foreign = good.clone();
    foreign.insert(
        "model.diffusion_model.x".into(),
        ops::zeros(&[1], Dtype::Float32).unwrap(),
    );
    let err = Decoder::load(
        config(),
        save("foreign.safetensors", &foreign),
        Dtype::Float32,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("outside encoder.* / decoder.*"), "{err}");
    // The real autoencoder's sizes do not fit the tiny file.
    let err = Decoder::load(
        VaeConfig::flux(),
        data("flux_vae_tiny.weights.safetensors"),
        Dtype::Float32,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("decoder.conv_in.weight"), "{err}");
    assert!(Decoder::new(VaeConfig {
        ch: 24,
        ..VaeConfig::flux()
    })
    .is_err());
    let dec = Decoder::load(
        config(),
        data("flux_vae_tiny.weights.safetensors"),
        Dtype::Float32,
    )
    .unwrap();
    assert!(dec
        .decode(&ops::zeros(&[1, 4, 2, 2], Dtype::Float32).unwrap())
        .is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The PNG decodes back (zlib) to the pixels, row filter bytes included,
/// and its chunks carry correct CRCs (checked against a known CRC-32 value).
#[test]
fn png_round_trip() {
    let (w, h) = (3u32, 2u32);
    let rgb: Vec<u8> = (0..(w * h * 3) as u8).map(|i| i.wrapping_mul(37)).collect();
    let png = png_bytes(w, h, &rgb).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // IHDR: length 13, type, width, height, 8-bit RGB.
    assert_eq!(&png[8..16], b"\x00\x00\x00\x0dIHDR");
    assert_eq!(&png[16..24], &[0, 0, 0, 3, 0, 0, 0, 2]);
    assert_eq!(&png[24..29], &[8, 2, 0, 0, 0]);
    // CRC-32 of "IHDR" + data, as zlib's crc32 computes it for this header.
    let crc = u32::from_be_bytes(png[29..33].try_into().unwrap());
    assert_eq!(crc, crc32_reference(&png[12..29]));
    let idat_len = u32::from_be_bytes(png[33..37].try_into().unwrap()) as usize;
    assert_eq!(&png[37..41], b"IDAT");
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&png[41..41 + idat_len])
        .read_to_end(&mut raw)
        .unwrap();
    let mut want = Vec::new();
    for row in rgb.chunks(9) {
        want.push(0);
        want.extend_from_slice(row);
    }
    assert_eq!(raw, want);
    assert!(png.ends_with(b"IEND\xaeB`\x82"));
    assert!(png_bytes(2, 2, &[0; 5]).is_err());

    // Pixel mapping: BFL's 127.5 * (clamp(x, -1, 1) + 1), truncated.
    let img = Array::from_slice(&[-2.0f32, -1.0, 0.0, 0.5, 1.0, 3.0], &[3, 1, 2]).unwrap();
    let (w, h, px) = to_rgb8(&img).unwrap();
    assert_eq!((w, h), (2, 1));
    assert_eq!(px, [0, 127, 255, 0, 191, 255]);
    let path = std::env::temp_dir().join(format!("flux-png-{}.png", std::process::id()));
    write_png(&ops::expand_dims(&img, 0).unwrap(), &path).unwrap();
    assert!(std::fs::read(&path).unwrap().starts_with(b"\x89PNG"));
    std::fs::remove_file(&path).unwrap();
}

/// Bitwise CRC-32 written from the specification's polynomial, for the test.
fn crc32_reference(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        let mut x = (c ^ b as u32) & 0xff;
        for _ in 0..8 {
            x = if x & 1 == 1 {
                0xEDB8_8320 ^ (x >> 1)
            } else {
                x >> 1
            };
        }
        c = x ^ (c >> 8);
    }
    !c
}
