//! Rendering engine events for the headless CLI: the live progress line (bytes, %, rate, ETA,
//! parts done / in flight / total, retries, effective concurrency) and the `--json` lines.
//!
//! Pure: takes events and instants, returns strings and JSON values. Never writes to the
//! terminal and never talks to the engine.
//!
//! `--json` format (one object a line, `"event"` says which):
//! - `{"event":"job","id":1,"source":"cos://…","destination":"cos://…","state":"queued"}`
//! - `{"event":"planned","id":1,"size":N,"strategy":"single"|"multipart","part_size":N,"parts":N,"upload_id":"…"|null,"parts_done":N}`
//! - `{"event":"state","id":1,"state":"running"}`
//! - `{"event":"part_done","job":1,"part":3,"bytes":N,"elapsed_ms":N}`
//! - `{"event":"part_retrying","job":1,"part":3,"attempt":2,"after_ms":N,"error":"…"}`
//! - `{"event":"part_failed","job":1,"part":3,"error":"…"}`
//! - `{"event":"concurrency","global_limit":N,"effective":N}`
//! - `{"event":"progress","bytes_done":N,"bytes_total":N,"parts_done":N,"parts_in_flight":N,"parts_total":N,"rate_bps":N,"retries":N}` (every 2 s)
//! - `{"event":"finished","id":1,"state":"done"|"failed"|…,"error":"…"|null,"verification":{"size_matched":true,"crc64_matched":true|false|null,"skipped":false}|null}`
//! - `{"event":"log","level":"warn","message":"…"}`
//!
//! `part_started` events are not printed (they carry no progress).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::engine::{Event, JobId, JobState, LogLevel, Strategy};
use crate::units::format_size;

/// How far back the rate looks.
const RATE_WINDOW: Duration = Duration::from_secs(10);

#[derive(Debug, Default, Clone)]
struct JobProgress {
    size: u64,
    parts: u32,
    done_bytes: u64,
    done_parts: u32,
    in_flight: u32,
}

/// Totals over all jobs of a CLI run, from events.
#[derive(Debug)]
pub struct Progress {
    jobs: HashMap<JobId, JobProgress>,
    retries: u64,
    /// Bytes copied by this run (resumed parts excluded): the rate's basis.
    copied: u64,
    effective: Option<(usize, usize)>,
    samples: VecDeque<(Instant, u64)>,
    started: Instant,
}

impl Progress {
    pub fn new(now: Instant) -> Self {
        Progress {
            jobs: HashMap::new(),
            retries: 0,
            copied: 0,
            effective: None,
            samples: VecDeque::from([(now, 0)]),
            started: now,
        }
    }

    pub fn apply(&mut self, ev: &Event, now: Instant) {
        match ev {
            Event::JobPlanned { id, plan } => {
                let j = self.jobs.entry(*id).or_default();
                j.size = plan.size;
                match plan.strategy {
                    Strategy::Single => j.parts = 1,
                    Strategy::Multipart { part_size, parts } => {
                        j.parts = parts;
                        j.done_parts = plan.parts_done.len() as u32;
                        j.done_bytes = plan
                            .parts_done
                            .iter()
                            .map(|n| {
                                crate::engine::plan::part_range(plan.size, part_size, *n).len()
                            })
                            .sum();
                    }
                }
            }
            Event::PartStarted {
                job, attempt: 1, ..
            } => {
                self.jobs.entry(*job).or_default().in_flight += 1;
            }
            Event::PartDone { job, bytes, .. } => {
                let j = self.jobs.entry(*job).or_default();
                j.in_flight = j.in_flight.saturating_sub(1);
                j.done_parts += 1;
                j.done_bytes += bytes;
                self.copied += bytes;
                self.samples.push_back((now, self.copied));
            }
            Event::PartFailed { job, .. } => {
                let j = self.jobs.entry(*job).or_default();
                j.in_flight = j.in_flight.saturating_sub(1);
            }
            Event::PartRetrying { .. } => self.retries += 1,
            Event::JobState { id, state } | Event::JobFinished { id, state, .. }
                if !matches!(
                    state,
                    JobState::Running | JobState::Paused | JobState::Completing
                ) =>
            {
                if let Some(j) = self.jobs.get_mut(id) {
                    j.in_flight = 0;
                }
            }
            Event::Concurrency {
                global_limit,
                effective,
                job: None,
            } => self.effective = Some((*effective, *global_limit)),
            _ => {}
        }
        while self.samples.len() > 2 && now.duration_since(self.samples[0].0) > RATE_WINDOW {
            self.samples.pop_front();
        }
    }

    pub fn bytes_done(&self) -> u64 {
        self.jobs.values().map(|j| j.done_bytes).sum()
    }

    pub fn bytes_total(&self) -> u64 {
        self.jobs.values().map(|j| j.size).sum()
    }

    /// (done, in flight, total).
    pub fn parts(&self) -> (u64, u64, u64) {
        self.jobs.values().fold((0, 0, 0), |(d, f, t), j| {
            (
                d + j.done_parts as u64,
                f + j.in_flight as u64,
                t + j.parts as u64,
            )
        })
    }

    pub fn retries(&self) -> u64 {
        self.retries
    }

    /// Bytes per second over the last `RATE_WINDOW` (server-side copies report per finished part).
    pub fn rate(&self, now: Instant) -> f64 {
        let Some(&(t0, b0)) = self.samples.front() else {
            return 0.0;
        };
        let secs = now.duration_since(t0).as_secs_f64();
        if secs < 0.5 {
            return 0.0;
        }
        self.copied.saturating_sub(b0) as f64 / secs
    }

    pub fn elapsed(&self, now: Instant) -> Duration {
        now.duration_since(self.started)
    }

    /// The progress line, without colour or cursor codes.
    pub fn line(&self, now: Instant) -> String {
        let (done, total) = (self.bytes_done(), self.bytes_total());
        let pct = if total == 0 {
            0.0
        } else {
            done as f64 * 100.0 / total as f64
        };
        let rate = self.rate(now);
        let eta = if rate > 0.0 && total > done {
            format_eta(Duration::from_secs_f64((total - done) as f64 / rate))
        } else {
            "--:--".into()
        };
        let (pd, pf, pt) = self.parts();
        let mut s = format!(
            "{} / {} {:5.1}% {}/s ETA {} parts {}/{} ({} in flight)",
            format_size(done),
            format_size(total),
            pct,
            format_size(rate as u64),
            eta,
            pd,
            pt,
            pf
        );
        if self.retries > 0 {
            s.push_str(&format!(" retries {}", self.retries));
        }
        if let Some((e, g)) = self.effective {
            s.push_str(&format!(" concurrency {e}/{g}"));
        }
        s
    }

    /// The periodic `{"event":"progress",…}` object.
    pub fn json(&self, now: Instant) -> Value {
        let (pd, pf, pt) = self.parts();
        json!({
            "event": "progress",
            "bytes_done": self.bytes_done(),
            "bytes_total": self.bytes_total(),
            "parts_done": pd,
            "parts_in_flight": pf,
            "parts_total": pt,
            "rate_bps": self.rate(now) as u64,
            "retries": self.retries,
        })
    }
}

pub fn format_eta(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn state_error(state: &JobState) -> Option<&str> {
    match state {
        JobState::Failed(m) => Some(m),
        _ => None,
    }
}

/// One `--json` line for an event, or `None` for events not printed.
pub fn json_event(ev: &Event) -> Option<Value> {
    Some(match ev {
        Event::JobAdded { id, spec, state } => json!({
            "event": "job", "id": id, "source": spec.source.to_string(),
            "destination": spec.destination.to_string(), "state": state.label(),
        }),
        Event::JobPlanned { id, plan } => {
            let (strategy, part_size, parts) = match plan.strategy {
                Strategy::Single => ("single", plan.size, 1),
                Strategy::Multipart { part_size, parts } => ("multipart", part_size, parts),
            };
            json!({
                "event": "planned", "id": id, "size": plan.size, "strategy": strategy,
                "part_size": part_size, "parts": parts, "upload_id": plan.upload_id,
                "parts_done": plan.parts_done.len(),
            })
        }
        Event::JobState { id, state } => {
            json!({"event": "state", "id": id, "state": state.label()})
        }
        Event::PartDone {
            job,
            part,
            bytes,
            elapsed,
        } => json!({
            "event": "part_done", "job": job, "part": part, "bytes": bytes,
            "elapsed_ms": elapsed.as_millis() as u64,
        }),
        Event::PartRetrying {
            job,
            part,
            attempt,
            after,
            error,
        } => json!({
            "event": "part_retrying", "job": job, "part": part, "attempt": attempt,
            "after_ms": after.as_millis() as u64, "error": error,
        }),
        Event::PartFailed { job, part, error } => {
            json!({"event": "part_failed", "job": job, "part": part, "error": error})
        }
        Event::JobFinished {
            id,
            state,
            verification,
        } => json!({
            "event": "finished", "id": id, "state": state.label(), "error": state_error(state),
            "verification": verification,
        }),
        Event::Concurrency {
            global_limit,
            effective,
            job: None,
        } => json!({
            "event": "concurrency", "global_limit": global_limit, "effective": effective,
        }),
        Event::Log { level, message } => json!({
            "event": "log", "level": level_str(*level), "message": message,
        }),
        _ => return None,
    })
}

pub fn level_str(l: LogLevel) -> &'static str {
    match l {
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::PlanSummary;

    fn planned(size: u64, part_size: u64, parts: u32) -> Event {
        Event::JobPlanned {
            id: 1,
            plan: PlanSummary {
                size,
                strategy: Strategy::Multipart { part_size, parts },
                upload_id: Some("u".into()),
                parts_done: vec![1],
                source_etag: "e".into(),
                source_crc64: None,
            },
        }
    }

    #[test]
    fn line_shows_bytes_percent_rate_eta_parts_and_retries() {
        let t0 = Instant::now();
        let mut p = Progress::new(t0);
        p.apply(&planned(100 << 20, 10 << 20, 10), t0);
        assert_eq!(p.bytes_done(), 10 << 20, "resumed parts count as done");
        for part in 2..=3 {
            p.apply(
                &Event::PartStarted {
                    job: 1,
                    part,
                    attempt: 1,
                    at: std::time::SystemTime::now(),
                },
                t0,
            );
        }
        p.apply(
            &Event::PartRetrying {
                job: 1,
                part: 3,
                attempt: 2,
                after: Duration::from_secs(1),
                error: "x".into(),
            },
            t0,
        );
        let t1 = t0 + Duration::from_secs(2);
        p.apply(
            &Event::PartDone {
                job: 1,
                part: 2,
                bytes: 10 << 20,
                elapsed: Duration::from_secs(2),
            },
            t1,
        );
        let line = p.line(t1);
        assert_eq!(
            line,
            "20.0 MiB / 100 MiB  20.0% 5.00 MiB/s ETA 0:16 parts 2/10 (1 in flight) retries 1",
            "{line}"
        );
        let j = p.json(t1);
        assert_eq!(j["bytes_done"], 20 << 20);
        assert_eq!(j["parts_in_flight"], 1);
    }

    #[test]
    fn json_lines_carry_the_documented_fields() {
        let ev = Event::JobFinished {
            id: 4,
            state: JobState::Failed("boom".into()),
            verification: None,
        };
        let v = json_event(&ev).unwrap();
        assert_eq!(v["event"], "finished");
        assert_eq!(v["state"], "failed");
        assert_eq!(v["error"], "boom");
        let v = json_event(&planned(5, 1, 5)).unwrap();
        assert_eq!(v["strategy"], "multipart");
        assert_eq!(v["parts_done"], 1);
        assert_eq!(format_eta(Duration::from_secs(3725)), "1:02:05");
    }
}
