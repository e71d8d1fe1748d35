//! The App's second door: engine `Event`s folded into the jobs, the screens' listings and the
//! Log. May answer with commands (the next page of a listing the cursor is near the end of,
//! the uploads again after an abort). Pure, like the rest of the App.

use std::time::Duration;

use super::app::App;
use super::dialogs::Dialog;
use super::jobs::JobModel;
use super::screens::log::LogEntry;
use super::views::count;
use crate::engine::{Command, Event, Listing, LogLevel};

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
                let job = JobModel::new(id, spec, state);
                self.queue.on_added(&job);
                self.jobs.insert(id, job);
            }
            Event::Rejected { error, .. } => {
                self.push_log(LogLevel::Error, error.clone());
                self.set_error(error);
            }
            Event::ObjectsListed {
                job,
                objects,
                bytes,
                complete,
            } => {
                if let Some(j) = self.jobs.get_mut(&job) {
                    j.on_listed(objects, bytes, complete);
                }
            }
            Event::ObjectStarted { job, key, size } => {
                if let Some(j) = self.jobs.get_mut(&job) {
                    j.on_object_started(key, size);
                }
            }
            Event::ObjectDone {
                job,
                key,
                bytes,
                skipped,
            } => {
                if let Some(j) = self.jobs.get_mut(&job) {
                    j.on_object_done(&key, bytes, skipped, now);
                }
            }
            Event::ObjectFailed { job, key, error } => {
                if let Some(j) = self.jobs.get_mut(&job) {
                    j.on_object_failed(key, error);
                }
            }
            Event::Bytes { job, bytes } => {
                if let Some(j) = self.jobs.get_mut(&job) {
                    j.on_bytes(bytes, now);
                }
            }
            Event::TransferProgress {
                job,
                done,
                done_bytes,
                skipped,
            } => {
                if let Some(j) = self.jobs.get_mut(&job) {
                    j.on_restored(done, done_bytes, skipped);
                }
            }
            Event::Waiting {
                job,
                what,
                attempt,
                of,
                after,
                error,
            } => {
                if let Some(j) = self.jobs.get_mut(&job) {
                    j.on_waiting(format!(
                        "{what}: attempt {attempt} of {of} in {} after {error}",
                        humantime::format_duration(Duration::from_millis(after.as_millis() as u64))
                    ));
                }
            }
            Event::JobPlanned { id, plan } => {
                if let Some(j) = self.jobs.get_mut(&id) {
                    j.on_plan(&plan);
                }
            }
            Event::JobState { id, state } => {
                if let Some(j) = self.jobs.get_mut(&id) {
                    j.on_state(state, now);
                }
            }
            Event::PartStarted {
                job,
                part,
                attempt,
                at,
            } => {
                if let Some(j) = self.jobs.get_mut(&job) {
                    j.on_part_started(part, attempt, at);
                }
            }
            Event::PartDone {
                job,
                part,
                bytes,
                elapsed,
            } => {
                if let Some(j) = self.jobs.get_mut(&job) {
                    j.on_part_done(part, bytes, elapsed, now);
                }
            }
            Event::PartRetrying {
                job,
                part,
                attempt,
                after,
                error,
            } => {
                if let Some(j) = self.jobs.get_mut(&job) {
                    j.on_part_retrying(
                        part,
                        format!(
                            "attempt {} failed, retrying in {}: {error}",
                            attempt.saturating_sub(1),
                            humantime::format_duration(after)
                        ),
                    );
                }
            }
            Event::PartFailed { job, part, error } => {
                if let Some(j) = self.jobs.get_mut(&job) {
                    j.on_part_failed(part, error);
                }
            }
            Event::JobFinished {
                id,
                state,
                verification,
            } => {
                if let Some(j) = self.jobs.get_mut(&id) {
                    j.verification = verification;
                    j.on_state(state, now);
                }
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
        }
        vec![]
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
