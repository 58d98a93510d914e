//! Statistics of the samples: [`Summary`] (median and range, per-operation
//! times, rates) and [`XorShift64`], the fixed pseudo-random sequence every
//! runtime gets the same.

use std::time::Duration;

use crate::report::fmt_num;

/// Median and range of a set of samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// The median (mean of the middle two for an even count).
    pub median: f64,
    /// The smallest sample.
    pub min: f64,
    /// The largest sample.
    pub max: f64,
}

impl Summary {
    /// Summarises `samples`.
    ///
    /// # Panics
    /// If `samples` is empty or holds a NaN.
    pub fn of(samples: &[f64]) -> Summary {
        assert!(!samples.is_empty(), "no samples");
        let mut s = samples.to_vec();
        s.sort_by(|a, b| a.partial_cmp(b).expect("NaN sample"));
        let n = s.len();
        let median = if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        };
        Summary {
            median,
            min: s[0],
            max: s[n - 1],
        }
    }

    /// The summary of per-operation times: each sample divided by `ops`,
    /// in nanoseconds.
    pub fn per_op_ns(samples: &[Duration], ops: u64) -> Summary {
        let ns: Vec<f64> = samples
            .iter()
            .map(|d| d.as_nanos() as f64 / ops.max(1) as f64)
            .collect();
        Summary::of(&ns)
    }

    /// The summary of rates: `ops` divided by each sample, in operations
    /// per second (the fastest sample is the `max`).
    pub fn per_sec(samples: &[Duration], ops: u64) -> Summary {
        let rates: Vec<f64> = samples
            .iter()
            .map(|d| ops as f64 / d.as_secs_f64().max(f64::MIN_POSITIVE))
            .collect();
        Summary::of(&rates)
    }

    /// Every figure multiplied by `k` (a change of unit: `1e-3` turns ns
    /// into µs).
    pub fn scaled(&self, k: f64) -> Summary {
        Summary {
            median: self.median * k,
            min: self.min * k,
            max: self.max * k,
        }
    }

    /// `median [min–max]`, each with [`fmt_num`].
    pub fn display(&self) -> String {
        format!("{} [{}–{}]", fmt_num(self.median), fmt_num(self.min), fmt_num(self.max))
    }
}

/// Marsaglia's xorshift64: a fixed, dependency-free pseudo-random sequence,
/// the same for every runtime.
#[derive(Clone, Debug)]
pub struct XorShift64(u64);

impl XorShift64 {
    /// A generator from `seed` (0 is replaced, xorshift would stay at 0).
    pub fn new(seed: u64) -> Self {
        XorShift64(if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed })
    }

    /// The next value.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_median_and_range() {
        let s = Summary::of(&[5.0, 1.0, 3.0]);
        assert_eq!((s.median, s.min, s.max), (3.0, 1.0, 5.0));
        let s = Summary::of(&[4.0, 1.0, 3.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 4.0));
    }

    #[test]
    fn summary_rates_and_scaling() {
        let s = Summary::per_sec(
            &[
                Duration::from_millis(500),
                Duration::from_secs(2),
                Duration::from_secs(1),
            ],
            100,
        );
        assert_eq!((s.median, s.min, s.max), (100.0, 50.0, 200.0));
        let s = Summary::of(&[1000.0, 3000.0]).scaled(1e-3);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
    }

    #[test]
    fn xorshift_is_fixed_and_in_range() {
        let mut a = XorShift64::new(42);
        let mut b = XorShift64::new(42);
        for _ in 0..1000 {
            let x = a.range(1, 20);
            assert_eq!(x, b.range(1, 20));
            assert!((1..=20).contains(&x));
        }
    }
}
