//! Memory counters and allocator limits. Counters are process-wide, so all
//! checks live in one test (tests in one binary run in parallel threads).

mod common;

use mlx_rs::{memory, ops, Array, Result};

const MB: usize = 1 << 20;

#[test]
fn counters_limits_and_cache() -> Result<()> {
    let mut rng = common::rng();
    memory::clear_cache()?;
    let baseline = memory::active_memory()?;

    // Allocate and evaluate ~16 MB of input plus ~16 MB of result.
    let n = 4 * MB;
    let data = common::uniform(&mut rng, n, -1.0, 1.0);
    let a = Array::from_slice(&data, &[n as i32])?;
    drop(data);
    let b = ops::multiply(&a, &Array::scalar(3.0f32)?)?;
    b.eval()?;
    let active = memory::active_memory()?;
    assert!(
        active >= baseline + 2 * n * 4,
        "active {active} did not grow by 32 MB from {baseline}"
    );
    let peak = memory::peak_memory()?;
    assert!(peak >= active, "peak {peak} < active {active}");
    assert_eq!(b.to_vec::<f32>()?.len(), n);

    // Drop everything and clear the cache: back near the baseline.
    drop(a);
    drop(b);
    memory::clear_cache()?;
    let after = memory::active_memory()?;
    assert!(
        after <= baseline + MB,
        "active {after} not back near baseline {baseline}"
    );
    assert_eq!(memory::cache_memory()?, 0, "clear_cache left cached bytes");

    // The peak remembers the big allocation until reset.
    assert!(memory::peak_memory()? >= baseline + 2 * n * 4);
    memory::reset_peak_memory()?;
    let reset = memory::peak_memory()?;
    assert!(
        reset <= memory::active_memory()? + MB,
        "peak {reset} not reset"
    );
    let small = Array::from_slice(
        &common::uniform(&mut rng, MB / 4, -1.0, 1.0),
        &[(MB / 4) as i32],
    )?;
    small.eval()?;
    assert!(memory::peak_memory()? >= memory::active_memory()?);
    drop(small);

    // Limits return the previous value and read back.
    let old_cache = memory::set_cache_limit(8 * MB)?;
    assert_eq!(memory::set_cache_limit(4 * MB)?, 8 * MB);
    assert_eq!(memory::set_cache_limit(old_cache)?, 4 * MB);

    let old_mem = memory::memory_limit()?;
    assert!(old_mem > 0);
    let prev = memory::set_memory_limit(old_mem / 2)?;
    assert_eq!(prev, old_mem);
    assert_eq!(memory::memory_limit()?, old_mem / 2);
    assert_eq!(memory::set_memory_limit(old_mem)?, old_mem / 2);
    assert_eq!(memory::memory_limit()?, old_mem);

    // With caching disabled, freed buffers are not kept.
    let old_cache = memory::set_cache_limit(0)?;
    let c = Array::from_slice(&common::uniform(&mut rng, MB, -1.0, 1.0), &[MB as i32])?;
    ops::exp(&c)?.eval()?;
    drop(c);
    assert_eq!(memory::cache_memory()?, 0);
    memory::set_cache_limit(old_cache)?;
    Ok(())
}
