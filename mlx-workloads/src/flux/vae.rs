//! The FLUX autoencoder's decoder (Black Forest Labs'
//! `src/flux/modules/autoencoder.py`: `Decoder`, `ResnetBlock`, `AttnBlock`,
//! `Upsample`, and `AutoEncoder.decode`'s `z / scale_factor + shift_factor`)
//! on mlx-nn's channels-last convolutions, reading `ae.safetensors`; and
//! [`write_png`] for its output.
//!
//! Parameters carry `ae.safetensors`' names under `decoder.`
//! (`decoder.conv_in`, `decoder.mid.block_1` / `attn_1` / `block_2`,
//! `decoder.up.N.block.M`, `decoder.up.N.upsample.conv`,
//! `decoder.norm_out`, `decoder.conv_out`). [`Decoder::load`] transposes
//! PyTorch's convolution weights `[out, in, kh, kw]` to MLX's
//! `[out, kh, kw, in]` and ignores the file's `encoder.*` half.

use std::io::Write;
use std::path::Path;

use mlx_nn::{Conv2d, Entry, EntryMut, GroupNorm, LoadOptions, Members, Module, Params};
use mlx_rs_core::ops::fast::{self, AttentionMask};
use mlx_rs_core::{io, ops, Array, Dtype, Result};

use crate::invalid;

/// The autoencoder's decoder sizes: BFL's `AutoEncoderParams`.
#[derive(Clone, Debug, PartialEq)]
pub struct VaeConfig {
    /// Base channels (128).
    pub ch: i32,
    /// Image channels out (3).
    pub out_ch: i32,
    /// Channel multipliers per level (`[1, 2, 4, 4]`).
    pub ch_mult: Vec<i32>,
    /// ResnetBlocks per level (2; the decoder has one more).
    pub num_res_blocks: usize,
    /// Latent channels (16).
    pub z_channels: i32,
    /// Latent scale (0.3611): `decode` divides by it.
    pub scale_factor: f32,
    /// Latent shift (0.1159): `decode` adds it after scaling.
    pub shift_factor: f32,
}

impl VaeConfig {
    /// FLUX.1's autoencoder (`ae.safetensors`).
    pub fn flux() -> VaeConfig {
        VaeConfig {
            ch: 128,
            out_ch: 3,
            ch_mult: vec![1, 2, 4, 4],
            num_res_blocks: 2,
            z_channels: 16,
            scale_factor: 0.3611,
            shift_factor: 0.1159,
        }
    }

    /// The sizes of the decoder in the checkpoint at `path`, read from its
    /// header (channels of each level, blocks per level, latent and image
    /// channels), with FLUX's scale and shift. `ch` is the greatest common
    /// divisor of the levels' channels. `Err` if the header has no decoder.
    #[track_caller]
    pub fn from_checkpoint(path: impl AsRef<Path>) -> Result<VaeConfig> {
        let path = path.as_ref();
        let header = io::read_safetensors_header(path)?;
        let shape = |k: &str| {
            header
                .tensors
                .get(k)
                .map(|t| t.shape.clone())
                .ok_or_else(|| {
                    invalid(format!(
                        "{}: no tensor {k} (not a FLUX autoencoder)",
                        path.display()
                    ))
                })
        };
        let z_channels = *shape("decoder.conv_in.weight")?.get(1).unwrap_or(&0);
        // A malformed header may give a 0-d shape; strict loading then
        // reports the mismatch by name.
        let out_ch = *shape("decoder.conv_out.weight")?.first().unwrap_or(&0);
        let mut levels = Vec::new();
        while header
            .tensors
            .keys()
            .any(|k| k.starts_with(&format!("decoder.up.{}.", levels.len())))
        {
            let i = levels.len();
            let mut blocks = 0;
            while header
                .tensors
                .contains_key(&format!("decoder.up.{i}.block.{blocks}.conv2.weight"))
            {
                blocks += 1;
            }
            if blocks == 0 {
                return Err(invalid(format!(
                    "{}: decoder.up.{i} has no blocks",
                    path.display()
                )));
            }
            levels.push((
                *shape(&format!("decoder.up.{i}.block.0.conv2.weight"))?
                    .first()
                    .unwrap_or(&0),
                blocks,
            ));
        }
        let Some(&(_, blocks)) = levels.first() else {
            return Err(invalid(format!("{}: no decoder.up levels", path.display())));
        };
        fn gcd(a: i32, b: i32) -> i32 {
            if b == 0 {
                a
            } else {
                gcd(b, a % b)
            }
        }
        let ch = levels.iter().fold(0, |g, (c, _)| gcd(g, *c)).max(1);
        let config = VaeConfig {
            ch,
            out_ch,
            ch_mult: levels.iter().map(|(c, _)| c / ch).collect(),
            num_res_blocks: blocks - 1,
            z_channels,
            ..VaeConfig::flux()
        };
        config.validate()?;
        Ok(config)
    }

    #[track_caller]
    fn validate(&self) -> Result<()> {
        let chans = self.ch_mult.iter().map(|m| m * self.ch);
        if self.ch_mult.is_empty()
            || self.ch <= 0
            || self.out_ch <= 0
            || self.z_channels <= 0
            || chans.clone().any(|c| c <= 0 || c % 32 != 0)
        {
            return Err(invalid(format!(
                "VaeConfig: ch {} x ch_mult {:?} must give positive multiples of 32 channels (32 norm groups)",
                self.ch, self.ch_mult
            )));
        }
        Ok(())
    }
}

fn norm(c: i32) -> Result<GroupNorm> {
    GroupNorm::new(32, c, 1e-6, true)
}

#[derive(Clone, Debug)]
struct ResnetBlock {
    norm1: GroupNorm,
    conv1: Conv2d,
    norm2: GroupNorm,
    conv2: Conv2d,
    nin_shortcut: Option<Conv2d>,
}

impl ResnetBlock {
    fn new(cin: i32, cout: i32) -> Result<ResnetBlock> {
        Ok(ResnetBlock {
            norm1: norm(cin)?,
            conv1: Conv2d::new(cin, cout, 3, 1, 1, true)?,
            norm2: norm(cout)?,
            conv2: Conv2d::new(cout, cout, 3, 1, 1, true)?,
            nin_shortcut: if cin != cout {
                Some(Conv2d::new(cin, cout, 1, 1, 0, true)?)
            } else {
                None
            },
        })
    }

    fn forward(&self, x: &Array) -> Result<Array> {
        let h = self
            .conv1
            .forward(&mlx_nn::silu(&self.norm1.forward(x)?)?)?;
        let h = self
            .conv2
            .forward(&mlx_nn::silu(&self.norm2.forward(&h)?)?)?;
        match &self.nin_shortcut {
            Some(c) => &c.forward(x)? + &h,
            None => x + &h,
        }
    }

    fn entries(&self) -> Vec<(&'static str, Entry<'_>)> {
        let mut v = vec![
            ("norm1", Entry::Module(&self.norm1 as &dyn Module)),
            ("conv1", Entry::Module(&self.conv1)),
            ("norm2", Entry::Module(&self.norm2)),
            ("conv2", Entry::Module(&self.conv2)),
        ];
        if let Some(c) = &self.nin_shortcut {
            v.push(("nin_shortcut", Entry::Module(c)));
        }
        v
    }

    fn entries_mut(&mut self) -> Vec<(&'static str, EntryMut<'_>)> {
        let mut v = vec![
            (
                "norm1",
                EntryMut::Module(&mut self.norm1 as &mut dyn Module),
            ),
            ("conv1", EntryMut::Module(&mut self.conv1)),
            ("norm2", EntryMut::Module(&mut self.norm2)),
            ("conv2", EntryMut::Module(&mut self.conv2)),
        ];
        if let Some(c) = &mut self.nin_shortcut {
            v.push(("nin_shortcut", EntryMut::Module(c)));
        }
        v
    }
}

#[derive(Clone, Debug)]
struct AttnBlock {
    norm: GroupNorm,
    q: Conv2d,
    k: Conv2d,
    v: Conv2d,
    proj_out: Conv2d,
}

impl AttnBlock {
    fn new(c: i32) -> Result<AttnBlock> {
        let one = || Conv2d::new(c, c, 1, 1, 0, true);
        Ok(AttnBlock {
            norm: norm(c)?,
            q: one()?,
            k: one()?,
            v: one()?,
            proj_out: one()?,
        })
    }

    /// `x + proj_out(attention)`: one head over the `H·W` positions.
    fn forward(&self, x: &Array) -> Result<Array> {
        let s = x.shape();
        let (b, h, w, c) = (s[0], s[1], s[2], s[3]);
        let n = self.norm.forward(x)?;
        let flat = |conv: &Conv2d| ops::reshape(&conv.forward(&n)?, &[b, 1, h * w, c]);
        let o = fast::scaled_dot_product_attention(
            &flat(&self.q)?,
            &flat(&self.k)?,
            &flat(&self.v)?,
            1.0 / (c as f32).sqrt(),
            AttentionMask::None,
        )?;
        x + &self.proj_out.forward(&ops::reshape(&o, &[b, h, w, c])?)?
    }
}

/// The decoder of FLUX's autoencoder: latents `[B, 16, h, w]` to images
/// `[B, 3, 8h, 8w]` (for `ch_mult` of 4 levels) in about `[-1, 1]`.
#[derive(Clone, Debug)]
pub struct Decoder {
    config: VaeConfig,
    conv_in: Conv2d,
    mid_block_1: ResnetBlock,
    mid_attn_1: AttnBlock,
    mid_block_2: ResnetBlock,
    /// `up[i]`: the ResnetBlocks of level `i` and, for `i > 0`, its upsampling conv.
    up: Vec<(Vec<ResnetBlock>, Option<Conv2d>)>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
}

impl Decoder {
    /// A decoder with MLX's default random initialization (for loading into).
    #[track_caller]
    pub fn new(config: VaeConfig) -> Result<Decoder> {
        config.validate()?;
        let n = config.ch_mult.len();
        let mut block_in = config.ch * config.ch_mult[n - 1];
        let conv_in = Conv2d::new(config.z_channels, block_in, 3, 1, 1, true)?;
        let mid_block_1 = ResnetBlock::new(block_in, block_in)?;
        let mid_attn_1 = AttnBlock::new(block_in)?;
        let mid_block_2 = ResnetBlock::new(block_in, block_in)?;
        let mut up: Vec<(Vec<ResnetBlock>, Option<Conv2d>)> = Vec::with_capacity(n);
        for i in (0..n).rev() {
            let out = config.ch * config.ch_mult[i];
            let mut blocks = Vec::new();
            for _ in 0..=config.num_res_blocks {
                blocks.push(ResnetBlock::new(block_in, out)?);
                block_in = out;
            }
            let upsample = if i != 0 {
                Some(Conv2d::new(block_in, block_in, 3, 1, 1, true)?)
            } else {
                None
            };
            up.insert(0, (blocks, upsample));
        }
        Ok(Decoder {
            conv_in,
            mid_block_1,
            mid_attn_1,
            mid_block_2,
            up,
            norm_out: norm(block_in)?,
            conv_out: Conv2d::new(block_in, config.out_ch, 3, 1, 1, true)?,
            config,
        })
    }

    /// The decoder of the autoencoder at `path` (`ae.safetensors` layout),
    /// in `dtype`. Strict over the decoder: a `decoder.*` tensor the model
    /// lacks, one the file lacks, or a shape that differs is an `Err` listing
    /// each; `encoder.*` tensors are skipped, any other name is an `Err`.
    /// Lazy: tensors are read, transposed and converted when first evaluated.
    #[track_caller]
    pub fn load(config: VaeConfig, path: impl AsRef<Path>, dtype: Dtype) -> Result<Decoder> {
        let mut model = Decoder::new(config)?;
        model.to_dtype(dtype)?;
        let path = path.as_ref();
        let file = io::load_safetensors_lazy(path)?;
        let mut params = Params::new();
        let mut foreign: Vec<&String> = Vec::new();
        for (name, a) in &file.arrays {
            if name.starts_with("decoder.") {
                // PyTorch [out, in, kh, kw] -> MLX [out, kh, kw, in].
                let a = if a.ndim() == 4 {
                    ops::transpose_axes(a, &[0, 2, 3, 1])?
                } else {
                    a.clone()
                };
                params.insert(name.clone(), a);
            } else if !name.starts_with("encoder.") {
                foreign.push(name);
            }
        }
        if !foreign.is_empty() {
            foreign.sort();
            return Err(invalid(format!(
                "{}: not an autoencoder checkpoint: tensors outside encoder.* / decoder.*: {foreign:?}",
                path.display()
            )));
        }
        mlx_nn::io::load_params(
            &mut model,
            &params,
            LoadOptions {
                strict: true,
                convert_dtype: true,
            },
        )
        .map_err(|e| invalid(format!("{}: {}", path.display(), e.message())))?;
        Ok(model)
    }

    /// The configuration.
    pub fn config(&self) -> &VaeConfig {
        &self.config
    }

    /// BFL's `AutoEncoder.decode`: `decoder(z / scale_factor + shift_factor)`
    /// for latents `[B, z_channels, h, w]` (channels first, as the sampler
    /// writes them); returns `[B, out_ch, H, W]`.
    #[track_caller]
    pub fn decode(&self, z: &Array) -> Result<Array> {
        let s = z.shape();
        if s.len() != 4 || s[1] != self.config.z_channels {
            return Err(invalid(format!(
                "Decoder: latents {s:?} must be [B, {}, h, w]",
                self.config.z_channels
            )));
        }
        let dt = self.conv_in.weight.dtype();
        let z =
            ((&z.astype(Dtype::Float32)? / self.config.scale_factor)? + self.config.shift_factor)?;
        let mut h = ops::transpose_axes(&z.astype(dt)?, &[0, 2, 3, 1])?;
        h = self.conv_in.forward(&h)?;
        h = self.mid_block_1.forward(&h)?;
        h = self.mid_attn_1.forward(&h)?;
        h = self.mid_block_2.forward(&h)?;
        for (blocks, upsample) in self.up.iter().rev() {
            for b in blocks {
                h = b.forward(&h)?;
            }
            if let Some(conv) = upsample {
                // Nearest-neighbour 2x, then the conv.
                h = ops::repeat_axis(&ops::repeat_axis(&h, 2, 1)?, 2, 2)?;
                h = conv.forward(&h)?;
            }
        }
        h = self
            .conv_out
            .forward(&mlx_nn::silu(&self.norm_out.forward(&h)?)?)?;
        ops::transpose_axes(&h, &[0, 3, 1, 2])
    }
}

impl Module for Decoder {
    /// [`Decoder::decode`].
    fn forward(&self, z: &Array) -> Result<Array> {
        self.decode(z)
    }
}

/// The parameters under `ae.safetensors`' names (`decoder.` paths).
impl Members for Decoder {
    fn entries(&self) -> Vec<(String, Entry<'_>)> {
        let mut v: Vec<(String, Entry<'_>)> =
            vec![("decoder.conv_in".into(), Entry::Module(&self.conv_in))];
        fn block<'a>(prefix: String, b: &'a ResnetBlock, v: &mut Vec<(String, Entry<'a>)>) {
            for (n, e) in b.entries() {
                v.push((format!("{prefix}.{n}"), e));
            }
        }
        block("decoder.mid.block_1".into(), &self.mid_block_1, &mut v);
        let a = &self.mid_attn_1;
        for (n, m) in [
            ("norm", &a.norm as &dyn Module),
            ("q", &a.q),
            ("k", &a.k),
            ("v", &a.v),
            ("proj_out", &a.proj_out),
        ] {
            v.push((format!("decoder.mid.attn_1.{n}"), Entry::Module(m)));
        }
        block("decoder.mid.block_2".into(), &self.mid_block_2, &mut v);
        for (i, (blocks, upsample)) in self.up.iter().enumerate() {
            for (j, b) in blocks.iter().enumerate() {
                block(format!("decoder.up.{i}.block.{j}"), b, &mut v);
            }
            if let Some(c) = upsample {
                v.push((format!("decoder.up.{i}.upsample.conv"), Entry::Module(c)));
            }
        }
        v.push(("decoder.norm_out".into(), Entry::Module(&self.norm_out)));
        v.push(("decoder.conv_out".into(), Entry::Module(&self.conv_out)));
        v
    }

    fn entries_mut(&mut self) -> Vec<(String, EntryMut<'_>)> {
        let mut v: Vec<(String, EntryMut<'_>)> = vec![(
            "decoder.conv_in".into(),
            EntryMut::Module(&mut self.conv_in),
        )];
        fn block<'a>(prefix: String, b: &'a mut ResnetBlock, v: &mut Vec<(String, EntryMut<'a>)>) {
            for (n, e) in b.entries_mut() {
                v.push((format!("{prefix}.{n}"), e));
            }
        }
        block("decoder.mid.block_1".into(), &mut self.mid_block_1, &mut v);
        let a = &mut self.mid_attn_1;
        for (n, m) in [
            ("norm", &mut a.norm as &mut dyn Module),
            ("q", &mut a.q),
            ("k", &mut a.k),
            ("v", &mut a.v),
            ("proj_out", &mut a.proj_out),
        ] {
            v.push((format!("decoder.mid.attn_1.{n}"), EntryMut::Module(m)));
        }
        block("decoder.mid.block_2".into(), &mut self.mid_block_2, &mut v);
        for (i, (blocks, upsample)) in self.up.iter_mut().enumerate() {
            for (j, b) in blocks.iter_mut().enumerate() {
                block(format!("decoder.up.{i}.block.{j}"), b, &mut v);
            }
            if let Some(c) = upsample {
                v.push((format!("decoder.up.{i}.upsample.conv"), EntryMut::Module(c)));
            }
        }
        v.push((
            "decoder.norm_out".into(),
            EntryMut::Module(&mut self.norm_out),
        ));
        v.push((
            "decoder.conv_out".into(),
            EntryMut::Module(&mut self.conv_out),
        ));
        v
    }
}

mlx_nn::impl_tree_for_members!(Decoder);

/// An image `[3, H, W]` in `[-1, 1]` as 8-bit RGB, row-major: BFL's
/// `(127.5 · (clamp(x, -1, 1) + 1))` truncated to bytes.
#[track_caller]
pub fn to_rgb8(image: &Array) -> Result<(u32, u32, Vec<u8>)> {
    let s = image.shape();
    if s.len() != 3 || s[0] != 3 {
        return Err(invalid(format!("to_rgb8: image {s:?} must be [3, H, W]")));
    }
    let hwc = ops::transpose_axes(&image.astype(Dtype::Float32)?, &[1, 2, 0])?;
    let v = hwc.to_vec::<f32>()?;
    let bytes = v
        .iter()
        .map(|x| (127.5 * (x.clamp(-1.0, 1.0) + 1.0)) as u8)
        .collect();
    Ok((s[2] as u32, s[1] as u32, bytes))
}

/// CRC-32 (ISO-HDLC, as PNG uses) of `data`.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// PNG bytes of an 8-bit RGB image (`rgb`: `width · height · 3` bytes,
/// row-major), no filtering, zlib-compressed.
///
/// ```
/// let png = mlx_workloads::flux::vae::png_bytes(2, 1, &[255, 0, 0, 0, 0, 255]).unwrap();
/// assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
/// ```
#[track_caller]
pub fn png_bytes(width: u32, height: u32, rgb: &[u8]) -> Result<Vec<u8>> {
    if width == 0 || height == 0 || rgb.len() != width as usize * height as usize * 3 {
        return Err(invalid(format!(
            "png_bytes: {} bytes for a {width} x {height} RGB image",
            rgb.len()
        )));
    }
    let mut raw = Vec::with_capacity(rgb.len() + height as usize);
    for row in rgb.chunks(width as usize * 3) {
        raw.push(0); // filter: none
        raw.extend_from_slice(row);
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    let io_err = |e: std::io::Error| invalid(format!("png_bytes: {e}"));
    z.write_all(&raw).map_err(io_err)?;
    let idat = z.finish().map_err(io_err)?;
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8; 4], data: &[u8]| {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit, RGB, deflate, no filter, no interlace
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &idat);
    chunk(b"IEND", &[]);
    Ok(out)
}

/// Writes the first image of a decoder output `[B, 3, H, W]` as a PNG file.
#[track_caller]
pub fn write_png(images: &Array, path: impl AsRef<Path>) -> Result<()> {
    let s = images.shape();
    if s.len() != 4 || s[1] != 3 {
        return Err(invalid(format!(
            "write_png: images {s:?} must be [B, 3, H, W]"
        )));
    }
    let first = ops::squeeze_axes(
        &ops::slice(images, &[0, 0, 0, 0], &[1, s[1], s[2], s[3]], &[1, 1, 1, 1])?,
        &[0],
    )?;
    let (w, h, rgb) = to_rgb8(&first)?;
    let path = path.as_ref();
    std::fs::write(path, png_bytes(w, h, &rgb)?)
        .map_err(|e| invalid(format!("{}: {e}", path.display())))
}
