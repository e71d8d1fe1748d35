//! The Queue's view model: one `JobModel` per engine job, folded from `Event`s, with the numbers
//! the engine does not send (bytes done, rates, ETAs, in-flight estimates) derived from the
//! events and the UI clock.
//!
//! Pure: no I/O; time comes in as an argument so tests are deterministic.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime};

use crate::engine::{CopySpec, JobId, JobState, PlanSummary, Strategy, Verification};

/// How far back the rate window looks.
pub const RATE_WINDOW: Duration = Duration::from_secs(20);
/// Parts tracked per job at most (COS allows 10,000).
pub const MAX_PARTS: usize = 100_000;
/// Errors kept per job for the detail screen.
const ERRORS_KEPT: usize = 8;

/// One part's state, a byte each so a 10,000-part job costs 10 kB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PartCell {
    Pending,
    InFlight,
    Retrying,
    Failed,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlight {
    pub attempt: u32,
    pub started: SystemTime,
}

/// A prefix transfer's object counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ObjectCounts {
    pub listed: u64,
    pub listing_complete: bool,
    pub done: u64,
    pub skipped: u64,
    pub failed: u64,
}

/// Objects in flight tracked per transfer at most (the engine bounds them by its limit).
const OBJECTS_IN_FLIGHT_KEPT: usize = 4096;

#[derive(Debug, Clone)]
pub struct JobModel {
    pub id: JobId,
    pub spec: CopySpec,
    pub state: JobState,
    pub size: Option<u64>,
    pub part_size: u64,
    /// Smaller first parts (`plan::RAMP_FIRST`).
    pub ramp: crate::engine::plan::Ramp,
    pub upload_id: Option<String>,
    pub parts: Vec<PartCell>,
    pub in_flight: BTreeMap<u32, InFlight>,
    pub bytes_done: u64,
    pub parts_done: u32,
    pub retries: u32,
    pub errors: VecDeque<String>,
    pub verification: Option<Verification>,
    /// Parts in flight allowed for this job, when the engine has said.
    pub concurrency: Option<usize>,
    /// A prefix transfer's objects: listed so far (and whether the listing ended), finished,
    /// in flight (key → size).
    pub objects: ObjectCounts,
    pub objects_in_flight: BTreeMap<String, u64>,
    /// What the transfer waits for after a failed request, until progress resumes.
    pub waiting: Option<String>,
    /// (when, bytes) of recent finished parts, for the rate.
    /// Bytes finished per whole second (unix seconds), newest last: at most ~21 entries
    /// however many parts finish, so the rate costs the same for any part count.
    window: VecDeque<(u64, u64)>,
    /// When the job last started running, to size the rate window early on.
    running_since: Option<SystemTime>,
    /// Sum over done parts of bytes and seconds: the job's mean per-part throughput.
    part_bytes: u64,
    part_secs: f64,
}

impl JobModel {
    pub fn new(id: JobId, spec: CopySpec, state: JobState) -> JobModel {
        JobModel {
            id,
            spec,
            state,
            size: None,
            part_size: 0,
            ramp: crate::engine::plan::Ramp::NONE,
            upload_id: None,
            parts: Vec::new(),
            in_flight: BTreeMap::new(),
            bytes_done: 0,
            parts_done: 0,
            retries: 0,
            errors: VecDeque::new(),
            verification: None,
            concurrency: None,
            objects: ObjectCounts::default(),
            objects_in_flight: BTreeMap::new(),
            waiting: None,
            window: VecDeque::new(),
            running_since: None,
            part_bytes: 0,
            part_secs: 0.0,
        }
    }

    pub fn parts_total(&self) -> u32 {
        self.parts.len() as u32
    }

    /// Bytes of part `n` (1-based) under the plan.
    pub fn part_len(&self, n: u32) -> u64 {
        let Some(size) = self.size else { return 0 };
        if self.part_size == 0 {
            return size;
        }
        crate::engine::plan::part_range(size, self.part_size, self.ramp, n).len()
    }

    pub fn on_plan(&mut self, plan: &PlanSummary) {
        self.size = Some(plan.size);
        self.upload_id = plan.upload_id.clone();
        let (part_size, parts, ramp) = match plan.strategy {
            Strategy::Single => (plan.size.max(1), 1, crate::engine::plan::Ramp::NONE),
            Strategy::Multipart {
                part_size,
                parts,
                ramp,
            } => (part_size, parts, ramp),
        };
        self.part_size = part_size;
        self.ramp = ramp;
        self.parts = vec![PartCell::Pending; (parts as usize).min(MAX_PARTS)];
        self.in_flight.clear();
        self.bytes_done = 0;
        self.parts_done = 0;
        for &n in &plan.parts_done {
            if let Some(c) = (n as usize)
                .checked_sub(1)
                .and_then(|i| self.parts.get_mut(i))
            {
                if *c != PartCell::Done {
                    *c = PartCell::Done;
                    self.parts_done += 1;
                    self.bytes_done += self.part_len(n);
                }
            }
        }
    }

    pub fn on_state(&mut self, state: JobState, now: SystemTime) {
        if state == JobState::Running && self.state != JobState::Running {
            self.running_since = Some(now);
            self.window.clear();
        }
        let keeps_parts = matches!(
            state,
            JobState::Running | JobState::Paused | JobState::Preparing | JobState::Completing
        );
        if !keeps_parts {
            // Nothing is in flight once a job stops, fails or finishes.
            for (n, _) in std::mem::take(&mut self.in_flight) {
                if let Some(c) = (n as usize)
                    .checked_sub(1)
                    .and_then(|i| self.parts.get_mut(i))
                {
                    if *c == PartCell::InFlight {
                        *c = PartCell::Pending;
                    }
                }
            }
        }
        if !keeps_parts {
            self.objects_in_flight.clear();
            self.waiting = None;
        }
        if state == JobState::Done && !self.is_prefix() {
            if let Some(size) = self.size {
                self.bytes_done = size;
            }
        }
        if let JobState::Failed(reason) = &state {
            self.push_error(reason.clone());
        }
        self.state = state;
    }

    pub fn on_part_started(&mut self, part: u32, attempt: u32, at: SystemTime) {
        let Some(cell) = self.slot(part) else { return };
        *cell = PartCell::InFlight;
        self.in_flight.insert(
            part,
            InFlight {
                attempt,
                started: at,
            },
        );
    }

    pub fn on_part_done(&mut self, part: u32, bytes: u64, elapsed: Duration, now: SystemTime) {
        self.in_flight.remove(&part);
        let Some(cell) = self.slot(part) else { return };
        if *cell == PartCell::Done {
            return;
        }
        *cell = PartCell::Done;
        self.parts_done += 1;
        self.bytes_done += bytes;
        self.part_bytes += bytes;
        self.part_secs += elapsed.as_secs_f64();
        let sec = unix_secs(now);
        match self.window.back_mut() {
            Some((s, b)) if *s == sec => *b += bytes,
            _ => self.window.push_back((sec, bytes)),
        }
        self.trim(now);
    }

    pub fn is_prefix(&self) -> bool {
        self.spec.source.is_prefix()
    }

    pub fn on_listed(&mut self, objects: u64, bytes: u64, complete: bool) {
        self.objects.listed = objects;
        self.objects.listing_complete = complete;
        self.size = Some(bytes);
    }

    pub fn on_object_started(&mut self, key: String, size: u64) {
        if self.objects_in_flight.len() < OBJECTS_IN_FLIGHT_KEPT {
            self.objects_in_flight.insert(key, size);
        }
    }

    pub fn on_object_done(&mut self, key: &str, bytes: u64, skipped: bool, now: SystemTime) {
        self.objects_in_flight.remove(key);
        if skipped {
            self.objects.skipped += 1;
        } else {
            self.objects.done += 1;
        }
        self.on_bytes(bytes, now);
    }

    pub fn on_object_failed(&mut self, key: String, error: String) {
        self.objects_in_flight.remove(&key);
        self.objects.failed += 1;
        self.push_error(format!("{key}: {error}"));
    }

    /// Bytes copied without a part of their own (small objects, parts of a prefix's
    /// multipart objects).
    pub fn on_bytes(&mut self, bytes: u64, now: SystemTime) {
        if bytes == 0 {
            return;
        }
        self.waiting = None;
        self.bytes_done += bytes;
        let sec = unix_secs(now);
        match self.window.back_mut() {
            Some((s, b)) if *s == sec => *b += bytes,
            _ => self.window.push_back((sec, bytes)),
        }
        self.trim(now);
    }

    /// What an earlier run of a resumed transfer finished.
    pub fn on_restored(&mut self, done: u64, done_bytes: u64, skipped: u64) {
        self.objects.done = done;
        self.objects.skipped = skipped;
        self.bytes_done = done_bytes;
    }

    pub fn on_waiting(&mut self, what: String) {
        self.push_error(what.clone());
        self.waiting = Some(what);
    }

    pub fn on_part_retrying(&mut self, part: u32, error: String) {
        self.in_flight.remove(&part);
        let Some(cell) = self.slot(part) else { return };
        *cell = PartCell::Retrying;
        self.retries += 1;
        self.push_error(format!("part {part}: {error}"));
    }

    pub fn on_part_failed(&mut self, part: u32, error: String) {
        self.in_flight.remove(&part);
        let Some(cell) = self.slot(part) else { return };
        *cell = PartCell::Failed;
        self.push_error(format!("part {part}: {error}"));
    }

    /// The cell of part `part` (1-based), growing the map for parts beyond the plan; `None`
    /// for part 0 or a number past `MAX_PARTS` (an engine bug must not cost gigabytes here).
    fn slot(&mut self, part: u32) -> Option<&mut PartCell> {
        let i = (part as usize).checked_sub(1)?;
        if i >= self.parts.len() {
            if i >= MAX_PARTS {
                return None;
            }
            self.parts.resize(i + 1, PartCell::Pending);
        }
        self.parts.get_mut(i)
    }

    fn push_error(&mut self, e: String) {
        if self.errors.back() == Some(&e) {
            return;
        }
        if self.errors.len() == ERRORS_KEPT {
            self.errors.pop_front();
        }
        self.errors.push_back(e);
    }

    fn trim(&mut self, now: SystemTime) {
        let oldest = unix_secs(now).saturating_sub(RATE_WINDOW.as_secs());
        while self.window.front().is_some_and(|&(s, _)| s < oldest) {
            self.window.pop_front();
        }
    }

    /// Bytes per second over the sliding window (finished parts only: exact bytes).
    pub fn rate(&self, now: SystemTime) -> f64 {
        if !matches!(self.state, JobState::Running) {
            return 0.0;
        }
        let oldest = unix_secs(now).saturating_sub(RATE_WINDOW.as_secs());
        let bytes: u64 = self
            .window
            .iter()
            .rev()
            .take_while(|(s, _)| *s >= oldest)
            .map(|(_, b)| b)
            .sum();
        let since = self
            .running_since
            .and_then(|s| now.duration_since(s).ok())
            .unwrap_or(RATE_WINDOW);
        let span = since.min(RATE_WINDOW).as_secs_f64().max(1.0);
        bytes as f64 / span
    }

    /// Mean bytes per second of one part, measured from finished parts.
    pub fn per_part_rate(&self) -> Option<f64> {
        (self.part_secs > 0.0).then(|| self.part_bytes as f64 / self.part_secs)
    }

    /// Estimated bytes of an in-flight part: elapsed × per-part rate, capped below the part.
    pub fn estimate(&self, part: u32, now: SystemTime) -> Option<u64> {
        let f = self.in_flight.get(&part)?;
        let rate = self.per_part_rate()?;
        let elapsed = now
            .duration_since(f.started)
            .unwrap_or_default()
            .as_secs_f64();
        let len = self.part_len(part);
        Some(((elapsed * rate) as u64).min(len.saturating_sub(1).max(len * 99 / 100)))
    }

    /// Exact bytes plus estimates of in-flight parts.
    pub fn bytes_estimated(&self, now: SystemTime) -> u64 {
        self.bytes_done
            + self
                .in_flight
                .keys()
                .filter_map(|&p| self.estimate(p, now))
                .sum::<u64>()
    }

    pub fn fraction(&self) -> f64 {
        match self.size {
            Some(0) if self.state == JobState::Done => 1.0,
            Some(0) => 0.0,
            Some(s) => (self.bytes_done as f64 / s as f64).min(1.0),
            None => 0.0,
        }
    }

    pub fn eta(&self, now: SystemTime) -> Option<Duration> {
        let size = self.size?;
        let rate = self.rate(now);
        if rate <= 0.0 {
            return None;
        }
        let left = size.saturating_sub(self.bytes_estimated(now)) as f64;
        Some(Duration::from_secs_f64(left / rate))
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Totals across jobs for the Queue header.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    pub bytes: u64,
    pub done: u64,
    pub rate: f64,
    pub eta: Option<Duration>,
    pub by_state: BTreeMap<&'static str, usize>,
    pub queued: usize,
}

pub fn totals<'a>(jobs: impl Iterator<Item = &'a JobModel>, now: SystemTime) -> Totals {
    let mut t = Totals::default();
    let mut est = 0u64;
    for j in jobs {
        *t.by_state.entry(j.state.label()).or_default() += 1;
        if j.state == JobState::Queued {
            t.queued += 1;
        }
        if matches!(j.state, JobState::Aborted | JobState::Skipped) {
            continue;
        }
        if let Some(s) = j.size {
            t.bytes += s;
            t.done += j.bytes_done;
            est += j.bytes_estimated(now);
        }
        t.rate += j.rate(now);
    }
    if t.rate > 0.0 {
        t.eta = Some(Duration::from_secs_f64(
            t.bytes.saturating_sub(est) as f64 / t.rate,
        ));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CosUri;

    fn spec() -> CopySpec {
        CopySpec {
            source: CosUri::parse("cos://a-1250000000/big").unwrap(),
            destination: CosUri::parse("cos://b-1250000000/big").unwrap(),
            options: Default::default(),
        }
    }

    fn planned(size: u64, part: u64, parts: u32) -> JobModel {
        let mut j = JobModel::new(1, spec(), JobState::Queued);
        j.on_plan(&PlanSummary {
            size,
            strategy: Strategy::Multipart {
                part_size: part,
                parts,
                ramp: crate::engine::plan::Ramp::NONE,
            },
            upload_id: Some("u1".into()),
            parts_done: vec![],
            source_etag: "e".into(),
            source_crc64: None,
        });
        j
    }

    #[test]
    fn bytes_done_is_sum_of_done_parts_and_duplicates_count_once() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let mut j = planned(250, 100, 3);
        j.on_state(JobState::Running, t0);
        j.on_part_done(1, 100, Duration::from_secs(10), t0);
        j.on_part_done(1, 100, Duration::from_secs(10), t0);
        j.on_part_done(3, 50, Duration::from_secs(5), t0);
        assert_eq!(j.bytes_done, 150);
        assert_eq!(j.parts_done, 2);
        assert_eq!(j.part_len(3), 50);
    }

    #[test]
    fn bad_part_numbers_are_ignored_not_fatal() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let mut j = planned(250, 100, 3);
        j.on_part_started(0, 1, t0);
        j.on_part_done(0, 5, Duration::from_secs(1), t0);
        j.on_part_failed(u32::MAX, "x".into());
        j.on_part_retrying(0, "x".into());
        assert_eq!(j.parts.len(), 3);
        assert_eq!(j.bytes_done, 0);
        // A part past the plan (the engine re-planned) grows the map.
        j.on_part_done(4, 10, Duration::from_secs(1), t0);
        assert_eq!(j.parts.len(), 4);
    }

    #[test]
    fn resume_plan_counts_finished_parts() {
        let mut j = JobModel::new(1, spec(), JobState::Interrupted);
        j.on_plan(&PlanSummary {
            size: 250,
            strategy: Strategy::Multipart {
                part_size: 100,
                parts: 3,
                ramp: crate::engine::plan::Ramp::NONE,
            },
            upload_id: Some("u".into()),
            parts_done: vec![1, 3],
            source_etag: "e".into(),
            source_crc64: None,
        });
        assert_eq!(j.bytes_done, 150);
        assert_eq!(j.parts[1], PartCell::Pending);
    }

    #[test]
    fn rate_is_window_bytes_over_time_and_estimate_uses_part_rate() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let mut j = planned(1000, 100, 10);
        j.on_state(JobState::Running, t0);
        j.on_part_started(1, 1, t0);
        j.on_part_started(2, 1, t0);
        let t10 = t0 + Duration::from_secs(10);
        j.on_part_done(1, 100, Duration::from_secs(10), t10);
        assert!((j.rate(t10) - 10.0).abs() < 1e-9, "{}", j.rate(t10));
        // Part 2 has been in flight 5 s at 10 B/s per part: ~50 bytes.
        assert_eq!(j.estimate(2, t0 + Duration::from_secs(5)), Some(50));
        // An estimate never reaches the whole part.
        assert_eq!(j.estimate(2, t0 + Duration::from_secs(500)), Some(99));
        // After the window passes with no parts the rate falls to zero.
        assert_eq!(j.rate(t10 + RATE_WINDOW + Duration::from_secs(1)), 0.0);
    }
}
