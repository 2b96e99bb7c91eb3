//! 100,000 create/op/eval/drop cycles leave MLX's active memory where it
//! started (after clearing the cache), up to a small constant slack.

use std::time::Instant;

use mlx_rs::{memory, ops, Array, Result};

const CYCLES: usize = 100_000;
/// Slack for allocator bookkeeping; a leak of even one 16-byte array per
/// cycle would exceed it by far (1.6 MB).
const SLACK: usize = 64 * 1024;

#[test]
fn create_op_eval_drop_cycles_do_not_leak() -> Result<()> {
    // Warm up (first-use allocations), then take the baseline.
    for i in 0..100 {
        cycle(i)?;
    }
    memory::clear_cache()?;
    let baseline = memory::active_memory()?;
    let start = Instant::now();
    let mut peak_active = baseline;
    for i in 0..CYCLES {
        cycle(i)?;
        if i % 10_000 == 0 {
            peak_active = peak_active.max(memory::active_memory()?);
        }
    }
    let elapsed = start.elapsed();
    // The counter does see arrays of this size while they live.
    let alive = ops::add(
        &Array::from_slice(&[1.0f32; 4], &[2, 2])?,
        &Array::scalar(1.0f32)?,
    )?;
    alive.eval()?;
    let while_alive = memory::active_memory()?;
    assert!(
        while_alive > baseline,
        "active memory does not count a live array"
    );
    drop(alive);
    memory::clear_cache()?;
    let after = memory::active_memory()?;
    println!(
        "{CYCLES} cycles in {elapsed:.2?} ({:.0}/s); active memory: baseline {baseline} B, \
         after {after} B, highest sampled {peak_active} B, with one live 2x2 array \
         {while_alive} B; cache after clear {} B",
        CYCLES as f64 / elapsed.as_secs_f64(),
        memory::cache_memory()?
    );
    assert!(
        after <= baseline + SLACK,
        "active memory grew from {baseline} to {after} bytes over {CYCLES} cycles"
    );
    Ok(())
}

/// One create/op/eval/drop cycle on tiny arrays, varying the ops (including
/// a failing one, whose error path must free too).
fn cycle(i: usize) -> Result<()> {
    let v = i as f32;
    let a = Array::from_slice(&[v, 1.0, 2.0, 3.0], &[2, 2])?;
    let out = match i % 4 {
        0 => ops::add(&a, &a)?,
        1 => ops::matmul(&a, &a)?,
        2 => ops::sum_axis(&ops::exp(&a)?, 1, false)?,
        _ => {
            // An op that fails when built, then a clone and a slice.
            assert!(ops::reshape(&a, &[3]).is_err());
            let b = a.clone();
            ops::index(&b, &[0.into()])?
        }
    };
    let got = out.to_vec::<f32>()?;
    assert!(!got.is_empty());
    Ok(())
}
