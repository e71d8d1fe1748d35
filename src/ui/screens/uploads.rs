//! The Uploads screen: the multipart uploads in progress under one bucket and prefix (the
//! Browse location by default, another bucket with `b` / `B`). Keys mark, refresh, resume the
//! job that owns an upload, and abort uploads through a confirmation.
//!
//! Owns its rows and target; which buckets to offer comes from the caller.

use std::collections::BTreeMap;

use super::Ctx;
use crate::engine::{BrowseRequest, Command, JobId, JobState, UploadSummary};
use crate::store::BucketName;
use crate::ui::dialogs::confirm::Confirm;
use crate::ui::dialogs::Dialog;
use crate::ui::jobs::JobModel;
use crate::ui::keymap::Action;

/// The Uploads screen's rows.
#[derive(Debug, Clone, Default)]
pub struct UploadsState {
    /// The bucket and prefix listed: the Browse location by default, another bucket after
    /// `b` / `B`.
    pub target: Option<(BucketName, String)>,
    /// The Browse location last followed: the target follows Browse again only when it moves.
    pub browse_seen: Option<(BucketName, String)>,
    pub rows: Vec<(UploadSummary, bool)>,
    pub loading: bool,
    pub error: Option<String>,
    /// Index into `visible()`.
    pub cursor: usize,
    /// Text the rows must contain (`/`): key or upload id.
    pub search: String,
}

impl UploadsState {
    /// Indices of the rows shown: all, or those whose key or upload id contains the search.
    pub fn visible(&self) -> Vec<usize> {
        let q = self.search.to_lowercase();
        (0..self.rows.len())
            .filter(|&i| {
                let u = &self.rows[i].0.upload;
                q.is_empty()
                    || u.key.to_lowercase().contains(&q)
                    || u.upload_id.to_lowercase().contains(&q)
            })
            .collect()
    }

    /// The row under the cursor.
    pub fn selected(&self) -> Option<usize> {
        self.visible().get(self.cursor).copied()
    }

    /// Points the screen at `target` and asks for its uploads.
    pub fn list(&mut self, target: (BucketName, String)) -> Vec<Command> {
        *self = UploadsState {
            target: Some(target.clone()),
            browse_seen: self.browse_seen.take(),
            search: std::mem::take(&mut self.search),
            loading: true,
            ..Default::default()
        };
        let (bucket, prefix) = target;
        vec![Command::Browse(BrowseRequest::Uploads { bucket, prefix })]
    }

    /// Entering the screen: follow Browse when it moved since last time (a bucket picked with
    /// `b` stays otherwise); with nothing open there, show `fallback` (the first job
    /// destination's bucket).
    pub fn enter(
        &mut self,
        browse: Option<(BucketName, String)>,
        fallback: Option<BucketName>,
    ) -> Vec<Command> {
        let target = if browse.is_some() && browse != self.browse_seen {
            self.browse_seen = browse.clone();
            browse
        } else if self.target.is_none() {
            fallback.map(|b| (b, String::new()))
        } else {
            None
        };
        match target {
            Some(t) if Some(&t) != self.target.as_ref() => self.list(t),
            _ => vec![],
        }
    }

    /// Shows the next (or previous) bucket of `all`: the whole bucket, or the Browse prefix
    /// when it is the Browse bucket.
    pub fn cycle(
        &mut self,
        all: &[BucketName],
        browse: Option<(BucketName, String)>,
        forward: bool,
        ctx: &mut Ctx,
    ) -> Vec<Command> {
        if all.is_empty() {
            ctx.note("no bucket known yet: open one on the Browse screen (1)");
            return vec![];
        }
        let n = all.len();
        let next = match self
            .target
            .as_ref()
            .and_then(|(b, _)| all.iter().position(|x| x == b))
        {
            Some(i) if forward => (i + 1) % n,
            Some(i) => (i + n - 1) % n,
            None => 0,
        };
        let bucket = all[next].clone();
        let prefix = match browse {
            Some((b, p)) if b == bucket => p,
            _ => String::new(),
        };
        self.list((bucket, prefix))
    }

    pub fn handle(&mut self, action: Action, ctx: &mut Ctx) -> Vec<Command> {
        match action {
            Action::Mark => {
                let shown = self.visible().len();
                if let Some(i) = self.selected() {
                    self.rows[i].1 = !self.rows[i].1;
                    self.cursor = (self.cursor + 1).min(shown.saturating_sub(1));
                }
                vec![]
            }
            Action::MarkAll => {
                let shown = self.visible();
                let all = shown.iter().all(|&i| self.rows[i].1);
                for i in shown {
                    self.rows[i].1 = !all;
                }
                vec![]
            }
            Action::Refresh => match self.target.clone() {
                Some((bucket, prefix)) => {
                    self.loading = true;
                    self.error = None;
                    vec![Command::Browse(BrowseRequest::Uploads { bucket, prefix })]
                }
                None => vec![],
            },
            Action::Resume => {
                let Some((row, _)) = self.selected().map(|i| &self.rows[i]) else {
                    return vec![];
                };
                match row.job {
                    Some(id) => {
                        ctx.note(format!("resuming job {id} ({})", row.upload.key));
                        vec![Command::Resume(id)]
                    }
                    None => {
                        ctx.note(format!(
                            "haul's journal does not know the upload of {}: it cannot be resumed here",
                            row.upload.key
                        ));
                        vec![]
                    }
                }
            }
            Action::Abort => {
                let Some((bucket, _)) = self.target.clone() else {
                    return vec![];
                };
                let marked: Vec<&UploadSummary> =
                    self.rows.iter().filter(|r| r.1).map(|r| &r.0).collect();
                let chosen: Vec<&UploadSummary> = if marked.is_empty() {
                    self.selected()
                        .map(|i| &self.rows[i].0)
                        .into_iter()
                        .collect()
                } else {
                    marked
                };
                if chosen.is_empty() {
                    return vec![];
                }
                ctx.open(Dialog::Confirm(Confirm::abort_uploads(
                    bucket, &chosen, ctx.jobs,
                )));
                vec![]
            }
            _ => vec![],
        }
    }

    /// A listing of uploads arrived; it counts only if it is for the current target.
    pub fn on_listing(
        &mut self,
        bucket: BucketName,
        prefix: String,
        uploads: Result<Vec<UploadSummary>, String>,
    ) {
        if self.target.as_ref() != Some(&(bucket, prefix)) {
            return;
        }
        self.loading = false;
        match uploads {
            Ok(v) => {
                self.rows = v.into_iter().map(|s| (s, false)).collect();
                self.error = None;
            }
            Err(e) => {
                self.rows.clear();
                self.error = Some(e);
            }
        }
        self.cursor = self.cursor.min(self.visible().len().saturating_sub(1));
    }
}

/// Destination buckets of jobs not finished yet (their uploads are the ones in progress),
/// in job order.
pub fn job_destination_buckets(jobs: &BTreeMap<JobId, JobModel>) -> Vec<BucketName> {
    let mut out: Vec<BucketName> = Vec::new();
    for j in jobs.values() {
        let unfinished = j.state.is_active()
            || matches!(
                j.state,
                JobState::Queued
                    | JobState::Paused
                    | JobState::Cancelled
                    | JobState::Interrupted
                    | JobState::Failed(_)
            );
        if unfinished && !out.contains(&j.spec.destination.bucket) {
            out.push(j.spec.destination.bucket.clone());
        }
    }
    out
}

/// The buckets `b` / `B` cycle through: the Browse bucket, then job destinations (so one
/// `b` from the default shows where jobs copy to), then every other known bucket.
pub fn buckets_to_offer(
    browse: Option<BucketName>,
    jobs: &BTreeMap<JobId, JobModel>,
    known: Vec<String>,
) -> Vec<BucketName> {
    let mut out = Vec::new();
    let all = browse
        .into_iter()
        .chain(job_destination_buckets(jobs))
        .chain(known.into_iter().filter_map(|b| BucketName::parse(&b).ok()));
    for b in all {
        if !out.contains(&b) {
            out.push(b);
        }
    }
    out
}
