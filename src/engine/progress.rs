//! The one progress fold: a transfer's `Event`s reduced to what front ends show — objects
//! listed / done / skipped / failed, bytes, objects in flight, failed objects with their
//! errors, what the transfer waits for, a smoothed rate and an ETA. The CLI's line and the
//! TUI's Queue both read it, so they never disagree.
//!
//! Pure: no I/O; time comes in as an argument.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::plan::part_range;
use super::{CopySpec, Event, JobId, JobState, Strategy, Verification};

/// How far back the rate looks.
pub const RATE_WINDOW: Duration = Duration::from_secs(20);
/// Failed objects kept with their errors (all are counted; the journal has every one).
pub const FAILURES_KEPT: usize = 1000;

/// What a transfer waits for after a failed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub what: String,
    pub attempt: u32,
    pub of: u32,
    pub after: Duration,
    pub error: String,
    pub since: Instant,
}

impl Waiting {
    /// `HEAD source: attempt 3 of 8 in 4s after <error>`.
    pub fn describe(&self, now: Instant) -> String {
        let left = self
            .after
            .saturating_sub(now.saturating_duration_since(self.since));
        format!(
            "{}: attempt {} of {} in {}s after {}",
            self.what,
            self.attempt,
            self.of,
            left.as_secs_f64().ceil() as u64,
            self.error
        )
    }
}

#[derive(Debug, Clone)]
pub struct TransferProgress {
    pub id: JobId,
    pub spec: CopySpec,
    pub state: JobState,
    pub journaled: bool,
    /// A one-object transfer's size (from its plan); `None` for prefixes and before the plan.
    pub size: Option<u64>,
    pub upload_id: Option<String>,
    /// A one-object transfer's parts: total, done, in flight; retries of any request.
    pub parts_total: u32,
    pub parts_done: u32,
    pub parts_in_flight: u32,
    pub retries: u64,
    pub listed: u64,
    pub listed_bytes: u64,
    pub listing_complete: bool,
    pub done: u64,
    pub skipped: u64,
    pub failed: u64,
    pub bytes_done: u64,
    /// Objects of a prefix transfer in flight: key → size.
    pub in_flight: BTreeMap<String, u64>,
    /// The first `FAILURES_KEPT` failed objects (key, error), or the transfer's own error.
    pub failures: Vec<(String, String)>,
    pub waiting: Option<Waiting>,
    pub verification: Option<Verification>,
    /// How long a transfer restored from the history took (its run is not in this process).
    pub recorded_elapsed: Option<Duration>,
    started: Option<Instant>,
    finished_at: Option<Instant>,
    /// (time, bytes done) samples, at most one per 100 ms, for the smoothed rate.
    samples: VecDeque<(Instant, u64)>,
}

impl TransferProgress {
    pub fn new(id: JobId, spec: CopySpec, state: JobState, journaled: bool) -> Self {
        TransferProgress {
            id,
            spec,
            state,
            journaled,
            size: None,
            upload_id: None,
            parts_total: 0,
            parts_done: 0,
            parts_in_flight: 0,
            retries: 0,
            listed: 0,
            listed_bytes: 0,
            listing_complete: false,
            done: 0,
            skipped: 0,
            failed: 0,
            bytes_done: 0,
            in_flight: BTreeMap::new(),
            failures: Vec::new(),
            waiting: None,
            verification: None,
            recorded_elapsed: None,
            started: None,
            finished_at: None,
            samples: VecDeque::new(),
        }
    }

    pub fn is_prefix(&self) -> bool {
        self.spec.source.is_prefix()
    }

    /// The total when it is known: a one-object transfer's size, a finished listing's bytes.
    pub fn total_bytes(&self) -> Option<u64> {
        if self.is_prefix() {
            self.listing_complete.then_some(self.listed_bytes)
        } else {
            self.size
        }
    }

    /// Folds one event of this transfer (others are ignored). True when something changed.
    pub fn apply(&mut self, ev: &Event, now: Instant) -> bool {
        let before = self.bytes_done;
        match ev {
            Event::JobPlanned { id, plan } if *id == self.id => {
                self.size = Some(plan.size);
                self.upload_id = plan.upload_id.clone();
                (self.parts_total, self.parts_done) = match plan.strategy {
                    Strategy::Multipart { parts, .. } => (parts, plan.parts_done.len() as u32),
                    Strategy::Single => (1, 0),
                };
                self.bytes_done = match plan.strategy {
                    Strategy::Multipart {
                        part_size, ramp, ..
                    } => plan
                        .parts_done
                        .iter()
                        .map(|n| part_range(plan.size, part_size, ramp, *n).len())
                        .sum(),
                    Strategy::Single => 0,
                };
                self.restart_samples(now);
            }
            Event::JobState { id, state } if *id == self.id => {
                if state.is_active() && self.started.is_none() {
                    self.started = Some(now);
                }
                if state.is_active() && self.samples.is_empty() {
                    // The rate counts from the start, not from the first bytes.
                    self.samples.push_back((now, self.bytes_done));
                }
                if *state == JobState::Preparing {
                    self.in_flight.clear();
                    self.finished_at = None;
                }
                if !matches!(
                    state,
                    JobState::Running | JobState::Paused | JobState::Completing
                ) {
                    self.parts_in_flight = 0;
                }
                self.state = state.clone();
            }
            Event::JobFinished {
                id,
                state,
                verification,
            } if *id == self.id => {
                self.state = state.clone();
                self.verification = verification.clone();
                self.in_flight.clear();
                self.parts_in_flight = 0;
                self.waiting = None;
                self.finished_at = Some(now);
            }
            Event::PartStarted { job, attempt, .. } if *job == self.id => {
                if *attempt == 1 {
                    self.parts_in_flight += 1;
                }
            }
            Event::PartDone { job, bytes, .. } if *job == self.id => {
                self.bytes_done += bytes;
                self.parts_done += 1;
                self.parts_in_flight = self.parts_in_flight.saturating_sub(1);
            }
            Event::PartFailed { job, .. } if *job == self.id => {
                self.parts_in_flight = self.parts_in_flight.saturating_sub(1);
            }
            Event::PartRetrying { job, .. } if *job == self.id => self.retries += 1,
            Event::Bytes { job, bytes } if *job == self.id => self.bytes_done += bytes,
            Event::ObjectsListed {
                job,
                objects,
                bytes,
                complete,
            } if *job == self.id => {
                self.listed = *objects;
                self.listed_bytes = *bytes;
                self.listing_complete = *complete;
            }
            Event::ObjectStarted { job, key, size } if *job == self.id => {
                self.in_flight.insert(key.clone(), *size);
            }
            Event::ObjectDone {
                job,
                key,
                bytes,
                skipped,
            } if *job == self.id => {
                self.in_flight.remove(key);
                self.bytes_done += bytes;
                if *skipped {
                    self.skipped += 1;
                } else {
                    self.done += 1;
                }
            }
            Event::ObjectFailed { job, key, error } if *job == self.id => {
                self.in_flight.remove(key);
                self.failed += 1;
                if self.failures.len() < FAILURES_KEPT {
                    self.failures.push((key.clone(), error.clone()));
                }
            }
            Event::TransferProgress {
                job,
                done,
                done_bytes,
                skipped,
            } if *job == self.id => {
                self.done = *done;
                self.skipped = *skipped;
                self.bytes_done = *done_bytes;
                self.restart_samples(now);
            }
            Event::JobHistory { record } if record.id == self.id => {
                self.state = record.job_state();
                self.listed = record.listed;
                self.listed_bytes = record.listed_bytes;
                self.listing_complete = true;
                self.done = record.done;
                self.skipped = record.skipped;
                self.failed = record.failed;
                self.bytes_done = record.bytes;
                self.size = record.size;
                self.failures = record.failures.clone();
                self.recorded_elapsed = Some(Duration::from_millis(record.elapsed_ms));
                return true;
            }
            Event::Waiting {
                job,
                what,
                attempt,
                of,
                after,
                error,
            } if *job == self.id => {
                self.retries += 1;
                self.waiting = Some(Waiting {
                    what: what.clone(),
                    attempt: *attempt,
                    of: *of,
                    after: *after,
                    error: error.clone(),
                    since: now,
                });
                return true;
            }
            _ => return false,
        }
        if self.bytes_done != before {
            self.waiting = None;
            self.sample(now);
        }
        true
    }

    /// Bytes were reset (a plan, a resumed transfer): the rate starts again from here.
    fn restart_samples(&mut self, now: Instant) {
        self.samples.clear();
        if self.started.is_some() {
            self.samples.push_back((now, self.bytes_done));
        }
    }

    fn sample(&mut self, now: Instant) {
        match self.samples.back_mut() {
            Some((t, b)) if now.saturating_duration_since(*t) < Duration::from_millis(100) => {
                *b = self.bytes_done
            }
            _ => self.samples.push_back((now, self.bytes_done)),
        }
        // Keep one sample at or before the window's start, to interpolate from.
        while self.samples.len() > 2
            && self
                .samples
                .get(1)
                .is_some_and(|(t, _)| now.saturating_duration_since(*t) > RATE_WINDOW)
        {
            self.samples.pop_front();
        }
    }

    /// Bytes done at `t`, read linearly between samples (a part's bytes count when it ends,
    /// so they are spread over the time before).
    fn bytes_at(&self, t: Instant) -> u64 {
        let mut prev: Option<(Instant, u64)> = None;
        for &(ts, b) in &self.samples {
            if ts >= t {
                return match prev {
                    Some((tp, bp)) if ts > tp => {
                        let f = t.saturating_duration_since(tp).as_secs_f64()
                            / ts.saturating_duration_since(tp).as_secs_f64();
                        bp + (b.saturating_sub(bp) as f64 * f) as u64
                    }
                    _ => b,
                };
            }
            prev = Some((ts, b));
        }
        prev.map_or(0, |(_, b)| b)
    }

    /// Bytes per second over the last `RATE_WINDOW` (or since the start, if shorter), smoothed
    /// for bursts: bytes arrive when parts and objects end, so while the next burst is not
    /// overdue (1.5 × the longest gap in the window, at least 1 s, at least half the window
    /// while requests are in flight) the window ends at the last burst and the quiet time since
    /// is not read as a slowdown; once it is overdue the window ends now and a stall shows as a
    /// falling rate. Zero before any bytes.
    pub fn rate(&self, now: Instant) -> f64 {
        let (Some(&(first, _)), Some(&(last, last_bytes))) =
            (self.samples.front(), self.samples.back())
        else {
            return 0.0;
        };
        let gap = self
            .samples
            .iter()
            .zip(self.samples.iter().skip(1))
            .map(|((a, _), (b, _))| b.saturating_duration_since(*a))
            .max()
            .unwrap_or_default();
        let mut patience = gap.mul_f64(1.5).max(Duration::from_secs(1));
        if self.parts_in_flight > 0 || !self.in_flight.is_empty() {
            // Requests are at work: a first long gap is not yet a stall.
            patience = patience.max(RATE_WINDOW / 2);
        }
        let end = if now.saturating_duration_since(last) > patience {
            now
        } else {
            last
        };
        let start = end.checked_sub(RATE_WINDOW).map_or(first, |s| s.max(first));
        let secs = end.saturating_duration_since(start).as_secs_f64();
        if secs < 0.2 {
            return 0.0;
        }
        last_bytes.saturating_sub(self.bytes_at(start)) as f64 / secs
    }

    /// Bytes per second over the whole run: a finished transfer's figure.
    pub fn average_rate(&self, now: Instant) -> f64 {
        let secs = self.elapsed(now).as_secs_f64();
        if secs > 0.0 {
            self.bytes_done as f64 / secs
        } else {
            0.0
        }
    }

    /// Objects finished per second since the transfer started.
    pub fn object_rate(&self, now: Instant) -> f64 {
        match self.started {
            Some(s) => {
                let end = self.finished_at.unwrap_or(now);
                let secs = end.saturating_duration_since(s).as_secs_f64();
                if secs > 0.0 {
                    (self.done + self.skipped + self.failed) as f64 / secs
                } else {
                    0.0
                }
            }
            None => 0.0,
        }
    }

    pub fn elapsed(&self, now: Instant) -> Duration {
        if let Some(d) = self.recorded_elapsed {
            return d;
        }
        self.started.map_or(Duration::ZERO, |s| {
            self.finished_at.unwrap_or(now).saturating_duration_since(s)
        })
    }

    /// Time left at the current rate, when the total is known.
    pub fn eta(&self, now: Instant) -> Option<Duration> {
        let total = self.total_bytes()?;
        let rate = self.rate(now);
        if rate <= 0.0 {
            return None;
        }
        Some(Duration::from_secs_f64(
            total.saturating_sub(self.bytes_done) as f64 / rate,
        ))
    }
}

/// `4d05h` (from 100 hours), `1h02m`, `4m05s`, `12s`.
pub fn format_eta(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 100 * 3600 {
        format!("{}d{:02}h", s / 86400, (s % 86400) / 3600)
    } else if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::CopyOptions;
    use crate::store::CosUri;

    fn prefix() -> TransferProgress {
        TransferProgress::new(
            7,
            CopySpec {
                source: CosUri::parse("cos://a-1250000000/p/").unwrap(),
                destination: CosUri::parse("cos://b-1250000000/q/").unwrap(),
                options: CopyOptions::default(),
            },
            JobState::Queued,
            true,
        )
    }

    #[test]
    fn a_prefix_transfer_counts_objects_bytes_and_failures() {
        let mut p = prefix();
        let t0 = Instant::now();
        let ev = |e: Event, p: &mut TransferProgress, at: u64| {
            p.apply(&e, t0 + Duration::from_millis(at))
        };
        ev(
            Event::JobState {
                id: 7,
                state: JobState::Preparing,
            },
            &mut p,
            0,
        );
        ev(
            Event::ObjectsListed {
                job: 7,
                objects: 3,
                bytes: 300,
                complete: true,
            },
            &mut p,
            0,
        );
        ev(
            Event::ObjectStarted {
                job: 7,
                key: "p/a".into(),
                size: 100,
            },
            &mut p,
            0,
        );
        ev(
            Event::ObjectStarted {
                job: 7,
                key: "p/b".into(),
                size: 100,
            },
            &mut p,
            0,
        );
        assert_eq!(p.in_flight.len(), 2);
        ev(
            Event::ObjectDone {
                job: 7,
                key: "p/a".into(),
                bytes: 100,
                skipped: false,
            },
            &mut p,
            500,
        );
        ev(
            Event::ObjectFailed {
                job: 7,
                key: "p/b".into(),
                error: "boom".into(),
            },
            &mut p,
            600,
        );
        ev(Event::Bytes { job: 7, bytes: 50 }, &mut p, 1000);
        assert!(
            !ev(Event::Bytes { job: 8, bytes: 50 }, &mut p, 1000),
            "other jobs are ignored"
        );
        assert_eq!((p.done, p.failed, p.bytes_done), (1, 1, 150));
        assert_eq!(p.failures, vec![("p/b".to_string(), "boom".to_string())]);
        assert!(p.in_flight.is_empty());
        assert_eq!(p.total_bytes(), Some(300));
        // 150 bytes in the second since the transfer started.
        let now = t0 + Duration::from_millis(1000);
        assert!((p.rate(now) - 150.0).abs() < 1.0, "{}", p.rate(now));
        assert_eq!(p.eta(now), Some(Duration::from_secs(1)));
    }

    fn one_object() -> TransferProgress {
        let mut p = TransferProgress::new(
            9,
            CopySpec {
                source: CosUri::parse("cos://a-1250000000/big").unwrap(),
                destination: CosUri::parse("cos://b-1250000000/big").unwrap(),
                options: CopyOptions::default(),
            },
            JobState::Queued,
            true,
        );
        p.size = Some(1 << 40);
        p
    }

    /// Parts end in bursts (16 × 64 MiB at once, at uneven intervals, 1 GiB/s on average):
    /// the rate shown every 250 ms stays within 10% of 1 GiB/s once the first burst is in,
    /// where a plain window swung from 4 GiB/s to 256 MiB/s, and the ETA moves smoothly.
    #[test]
    fn bursty_parts_give_a_steady_rate_and_eta() {
        const GIB: f64 = (1u64 << 30) as f64;
        let mut p = one_object();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        p.apply(
            &Event::JobState {
                id: 9,
                state: JobState::Running,
            },
            t0,
        );
        // Burst k ends at `ends[k]` ms and carries the bytes of the time since the last one.
        let mut ends = vec![];
        let mut t = 0u64;
        for k in 0..40u64 {
            t += [700, 1300, 1000, 1500, 500][(k % 5) as usize];
            ends.push(t);
        }
        let mut last_end = 0u64;
        let mut next = 0;
        let mut last_eta: Option<Duration> = None;
        let mut now_ms = 0;
        while now_ms <= *ends.last().unwrap() {
            while next < ends.len() && ends[next] <= now_ms {
                let bytes = ((ends[next] - last_end) as f64 / 1000.0 * GIB) as u64;
                // One burst: 16 parts in the same 50 ms.
                for i in 0..16 {
                    p.apply(
                        &Event::PartDone {
                            job: 9,
                            part: 0,
                            bytes: bytes / 16,
                            elapsed: Duration::from_secs(10),
                        },
                        at(ends[next] + i * 3),
                    );
                }
                last_end = ends[next];
                next += 1;
            }
            if now_ms > ends[0] + 100 {
                let r = p.rate(at(now_ms)) / GIB;
                assert!((0.9..=1.1).contains(&r), "{r:.3} GiB/s at {now_ms} ms");
                let eta = p.eta(at(now_ms)).expect("an ETA");
                if let Some(prev) = last_eta {
                    // A quarter second later the ETA is a quarter second less, give or take 10%.
                    let d = prev.as_secs_f64() - eta.as_secs_f64();
                    assert!(
                        d.abs() < 0.1 * prev.as_secs_f64(),
                        "ETA jumped from {prev:?} to {eta:?} at {now_ms} ms"
                    );
                }
                last_eta = Some(eta);
            }
            now_ms += 250;
        }
    }

    #[test]
    fn a_stall_shows_as_a_falling_rate() {
        let mut p = one_object();
        let t0 = Instant::now();
        p.apply(
            &Event::JobState {
                id: 9,
                state: JobState::Running,
            },
            t0,
        );
        for s in 1..=10u64 {
            p.apply(
                &Event::Bytes {
                    job: 9,
                    bytes: 1000,
                },
                t0 + Duration::from_secs(s),
            );
        }
        let steady = p.rate(t0 + Duration::from_secs(10));
        assert!((steady - 1000.0).abs() < 1.0, "{steady}");
        let later = p.rate(t0 + Duration::from_secs(20));
        assert!(later < 600.0, "ten quiet seconds halve it: {later}");
        assert_eq!(p.rate(t0 + Duration::from_secs(60)), 0.0);
    }

    #[test]
    fn waiting_says_what_and_clears_on_progress() {
        let mut p = prefix();
        let t0 = Instant::now();
        p.apply(
            &Event::Waiting {
                job: 7,
                what: "HEAD source".into(),
                attempt: 3,
                of: 8,
                after: Duration::from_secs(4),
                error: "connection reset".into(),
            },
            t0,
        );
        assert_eq!(
            p.waiting.as_ref().unwrap().describe(t0),
            "HEAD source: attempt 3 of 8 in 4s after connection reset"
        );
        p.apply(&Event::Bytes { job: 7, bytes: 1 }, t0);
        assert!(p.waiting.is_none());
    }

    #[test]
    fn eta_formats() {
        assert_eq!(format_eta(Duration::from_secs(12)), "12s");
        assert_eq!(format_eta(Duration::from_secs(245)), "4m05s");
        assert_eq!(format_eta(Duration::from_secs(3720)), "1h02m");
        assert_eq!(format_eta(Duration::from_secs(100 * 3600 + 7200)), "4d06h");
    }
}
