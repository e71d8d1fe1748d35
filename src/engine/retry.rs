//! Retry policy: which failures are tried again, how long to wait (capped exponential backoff
//! with full jitter), and the loop that applies it to one request.
//!
//! Decides from `store::Error::is_transient` / `is_clock_skew` only, never from message text.
//! A 4xx is never retried (clock skew excepted: the clock is corrected first).

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::store::{Error, ObjectStore};

/// How many times and how patiently a request is tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Backoff before the second attempt (before jitter).
    pub base: Duration,
    /// Backoff never exceeds this (before jitter).
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base: Duration::from_millis(250),
            cap: Duration::from_secs(30),
        }
    }
}

/// What to do after attempt `attempt` (1-based) failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Wait this long, then try again.
    Retry(Duration),
    /// Correct the signing clock, then try again at once.
    CorrectClock,
    GiveUp,
}

impl RetryPolicy {
    /// The largest wait before attempt `attempt + 1`: base × 2^(attempt−1), capped.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// Full jitter: uniformly random in `0..=ceiling`.
    pub fn backoff(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(attempt).as_millis() as u64;
        Duration::from_millis(rng.gen_range(0..=ceiling))
    }

    pub fn decide(&self, attempt: u32, error: &Error, rng: &mut impl Rng) -> Decision {
        if attempt >= self.max_attempts {
            return Decision::GiveUp;
        }
        if error.is_clock_skew() && error.server_date().is_some() {
            return Decision::CorrectClock;
        }
        if error.is_transient() {
            return Decision::Retry(self.backoff(attempt, rng));
        }
        Decision::GiveUp
    }
}

/// Why a retried request did not succeed.
#[derive(Debug, Clone)]
pub enum Stop {
    /// The job was told to stop (cancel, abort, shutdown) before or during the request.
    Stopped,
    /// Gave up on this error after `attempts` attempts.
    Failed { error: Error, attempts: u32 },
}

/// Runs `request(attempt)` until it succeeds, a non-retryable error, `max_attempts`, or `stop`.
/// `on_retry(attempt, wait, error)` is told of each retry (for events and throttling).
/// With `cancel_in_flight` a stop drops the request in flight; without it (Initiate, Complete:
/// requests whose effect must be known) the request runs to its end and only the wait is cut.
pub async fn retry<T, F, Fut>(
    store: &dyn ObjectStore,
    policy: &RetryPolicy,
    stop: &CancellationToken,
    cancel_in_flight: bool,
    mut on_retry: impl FnMut(u32, Duration, &Error),
    mut request: F,
) -> Result<T, Stop>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = crate::store::Result<T>>,
{
    let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::from_entropy();
    let mut attempt = 1;
    loop {
        if stop.is_cancelled() {
            return Err(Stop::Stopped);
        }
        let result = if cancel_in_flight {
            tokio::select! {
                r = request(attempt) => r,
                _ = stop.cancelled() => return Err(Stop::Stopped),
            }
        } else {
            request(attempt).await
        };
        let error = match result {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let wait = match policy.decide(attempt, &error, &mut rng) {
            Decision::GiveUp => {
                return Err(Stop::Failed {
                    error,
                    attempts: attempt,
                })
            }
            Decision::CorrectClock => {
                if let Some(date) = error.server_date() {
                    store.correct_clock(date);
                }
                Duration::ZERO
            }
            Decision::Retry(wait) => wait,
        };
        on_retry(attempt, wait, &error);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.cancelled() => return Err(Stop::Stopped),
        }
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testing::service_error;
    use crate::store::Op;
    use rand::{rngs::SmallRng, SeedableRng};

    #[test]
    fn backoff_is_capped_exponential_with_full_jitter() {
        let p = RetryPolicy::default();
        assert_eq!(p.ceiling(1), Duration::from_millis(250));
        assert_eq!(p.ceiling(3), Duration::from_millis(1000));
        assert_eq!(p.ceiling(40), Duration::from_secs(30));
        let mut rng = SmallRng::seed_from_u64(7);
        let waits: Vec<_> = (0..200).map(|_| p.backoff(4, &mut rng)).collect();
        assert!(waits.iter().all(|w| *w <= Duration::from_secs(2)));
        assert!(waits.iter().any(|w| *w < Duration::from_millis(500)));
        assert!(waits.iter().any(|w| *w > Duration::from_millis(1500)));
    }

    #[test]
    fn only_transient_errors_are_retried_and_attempts_are_bounded() {
        let p = RetryPolicy::default();
        let mut rng = SmallRng::seed_from_u64(1);
        let slow = service_error(Op::UploadPartCopy, 503, "SlowDown");
        assert!(matches!(p.decide(1, &slow, &mut rng), Decision::Retry(_)));
        assert_eq!(p.decide(8, &slow, &mut rng), Decision::GiveUp);
        let denied = service_error(Op::UploadPartCopy, 403, "AccessDenied");
        assert_eq!(p.decide(1, &denied, &mut rng), Decision::GiveUp);
        let pre = service_error(Op::UploadPartCopy, 412, "PreconditionFailed");
        assert_eq!(p.decide(1, &pre, &mut rng), Decision::GiveUp);
    }
}
