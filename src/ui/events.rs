//! The App's second door: engine `Event`s folded into the jobs, the screens' listings and the
//! Log. May answer with commands (the next page of a listing the cursor is near the end of,
//! the uploads again after an abort). Pure, like the rest of the App.

use super::app::App;
use super::dialogs::Dialog;
use super::jobs::JobModel;
use super::screens::log::LogEntry;
use super::views::count;
use crate::engine::{Command, Event, JobId, JobState, Listing, LogLevel};

impl App {
    pub(super) fn push_log(&mut self, level: LogLevel, message: String) {
        let at = self.now();
        self.log.push(LogEntry::Line { at, level, message });
    }

    /// Folds one engine event into the view models; may answer with commands (next pages of a
    /// prefix being expanded into copies).
    pub fn on_event(&mut self, ev: Event) -> Vec<Command> {
        self.dirty = true;
        self.rev += 1;
        let now = self.now();
        // JobAdded and JobRemoved change the set of transfers (below); the rest fold into one.
        let folded = !matches!(ev, Event::JobAdded { .. } | Event::JobRemoved { .. });
        if let Some(id) = ev.job().filter(|_| folded) {
            self.on_transfer_event(id, &ev, now);
            return vec![];
        }
        match ev {
            Event::JobAdded {
                id,
                spec,
                state,
                journaled,
            } => {
                if journaled {
                    self.queue.journaled.insert(id);
                }
                if state == crate::engine::JobState::Interrupted {
                    self.interrupted_found += 1;
                    let n = self.interrupted_found;
                    self.set_status(format!(
                        "{n} interrupted transfer{} restored: r resumes (on the Queue, 2)",
                        if n == 1 { "" } else { "s" }
                    ));
                }
                let job = JobModel::new(id, spec, state, journaled, now);
                self.queue.on_added(&job);
                self.jobs.insert(id, job);
            }
            Event::Rejected { error, .. } => {
                self.push_log(LogLevel::Error, error.clone());
                self.set_error(error);
            }
            Event::JobRemoved { id } => {
                self.jobs.remove(&id);
                self.queue.on_removed(id, &self.jobs);
            }
            Event::Concurrency {
                global_limit,
                effective,
                job,
            } => {
                self.concurrency = Some((global_limit, effective));
                if let Some((id, n)) = job {
                    if let Some(j) = self.jobs.get_mut(&id) {
                        j.concurrency = Some(n);
                    }
                }
            }
            Event::Listing(l) => return self.on_listing(l),
            Event::Request(record) => self.log.push(LogEntry::Request { at: now, record }),
            Event::Log { level, message } => self.push_log(level, message),
            Event::UploadsAborted { aborted, failed } => {
                let mut note = format!("aborted {}", count(aborted, "upload", "uploads"));
                if !failed.is_empty() {
                    note.push_str(&format!("; {} failed: {}", failed.len(), failed.join("; ")));
                    self.push_log(LogLevel::Error, note.clone());
                    self.set_error(note);
                } else {
                    self.set_status(note);
                }
                return self.relist_uploads();
            }
            Event::ObjectsDeleted {
                bucket,
                deleted,
                failed,
            } => {
                let mut note = format!(
                    "deleted {} from cos://{bucket}/",
                    count(deleted.len(), "object", "objects")
                );
                self.browse.on_deleted(&bucket, &deleted);
                if failed.is_empty() {
                    self.push_log(LogLevel::Info, note.clone());
                    self.set_status(note);
                } else {
                    note.push_str(&format!("; {} failed: {}", failed.len(), failed.join("; ")));
                    self.push_log(LogLevel::Error, note.clone());
                    self.set_error(note);
                }
            }
            // A transfer's own events are folded above (`Event::job`).
            _ => {}
        }
        vec![]
    }

    /// One transfer's event, folded by its `JobModel`; a transfer that just ended says so on
    /// the status line (and rings the bell when `[ui] bell` is on).
    fn on_transfer_event(&mut self, id: JobId, ev: &Event, now: std::time::SystemTime) {
        let Some(j) = self.jobs.get_mut(&id) else {
            return;
        };
        let was_ended = j.ended_at.is_some();
        j.apply(ev, now);
        if was_ended || j.ended_at.is_none() || !matches!(ev, Event::JobFinished { .. }) {
            return;
        }
        if let Some(note) = j.end_notice(now) {
            let failed = matches!(j.state, JobState::Failed(_));
            self.push_log(
                if failed {
                    LogLevel::Error
                } else {
                    LogLevel::Info
                },
                note.clone(),
            );
            // A note, not an error: it gives way to the Queue's own line for the selected job
            // (which says what `r` will do); the tab's ✗ and the Log keep the failure.
            self.set_status(note);
            if self.bell {
                self.to_terminal.push(0x07);
            }
        }
    }

    fn on_listing(&mut self, l: Listing) -> Vec<Command> {
        match l {
            Listing::Buckets(r) => {
                self.browse.on_buckets(r);
                vec![]
            }
            l @ Listing::Objects { .. } => {
                if self.browse.on_objects(l) {
                    return self.after_move();
                }
                vec![]
            }
            Listing::Object { uri, meta } => {
                if let Some(Dialog::Details(d)) = self.dialog.as_mut() {
                    d.on_meta(&uri, meta);
                }
                vec![]
            }
            Listing::Region { bucket, region } => {
                if let Some(Dialog::Copy(d)) = self.dialog.as_mut() {
                    d.on_region(&bucket, region);
                }
                vec![]
            }
            Listing::Exists { uri, size } => {
                if let Some(Dialog::Copy(d)) = self.dialog.as_mut() {
                    d.on_exists(&uri, size);
                }
                vec![]
            }
            Listing::Uploads {
                bucket,
                prefix,
                uploads,
            } => {
                self.uploads.on_listing(bucket, prefix, uploads);
                vec![]
            }
        }
    }
}
