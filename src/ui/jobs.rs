//! The Queue's view model: one `JobModel` per engine transfer. Its figures — state, objects
//! listed / done / failed, objects in flight, bytes, rate, ETA, elapsed — are the engine's own
//! fold (`engine::progress::TransferProgress`, the one the CLI prints), so both front ends
//! agree. On top it keeps what only the TUI draws: a one-object transfer's part map, its parts in
//! flight with estimated bytes (elapsed × the measured per-part rate), and the last errors.
//!
//! Pure: no I/O; time comes in as an argument (the UI clock) so tests are deterministic.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Deref;
use std::time::{Duration, Instant, SystemTime};

use crate::engine::progress::TransferProgress;
use crate::engine::{CopySpec, Event, JobId, JobState, Strategy};

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

/// A transfer as the Queue and Job detail show it. Reads of the engine's figures go through
/// `Deref` to the fold (`j.state`, `j.done`, `j.bytes_done`, `j.failures`, …).
#[derive(Debug, Clone)]
pub struct JobModel {
    /// The engine's fold of this transfer's events.
    pub fold: TransferProgress,
    pub part_size: u64,
    /// Smaller first parts (`plan::RAMP_FIRST`).
    pub ramp: crate::engine::plan::Ramp,
    /// A one-object transfer's part map and parts in flight.
    pub parts: Vec<PartCell>,
    pub in_flight: BTreeMap<u32, InFlight>,
    pub errors: VecDeque<String>,
    /// Parts in flight allowed for this job, when the engine has said.
    pub concurrency: Option<usize>,
    /// When the transfer ended, on the UI clock.
    pub ended_at: Option<SystemTime>,
    /// Sum over done parts of bytes and seconds: the job's mean per-part throughput.
    part_bytes: u64,
    part_secs: f64,
    /// The UI clock at creation and the monotonic instant it maps to: the fold counts in
    /// `Instant`s, the UI in (possibly manual) wall time.
    anchor: (SystemTime, Instant),
}

impl Deref for JobModel {
    type Target = TransferProgress;
    fn deref(&self) -> &TransferProgress {
        &self.fold
    }
}

impl JobModel {
    pub fn new(
        id: JobId,
        spec: CopySpec,
        state: JobState,
        journaled: bool,
        now: SystemTime,
    ) -> JobModel {
        JobModel {
            fold: TransferProgress::new(id, spec, state, journaled),
            part_size: 0,
            ramp: crate::engine::plan::Ramp::NONE,
            parts: Vec::new(),
            in_flight: BTreeMap::new(),
            errors: VecDeque::new(),
            concurrency: None,
            ended_at: None,
            part_bytes: 0,
            part_secs: 0.0,
            anchor: (now, Instant::now()),
        }
    }

    /// The fold's instant for a UI-clock time.
    pub fn instant_of(&self, t: SystemTime) -> Instant {
        self.instant(t)
    }

    fn instant(&self, t: SystemTime) -> Instant {
        let (sys, inst) = self.anchor;
        match t.duration_since(sys) {
            Ok(d) => inst + d,
            Err(e) => inst.checked_sub(e.duration()).unwrap_or(inst),
        }
    }

    /// Folds one event of this transfer. True when something changed.
    pub fn apply(&mut self, ev: &Event, now: SystemTime) -> bool {
        let was_finished = self.fold.state.is_finished();
        let changed = self.fold.apply(ev, self.instant(now));
        if !changed {
            return false;
        }
        match ev {
            Event::JobPlanned { plan, .. } => {
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
                for &n in &plan.parts_done {
                    if let Some(c) = self.slot(n) {
                        *c = PartCell::Done;
                    }
                }
            }
            Event::JobState { state, .. } => self.on_state(state, now),
            Event::JobFinished { state, .. } => {
                self.on_state(state, now);
                if state.is_finished() && !was_finished {
                    self.ended_at = Some(now);
                }
            }
            Event::JobHistory { record } => {
                self.ended_at = Some(
                    SystemTime::UNIX_EPOCH + Duration::from_secs(record.finished.max(0) as u64),
                );
            }
            Event::PartStarted {
                part, attempt, at, ..
            } => {
                if let Some(cell) = self.slot(*part) {
                    *cell = PartCell::InFlight;
                    self.in_flight.insert(
                        *part,
                        InFlight {
                            attempt: *attempt,
                            started: *at,
                        },
                    );
                }
            }
            Event::PartDone {
                part,
                bytes,
                elapsed,
                ..
            } => {
                self.in_flight.remove(part);
                if let Some(cell) = self.slot(*part) {
                    *cell = PartCell::Done;
                    self.part_bytes += bytes;
                    self.part_secs += elapsed.as_secs_f64();
                }
            }
            Event::PartRetrying {
                part,
                attempt,
                after,
                error,
                ..
            } => {
                self.in_flight.remove(part);
                if let Some(cell) = self.slot(*part) {
                    *cell = PartCell::Retrying;
                }
                self.push_error(format!(
                    "part {part}: attempt {} failed, retrying in {}: {error}",
                    attempt.saturating_sub(1),
                    humantime::format_duration(Duration::from_millis(after.as_millis() as u64))
                ));
            }
            Event::PartFailed { part, error, .. } => {
                self.in_flight.remove(part);
                if let Some(cell) = self.slot(*part) {
                    *cell = PartCell::Failed;
                }
                self.push_error(format!("part {part}: {error}"));
            }
            Event::ObjectFailed { key, error, .. } => self.push_error(format!("{key}: {error}")),
            Event::Waiting { .. } => {
                if let Some(w) = &self.fold.waiting {
                    let text = w.describe(w.since);
                    self.push_error(text);
                }
            }
            _ => {}
        }
        true
    }

    fn on_state(&mut self, state: &JobState, now: SystemTime) {
        let keeps_parts = matches!(
            state,
            JobState::Running | JobState::Paused | JobState::Preparing | JobState::Completing
        );
        if !keeps_parts {
            // Nothing is in flight once a job stops, fails or finishes.
            for (n, _) in std::mem::take(&mut self.in_flight) {
                if let Some(c) = self.slot(n) {
                    if *c == PartCell::InFlight {
                        *c = PartCell::Pending;
                    }
                }
            }
        }
        if state.is_active() {
            self.ended_at = None;
        }
        if let JobState::Failed(reason) = state {
            self.push_error(reason.clone());
        }
        let _ = now;
    }

    /// Keys of a prefix transfer's objects in flight, in key order.
    pub fn in_flight_keys(&self) -> Vec<&str> {
        self.fold.in_flight.keys().map(|k| k.as_str()).collect()
    }

    pub fn parts_total(&self) -> u32 {
        self.parts.len() as u32
    }

    /// Bytes of part `n` (1-based) under the plan.
    pub fn part_len(&self, n: u32) -> u64 {
        let Some(size) = self.fold.size else { return 0 };
        if self.part_size == 0 {
            return size;
        }
        crate::engine::plan::part_range(size, self.part_size, self.ramp, n).len()
    }

    /// The size shown: a one-object transfer's size, or the bytes listed so far of a prefix
    /// (`listing_complete` says whether more may come).
    pub fn total(&self) -> Option<u64> {
        if self.is_prefix() {
            (self.listed > 0 || self.listing_complete).then_some(self.listed_bytes)
        } else {
            self.fold.size
        }
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

    /// The engine's smoothed rate while the transfer runs; zero otherwise.
    pub fn rate(&self, now: SystemTime) -> f64 {
        if !matches!(self.state, JobState::Running) {
            return 0.0;
        }
        self.fold.rate(self.instant(now))
    }

    /// Bytes per second over the whole run (shown for finished transfers).
    pub fn average_rate(&self, now: SystemTime) -> f64 {
        self.fold.average_rate(self.instant(now))
    }

    /// Time spent running (for a restored finished transfer, as recorded).
    pub fn elapsed(&self, now: SystemTime) -> Duration {
        self.fold.elapsed(self.instant(now))
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
        match self.total() {
            Some(0) if self.state == JobState::Done => 1.0,
            Some(0) => 0.0,
            Some(s) => (self.bytes_done as f64 / s as f64).min(1.0),
            None => 0.0,
        }
    }

    /// Time left at the smoothed rate, when the total is known (a prefix once it is listed).
    pub fn eta(&self, now: SystemTime) -> Option<Duration> {
        let total = self.total_bytes()?;
        let rate = self.rate(now);
        if rate <= 0.0 {
            return None;
        }
        let left = total.saturating_sub(self.bytes_estimated(now)) as f64;
        Some(Duration::from_secs_f64(left / rate))
    }

    /// What the status line says when the transfer has just ended: what it did, how long it
    /// took and at what average rate, or why it failed.
    pub fn end_notice(&self, now: SystemTime) -> Option<String> {
        let what = if self.is_prefix() {
            let mut s = format!(
                "{} object{}",
                crate::ui::views::thousands(self.done),
                if self.done == 1 { "" } else { "s" }
            );
            if self.skipped > 0 {
                s.push_str(&format!(
                    ", {} skipped",
                    crate::ui::views::thousands(self.skipped)
                ));
            }
            if self.failed > 0 {
                s.push_str(&format!(
                    ", {} failed",
                    crate::ui::views::thousands(self.failed)
                ));
            }
            s
        } else {
            self.spec
                .source
                .key
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string()
        };
        let took = format!(
            "{} in {} ({} average)",
            crate::units::format_size(self.bytes_done),
            crate::engine::progress::format_eta(self.elapsed(now)),
            crate::ui::views::format_rate(self.average_rate(now))
        );
        Some(match &self.state {
            JobState::Done => format!("job {} done: {what}, {took}", self.id),
            JobState::Failed(e) => {
                format!("job {} failed: {e} ({what}, {took}; r retries)", self.id)
            }
            JobState::Aborted => format!("job {} aborted", self.id),
            JobState::Skipped => format!("job {} skipped: the destination exists", self.id),
            _ => return None,
        })
    }
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
        if let Some(s) = j.total() {
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

/// (running, failed) transfers, for the Queue's tab title.
pub fn tab_counts<'a>(jobs: impl Iterator<Item = &'a JobModel>) -> (usize, usize) {
    jobs.fold((0, 0), |(r, f), j| {
        (
            r + usize::from(j.state.is_active()),
            f + usize::from(matches!(j.state, JobState::Failed(_))),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::PlanSummary;
    use crate::store::CosUri;

    fn t0() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000)
    }

    fn spec(src: &str) -> CopySpec {
        CopySpec {
            source: CosUri::parse(&format!("cos://a-1250000000/{src}")).unwrap(),
            destination: CosUri::parse(&format!("cos://b-1250000000/{src}")).unwrap(),
            options: Default::default(),
        }
    }

    fn at(ms: u64) -> SystemTime {
        t0() + Duration::from_millis(ms)
    }

    fn running(j: &mut JobModel, ms: u64) {
        j.apply(
            &Event::JobState {
                id: j.id,
                state: JobState::Running,
            },
            at(ms),
        );
    }

    fn planned(size: u64, part: u64, parts: u32, done: Vec<u32>) -> JobModel {
        let mut j = JobModel::new(1, spec("big"), JobState::Queued, true, t0());
        j.apply(
            &Event::JobPlanned {
                id: 1,
                plan: PlanSummary {
                    size,
                    strategy: Strategy::Multipart {
                        part_size: part,
                        parts,
                        ramp: crate::engine::plan::Ramp::NONE,
                    },
                    upload_id: Some("u1".into()),
                    parts_done: done,
                    source_etag: "e".into(),
                    source_crc64: None,
                },
            },
            t0(),
        );
        j
    }

    fn part_done(j: &mut JobModel, part: u32, bytes: u64, secs: u64, ms: u64) {
        j.apply(
            &Event::PartDone {
                job: 1,
                part,
                bytes,
                elapsed: Duration::from_secs(secs),
            },
            at(ms),
        );
    }

    #[test]
    fn bytes_and_parts_come_from_the_engines_fold_and_the_map_from_part_events() {
        let mut j = planned(250, 100, 3, vec![]);
        running(&mut j, 0);
        part_done(&mut j, 1, 100, 10, 0);
        part_done(&mut j, 3, 50, 5, 0);
        assert_eq!(j.bytes_done, 150);
        assert_eq!(j.parts_done, 2);
        assert_eq!(
            j.parts,
            vec![PartCell::Done, PartCell::Pending, PartCell::Done]
        );
        assert_eq!(j.part_len(3), 50);
    }

    #[test]
    fn bad_part_numbers_are_ignored_not_fatal() {
        let mut j = planned(250, 100, 3, vec![]);
        j.apply(
            &Event::PartStarted {
                job: 1,
                part: 0,
                attempt: 1,
                at: t0(),
            },
            t0(),
        );
        j.apply(
            &Event::PartFailed {
                job: 1,
                part: u32::MAX,
                error: "x".into(),
            },
            t0(),
        );
        assert_eq!(j.parts.len(), 3);
        // A part past the plan (the engine re-planned) grows the map.
        part_done(&mut j, 4, 10, 1, 0);
        assert_eq!(j.parts.len(), 4);
    }

    #[test]
    fn resume_plan_counts_finished_parts() {
        let j = planned(250, 100, 3, vec![1, 3]);
        assert_eq!(j.bytes_done, 150);
        assert_eq!(j.parts[1], PartCell::Pending);
        assert_eq!(j.parts[2], PartCell::Done);
    }

    #[test]
    fn estimate_uses_the_measured_part_rate_and_never_reaches_the_whole_part() {
        let mut j = planned(1000, 100, 10, vec![]);
        running(&mut j, 0);
        for p in [1, 2] {
            j.apply(
                &Event::PartStarted {
                    job: 1,
                    part: p,
                    attempt: 1,
                    at: t0(),
                },
                t0(),
            );
        }
        part_done(&mut j, 1, 100, 10, 10_000);
        assert_eq!(j.estimate(2, at(5_000)), Some(50));
        assert_eq!(j.estimate(2, at(500_000)), Some(99));
    }

    /// The rate the Queue shows for bursty parts (8 × 128 MiB ending together every 1–2 s,
    /// 512 MiB/s on average) stays within 10% at every 250 ms redraw after the first burst.
    #[test]
    fn the_shown_rate_of_bursty_parts_stays_in_a_band() {
        const MIB: u64 = 1 << 20;
        let mut j = planned(400 * 1024 * MIB, 128 * MIB, 3200, vec![]);
        running(&mut j, 0);
        let mut part = 1;
        let mut t = 0u64;
        let mut bursts = vec![];
        for k in 0..30u64 {
            t += if k % 2 == 0 { 1000 } else { 3000 };
            bursts.push(t);
        }
        let start = |j: &mut JobModel, part: u32, ms: u64| {
            j.apply(
                &Event::PartStarted {
                    job: 1,
                    part,
                    attempt: 1,
                    at: at(ms),
                },
                at(ms),
            );
        };
        // 12 parts always in flight: each one done starts the next.
        for p in 1..=12 {
            start(&mut j, p, 0);
        }
        let mut next = 0;
        let mut ms = 0;
        let mut shown = vec![];
        while ms <= *bursts.last().unwrap() {
            while next < bursts.len() && bursts[next] <= ms {
                // Parts worth the time since the last burst, at 512 MiB/s.
                let since = bursts[next] - if next == 0 { 0 } else { bursts[next - 1] };
                let n = (since * 512 / 1000 / 128) as u32;
                for _ in 0..n {
                    part_done(&mut j, part, 128 * MIB, 8, bursts[next]);
                    start(&mut j, part + 12, bursts[next]);
                    part += 1;
                }
                next += 1;
            }
            if ms > bursts[0] {
                shown.push((ms, j.rate(at(ms)) / MIB as f64));
            }
            ms += 250;
        }
        for (ms, r) in shown {
            assert!((460.0..=564.0).contains(&r), "{r:.0} MiB/s at {ms} ms");
        }
    }

    #[test]
    fn a_prefix_counts_objects_and_its_end_notice_says_what_and_how_fast() {
        let mut j = JobModel::new(4, spec("p/"), JobState::Queued, true, t0());
        let ev = |j: &mut JobModel, e: Event, ms: u64| {
            j.apply(&e, at(ms));
        };
        ev(
            &mut j,
            Event::JobState {
                id: 4,
                state: JobState::Preparing,
            },
            0,
        );
        ev(
            &mut j,
            Event::ObjectsListed {
                job: 4,
                objects: 3,
                bytes: 3 << 20,
                complete: false,
            },
            0,
        );
        assert_eq!(j.total(), Some(3 << 20), "bytes listed so far");
        assert_eq!(j.eta(at(0)), None, "no ETA while listing");
        for k in ["p/a", "p/b", "p/c"] {
            ev(
                &mut j,
                Event::ObjectStarted {
                    job: 4,
                    key: k.into(),
                    size: 1 << 20,
                },
                0,
            );
        }
        ev(
            &mut j,
            Event::ObjectDone {
                job: 4,
                key: "p/a".into(),
                bytes: 1 << 20,
                skipped: false,
            },
            1000,
        );
        ev(
            &mut j,
            Event::ObjectFailed {
                job: 4,
                key: "p/b".into(),
                error: "AccessDenied".into(),
            },
            1000,
        );
        assert_eq!(j.in_flight_keys(), vec!["p/c"]);
        ev(
            &mut j,
            Event::ObjectDone {
                job: 4,
                key: "p/c".into(),
                bytes: 1 << 20,
                skipped: false,
            },
            2000,
        );
        assert_eq!((j.done, j.failed), (2, 1));
        assert_eq!(j.errors.back().unwrap(), "p/b: AccessDenied");
        ev(
            &mut j,
            Event::JobFinished {
                id: 4,
                state: JobState::Failed("1 of 3 objects failed".into()),
                verification: None,
            },
            2000,
        );
        assert_eq!(j.ended_at, Some(at(2000)));
        assert_eq!(
            j.end_notice(at(9000)).unwrap(),
            "job 4 failed: 1 of 3 objects failed (2 objects, 1 failed, 2.00 MiB in 2s (1.00 MiB/s average); r retries)"
        );
    }
}
