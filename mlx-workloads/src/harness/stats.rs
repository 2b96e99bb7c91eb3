//! Latency statistics over the timed iterations.

/// Summary of per-iteration latencies, in seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    /// Number of samples.
    pub n: usize,
    /// Mean.
    pub avg: f64,
    /// Sample standard deviation (divides by `n - 1`; 0 for one sample).
    pub std: f64,
    /// Median (linear interpolation between the two middle samples).
    pub p50: f64,
    /// 95th percentile (linear interpolation, as NumPy's default).
    pub p95: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
}

impl Stats {
    /// Summarizes `samples`; `None` when there are none or one is not finite.
    ///
    /// ```
    /// let s = mlx_workloads::harness::Stats::from_samples(&[1.0, 2.0, 3.0, 4.0]).unwrap();
    /// assert_eq!((s.avg, s.p50), (2.5, 2.5));
    /// ```
    pub fn from_samples(samples: &[f64]) -> Option<Stats> {
        if samples.is_empty() || samples.iter().any(|x| !x.is_finite()) {
            return None;
        }
        let n = samples.len();
        let avg = samples.iter().sum::<f64>() / n as f64;
        let std = if n > 1 {
            (samples.iter().map(|x| (x - avg) * (x - avg)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(Stats {
            n,
            avg,
            std,
            p50: percentile(&sorted, 50.0),
            p95: percentile(&sorted, 95.0),
            min: sorted[0],
            max: sorted[n - 1],
        })
    }

    /// Items per second at the mean latency, for `items` per iteration.
    pub fn throughput(&self, items: f64) -> f64 {
        items / self.avg
    }
}

/// The `p`-th percentile of ascending `sorted` (non-empty), interpolating
/// linearly between ranks: rank `p / 100 * (n - 1)`.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} vs {b}");
    }

    #[test]
    fn matches_hand_computed_values() {
        // Unordered on purpose. Sorted: 1, 2, 3, 4, 10.
        let s = Stats::from_samples(&[4.0, 1.0, 10.0, 3.0, 2.0]).unwrap();
        assert_eq!(s.n, 5);
        close(s.avg, 4.0);
        // Squared deviations 9 + 4 + 1 + 0 + 36 = 50, / 4 = 12.5.
        close(s.std, 12.5f64.sqrt());
        close(s.p50, 3.0);
        // Rank 0.95 * 4 = 3.8: 4 + 0.8 * (10 - 4) = 8.8.
        close(s.p95, 8.8);
        assert_eq!((s.min, s.max), (1.0, 10.0));
        close(s.throughput(8.0), 2.0);
    }

    #[test]
    fn even_count_median_and_single_sample() {
        let s = Stats::from_samples(&[0.002, 0.001, 0.004, 0.003]).unwrap();
        close(s.p50, 0.0025);
        // Rank 0.95 * 3 = 2.85: 0.003 + 0.85 * 0.001.
        close(s.p95, 0.00385);
        let one = Stats::from_samples(&[0.5]).unwrap();
        assert_eq!((one.avg, one.std, one.p50, one.p95), (0.5, 0.0, 0.5, 0.5));
    }

    #[test]
    fn empty_or_non_finite_samples_have_no_summary() {
        assert!(Stats::from_samples(&[]).is_none());
        assert!(Stats::from_samples(&[1.0, f64::NAN]).is_none());
        assert!(Stats::from_samples(&[f64::INFINITY]).is_none());
    }
}
