//! Fused similarity scoring and top-k, the retrieval step of a RAG query:
//! `queries [B, D] @ corpus [N, D]ᵀ` followed by the best `k` corpus rows per
//! query, without materializing the `[B, N]` score matrix.
//!
//! The kernels stream the corpus in slices (pass 1: each block keeps a
//! running top-k per query for its slice) and merge the slices' candidates
//! (pass 2). Scores are dot products accumulated in f32. On CPU streams a
//! CPU primitive ([`mlx_rs_core::ops::cpu::score_topk`]) reads the corpus
//! once with a running top-k per query. On CUDA, pass 1
//! runs on tensor cores (bf16 / f16 products, f32 sums) for more than 8
//! queries of a 16-bit dtype and rows a multiple of 32 wide (up to 768), and
//! on CUDA cores otherwise.
//!
//! CUDA has a second design, [`ScoreTopkCuda::Select`]: one kernel writes
//! the f32 scores `[B, N]` (no candidate bookkeeping while the corpus
//! streams), a selection kernel takes the best `k` of each 8,192-score chunk
//! of each row, and a last kernel merges the chunks. It trades a write and a
//! read of the scores (4 MB per query at 1M rows, mostly served by L2 for few
//! queries) for a streaming loop without barriers and a selection whose
//! threshold starts near the final one. On an H200 (1M x 384 bf16) it was
//! faster for every batch measured: 1 query 0.38 ms against 0.53, 64
//! queries 1.15 ms against 5.7 (`BENCHMARKS.md`), so it is the default
//! ([`ScoreTopkCuda::Auto`]) wherever it applies; [`set_score_topk_cuda`]
//! picks a design.
//!
//! A third design, [`ScoreTopkCuda::OnePass`] (up to 4 queries; the default
//! for one), does it all in one kernel: each block keeps its slice's scores
//! in shared memory and selects the slice's best `k` there, and the last
//! block to finish merges the slices (a zeroed counter tells it that it is
//! last). One launch and one op instead of three, and no score matrix in
//! memory: one query of 1M x 384 bf16 took 0.234 ms against the select
//! design's 0.255 in the same run on an H200.
//!
//! # Order and ties
//! Results are ordered best first: higher score first and, on equal scores,
//! lower corpus index first. A NaN score ranks as `-inf` and is reported as
//! `-inf`. On the kernel and CPU paths that order is total, so the `k` returned are
//! exactly the first `k` of the whole corpus in that order. On the reference
//! path the `k` are ordered the same way, but which of several rows tied at
//! the `k`-th score are kept is up to MLX's `argpartition`.

use mlx_rs_core::kernel::{KernelConfig, KernelSpec, TemplateArg};
use mlx_rs_core::{ops, Array, DeviceType, Dtype, Error, Result, Stream, StreamOrDevice};

use crate::dispatch::{force_reference, path_for, poisoned, EnvChoice, KernelPath, Kernels};

const CUDA_HEADER: &str = include_str!("../../cuda-src/score_topk.cuh");
const CUDA_PARTIAL: &str = include_str!("../../cuda-src/score_topk_partial.cu");
const CUDA_MMA: &str = include_str!("../../cuda-src/score_topk_mma.cu");
const CUDA_MERGE: &str = include_str!("../../cuda-src/score_topk_merge.cu");
const CUDA_SCORES: &str = include_str!("../../cuda-src/score_topk_scores.cu");
const CUDA_SCORES_MMA: &str = include_str!("../../cuda-src/score_topk_scores_mma.cu");
const CUDA_SELECT: &str = include_str!("../../cuda-src/score_topk_select.cu");
const CUDA_SELECT_MERGE: &str = include_str!("../../cuda-src/score_topk_select_merge.cu");
const CUDA_ONE_PASS: &str = include_str!("../../cuda-src/score_topk_one_pass.cu");
const METAL_HEADER: &str = include_str!("../../metal-src/score_topk.h");
const METAL_PARTIAL: &str = include_str!("../../metal-src/score_topk_partial.metal");
const METAL_MERGE: &str = include_str!("../../metal-src/score_topk_merge.metal");

/// Threads per block of both passes (the sources assume 256).
const BLOCK: i32 = 256;
/// The largest `k` the kernels take (their pass-1 buffers hold `k + 256`).
pub const SCORE_TOPK_MAX_K: i32 = 256;
/// Pass-1 buffer entries per query (`CAP` in the sources).
const PARTIAL_CAP: usize = 512;
/// Corpus slices pass 1 aims for: a few blocks per SM of a large GPU for one
/// query, and few enough that pass 2 has little to merge.
const TARGET_SLICES: i32 = 512;
/// Pass-1 slices hold at least this many rows.
const MIN_SLICE_ROWS: i32 = 1024;

/// Per-backend limits: static shared (threadgroup) memory and pass-2 buffers.
struct Backend {
    /// Bytes of shared memory pass 1 may use (CUDA: 48 KiB static limit,
    /// Metal: 32 KiB threadgroup memory), minus a margin for the counters.
    shared_bytes: usize,
    /// Pass-2 buffer entries and candidates per thread per round.
    merge_cap: i32,
    merge_items: i32,
}

const CUDA: Backend = Backend {
    shared_bytes: 46 * 1024,
    merge_cap: 4096,
    merge_items: 8,
};
const METAL: Backend = Backend {
    shared_bytes: 30 * 1024,
    merge_cap: 2048,
    merge_items: 4,
};

static PARTIAL: Kernels = Kernels::new(|| {
    let spec = |source: &str, header: &str| {
        KernelSpec::new(
            "mlx_rs_score_topk_partial",
            &["q", "c"],
            &["part_scores", "part_indices"],
            source,
        )
        .with_header(header)
    };
    (
        spec(CUDA_PARTIAL, CUDA_HEADER),
        spec(METAL_PARTIAL, METAL_HEADER),
    )
});

/// Pass 1 on tensor cores (CUDA only; the Metal spec is never built).
static PARTIAL_MMA: Kernels = Kernels::new(|| {
    let spec = |source: &str, header: &str| {
        KernelSpec::new(
            "mlx_rs_score_topk_partial_mma",
            &["q", "c"],
            &["part_scores", "part_indices"],
            source,
        )
        .with_header(header)
    };
    (
        spec(CUDA_MMA, CUDA_HEADER),
        spec(METAL_PARTIAL, METAL_HEADER),
    )
});
/// Queries per tensor-core pass-1 block (the `n` of `mma.m16n8k16`).
const MMA_QUERIES: usize = 8;
/// The widest rows the tensor-core pass 1 takes: its queries' fragments
/// (`16 * D` bytes) and candidate buffers share 46 KiB of shared memory.
const MMA_MAX_DIM: i32 = 768;

/// Whether CUDA's pass 1 runs on tensor cores: more queries than the
/// CUDA-core kernel's best case (one corpus read per 8), a 16-bit dtype and
/// rows of whole 32-value k pairs.
fn use_mma(batch: i32, dim: i32, dtype: Dtype) -> bool {
    batch > 8
        && matches!(dtype, Dtype::Bfloat16 | Dtype::Float16)
        && dim % 32 == 0
        && dim <= MMA_MAX_DIM
}

static MERGE: Kernels = Kernels::new(|| {
    let spec = |source: &str, header: &str| {
        KernelSpec::new(
            "mlx_rs_score_topk_merge",
            &["ps", "pi"],
            &["scores", "indices"],
            source,
        )
        .with_header(header)
    };
    (
        spec(CUDA_MERGE, CUDA_HEADER),
        spec(METAL_MERGE, METAL_HEADER),
    )
});

/// A CUDA-only kernel of the [`ScoreTopkCuda::Select`] design (the Metal
/// spec is never built).
macro_rules! cuda_only {
    ($name:ident, $kernel:literal, $inputs:expr, $outputs:expr, $source:expr) => {
        static $name: Kernels = Kernels::new(|| {
            let spec = |source: &str| {
                KernelSpec::new($kernel, $inputs, $outputs, source).with_header(CUDA_HEADER)
            };
            (spec($source), spec(METAL_PARTIAL))
        });
    };
}
cuda_only!(
    SCORES,
    "mlx_rs_score_topk_scores",
    &["q", "c"],
    &["s"],
    CUDA_SCORES
);
cuda_only!(
    SCORES_MMA,
    "mlx_rs_score_topk_scores_mma",
    &["q", "c"],
    &["s"],
    CUDA_SCORES_MMA
);
cuda_only!(
    SELECT,
    "mlx_rs_score_topk_select",
    &["s"],
    &["part_scores", "part_indices"],
    CUDA_SELECT
);
cuda_only!(
    SELECT_MERGE,
    "mlx_rs_score_topk_select_merge",
    &["ps", "pi"],
    &["scores", "indices"],
    CUDA_SELECT_MERGE
);

cuda_only!(
    ONE_PASS,
    "mlx_rs_score_topk_one_pass",
    &["q", "c", "tickets"],
    &["part_scores", "part_indices", "scores", "indices"],
    CUDA_ONE_PASS
);

/// Scores per thread of the selection kernel (`V`); a chunk is 256 of them.
const SELECT_PER_THREAD: i32 = 32;
/// Rows per selection chunk.
const SELECT_CHUNK: i32 = 256 * SELECT_PER_THREAD;
/// The most candidates per thread the merge kernel holds in registers.
const MERGE_MAX_PER_THREAD: i32 = 64;
/// The largest score matrix the select design materializes (bytes).
const SELECT_MAX_SCORE_BYTES: i64 = 1 << 30;
/// Shared memory the tensor-core scores kernel gives the queries' fragments.
const SCORES_MMA_FRAGMENT_BYTES: i32 = 40 * 1024;

/// Which design [`score_topk`] runs on CUDA (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoreTopkCuda {
    /// [`ScoreTopkCuda::OnePass`] for one query where it applies, else
    /// [`ScoreTopkCuda::Select`] where it applies, else
    /// [`ScoreTopkCuda::Fused`].
    Auto,
    /// Running top-k while the corpus streams; the scores never leave the
    /// SMs.
    Fused,
    /// Scores written to memory, then selected and merged (falls back to
    /// [`ScoreTopkCuda::Fused`] where the score matrix would exceed 1 GiB or
    /// the merge would hold more than 16,384 candidates per query).
    Select,
    /// One kernel for up to 4 queries: each block streams a slice of the
    /// corpus, keeps its scores in shared memory and selects the slice's best
    /// `k`; the last block to finish merges the slices. Falls back to
    /// [`ScoreTopkCuda::Select`] (then [`ScoreTopkCuda::Fused`]) for more
    /// queries, or where the merge would hold more than 8,192 candidates
    /// per query.
    OnePass,
}

/// Environment variable read before the first [`score_topk`] call on CUDA:
/// `fused`, `select` or `one-pass` start the process with that
/// [`ScoreTopkCuda`] design (anything else: [`ScoreTopkCuda::Auto`]).
pub const SCORE_TOPK_CUDA_ENV: &str = "MLX_RS_SCORE_TOPK_CUDA";

static CUDA_DESIGN: EnvChoice<ScoreTopkCuda, 4> = EnvChoice::new(
    SCORE_TOPK_CUDA_ENV,
    [
        ScoreTopkCuda::Auto,
        ScoreTopkCuda::Fused,
        ScoreTopkCuda::Select,
        ScoreTopkCuda::OnePass,
    ],
    ["auto", "fused", "select", "one-pass"],
);

/// Picks the design [`score_topk`] runs on CUDA (default
/// [`ScoreTopkCuda::Auto`]); overrides [`SCORE_TOPK_CUDA_ENV`].
///
/// ```
/// use mlx_ext_kernels::{score_topk_cuda, set_score_topk_cuda, ScoreTopkCuda};
/// set_score_topk_cuda(ScoreTopkCuda::Select);
/// assert_eq!(score_topk_cuda(), ScoreTopkCuda::Select);
/// set_score_topk_cuda(ScoreTopkCuda::Auto);
/// ```
pub fn set_score_topk_cuda(design: ScoreTopkCuda) {
    CUDA_DESIGN.set(design);
}

/// The design [`set_score_topk_cuda`] (or its environment variable) set.
pub fn score_topk_cuda() -> ScoreTopkCuda {
    CUDA_DESIGN.get()
}

/// Whether a CUDA call of these sizes runs the select design.
fn use_select(b: i32, n: i32, d: i32, k: i32) -> bool {
    let wanted = score_topk_cuda() != ScoreTopkCuda::Fused;
    let chunks = (i64::from(n) + i64::from(SELECT_CHUNK) - 1) / i64::from(SELECT_CHUNK);
    wanted
        && k <= SCORE_TOPK_MAX_K
        && chunks * i64::from(k) <= 256 * i64::from(MERGE_MAX_PER_THREAD)
        && i64::from(b) * i64::from(n) * 4 <= SELECT_MAX_SCORE_BYTES
        && scores_queries_per_block(d, 1) == 1
}

/// Queries per block of the CUDA-core scores kernel: as many as fit its
/// shared memory (the queries in f32), at most 8.
fn scores_queries_per_block(d: i32, b: i32) -> i32 {
    (CUDA.shared_bytes as i32 / (4 * d.max(1))).min(8).min(b)
}

/// The select design on a CUDA stream: scores, per-chunk best `k`, merge.
#[track_caller]
fn select_on(
    queries: &Array,
    corpus: &Array,
    k: i32,
    (b, n, d): (i32, i32, i32),
    stream: &Stream,
) -> Result<(Array, Array)> {
    let dtype = queries.dtype();
    let slice_rows = MIN_SLICE_ROWS.max((n + TARGET_SLICES - 1) / TARGET_SLICES);
    let slices = (n + slice_rows - 1) / slice_rows;
    let (kernel, qb, config) = if use_mma(b, d, dtype) {
        let fragment_bytes = (d / 32) * 32 * 16;
        let nt = ((b + 7) / 8)
            .min(4)
            .min(SCORES_MMA_FRAGMENT_BYTES / fragment_bytes)
            .max(1);
        let config = KernelConfig::linear(0, BLOCK)
            .output(&[b, n], Dtype::Float32)
            .template("T", TemplateArg::Dtype(dtype))
            .template("DIM", TemplateArg::Int(d))
            .template("NT", TemplateArg::Int(nt));
        (&SCORES_MMA, 8 * nt, config)
    } else {
        let qb = scores_queries_per_block(d, b);
        let config = KernelConfig::linear(0, BLOCK)
            .output(&[b, n], Dtype::Float32)
            .template("T", TemplateArg::Dtype(dtype))
            .template("DIM", TemplateArg::Int(d))
            .template("QB", TemplateArg::Int(qb));
        (&SCORES, qb, config)
    };
    let mut config = poisoned(config);
    config.grid = [(b + qb - 1) / qb * BLOCK, slices, 1];
    let scores = kernel
        .cuda()?
        .apply_on(&[queries, corpus], &config, stream)?
        .remove(0);

    let chunks = (n + SELECT_CHUNK - 1) / SELECT_CHUNK;
    let mut select = poisoned(
        KernelConfig::linear(0, BLOCK)
            .output(&[b, chunks, k], Dtype::Float32)
            .output(&[b, chunks, k], Dtype::Uint32)
            .template("V", TemplateArg::Int(SELECT_PER_THREAD))
            .template("K", TemplateArg::Int(k)),
    );
    select.grid = [b * BLOCK, chunks, 1];
    let parts = SELECT.cuda()?.apply_on(&[&scores], &select, stream)?;

    let m = chunks * k;
    let per_thread = merge_per_thread(i64::from(m)) as i32;
    let mut merge = poisoned(
        KernelConfig::linear(0, BLOCK)
            .output(&[b, k], Dtype::Float32)
            .output(&[b, k], Dtype::Uint32)
            .template("V", TemplateArg::Int(per_thread))
            .template("K", TemplateArg::Int(k)),
    );
    merge.grid = [b * BLOCK, 1, 1];
    let ps = ops::reshape_on(&parts[0], &[b, m], stream)?;
    let pi = ops::reshape_on(&parts[1], &[b, m], stream)?;
    let mut out = SELECT_MERGE.cuda()?.apply_on(&[&ps, &pi], &merge, stream)?;
    let indices = out.remove(1);
    Ok((out.remove(0), indices))
}

/// Candidates per thread of a merge over `candidates` (one block of
/// [`BLOCK`] threads), rounded up to a multiple of 8 so that corpus sizes
/// share compiled kernels.
fn merge_per_thread(candidates: i64) -> i64 {
    ((candidates + i64::from(BLOCK) - 1) / i64::from(BLOCK) + 7) / 8 * 8
}

/// The most queries the one-pass design takes (one block holds them all).
const ONE_PASS_MAX_QUERIES: i32 = 4;
/// Rows per slice of the one-pass design unless [`SCORE_TOPK_SLICE_ROWS_ENV`]
/// says otherwise: 245 blocks at 1M rows, one wave on an H200 (by ptxas's
/// register count two blocks fit per SM). Measured there for one query of 1M x 384 bf16: 0.234 ms median
/// against 0.249 with 2,048 rows (489 blocks, two waves).
const ONE_PASS_ROWS: i32 = 4096;
/// The most merge candidates per thread of the one-pass kernel: its
/// registers are the most of both phases, and ptxas gives the kernel 127
/// registers with 24 per thread (two blocks per SM) but 168 with 64.
const ONE_PASS_MAX_MERGE_PER_THREAD: i32 = 32;

/// 32-bit words of the one-pass kernel's counter buffer: one counter on its
/// own 128-byte line.
const TICKET_WORDS: i32 = 32;

/// Environment variable read at the first one-pass [`score_topk`] call on CUDA:
/// the rows per corpus slice (a power of two from 256 to 8192; default
/// 4096), for tuning runs. Fewer rows mean more blocks, a shorter selection
/// per block and more candidates to merge.
pub const SCORE_TOPK_SLICE_ROWS_ENV: &str = "MLX_RS_SCORE_TOPK_SLICE_ROWS";

/// How the one-pass kernel covers a call (every query in one block group):
/// rows per slice (template `ROWS`), slices, merge candidates per thread
/// (`MV`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct OnePassPlan {
    rows: i32,
    slices: i32,
    merge_per_thread: i32,
}

/// The one-pass plan for these sizes, or `None` where the design does not
/// apply (the design is not wanted, too many queries, a merge too large, or
/// rows too wide for shared memory). [`ScoreTopkCuda::Auto`] takes it for
/// one query only: each block selects its queries one after another, and
/// with 2 queries of 1M rows the one-pass kernel measured 0.375 ms against
/// the select design's 0.270 (H200).
fn one_pass_plan(b: i32, n: i32, d: i32, k: i32) -> Option<OnePassPlan> {
    let most = match score_topk_cuda() {
        ScoreTopkCuda::Auto => 1,
        ScoreTopkCuda::OnePass => ONE_PASS_MAX_QUERIES,
        ScoreTopkCuda::Fused | ScoreTopkCuda::Select => 0,
    };
    if b > most || k > SCORE_TOPK_MAX_K {
        return None;
    }
    static ROWS: std::sync::OnceLock<i32> = std::sync::OnceLock::new();
    let rows = *ROWS.get_or_init(|| {
        std::env::var(SCORE_TOPK_SLICE_ROWS_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<i32>().ok())
            .filter(|r| (256..=8192).contains(r) && r.count_ones() == 1)
            .unwrap_or(ONE_PASS_ROWS)
    });
    one_pass_plan_with(b, n, d, k, rows)
}

/// [`one_pass_plan`] with slices of at most `rows` rows, halved (down to
/// 256) until the block's shared memory fits: the queries and the slice's
/// scores in f32, and the candidate buffers of the two selections (512
/// entries of 8 bytes each).
fn one_pass_plan_with(b: i32, n: i32, d: i32, k: i32, rows: i32) -> Option<OnePassPlan> {
    let shared =
        |rows: i32| 4 * i64::from(b) * (i64::from(d) + i64::from(rows)) + 2 * (512 * 8 + 16) + 16;
    let mut rows = rows;
    while shared(rows) > CUDA.shared_bytes as i64 {
        if rows <= 256 {
            return None;
        }
        rows /= 2;
    }
    let slices = (n + rows - 1) / rows;
    let per_thread = merge_per_thread(i64::from(slices) * i64::from(k));
    (per_thread <= i64::from(ONE_PASS_MAX_MERGE_PER_THREAD)).then_some(OnePassPlan {
        rows,
        slices,
        merge_per_thread: per_thread as i32,
    })
}

/// The one-pass design on a CUDA stream: one kernel (see [`ScoreTopkCuda::OnePass`]).
#[track_caller]
fn one_pass_on(
    queries: &Array,
    corpus: &Array,
    k: i32,
    plan: OnePassPlan,
    stream: &Stream,
) -> Result<(Array, Array)> {
    let b = queries.dim(0)?;
    // The count of finished blocks, alone on a 128-byte line (the kernel
    // leaves it at zero). It must be over 8 bytes: MLX's CUDA allocator
    // serves allocations of up to 8 bytes from managed memory it advises
    // toward the host. With a 4-byte counter the kernel took 0.66 ms for one
    // query instead of 0.25 on an H200, ~0.85 us more per block: what
    // atomics crossing to host memory one after another would cost.
    let tickets = ops::zeros_on(&[TICKET_WORDS], Dtype::Uint32, stream)?;
    let mut config = poisoned(
        KernelConfig::linear(0, BLOCK)
            .output(&[b, plan.slices, k], Dtype::Float32)
            .output(&[b, plan.slices, k], Dtype::Uint32)
            .output(&[b, k], Dtype::Float32)
            .output(&[b, k], Dtype::Uint32)
            .template("T", TemplateArg::Dtype(queries.dtype()))
            .template("DIM", TemplateArg::Int(queries.dim(1)?))
            .template("QB", TemplateArg::Int(b))
            .template("ROWS", TemplateArg::Int(plan.rows))
            .template("MV", TemplateArg::Int(plan.merge_per_thread))
            .template("K", TemplateArg::Int(k)),
    );
    config.grid = [BLOCK, plan.slices, 1];
    let mut out = ONE_PASS
        .cuda()?
        .apply_on(&[queries, corpus, &tickets], &config, stream)?;
    let indices = out.remove(3);
    Ok((out.remove(2), indices))
}

/// Queries per pass-1 block: as many as fit the backend's shared memory (the
/// queries in f32 plus a candidate buffer each), at most 8.
fn queries_per_block(dim: usize, batch: usize, backend: &Backend) -> usize {
    let per_query = dim * 4 + PARTIAL_CAP * 8 + 16;
    (backend.shared_bytes / per_query).min(8).min(batch)
}

/// Checks shapes, dtypes and `k`; returns `(B, N, D)`.
#[track_caller]
fn check(queries: &Array, corpus: &Array, k: i32) -> Result<(i32, i32, i32)> {
    let invalid = |message: String| Error::InvalidArgument {
        message,
        location: std::panic::Location::caller(),
    };
    if queries.ndim() != 2 || corpus.ndim() != 2 {
        return Err(invalid(format!(
            "score_topk: queries and corpus must be 2-D ([B, D] and [N, D]); got {:?} and {:?}",
            queries.shape(),
            corpus.shape()
        )));
    }
    let (b, d) = (queries.dim(0)?, queries.dim(1)?);
    let (n, dc) = (corpus.dim(0)?, corpus.dim(1)?);
    if d != dc {
        return Err(invalid(format!(
            "score_topk: queries have {d} dimensions, corpus rows {dc}"
        )));
    }
    if queries.dtype() != corpus.dtype() || !queries.dtype().is_float() {
        return Err(invalid(format!(
            "score_topk: queries and corpus need one floating dtype; got {} and {}",
            queries.dtype(),
            corpus.dtype()
        )));
    }
    if b == 0 || d == 0 {
        return Err(invalid(format!(
            "score_topk: needs at least one query of at least one dimension; got {:?}",
            queries.shape()
        )));
    }
    if k < 1 || k > n {
        return Err(invalid(format!(
            "score_topk: k = {k} must be in 1..={n} (the corpus has {n} rows)"
        )));
    }
    Ok((b, n, d))
}

/// The best `k` corpus rows per query by dot product, fused on GPUs.
///
/// `queries` is `[B, D]`, `corpus` `[N, D]`, both of one floating dtype.
/// Returns `(scores, indices)`, both `[B, k]`: f32 scores and uint32 corpus
/// row indices, best first (see the module docs for ties and NaN). With
/// L2-normalized rows the scores are cosine similarities.
///
/// The CUDA and Metal kernels take `k` up to [`SCORE_TOPK_MAX_K`] and rows
/// short enough for the queries to sit in shared memory (`D` up to about
/// 8,000 on CUDA); other calls use the reference. On CPU streams float32 and
/// bfloat16 take the CPU primitive (any `k`), float16 the reference;
/// [`score_topk_path`] tells which.
///
/// ```
/// use mlx_rs_core::Array;
/// # fn main() -> mlx_rs_core::Result<()> {
/// let corpus = Array::from_slice(&[1.0f32, 0.0, 0.0, 1.0, 0.6, 0.8], &[3, 2])?;
/// let query = Array::from_slice(&[0.0f32, 1.0], &[1, 2])?;
/// let (scores, indices) = mlx_ext_kernels::score_topk(&query, &corpus, 2)?;
/// assert_eq!(indices.to_vec::<u32>()?, [1, 2]);
/// assert_eq!(scores.to_vec::<f32>()?, [1.0, 0.8]);
/// # Ok(()) }
/// ```
#[track_caller]
pub fn score_topk(queries: &Array, corpus: &Array, k: i32) -> Result<(Array, Array)> {
    score_topk_on(queries, corpus, k, StreamOrDevice::Default)
}

/// [`score_topk`] on a chosen stream or device.
#[track_caller]
pub fn score_topk_on<'s>(
    queries: &Array,
    corpus: &Array,
    k: i32,
    on: impl Into<StreamOrDevice<'s>>,
) -> Result<(Array, Array)> {
    let stream = on.into().resolve()?;
    let (b, n, d) = check(queries, corpus, k)?;
    let path = path(queries.dtype(), &stream)?;
    let backend = match path {
        KernelPath::Cuda => &CUDA,
        KernelPath::Metal => &METAL,
        KernelPath::Cpu => return ops::cpu::score_topk_on(queries, corpus, k, &stream),
        KernelPath::Reference => return score_topk_reference_on(queries, corpus, k, &stream),
    };
    if path == KernelPath::Cuda {
        if let Some(plan) = one_pass_plan(b, n, d, k) {
            return one_pass_on(queries, corpus, k, plan, &stream);
        }
    }
    if path == KernelPath::Cuda && use_select(b, n, d, k) {
        return select_on(queries, corpus, k, (b, n, d), &stream);
    }
    let mma = path == KernelPath::Cuda && use_mma(b, d, queries.dtype());
    let qb = if mma {
        MMA_QUERIES
    } else {
        queries_per_block(d as usize, b as usize, backend)
    };
    if qb == 0 || k > SCORE_TOPK_MAX_K {
        return score_topk_reference_on(queries, corpus, k, &stream);
    }
    let qb = qb as i32;
    let slice_rows = MIN_SLICE_ROWS.max((n + TARGET_SLICES - 1) / TARGET_SLICES);
    let slices = (n + slice_rows - 1) / slice_rows;
    let groups = (b + qb - 1) / qb;
    let too_big = |what: &str| Error::InvalidArgument {
        message: format!("score_topk: {what} exceed one launch"),
        location: std::panic::Location::caller(),
    };
    let partial_threads = groups
        .checked_mul(BLOCK)
        .ok_or_else(|| too_big("the queries"))?;
    let merge_threads = b.checked_mul(BLOCK).ok_or_else(|| too_big("the queries"))?;
    let partial = {
        let mut config = KernelConfig::linear(partial_threads, BLOCK)
            .output(&[b, slices, k], Dtype::Float32)
            .output(&[b, slices, k], Dtype::Uint32)
            .template("T", TemplateArg::Dtype(queries.dtype()))
            .template("DIM", TemplateArg::Int(d))
            .template("K", TemplateArg::Int(k));
        if !mma {
            config = config.template("QB", TemplateArg::Int(qb));
        }
        let mut config = poisoned(config);
        config.grid[1] = slices;
        config
    };
    let merge = poisoned(
        KernelConfig::linear(merge_threads, BLOCK)
            .output(&[b, k], Dtype::Float32)
            .output(&[b, k], Dtype::Uint32)
            .template("K", TemplateArg::Int(k))
            .template("CAP", TemplateArg::Int(backend.merge_cap))
            .template("ITEMS", TemplateArg::Int(backend.merge_items)),
    );
    let mut out = if path == KernelPath::Cuda {
        let pass1 = if mma { &PARTIAL_MMA } else { &PARTIAL };
        let parts = pass1
            .cuda()?
            .apply_on(&[queries, corpus], &partial, &stream)?;
        MERGE
            .cuda()?
            .apply_on(&[&parts[0], &parts[1]], &merge, &stream)?
    } else {
        let parts = PARTIAL
            .metal()?
            .apply_on(&[queries, corpus], &partial, &stream)?;
        MERGE
            .metal()?
            .apply_on(&[&parts[0], &parts[1]], &merge, &stream)?
    };
    let indices = out.remove(1);
    Ok((out.remove(0), indices))
}

/// The implementation [`score_topk_on`] uses for inputs of `dtype` on `on`
/// (GPU kernels may still hand a call to the reference for a `k` or row
/// width they do not take).
///
/// ```
/// use mlx_ext_kernels::{score_topk_path, KernelPath};
/// use mlx_rs_core::{Device, Dtype, Stream};
/// # fn main() -> mlx_rs_core::Result<()> {
/// let cpu = Stream::new(&Device::cpu())?;
/// assert_eq!(score_topk_path(Dtype::Float32, &cpu)?, KernelPath::Cpu);
/// assert_eq!(score_topk_path(Dtype::Float16, &cpu)?, KernelPath::Reference);
/// # Ok(()) }
/// ```
#[track_caller]
pub fn score_topk_path<'s>(dtype: Dtype, on: impl Into<StreamOrDevice<'s>>) -> Result<KernelPath> {
    path(dtype, &on.into().resolve()?)
}

fn path(dtype: Dtype, stream: &Stream) -> Result<KernelPath> {
    if stream.device()?.device_type() == DeviceType::Cpu {
        return Ok(
            if !force_reference() && matches!(dtype, Dtype::Float32 | Dtype::Bfloat16) {
                KernelPath::Cpu
            } else {
                KernelPath::Reference
            },
        );
    }
    path_for(stream, dtype)
}

/// The reference: `queries @ corpusᵀ` (MLX's matmul in the inputs' dtype),
/// `argpartition` for the best `k`, then those `k` sorted best first (ties:
/// lower index first). Same contract as [`score_topk`], any `k` up to `N`.
///
/// ```
/// use mlx_rs_core::Array;
/// # fn main() -> mlx_rs_core::Result<()> {
/// let corpus = Array::from_slice(&[1.0f32, 0.0, 0.0, 1.0, 0.6, 0.8], &[3, 2])?;
/// let query = Array::from_slice(&[1.0f32, 0.0], &[1, 2])?;
/// let (scores, indices) = mlx_ext_kernels::score_topk_reference(&query, &corpus, 3)?;
/// assert_eq!(indices.to_vec::<u32>()?, [0, 2, 1]);
/// assert_eq!(scores.to_vec::<f32>()?, [1.0, 0.6, 0.0]);
/// # Ok(()) }
/// ```
#[track_caller]
pub fn score_topk_reference(queries: &Array, corpus: &Array, k: i32) -> Result<(Array, Array)> {
    score_topk_reference_on(queries, corpus, k, StreamOrDevice::Default)
}

/// [`score_topk_reference`] on a chosen stream or device.
#[track_caller]
pub fn score_topk_reference_on<'s>(
    queries: &Array,
    corpus: &Array,
    k: i32,
    on: impl Into<StreamOrDevice<'s>>,
) -> Result<(Array, Array)> {
    let s = on.into().resolve()?;
    let (b, n, _) = check(queries, corpus, k)?;
    let scores = if b == 1 {
        // One query: `corpus @ qᵀ` reads the row-major corpus in order (a
        // matrix-vector product); on the CPU that is ~1.3x faster than
        // `q @ corpusᵀ` at 100k x 384. `[N, 1]` → `[1, N]` is a free reshape.
        let col = ops::matmul_on(corpus, &ops::transpose_on(queries, &s)?, &s)?;
        ops::reshape_on(&col, &[1, n], &s)?
    } else {
        ops::matmul_on(queries, &ops::transpose_on(corpus, &s)?, &s)?
    };
    let scores = ops::astype_on(&scores, Dtype::Float32, &s)?;
    // NaN ranks as -inf, as in the kernels.
    let neg_inf = Array::scalar(f32::NEG_INFINITY)?;
    let scores = ops::where_on(&ops::isnan_on(&scores, &s)?, &neg_inf, &scores, &s)?;
    // The best k, unordered: partition the negated scores at k - 1.
    let candidates = if k < n {
        let part = ops::argpartition_axis_on(&ops::negative_on(&scores, &s)?, k - 1, -1, &s)?;
        ops::slice_on(&part, &[0, 0], &[b, k], &[1, 1], &s)?
    } else {
        let row = ops::arange_on(0.0, n as f64, 1.0, Dtype::Uint32, &s)?;
        ops::broadcast_to_on(&ops::reshape_on(&row, &[1, n], &s)?, &[b, n], &s)?
    };
    // Order them: by index first, then by score with a stable sort, so that
    // equal scores keep the lower index first.
    let by_index = ops::sort_axis_on(&candidates, -1, &s)?;
    let cand_scores = ops::take_along_axis_on(&scores, &by_index, -1, &s)?;
    let order = ops::argsort_axis_on(&ops::negative_on(&cand_scores, &s)?, -1, &s)?;
    let indices = ops::take_along_axis_on(&by_index, &order, -1, &s)?;
    let best = ops::take_along_axis_on(&cand_scores, &order, -1, &s)?;
    Ok((best, indices))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pass_plans() {
        // One query over 1M rows of 384: 489 slices, 4,890 candidates.
        let plan = one_pass_plan_with(1, 1_000_000, 384, 10, 2048).unwrap();
        assert_eq!(
            plan,
            OnePassPlan {
                rows: 2048,
                slices: 489,
                merge_per_thread: 24
            }
        );
        // Four queries: the scores of 2,048 rows no longer fit, 1,024 do, and
        // then 977 slices of k = 10 are too many to merge.
        assert_eq!(one_pass_plan_with(4, 1_000_000, 384, 10, 2048), None);
        assert_eq!(
            one_pass_plan_with(4, 100_000, 384, 10, 2048).map(|p| (p.rows, p.slices)),
            Some((1024, 98))
        );
        // k = 100 at 1M rows: 48,900 candidates.
        assert_eq!(one_pass_plan_with(1, 1_000_000, 384, 100, 2048), None);
        // Rows too wide for shared memory at any slice size.
        assert_eq!(one_pass_plan_with(1, 1000, 12_000, 10, 2048), None);
        // The default slices: 245 at 1M rows, 2,450 candidates.
        assert_eq!(
            one_pass_plan_with(1, 1_000_000, 384, 10, ONE_PASS_ROWS)
                .map(|p| (p.slices, p.merge_per_thread)),
            Some((245, 16))
        );
        // A corpus smaller than one slice.
        assert_eq!(
            one_pass_plan_with(2, 300, 64, 256, 2048).map(|p| (p.slices, p.merge_per_thread)),
            Some((1, 8))
        );
    }
}
