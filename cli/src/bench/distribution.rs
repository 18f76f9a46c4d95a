//! Which key each operation touches: uniform, Zipf-skewed, or one hot key.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use rand_distr::{Distribution as _, Zipf};

/// The key distribution named by `--distribution`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distribution {
    /// Every key equally likely.
    Uniform,
    /// Zipf with exponent theta: key `i` (0-based) has weight `1 / (i + 1)^theta`.
    Zipf(f64),
    /// Every operation on key 0.
    Hot,
}

impl FromStr for Distribution {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "uniform" => Ok(Distribution::Uniform),
            "hot" => Ok(Distribution::Hot),
            _ => {
                let theta = s.strip_prefix("zipf:").ok_or_else(|| {
                    format!("unknown distribution {s:?}: use uniform, zipf:THETA or hot")
                })?;
                let theta: f64 = theta
                    .parse()
                    .map_err(|_| format!("zipf theta {theta:?} is not a number"))?;
                if !(theta.is_finite() && theta > 0.0) {
                    return Err(format!("zipf theta must be a positive number, not {theta}"));
                }
                Ok(Distribution::Zipf(theta))
            }
        }
    }
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Distribution::Uniform => f.write_str("uniform"),
            Distribution::Zipf(theta) => write!(f, "zipf:{theta}"),
            Distribution::Hot => f.write_str("hot"),
        }
    }
}

/// Draws key indexes in `0..keys`.
pub enum KeySampler {
    Uniform(usize),
    Zipf(Zipf<f64>),
    Hot,
}

impl KeySampler {
    pub fn new(distribution: Distribution, keys: usize) -> Result<Self, String> {
        Ok(match distribution {
            Distribution::Uniform => KeySampler::Uniform(keys),
            Distribution::Hot => KeySampler::Hot,
            Distribution::Zipf(theta) => {
                KeySampler::Zipf(Zipf::new(keys as f64, theta).map_err(|e| format!("zipf: {e}"))?)
            }
        })
    }

    #[inline]
    pub fn sample(&self, rng: &mut impl Rng) -> usize {
        match self {
            // The high word of a 64x64-bit product: uniform to within keys / 2^64 (below
            // 1e-13 for any key count a run can touch), and a third of `random_range`'s cost,
            // which rejects to be exact.
            KeySampler::Uniform(keys) => {
                ((u128::from(rng.next_u64()) * *keys as u128) >> 64) as usize
            }
            // Zipf draws 1..=keys as a float.
            KeySampler::Zipf(zipf) => zipf.sample(rng) as usize - 1,
            KeySampler::Hot => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn parses() {
        assert_eq!("uniform".parse(), Ok(Distribution::Uniform));
        assert_eq!("hot".parse(), Ok(Distribution::Hot));
        assert_eq!("zipf:0.99".parse(), Ok(Distribution::Zipf(0.99)));
        assert!("zipf:-1".parse::<Distribution>().is_err());
        assert!("zipf:x".parse::<Distribution>().is_err());
        assert!("normal".parse::<Distribution>().is_err());
    }

    #[test]
    fn samples_stay_in_range_and_zipf_is_skewed() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let zipf = KeySampler::new(Distribution::Zipf(0.99), 1000).unwrap();
        let mut hits = vec![0u32; 1000];
        for _ in 0..100_000 {
            hits[zipf.sample(&mut rng)] += 1;
        }
        assert!(
            hits[0] > 10 * hits[500].max(1),
            "key 0 should be far hotter"
        );
        let uniform = KeySampler::new(Distribution::Uniform, 10).unwrap();
        assert!((0..1000).all(|_| uniform.sample(&mut rng) < 10));
        assert_eq!(KeySampler::Hot.sample(&mut rng), 0);
    }
}
