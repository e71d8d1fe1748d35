//! Confirmations: abort a job, abort uploads, quit with jobs unfinished. `h`/`l` move between
//! buttons, `y`/`n` answer, Enter picks the highlighted button, Esc says no.
//!
//! Owns the wording of each question; what an answer does is the App's (`Reply::Answer`).

use std::collections::BTreeMap;

use super::Reply;
use crate::engine::{JobId, UploadSummary};
use crate::store::BucketName;
use crate::ui::jobs::JobModel;
use crate::ui::keymap::Action;
use crate::ui::views::count;

/// A confirmation's buttons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Button {
    No,
    Abort,
    PauseAndQuit,
    AbortAndQuit,
    Stay,
    Clear,
    Delete,
}

impl Button {
    pub fn label(self) -> &'static str {
        match self {
            Button::No => "No",
            Button::Abort => "Abort",
            Button::PauseAndQuit => "Pause and quit",
            Button::AbortAndQuit => "Abort and quit",
            Button::Stay => "Stay",
            Button::Clear => "Clear",
            Button::Delete => "Delete",
        }
    }
}

/// A confirmation with buttons; `h`/`l` move, `y`/`n` answer, Enter picks, Esc cancels.
#[derive(Debug, Clone)]
pub struct Confirm {
    pub title: String,
    pub lines: Vec<String>,
    pub buttons: Vec<Button>,
    pub selected: usize,
    pub scroll: usize,
    pub kind: ConfirmKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmKind {
    /// Buttons: No, Abort.
    AbortJob(JobId),
    /// Buttons: No, Abort.
    AbortUploads {
        bucket: BucketName,
        uploads: Vec<(String, String)>,
        /// Jobs that own some of them: they will start new uploads from zero.
        jobs: Vec<JobId>,
    },
    /// Buttons: Pause and quit, Abort and quit, Stay.
    Quit,
    /// Buttons: No, Clear.
    ClearFinished,
    /// Buttons: No, Delete.
    DeleteObjects {
        bucket: BucketName,
        keys: Vec<String>,
    },
}

impl Confirm {
    /// A confirmation with the buttons of `kind`, the first one highlighted.
    pub fn new(title: &str, lines: Vec<String>, kind: ConfirmKind) -> Confirm {
        let buttons = match kind {
            ConfirmKind::Quit => vec![Button::PauseAndQuit, Button::AbortAndQuit, Button::Stay],
            ConfirmKind::ClearFinished => vec![Button::No, Button::Clear],
            ConfirmKind::DeleteObjects { .. } => vec![Button::No, Button::Delete],
            _ => vec![Button::No, Button::Abort],
        };
        Confirm {
            title: title.into(),
            lines,
            buttons,
            selected: 0,
            scroll: 0,
            kind,
        }
    }

    /// The confirmation `A` opens on a job.
    pub fn abort_job(job: &JobModel) -> Confirm {
        let id = job.id;
        let lines = vec![
            format!("Abort job {id}?"),
            format!("{} → {}", job.spec.source, job.spec.destination),
            format!(
                "{} of {} parts done; {} already copied will be discarded.",
                crate::ui::views::thousands(job.parts_done as u64),
                crate::ui::views::thousands(job.parts_total() as u64),
                crate::units::format_size(job.bytes_done)
            ),
            match &job.upload_id {
                Some(u) => {
                    format!("The upload {u} is deleted on the server; this cannot be undone.")
                }
                None => "No upload has been started yet.".into(),
            },
        ];
        Confirm::new("Abort job", lines, ConfirmKind::AbortJob(id))
    }

    /// The confirmation `A` opens on the Uploads screen for `chosen` (not empty). An upload a
    /// job owns is named with its job, and what aborting it does to that job is said.
    pub fn abort_uploads(
        bucket: BucketName,
        chosen: &[&UploadSummary],
        jobs: &BTreeMap<JobId, JobModel>,
    ) -> Confirm {
        let bytes: u64 = chosen.iter().map(|s| s.bytes).sum();
        let parts: u32 = chosen.iter().map(|s| s.parts).sum();
        let mut lines = vec![format!(
            "Abort {} in {bucket}? {}, {} are deleted:",
            count(chosen.len(), "upload", "uploads"),
            count(parts as usize, "part", "parts"),
            crate::units::format_size(bytes)
        )];
        for s in chosen {
            lines.push(format!(
                "  {}  (upload {}, {} parts, {})",
                s.upload.key,
                s.upload.upload_id,
                s.parts,
                crate::units::format_size(s.bytes)
            ));
        }
        let mut owners = Vec::new();
        for s in chosen {
            let Some(id) = s.job else { continue };
            owners.push(id);
            let state = jobs.get(&id).map(|j| &j.state);
            lines.push(match state {
                Some(st) if st.is_active() => format!(
                    "{} belongs to job {id}, which is {}: aborting it makes job {id} fail \
                     (NoSuchUpload), and r on it then starts a new upload from zero.",
                    s.upload.key,
                    st.label()
                ),
                Some(st) => format!(
                    "{} belongs to job {id} ({}): resuming job {id} then starts a new upload \
                     from zero.",
                    s.upload.key,
                    st.label()
                ),
                None => format!(
                    "{} belongs to journaled job {id}: resuming it then starts a new upload \
                     from zero.",
                    s.upload.key
                ),
            });
        }
        let uploads = chosen
            .iter()
            .map(|s| (s.upload.key.clone(), s.upload.upload_id.clone()))
            .collect();
        Confirm::new(
            "Abort uploads",
            lines,
            ConfirmKind::AbortUploads {
                bucket,
                uploads,
                jobs: owners,
            },
        )
    }

    /// The confirmation `C` opens on the Queue: what clearing removes, by state.
    pub fn clear_finished(jobs: &[&JobModel]) -> Confirm {
        let count = |f: &dyn Fn(&JobModel) -> bool| jobs.iter().filter(|j| f(j)).count();
        let done = count(&|j| matches!(j.state, crate::engine::JobState::Done));
        let failed = count(&|j| matches!(j.state, crate::engine::JobState::Failed(_)));
        let other = jobs.len() - done - failed;
        let mut lines = vec![format!(
            "Clear {} finished transfer{} from the Queue and the history? {done} done, {failed} failed, {other} aborted or skipped.",
            jobs.len(),
            if jobs.len() == 1 { "" } else { "s" }
        )];
        if failed > 0 {
            lines.push(
                "A failed transfer the journal still holds stays resumable with `haul jobs resume`."
                    .into(),
            );
        }
        lines.push("Nothing changes on the server.".into());
        Confirm::new("Clear finished", lines, ConfirmKind::ClearFinished)
    }

    /// The confirmation `D` opens on Browse: every key is named (the dialog scrolls), with the
    /// total size, and that there is no undo.
    pub fn delete_objects(bucket: BucketName, objects: Vec<(String, u64)>) -> Confirm {
        let bytes: u64 = objects.iter().map(|(_, s)| s).sum();
        let mut lines = vec![format!(
            "Delete {} ({}) from cos://{bucket}/? This cannot be undone.",
            count(objects.len(), "object", "objects"),
            crate::units::format_size(bytes)
        )];
        lines.extend(objects.iter().map(|(k, s)| {
            format!(
                "  {}  {}",
                crate::text::escape_control(k),
                crate::units::format_size(*s)
            )
        }));
        let keys = objects.into_iter().map(|(k, _)| k).collect();
        Confirm::new(
            "Delete objects",
            lines,
            ConfirmKind::DeleteObjects { bucket, keys },
        )
    }

    /// The confirmation `q` opens while `unfinished` jobs are not finished, `lost` of them not
    /// journaled (they cannot be resumed once haul exits).
    pub fn quit(unfinished: usize, lost: usize) -> Confirm {
        let (them, their) = if unfinished == 1 {
            ("it", "its")
        } else {
            ("them", "their")
        };
        let mut lines = vec![
            format!("{} not finished.", count(unfinished, "job is", "jobs are")),
            format!(
                "Pause and quit: the journal keeps {them}; the next haul lists {them} in the \
                 Queue as interrupted (r resumes), and `haul jobs resume` continues {them} \
                 without the TUI."
            ),
            format!("Abort and quit: {their} uploads are deleted on the server."),
        ];
        if lost > 0 {
            lines.push(format!(
                "{} not journaled (no state directory): quitting loses {}.",
                count(lost, "job is", "jobs are"),
                if lost == 1 { "it" } else { "them" }
            ));
        }
        Confirm::new("Quit haul?", lines, ConfirmKind::Quit)
    }

    /// The button `y` presses: the dialog's action.
    pub fn yes(&self) -> Button {
        match self.kind {
            ConfirmKind::Quit => Button::PauseAndQuit,
            ConfirmKind::ClearFinished => Button::Clear,
            ConfirmKind::DeleteObjects { .. } => Button::Delete,
            _ => Button::Abort,
        }
    }

    /// The button `n` and Esc press: do nothing.
    pub fn no(&self) -> Button {
        match self.kind {
            ConfirmKind::Quit => Button::Stay,
            _ => Button::No,
        }
    }

    /// The highlighted button.
    pub fn highlighted(&self) -> Button {
        self.buttons
            .get(self.selected)
            .copied()
            .unwrap_or(self.no())
    }

    pub fn handle(&mut self, action: Action) -> Reply {
        let n = self.buttons.len();
        let choice = match action {
            Action::Left => {
                self.selected = (self.selected + n - 1) % n;
                None
            }
            Action::Right => {
                self.selected = (self.selected + 1) % n;
                None
            }
            Action::Down => {
                self.scroll += 1;
                None
            }
            Action::Up => {
                self.scroll = self.scroll.saturating_sub(1);
                None
            }
            Action::Confirm => Some(self.highlighted()),
            Action::Yes => Some(self.yes()),
            Action::No | Action::Cancel | Action::Back => Some(self.no()),
            _ => None,
        };
        match choice {
            None => Reply::Keep,
            Some(b) => Reply::Answer(self.kind.clone(), b),
        }
    }
}
