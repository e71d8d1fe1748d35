//! The latency and bandwidth model (`--latency`, `--copy-rate`, `--total-rate`, `--jitter`):
//! how long a request or a copy takes on this server.
//!
//! Time is `tokio::time`, so tests can pause the clock. Jitter is seeded like the faults.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::faults::mix;

pub struct Model {
    latency: Duration,
    copy_rate: Option<u64>,
    total_rate: Option<u64>,
    jitter: f64,
    seed: u64,
    draws: AtomicU64,
    /// When the shared server-wide pipe is next free (a virtual clock).
    pipe_free_at: Mutex<Option<Instant>>,
}

impl Model {
    pub fn new(
        latency: Option<Duration>,
        copy_rate: Option<u64>,
        total_rate: Option<u64>,
        jitter: f64,
        seed: u64,
    ) -> Self {
        Model {
            latency: latency.unwrap_or_default(),
            copy_rate,
            total_rate,
            jitter: jitter.clamp(0.0, 1.0),
            seed,
            draws: AtomicU64::new(0),
            pipe_free_at: Mutex::new(None),
        }
    }

    pub fn latency(&self) -> Duration {
        self.latency
    }

    fn jittered(&self, d: Duration) -> Duration {
        if self.jitter <= 0.0 || d.is_zero() {
            return d;
        }
        let n = self.draws.fetch_add(1, Ordering::Relaxed);
        let unit = (mix(&[self.seed, n, 0x6a6974]) >> 11) as f64 / (1u64 << 53) as f64;
        d.mul_f64(1.0 + self.jitter * unit)
    }

    /// Waits for the per-request latency.
    pub async fn request(&self) {
        let d = self.jittered(self.latency);
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
    }

    /// Waits as long as copying `bytes` server-side takes: latency + bytes/copy-rate, and no
    /// sooner than the server-wide pipe allows.
    pub async fn copy(&self, bytes: u64) {
        let own = self.latency
            + self
                .copy_rate
                .map(|r| Duration::from_secs_f64(bytes as f64 / r as f64))
                .unwrap_or_default();
        let own = self.jittered(own);
        let start = Instant::now();
        let pipe_done = self.total_rate.map(|r| {
            let need = Duration::from_secs_f64(bytes as f64 / r as f64);
            let mut free = self.pipe_free_at.lock().unwrap_or_else(|p| p.into_inner());
            let begin = free.map_or(start, |f| f.max(start));
            let done = begin + need;
            *free = Some(done);
            done
        });
        let until = match pipe_done {
            Some(p) => p.max(start + own),
            None => start + own,
        };
        tokio::time::sleep_until(until).await;
    }

    /// How long Complete "merges" `parts` parts: the latency plus a twentieth of it per part.
    pub fn complete(&self, parts: usize) -> Duration {
        self.jittered(self.latency + self.latency.mul_f64(parts as f64 / 20.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn copy_takes_latency_plus_bytes_over_rate() {
        let m = Model::new(Some(Duration::from_millis(20)), Some(1000), None, 0.0, 1);
        let t = Instant::now();
        m.copy(100).await;
        let e = t.elapsed();
        assert!(
            e >= Duration::from_millis(120) && e < Duration::from_millis(400),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn total_rate_is_shared() {
        let m = std::sync::Arc::new(Model::new(None, None, Some(10_000), 0.0, 1));
        let t = Instant::now();
        let a = tokio::spawn({
            let m = m.clone();
            async move { m.copy(1000).await }
        });
        let b = tokio::spawn({
            let m = m.clone();
            async move { m.copy(1000).await }
        });
        let _ = a.await;
        let _ = b.await;
        let e = t.elapsed();
        assert!(
            e >= Duration::from_millis(200) && e < Duration::from_millis(500),
            "{e:?}"
        );
    }
}
