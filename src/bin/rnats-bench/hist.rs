//! A log-linear latency histogram in the manner of HdrHistogram: fixed memory, no allocation
//! per record, mergeable across threads.
//!
//! Values (nanoseconds, any `u64`) below `2 * SUB` get a bucket each, so they are exact. Above
//! that, each power of two `[2^e, 2^(e+1))` is cut into `SUB` equal sub-buckets of width
//! `2^(e - PRECISION_BITS)`; a value lies in one and is reported as that bucket's middle, so the
//! reported value is off by at most half a bucket width, which is at most `1 / (2 * SUB)` of the
//! value: 1/256 (0.39 %) with `SUB = 128`. The exact minimum, maximum and sum are kept beside the
//! buckets: the first and last ranks report them exactly, and any other quantile is clamped
//! into `[min, max]`. Quantiles use the nearest-rank definition: the smallest recorded value with
//! at least `ceil(q * count)` values at or below it.

/// log2 of the sub-buckets per power of two.
const PRECISION_BITS: u32 = 7;
/// Sub-buckets per power of two.
const SUB: usize = 1 << PRECISION_BITS;
/// Buckets for the whole `u64` range: `2 * SUB` exact ones, then `SUB` for each of the powers
/// of two from `2^(PRECISION_BITS + 1)` to `2^63`.
const BUCKETS: usize = (64 - PRECISION_BITS as usize + 1) * SUB;

pub struct Histogram {
    counts: Box<[u64]>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

/// The bucket of a value.
fn index(v: u64) -> usize {
    if v < 2 * SUB as u64 {
        return v as usize;
    }
    let shift = 63 - v.leading_zeros() - PRECISION_BITS; // >= 1 here
    shift as usize * SUB + (v >> shift) as usize
}

/// The lowest value of a bucket, and its width.
fn bucket(i: usize) -> (u64, u64) {
    if i < 2 * SUB {
        return (i as u64, 1);
    }
    let shift = (i / SUB - 1) as u32;
    let sub = (i % SUB + SUB) as u64;
    (sub << shift, 1 << shift)
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    pub fn record(&mut self, v: u64) {
        self.counts[index(v)] += 1;
        self.count += 1;
        self.sum += u128::from(v);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Add everything `other` recorded.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn min(&self) -> Option<u64> {
        (self.count > 0).then_some(self.min)
    }

    pub fn max(&self) -> Option<u64> {
        (self.count > 0).then_some(self.max)
    }

    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }

    /// The quantile `num / den` (e.g. 999 / 1000 for p99.9), within the relative error above;
    /// None when nothing was recorded. Integer ranks, so p99.9 of 1000 values is the 999th.
    pub fn quantile(&self, num: u64, den: u64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let den = u128::from(den.max(1));
        let rank = (u128::from(self.count) * u128::from(num.min(den as u64)))
            .div_ceil(den)
            .max(1) as u64;
        // The ends are known exactly.
        if rank == 1 {
            return Some(self.min);
        }
        if rank == self.count {
            return Some(self.max);
        }
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (low, width) = bucket(i);
                return Some((low + width / 2).clamp(self.min, self.max));
            }
        }
        Some(self.max) // unreachable: the counts add up to `count`
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stated error bound: `|reported - true| <= true / ERROR_DIVISOR`.
    const ERROR_DIVISOR: u64 = 2 * SUB as u64;

    /// xorshift64*: reproducible "random-ish" values without a crate.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    /// Nearest-rank quantile of sorted values, the same integer rank as `Histogram::quantile`.
    fn brute(sorted: &[u64], num: u64, den: u64) -> u64 {
        let rank = (sorted.len() as u128 * u128::from(num))
            .div_ceil(u128::from(den))
            .max(1);
        sorted[rank as usize - 1]
    }

    const QUANTILES: [(u64, u64); 9] = [
        (0, 1),
        (1, 1000),
        (1, 4),
        (1, 2),
        (9, 10),
        (99, 100),
        (999, 1000),
        (9999, 10000),
        (1, 1),
    ];

    fn check_against_brute(values: &mut [u64]) {
        let mut h = Histogram::new();
        for &v in values.iter() {
            h.record(v);
        }
        values.sort_unstable();
        for (num, den) in QUANTILES {
            let want = brute(values, num, den);
            let got = h.quantile(num, den).unwrap();
            assert!(
                got.abs_diff(want) <= want / ERROR_DIVISOR,
                "q {num}/{den}: got {got}, want {want} (n {})",
                values.len()
            );
        }
        assert_eq!(h.count(), values.len() as u64);
        assert_eq!(h.min(), values.first().copied());
        assert_eq!(h.max(), values.last().copied());
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64;
        assert!((h.mean().unwrap() - mean).abs() <= mean * 1e-9);
    }

    #[test]
    fn buckets_cover_u64_in_order() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut probes: Vec<u64> = (0..2000).collect();
        for e in 0..64 {
            let p = 1u64 << e;
            probes.extend([p - 1, p, p + 1, p | (p >> 1), p.wrapping_mul(3) / 2]);
        }
        probes.extend((0..100_000).map(|_| rng.next() >> (rng.next() % 64)));
        probes.push(u64::MAX);
        for v in probes {
            let i = index(v);
            assert!(i < BUCKETS, "{v}");
            let (low, width) = bucket(i);
            assert!(
                low <= v && v - low < width,
                "{v} in bucket {i} = [{low}, +{width})"
            );
            // Width bound behind the stated error.
            assert!(
                v < 2 * SUB as u64 || width <= v / SUB as u64,
                "{v}: width {width}"
            );
        }
        // Buckets tile the line: each starts where the one before ends.
        for i in 1..BUCKETS {
            let (a, w) = bucket(i - 1);
            assert_eq!(bucket(i).0, a + w, "bucket {i}");
        }
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_match_sorted_brute_force() {
        let mut rng = Rng(12345);
        // Log-uniform over 1 ns .. ~17 s: every bucket scale.
        let mut v: Vec<u64> = (0..50_000)
            .map(|_| (rng.next() >> 30) >> (rng.next() % 34))
            .collect();
        check_against_brute(&mut v);
        // Latency-like: a tight mode around 40 us with a long tail.
        let mut v: Vec<u64> = (0..100_001)
            .map(|_| {
                let base = 40_000 + rng.next() % 5_000;
                if rng.next() % 100 == 0 {
                    base * (1 + rng.next() % 200)
                } else {
                    base
                }
            })
            .collect();
        check_against_brute(&mut v);
        // Small values are exact.
        let mut v: Vec<u64> = (0..777).map(|_| rng.next() % 256).collect();
        check_against_brute(&mut v);
        for n in [1usize, 2, 3, 10, 999, 1000, 1001] {
            let mut v: Vec<u64> = (0..n).map(|_| rng.next() >> 20).collect();
            check_against_brute(&mut v);
        }
    }

    #[test]
    fn merge_equals_recording_everything_in_one() {
        let mut rng = Rng(777);
        let values: Vec<u64> = (0..30_000)
            .map(|_| rng.next() >> (20 + rng.next() % 40))
            .collect();
        let mut whole = Histogram::new();
        let mut parts = [Histogram::new(), Histogram::new(), Histogram::new()];
        for (i, &v) in values.iter().enumerate() {
            whole.record(v);
            parts[i % 3].record(v);
        }
        let mut merged = Histogram::new();
        for p in &parts {
            merged.merge(p);
        }
        merged.merge(&Histogram::new()); // merging an empty one changes nothing
        assert_eq!(merged.counts, whole.counts);
        assert_eq!(merged.count(), whole.count());
        assert_eq!(merged.min(), whole.min());
        assert_eq!(merged.max(), whole.max());
        assert_eq!(merged.mean(), whole.mean());
        for (num, den) in QUANTILES {
            assert_eq!(merged.quantile(num, den), whole.quantile(num, den));
        }
    }

    #[test]
    fn empty_one_value_and_extremes() {
        let h = Histogram::new();
        assert_eq!(h.count(), 0);
        assert_eq!(h.quantile(1, 2), None);
        assert_eq!((h.min(), h.max(), h.mean()), (None, None, None));

        let mut h = Histogram::new();
        h.record(123_456_789);
        for (num, den) in QUANTILES {
            assert_eq!(h.quantile(num, den), Some(123_456_789));
        }
        assert_eq!(h.mean(), Some(123_456_789.0));

        let mut h = Histogram::new();
        h.record(u64::MAX);
        h.record(0);
        h.record(u64::MAX);
        assert_eq!(h.min(), Some(0));
        assert_eq!(h.max(), Some(u64::MAX));
        assert_eq!(h.quantile(1, 3), Some(0));
        let mid = h.quantile(1, 2).unwrap();
        assert!(u64::MAX - mid <= u64::MAX / ERROR_DIVISOR, "{mid}");
        assert_eq!(h.quantile(999, 1000), Some(u64::MAX));
        assert!((h.mean().unwrap() - 2.0 * u64::MAX as f64 / 3.0).abs() < 1e6);
    }
}
