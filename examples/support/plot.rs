//! A small line-chart writer: curves side by side, saved as an RGB PNG
//! (zlib through flate2; no plotting dependency). Labels use a built-in
//! 3×5 pixel font.
#![allow(dead_code)] // each program uses a part

use std::io::Write;
use std::path::Path;

/// One panel: a title and a curve of `(x, y)` points.
pub struct Panel<'a> {
    /// Drawn above the panel.
    pub title: &'a str,
    /// The curve.
    pub points: &'a [(f64, f64)],
    /// Line colour (RGB).
    pub color: [u8; 3],
}

struct Canvas {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

impl Canvas {
    fn new(w: usize, h: usize) -> Canvas {
        Canvas {
            w,
            h,
            px: vec![255; w * h * 3],
        }
    }

    fn set(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as usize) < self.w && (y as usize) < self.h {
            let i = (y as usize * self.w + x as usize) * 3;
            self.px[i..i + 3].copy_from_slice(&c);
        }
    }

    fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), c: [u8; 3], thick: i64) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        loop {
            for ox in 0..thick {
                for oy in 0..thick {
                    self.set(x + ox, y + oy, c);
                }
            }
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// Text in the 3×5 font, each font pixel `scale`² screen pixels.
    fn text(&mut self, x: i64, y: i64, s: &str, scale: i64, c: [u8; 3]) {
        for (i, ch) in s.chars().enumerate() {
            let bits = glyph(ch);
            for row in 0..5 {
                for col in 0..3 {
                    if bits >> (14 - (row * 3 + col)) & 1 == 1 {
                        for a in 0..scale {
                            for b in 0..scale {
                                self.set(
                                    x + (i as i64 * 4 + col) * scale + a,
                                    y + row * scale + b,
                                    c,
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

/// 3×5 glyphs, row-major, top-left bit first (15 bits).
fn glyph(c: char) -> u16 {
    match c.to_ascii_lowercase() {
        '0' => 0b111_101_101_101_111,
        '1' => 0b010_110_010_010_111,
        '2' => 0b111_001_111_100_111,
        '3' => 0b111_001_111_001_111,
        '4' => 0b101_101_111_001_001,
        '5' => 0b111_100_111_001_111,
        '6' => 0b111_100_111_101_111,
        '7' => 0b111_001_010_010_010,
        '8' => 0b111_101_111_101_111,
        '9' => 0b111_101_111_001_111,
        '.' => 0b000_000_000_000_010,
        '%' => 0b101_001_010_100_101,
        '-' => 0b000_000_111_000_000,
        '(' => 0b010_100_100_100_010,
        ')' => 0b010_001_001_001_010,
        ':' => 0b000_010_000_010_000,
        'a' => 0b010_101_111_101_101,
        'c' => 0b011_100_100_100_011,
        'e' => 0b111_100_110_100_111,
        'h' => 0b101_101_111_101_101,
        'i' => 0b111_010_010_010_111,
        'l' => 0b100_100_100_100_111,
        'n' => 0b110_101_101_101_101,
        'o' => 0b111_101_101_101_111,
        'p' => 0b111_101_111_100_100,
        'r' => 0b110_101_110_101_101,
        's' => 0b011_100_010_001_110,
        't' => 0b111_010_010_010_010,
        'u' => 0b101_101_101_101_111,
        'y' => 0b101_101_010_010_010,
        'x' => 0b101_101_010_101_101,
        'g' => 0b011_100_101_101_011,
        'm' => 0b101_111_111_101_101,
        'd' => 0b110_101_101_101_110,
        'b' => 0b110_101_110_101_110,
        'f' => 0b111_100_110_100_100,
        'k' => 0b101_101_110_101_101,
        'w' => 0b101_101_111_111_101,
        'v' => 0b101_101_101_101_010,
        _ => 0,
    }
}

/// Short label for an axis value.
fn label(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// Draws the panels side by side and writes `path` (PNG).
pub fn write_png(path: &Path, panels: &[Panel<'_>]) -> Result<(), String> {
    let (pw, ph) = (420usize, 300usize);
    let mut cv = Canvas::new(pw * panels.len().max(1), ph);
    let grey = [190, 190, 190];
    let black = [40, 40, 40];
    for (k, p) in panels.iter().enumerate() {
        let ox = (k * pw) as i64;
        let (left, right, top, bottom) = (ox + 60, ox + pw as i64 - 20, 40i64, ph as i64 - 40);
        cv.text(ox + 60, 12, p.title, 3, black);
        cv.line((left, top), (left, bottom), black, 1);
        cv.line((left, bottom), (right, bottom), black, 1);
        if p.points.is_empty() {
            continue;
        }
        let (mut x0, mut x1) = (f64::MAX, f64::MIN);
        let (mut y0, mut y1) = (f64::MAX, f64::MIN);
        for &(x, y) in p.points {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        if x1 <= x0 {
            x1 = x0 + 1.0;
        }
        if y1 <= y0 {
            y1 = y0 + 1.0;
        }
        let sx = |x: f64| left + ((x - x0) / (x1 - x0) * (right - left) as f64).round() as i64;
        let sy = |y: f64| bottom - ((y - y0) / (y1 - y0) * (bottom - top) as f64).round() as i64;
        for i in 0..=4 {
            let y = y0 + (y1 - y0) * i as f64 / 4.0;
            cv.line((left + 1, sy(y)), (right, sy(y)), grey, 1);
            cv.text(ox + 4, sy(y) - 5, &label(y), 2, black);
        }
        cv.text(left, bottom + 10, &format!("epoch {}", label(x0)), 2, black);
        let end = label(x1);
        cv.text(right - 8 * end.len() as i64, bottom + 10, &end, 2, black);
        for w in p.points.windows(2) {
            cv.line(
                (sx(w[0].0), sy(w[0].1)),
                (sx(w[1].0), sy(w[1].1)),
                p.color,
                2,
            );
        }
    }
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    encode_png(file, cv.w, cv.h, &cv.px).map_err(|e| format!("{}: {e}", path.display()))
}

fn encode_png(mut out: impl Write, w: usize, h: usize, rgb: &[u8]) -> std::io::Result<()> {
    fn chunk(out: &mut impl Write, kind: &[u8; 4], data: &[u8]) -> std::io::Result<()> {
        out.write_all(&(data.len() as u32).to_be_bytes())?;
        out.write_all(kind)?;
        out.write_all(data)?;
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.write_all(&crc.sum().to_be_bytes())
    }
    out.write_all(b"\x89PNG\r\n\x1a\n")?;
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&(w as u32).to_be_bytes());
    ihdr.extend_from_slice(&(h as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, no interlace
    chunk(&mut out, b"IHDR", &ihdr)?;
    let mut raw = Vec::with_capacity((w * 3 + 1) * h);
    for row in rgb.chunks(w * 3) {
        raw.push(0); // filter: none
        raw.extend_from_slice(row);
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&raw)?;
    chunk(&mut out, b"IDAT", &z.finish()?)?;
    chunk(&mut out, b"IEND", &[])
}
