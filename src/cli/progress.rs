//! Rendering engine events for the headless CLI: the live progress line and the `--json`
//! lines. The numbers come from the engine's one fold (`engine::progress::TransferProgress`);
//! this module only formats them.
//!
//! Pure: takes events and instants, returns strings and JSON values. Never writes to the
//! terminal and never talks to the engine.
//!
//! `--json` format (one object a line, `"event"` says which):
//! - `{"event":"job","id":1,"source":"cos://…","destination":"cos://…","state":"queued","journaled":true}`
//! - `{"event":"planned","id":1,"size":N,"strategy":"single"|"multipart","part_size":N,"parts":N,"upload_id":"…"|null,"parts_done":N}`
//! - `{"event":"state","id":1,"state":"running"}`
//! - `{"event":"part_done","job":1,"part":3,"bytes":N,"elapsed_ms":N}`
//! - `{"event":"part_retrying","job":1,"part":3,"attempt":2,"after_ms":N,"error":"…"}`
//! - `{"event":"part_failed","job":1,"part":3,"error":"…"}`
//! - `{"event":"listed","job":1,"objects":N,"bytes":N,"complete":false}`
//! - `{"event":"object_done","job":1,"key":"…","bytes":N,"skipped":false}`
//! - `{"event":"object_failed","job":1,"key":"…","error":"…"}`
//! - `{"event":"waiting","job":1,"what":"HEAD source","attempt":3,"of":8,"after_ms":N,"error":"…"}`
//! - `{"event":"concurrency","global_limit":N,"effective":N}`
//! - `{"event":"progress","bytes_done":N,"bytes_total":N|null,"objects_done":N,"objects_failed":N,"objects_listed":N,"parts_done":N,"parts_in_flight":N,"parts_total":N,"rate_bps":N,"retries":N}` (every 2 s)
//! - `{"event":"finished","id":1,"state":"done"|"failed"|…,"error":"…"|null,"verification":{…}|null,"objects_done":N,"objects_failed":N,"failed_objects":[{"key":"…","error":"…"}]}`
//! - `{"event":"log","level":"warn","message":"…"}`
//!
//! Keys are exact in JSON; in the line and messages control characters are escaped.
//! `part_started` and `object_started` events are not printed (they carry no progress).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::engine::progress::{format_eta, TransferProgress};
use crate::engine::{Event, JobState, LogLevel, Strategy};
use crate::text::escape_control;
use crate::units::format_size;

/// The live line of one transfer, without colour or cursor codes.
pub fn line(p: &TransferProgress, effective: Option<(usize, usize)>, now: Instant) -> String {
    let done = p.bytes_done;
    let rate = p.rate(now);
    let eta = p.eta(now).map(format_eta).unwrap_or_else(|| "--".into());
    let mut s = if p.is_prefix() {
        let finished = p.done + p.skipped + p.failed;
        let listed = if p.listing_complete {
            format!("{}", p.listed)
        } else {
            format!("{}+ listed", p.listed)
        };
        let mut s = format!(
            "{finished} of {listed} objects, {} of {} · {:.0} objects/s · {}/s · ETA {eta}",
            format_size(done),
            format_size(p.listed_bytes),
            p.object_rate(now),
            format_size(rate as u64),
        );
        if p.failed > 0 {
            s.push_str(&format!(" · {} failed", p.failed));
        }
        if p.skipped > 0 {
            s.push_str(&format!(" · {} skipped", p.skipped));
        }
        s.push_str(&format!(" · {} in flight", p.in_flight.len()));
        s
    } else {
        let total = p.size.unwrap_or(0);
        let pct = if total == 0 {
            0.0
        } else {
            done as f64 * 100.0 / total as f64
        };
        format!(
            "{} / {} {:5.1}% {}/s ETA {eta} parts {}/{} ({} in flight)",
            format_size(done),
            format_size(total),
            pct,
            format_size(rate as u64),
            p.parts_done,
            p.parts_total,
            p.parts_in_flight
        )
    };
    if p.retries > 0 {
        s.push_str(&format!(" · retries {}", p.retries));
    }
    if let Some((e, g)) = effective {
        s.push_str(&format!(" · concurrency {e}/{g}"));
    }
    if let Some(w) = &p.waiting {
        s.push_str(&format!(" · waiting: {}", escape_control(&w.describe(now))));
    } else if p.state == JobState::Preparing && done == 0 {
        s.push_str(" · preparing");
    }
    s
}

/// The periodic `{"event":"progress",…}` object.
pub fn json_progress(p: &TransferProgress, now: Instant) -> Value {
    json!({
        "event": "progress",
        "id": p.id,
        "bytes_done": p.bytes_done,
        "bytes_total": p.total_bytes(),
        "objects_done": p.done,
        "objects_skipped": p.skipped,
        "objects_failed": p.failed,
        "objects_listed": p.listed,
        "parts_done": p.parts_done,
        "parts_in_flight": p.parts_in_flight,
        "parts_total": p.parts_total,
        "rate_bps": p.rate(now) as u64,
        "retries": p.retries,
    })
}

/// The `finished` object, with the failed objects of a prefix transfer.
pub fn json_finished(p: &TransferProgress) -> Value {
    let failed: Vec<Value> = p
        .failures
        .iter()
        .map(|(k, e)| json!({"key": k, "error": e}))
        .collect();
    json!({
        "event": "finished", "id": p.id, "state": p.state.label(), "error": state_error(&p.state),
        "verification": p.verification, "objects_done": p.done, "objects_skipped": p.skipped,
        "objects_failed": p.failed, "failed_objects": failed,
    })
}

fn state_error(state: &JobState) -> Option<&str> {
    match state {
        JobState::Failed(m) => Some(m),
        _ => None,
    }
}

/// One `--json` line for an event, or `None` for events not printed (`finished` is printed
/// from the fold, with the failed objects).
pub fn json_event(ev: &Event) -> Option<Value> {
    Some(match ev {
        Event::JobAdded {
            id,
            spec,
            state,
            journaled,
        } => json!({
            "event": "job", "id": id, "source": spec.source.to_string(),
            "destination": spec.destination.to_string(), "state": state.label(),
            "journaled": journaled,
        }),
        Event::JobPlanned { id, plan } => {
            let (strategy, part_size, parts) = match plan.strategy {
                Strategy::Single => ("single", plan.size, 1),
                Strategy::Multipart {
                    part_size, parts, ..
                } => ("multipart", part_size, parts),
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
        Event::ObjectsListed {
            job,
            objects,
            bytes,
            complete,
        } => json!({
            "event": "listed", "job": job, "objects": objects, "bytes": bytes, "complete": complete,
        }),
        Event::ObjectDone {
            job,
            key,
            bytes,
            skipped,
        } => json!({
            "event": "object_done", "job": job, "key": key, "bytes": bytes, "skipped": skipped,
        }),
        Event::ObjectFailed { job, key, error } => {
            json!({"event": "object_failed", "job": job, "key": key, "error": error})
        }
        Event::Waiting {
            job,
            what,
            attempt,
            of,
            after,
            error,
        } => json!({
            "event": "waiting", "job": job, "what": what, "attempt": attempt, "of": of,
            "after_ms": after.as_millis() as u64, "error": error,
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

/// `12.3s` for short runs, `4m05s` beyond a minute.
pub fn format_elapsed(d: Duration) -> String {
    if d.as_secs() >= 60 {
        format_eta(d)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{CopyOptions, CopySpec, PlanSummary};
    use crate::store::CosUri;

    fn one(src: &str) -> TransferProgress {
        TransferProgress::new(
            1,
            CopySpec {
                source: CosUri::parse(src).unwrap(),
                destination: CosUri::parse("cos://b-1250000000/x/").unwrap(),
                options: CopyOptions::default(),
            },
            JobState::Queued,
            true,
        )
    }

    #[test]
    fn line_shows_bytes_percent_rate_eta_parts_and_retries() {
        let mut p = one("cos://a-1250000000/big");
        let t0 = Instant::now();
        p.apply(
            &Event::JobPlanned {
                id: 1,
                plan: PlanSummary {
                    size: 400 << 20,
                    strategy: Strategy::Multipart {
                        part_size: 100 << 20,
                        parts: 4,
                        ramp: crate::engine::plan::Ramp::NONE,
                    },
                    upload_id: Some("u".into()),
                    parts_done: vec![],
                    source_etag: "e".into(),
                    source_crc64: None,
                },
            },
            t0,
        );
        p.apply(
            &Event::JobState {
                id: 1,
                state: JobState::Running,
            },
            t0,
        );
        for part in 1..=3 {
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
            &Event::PartDone {
                job: 1,
                part: 1,
                bytes: 100 << 20,
                elapsed: Duration::from_secs(1),
            },
            t0 + Duration::from_secs(1),
        );
        p.apply(
            &Event::PartRetrying {
                job: 1,
                part: 2,
                attempt: 2,
                after: Duration::from_millis(100),
                error: "SlowDown".into(),
            },
            t0 + Duration::from_secs(1),
        );
        p.apply(
            &Event::PartDone {
                job: 1,
                part: 2,
                bytes: 100 << 20,
                elapsed: Duration::from_secs(1),
            },
            t0 + Duration::from_secs(2),
        );
        let l = line(&p, Some((8, 16)), t0 + Duration::from_secs(2));
        assert!(l.starts_with("200 MiB / 400 MiB  50.0%"), "{l}");
        assert!(l.contains("parts 2/4 (1 in flight)"), "{l}");
        assert!(l.contains("retries 1"), "{l}");
        assert!(l.contains("concurrency 8/16"), "{l}");
        assert!(l.contains("ETA 2s"), "{l}");
    }

    #[test]
    fn a_prefix_line_counts_objects_and_says_what_it_waits_for() {
        let mut p = one("cos://a-1250000000/dir/");
        let t0 = Instant::now();
        p.apply(
            &Event::ObjectsListed {
                job: 1,
                objects: 1000,
                bytes: 1000 << 10,
                complete: false,
            },
            t0,
        );
        p.apply(
            &Event::ObjectFailed {
                job: 1,
                key: "dir/\x1b[2Jx".into(),
                error: "boom".into(),
            },
            t0,
        );
        p.apply(
            &Event::Waiting {
                job: 1,
                what: "listing cos://a-1250000000/dir/".into(),
                attempt: 2,
                of: 8,
                after: Duration::from_secs(1),
                error: "connection reset".into(),
            },
            t0,
        );
        let l = line(&p, None, t0);
        assert!(l.starts_with("1 of 1000+ listed objects"), "{l}");
        assert!(l.contains("1 failed"), "{l}");
        assert!(
            l.contains("waiting: listing cos://a-1250000000/dir/: attempt 2 of 8 in 1s after connection reset"),
            "{l}"
        );
        let f = json_finished(&p);
        assert_eq!(
            f["failed_objects"][0]["key"], "dir/\x1b[2Jx",
            "exact in JSON"
        );
    }
}
