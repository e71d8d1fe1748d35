//! Following transfers in the headless commands: renders engine events (a live line on a
//! terminal, plain lines otherwise, or `--json`) until every followed transfer ends, and turns
//! the ends into the exit code. Ctrl-C cancels, keeps what is journaled and says how to resume
//! — or, when nothing could be journaled, says that too.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::time::{Duration, Instant};

use super::exit;
use super::progress::{format_elapsed, json_event, json_finished, json_progress, level_str, line};
use super::shared::Output;
use crate::engine::progress::TransferProgress;
use crate::engine::{verify, Command, EngineHandle, Event, JobId, JobState, LogLevel};
use crate::text::escape_control;
use crate::units::format_size;

/// Which transfers a watch follows.
pub(crate) enum Target {
    /// The next `n` transfers the engine adds as Queued (ours).
    New(usize),
    /// These journaled transfers.
    Ids(HashSet<JobId>),
}

#[derive(Debug, Default)]
pub(crate) struct WatchResult {
    /// Every followed transfer as it ended (or stood when the watch stopped).
    pub ended: BTreeMap<JobId, TransferProgress>,
    /// Copy requests the engine refused.
    pub rejected: Vec<String>,
    pub interrupted: bool,
    pub elapsed: Duration,
}

impl WatchResult {
    /// Prints the interruption advice and returns the exit code.
    pub fn exit_code(&self) -> i32 {
        if self.interrupted {
            for (id, p) in &self.ended {
                if p.state.is_finished() {
                    continue;
                }
                if p.journaled {
                    eprintln!(
                        "haul: job {id} stopped; what it copied is kept and journaled.\n  resume:  haul jobs resume {id}\n  discard: haul jobs abort {id}"
                    );
                } else {
                    eprintln!(
                        "haul: job {id} stopped and was NOT journaled (the state directory could not be written): it cannot be resumed; find its uploads with `haul uploads ls {}`",
                        p.spec.destination
                    );
                }
            }
            eprintln!("haul: interrupted");
            return exit::INTERRUPTED;
        }
        if !self.rejected.is_empty() {
            return exit::USAGE;
        }
        let failed = self
            .ended
            .values()
            .filter(|p| !matches!(p.state, JobState::Done | JobState::Skipped))
            .count();
        if failed > 0 {
            exit::FAILED
        } else {
            exit::OK
        }
    }
}

fn redraw(line: &str) {
    let mut e = std::io::stderr().lock();
    let _ = write!(e, "\r\x1b[2K{line}");
    let _ = e.flush();
}

fn clear(out: &Output) {
    if out.tty && !out.json && !out.quiet {
        let mut e = std::io::stderr().lock();
        let _ = write!(e, "\r\x1b[2K");
        let _ = e.flush();
    }
}

fn json_line(v: &serde_json::Value) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{v}");
    let _ = o.flush();
}

/// Renders events until every followed transfer ends (or Ctrl-C: cancel, journal, exit 130).
pub(crate) async fn watch(h: &mut EngineHandle, target: Target, out: &Output) -> WatchResult {
    let started = Instant::now();
    let (mut want, mut ours): (usize, HashSet<JobId>) = match target {
        Target::New(n) => (n, HashSet::new()),
        Target::Ids(ids) => (ids.len(), ids),
    };
    let follow_new = ours.is_empty();
    let mut live: BTreeMap<JobId, TransferProgress> = BTreeMap::new();
    let mut result = WatchResult::default();
    let mut effective = None;
    let tick_every = if out.json {
        Duration::from_secs(2)
    } else if out.tty {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(5)
    };
    let mut tick = tokio::time::interval(tick_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate: nothing has happened yet to report.
    tick.tick().await;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut shutdown_sent = false;
    loop {
        let ended = result.ended.len() + result.rejected.len();
        if !shutdown_sent && !result.interrupted && want > 0 && ended >= want {
            let _ = h.commands.send(Command::Shutdown);
            shutdown_sent = true;
        }
        tokio::select! {
            ev = h.events.recv() => {
                let Some(ev) = ev else { break };
                let now = Instant::now();
                match &ev {
                    Event::JobAdded { id, spec, state, journaled } => {
                        if follow_new && *state == JobState::Queued && ours.len() < want {
                            ours.insert(*id);
                        }
                        if ours.contains(id) {
                            live.insert(*id, TransferProgress::new(*id, spec.clone(), state.clone(), *journaled));
                        }
                    }
                    Event::Rejected { error, .. } if follow_new => {
                        clear(out);
                        eprintln!("haul: {error}");
                        result.rejected.push(error.clone());
                        continue;
                    }
                    Event::Concurrency { global_limit, effective: e, job: None } => {
                        effective = Some((*e, *global_limit));
                    }
                    _ => {}
                }
                let job = ev.job();
                if job.is_some_and(|j| !ours.contains(&j)) {
                    continue;
                }
                if let Some(p) = job.and_then(|j| live.get_mut(&j)) {
                    p.apply(&ev, now);
                }
                if out.json && !matches!(ev, Event::JobFinished { .. }) {
                    if let Some(v) = json_event(&ev) {
                        json_line(&v);
                    }
                }
                match &ev {
                    Event::Log { level, message } if !out.json && (*level != LogLevel::Info || !out.quiet) => {
                        clear(out);
                        eprintln!("haul: {}: {}", level_str(*level), escape_control(message));
                    }
                    Event::ObjectFailed { key, error, .. } if !out.json => {
                        clear(out);
                        eprintln!("haul: failed {}: {}", escape_control(key), escape_control(error));
                    }
                    Event::JobFinished { id, state, .. } => {
                        let Some(p) = live.get(id) else { continue };
                        if out.json {
                            json_line(&json_finished(p));
                        } else {
                            clear(out);
                            report(out, p, now);
                        }
                        if !result.interrupted || *state != JobState::Cancelled || !result.ended.contains_key(id) {
                            result.ended.insert(*id, p.clone());
                        }
                    }
                    _ => {}
                }
            }
            _ = tick.tick() => {
                let now = Instant::now();
                for p in live.values().filter(|p| !p.state.is_finished() && p.state != JobState::Interrupted) {
                    if out.json {
                        json_line(&json_progress(p, now));
                    } else if !out.quiet {
                        let l = line(p, effective, now);
                        if out.tty {
                            redraw(&l);
                        } else {
                            eprintln!("{l}");
                        }
                    }
                }
            }
            _ = &mut ctrl_c, if !result.interrupted => {
                result.interrupted = true;
                clear(out);
                eprintln!("haul: interrupted: stopping (press Ctrl-C again to quit at once)");
                let _ = h.commands.send(Command::Shutdown);
                want = 0;
                tokio::spawn(async {
                    if tokio::signal::ctrl_c().await.is_ok() {
                        std::process::exit(exit::INTERRUPTED);
                    }
                });
            }
        }
    }
    clear(out);
    // Transfers that never reported an end (interrupted before starting) are kept as they stood.
    for (id, p) in live {
        result.ended.entry(id).or_insert(p);
    }
    result.elapsed = started.elapsed();
    result
}

/// The line printed when a transfer ends.
fn report(out: &Output, p: &TransferProgress, now: Instant) {
    let what = format!(
        "{} → {}",
        escape_control(&p.spec.source.to_string()),
        escape_control(&p.spec.destination.to_string())
    );
    let elapsed = p.elapsed(now);
    let secs = elapsed.as_secs_f64().max(0.001);
    if p.is_prefix() {
        let summary = format!(
            "{} objects copied, {} skipped, {} failed ({} in {}, {:.0} objects/s, {}/s)",
            p.done,
            p.skipped,
            p.failed,
            format_size(p.bytes_done),
            format_elapsed(elapsed),
            p.object_rate(now),
            format_size((p.bytes_done as f64 / secs) as u64),
        );
        match &p.state {
            JobState::Done if !out.quiet => println!("copied {what}: {summary}"),
            JobState::Failed(msg) => {
                eprintln!("haul: failed {what}: {}", escape_control(msg));
                if p.listed > 0 || p.done > 0 {
                    eprintln!("haul: {summary}");
                }
                if !p.failures.is_empty() {
                    eprintln!("haul: failed objects:");
                    for (k, e) in &p.failures {
                        eprintln!("  {}: {}", escape_control(k), escape_control(e));
                    }
                    if p.failed > p.failures.len() as u64 {
                        eprintln!(
                            "  … and {} more (`haul jobs ls` shows the journal)",
                            p.failed - p.failures.len() as u64
                        );
                    }
                }
            }
            JobState::Aborted if !out.quiet => println!("aborted {what}: {summary}"),
            _ => {}
        }
        return;
    }
    match &p.state {
        JobState::Failed(msg) => eprintln!("haul: failed {what}: {}", escape_control(msg)),
        JobState::Done if !out.quiet => println!(
            "copied {what} ({} in {}); {}",
            format_size(p.size.unwrap_or(0)),
            format_elapsed(elapsed),
            p.verification
                .as_ref()
                .map(verify::describe)
                .unwrap_or_else(|| "not verified".into())
        ),
        JobState::Skipped if !out.quiet => {
            println!("skipped {what}: the destination exists (--no-clobber)")
        }
        JobState::Aborted if !out.quiet => println!("aborted {what}"),
        _ => {}
    }
}
