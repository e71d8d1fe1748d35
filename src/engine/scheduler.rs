//! Part scheduling: how many parts may be in flight across all jobs and per job, granted fairly
//! across jobs, with AIMD throttling of the global limit.
//!
//! Fairness: when a permit frees, it goes to the waiting job with the fewest parts in flight
//! (ties: the one served least recently), so many small jobs never starve behind one huge job
//! and the huge job still gets its share. Throttling: a `SlowDown`/503 halves the effective
//! limit (not below 1, at most once per round-trip window); every `effective` successes add one
//! back, up to the configured limit. Publishes `Event::Concurrency` when a limit changes.
//! Knows nothing of HTTP or jobs' contents; time from `tokio::time`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc::UnboundedSender, watch, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Event, JobId};

/// The shortest window between two multiplicative decreases.
pub const MIN_DECREASE_WINDOW: Duration = Duration::from_millis(200);

#[derive(Debug)]
struct JobSlot {
    limit: usize,
    in_flight: usize,
    waiting: bool,
    last_grant: u64,
}

#[derive(Debug)]
struct Inner {
    configured: usize,
    effective: usize,
    in_flight: usize,
    successes: usize,
    last_decrease: Option<Instant>,
    /// Smoothed latency of successful part requests: the throttling window.
    rtt: Duration,
    seq: u64,
    jobs: HashMap<JobId, JobSlot>,
}

/// Shared by every job of an engine.
#[derive(Debug)]
pub struct Scheduler {
    inner: Mutex<Inner>,
    notify: Notify,
    events: UnboundedSender<Event>,
}

/// One part's right to be in flight; released on drop.
#[derive(Debug)]
pub struct Permit {
    sched: Arc<Scheduler>,
    job: JobId,
}

impl Drop for Permit {
    fn drop(&mut self) {
        {
            let mut g = self.sched.lock();
            g.in_flight = g.in_flight.saturating_sub(1);
            if let Some(j) = g.jobs.get_mut(&self.job) {
                j.in_flight = j.in_flight.saturating_sub(1);
            }
        }
        self.sched.notify.notify_waiters();
    }
}

/// Clears a job's waiting flag if its `acquire` is dropped while waiting.
struct Waiting<'a> {
    sched: &'a Scheduler,
    job: JobId,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let changed = {
            let mut g = self.sched.lock();
            match g.jobs.get_mut(&self.job) {
                Some(j) if j.waiting => {
                    j.waiting = false;
                    true
                }
                _ => false,
            }
        };
        if changed {
            self.sched.notify.notify_waiters();
        }
    }
}

impl Scheduler {
    pub fn new(global: usize, events: UnboundedSender<Event>) -> Arc<Scheduler> {
        let global = global.max(1);
        Arc::new(Scheduler {
            inner: Mutex::new(Inner {
                configured: global,
                effective: global,
                in_flight: 0,
                successes: 0,
                last_decrease: None,
                rtt: Duration::from_millis(100),
                seq: 0,
                jobs: HashMap::new(),
            }),
            notify: Notify::new(),
            events,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves plain counters behind; keep going with them.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn register(&self, job: JobId, limit: usize) {
        self.lock().jobs.insert(
            job,
            JobSlot {
                limit: limit.max(1),
                in_flight: 0,
                waiting: false,
                last_grant: 0,
            },
        );
    }

    pub fn unregister(&self, job: JobId) {
        self.lock().jobs.remove(&job);
        self.notify.notify_waiters();
    }

    /// (configured global limit, effective global limit, parts in flight).
    pub fn limits(&self) -> (usize, usize, usize) {
        let g = self.lock();
        (g.configured, g.effective, g.in_flight)
    }

    pub fn job_limit(&self, job: JobId) -> Option<usize> {
        self.lock().jobs.get(&job).map(|j| j.limit)
    }

    pub fn job_in_flight(&self, job: JobId) -> usize {
        self.lock().jobs.get(&job).map_or(0, |j| j.in_flight)
    }

    /// Sets the global limit; the effective limit follows it at once.
    pub fn set_global(&self, n: usize) {
        let n = n.max(1);
        let ev = {
            let mut g = self.lock();
            g.configured = n;
            g.effective = n;
            g.successes = 0;
            Event::Concurrency {
                global_limit: n,
                effective: n,
                job: None,
            }
        };
        let _ = self.events.send(ev);
        self.notify.notify_waiters();
    }

    pub fn set_job(&self, job: JobId, n: usize) {
        let n = n.max(1);
        let ev = {
            let mut g = self.lock();
            let Some(j) = g.jobs.get_mut(&job) else {
                return;
            };
            j.limit = n;
            Event::Concurrency {
                global_limit: g.configured,
                effective: g.effective,
                job: Some((job, n)),
            }
        };
        let _ = self.events.send(ev);
        self.notify.notify_waiters();
    }

    /// A part request succeeded after `latency`: additive increase.
    pub fn on_success(&self, latency: Duration) {
        let ev = {
            let mut g = self.lock();
            g.rtt = (g.rtt * 7 + latency) / 8;
            g.successes += 1;
            if g.effective < g.configured && g.successes >= g.effective {
                g.successes = 0;
                g.effective += 1;
                Some(Event::Concurrency {
                    global_limit: g.configured,
                    effective: g.effective,
                    job: None,
                })
            } else {
                None
            }
        };
        if let Some(ev) = ev {
            let _ = self.events.send(ev);
            self.notify.notify_waiters();
        }
    }

    /// COS asked us to slow down: multiplicative decrease, at most once per window.
    pub fn on_throttle(&self) {
        let now = Instant::now();
        let ev = {
            let mut g = self.lock();
            let window = g.rtt.max(MIN_DECREASE_WINDOW);
            if g.last_decrease
                .is_some_and(|t| now.duration_since(t) < window)
            {
                return;
            }
            g.last_decrease = Some(now);
            g.successes = 0;
            let lowered = (g.effective / 2).max(1);
            if lowered == g.effective {
                return;
            }
            g.effective = lowered;
            Event::Concurrency {
                global_limit: g.configured,
                effective: lowered,
                job: None,
            }
        };
        let _ = self.events.send(ev);
    }

    fn try_grant(&self, job: JobId) -> bool {
        let mut g = self.lock();
        if g.in_flight >= g.effective {
            return false;
        }
        let Some(me) = g.jobs.get(&job) else {
            return false;
        };
        if me.in_flight >= me.limit {
            return false;
        }
        let mine = (me.in_flight, me.last_grant);
        let someone_first = g.jobs.iter().any(|(id, j)| {
            *id != job && j.waiting && j.in_flight < j.limit && (j.in_flight, j.last_grant) < mine
        });
        if someone_first {
            return false;
        }
        g.seq += 1;
        let seq = g.seq;
        g.in_flight += 1;
        if let Some(me) = g.jobs.get_mut(&job) {
            me.in_flight += 1;
            me.waiting = false;
            me.last_grant = seq;
        }
        true
    }

    fn set_waiting(&self, job: JobId, waiting: bool) {
        if let Some(j) = self.lock().jobs.get_mut(&job) {
            j.waiting = waiting;
        }
    }

    /// Waits for a permit for `job`: not while `paused` is true; `None` once `stop` fires.
    /// Cancel-safe: dropping the future gives nothing up.
    pub async fn acquire(
        self: &Arc<Self>,
        job: JobId,
        paused: &mut watch::Receiver<bool>,
        stop: &CancellationToken,
    ) -> Option<Permit> {
        let _guard = Waiting { sched: self, job };
        loop {
            if stop.is_cancelled() {
                return None;
            }
            if *paused.borrow_and_update() {
                self.set_waiting(job, false);
                self.notify.notify_waiters();
                tokio::select! {
                    r = paused.changed() => if r.is_err() { return None },
                    _ = stop.cancelled() => return None,
                }
                continue;
            }
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            self.set_waiting(job, true);
            if self.try_grant(job) {
                // Others may fit in what is left (the fairness rule made them wait for us).
                self.notify.notify_waiters();
                return Some(Permit {
                    sched: Arc::clone(self),
                    job,
                });
            }
            tokio::select! {
                _ = notified => {}
                r = paused.changed() => if r.is_err() { return None },
                _ = stop.cancelled() => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    #[tokio::test(start_paused = true)]
    async fn aimd_halves_once_per_window_and_climbs_back() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let s = Scheduler::new(16, tx);
        s.on_throttle();
        s.on_throttle();
        assert_eq!(s.limits().1, 8, "two throttles in one window halve once");
        tokio::time::advance(Duration::from_secs(1)).await;
        s.on_throttle();
        assert_eq!(s.limits().1, 4);
        for _ in 0..200 {
            s.on_success(Duration::from_millis(50));
        }
        assert_eq!(s.limits().1, 16, "successes restore the configured limit");
        let mut effective = vec![];
        while let Ok(Event::Concurrency { effective: e, .. }) = rx.try_recv() {
            effective.push(e);
        }
        assert_eq!(effective[..2], [8, 4]);
        assert_eq!(effective.last(), Some(&16));
        for _ in 0..10 {
            tokio::time::advance(Duration::from_secs(1)).await;
            s.on_throttle();
        }
        assert_eq!(s.limits().1, 1, "never below one");
    }

    #[tokio::test(start_paused = true)]
    async fn permits_respect_both_limits_and_go_to_the_least_served_job() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let s = Scheduler::new(3, tx);
        s.register(1, 2);
        s.register(2, 5);
        let (_ptx, mut prx) = watch::channel(false);
        let stop = CancellationToken::new();
        let a1 = s.acquire(1, &mut prx, &stop).await.unwrap();
        let a2 = s.acquire(1, &mut prx, &stop).await.unwrap();
        // Job 1 is at its own limit: a third permit for it must wait.
        let third = tokio::time::timeout(Duration::from_secs(1), s.acquire(1, &mut prx, &stop));
        assert!(third.await.is_err());
        let b1 = s.acquire(2, &mut prx, &stop).await.unwrap();
        assert_eq!(s.limits().2, 3);
        let blocked = tokio::time::timeout(Duration::from_secs(1), s.acquire(2, &mut prx, &stop));
        assert!(blocked.await.is_err(), "global limit reached");
        drop((a1, a2, b1));
        assert_eq!(s.limits().2, 0);
    }
}
