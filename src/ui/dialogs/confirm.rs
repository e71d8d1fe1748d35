//! Confirmations: abort a job, abort uploads, quit with jobs unfinished. `h`/`l` move between
//! buttons, `y`/`n` answer, Enter picks the highlighted button, Esc says no.
//!
//! Owns the wording of each question; what an answer does is the App's (`Reply::Answer`).

use super::Reply;
use crate::engine::{JobId, UploadSummary};
use crate::store::BucketName;
use crate::ui::jobs::JobModel;
use crate::ui::keymap::Action;

/// A confirmation with buttons; `h`/`l` move, `y`/`n` answer, Enter picks, Esc cancels.
#[derive(Debug, Clone)]
pub struct Confirm {
    pub title: String,
    pub lines: Vec<String>,
    pub buttons: Vec<&'static str>,
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
    },
    /// Buttons: Pause and quit, Abort and quit, Stay.
    Quit,
    /// Buttons: No, Clear.
    ClearFinished,
}

impl Confirm {
    /// A confirmation with the buttons of `kind`, the first one highlighted.
    pub fn new(title: &str, lines: Vec<String>, kind: ConfirmKind) -> Confirm {
        let buttons = match kind {
            ConfirmKind::Quit => vec!["Pause and quit", "Abort and quit", "Stay"],
            ConfirmKind::ClearFinished => vec!["No", "Clear"],
            _ => vec!["No", "Abort"],
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

    /// The confirmation `A` opens on the Uploads screen for `chosen` (not empty).
    pub fn abort_uploads(bucket: BucketName, chosen: &[&UploadSummary]) -> Confirm {
        let bytes: u64 = chosen.iter().map(|s| s.bytes).sum();
        let parts: u32 = chosen.iter().map(|s| s.parts).sum();
        let mut lines = vec![format!(
            "Abort {} upload(s) in {bucket}? {parts} parts, {} are deleted:",
            chosen.len(),
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
        let uploads = chosen
            .iter()
            .map(|s| (s.upload.key.clone(), s.upload.upload_id.clone()))
            .collect();
        Confirm::new(
            "Abort uploads",
            lines,
            ConfirmKind::AbortUploads { bucket, uploads },
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

    /// The confirmation `q` opens while `unfinished` jobs are not finished.
    pub fn quit(unfinished: usize) -> Confirm {
        let lines = vec![
            format!("{unfinished} job(s) are not finished."),
            "Pause and quit: they stay resumable; haul offers them at the next start.".into(),
            "Abort and quit: their uploads are deleted on the server.".into(),
        ];
        Confirm::new("Quit haul?", lines, ConfirmKind::Quit)
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
            Action::Confirm => Some(self.selected),
            Action::Yes => Some(match self.kind {
                ConfirmKind::Quit => 0,
                _ => 1,
            }),
            Action::No | Action::Cancel | Action::Back => Some(match self.kind {
                ConfirmKind::Quit => 2,
                _ => 0,
            }),
            _ => None,
        };
        match choice {
            None => Reply::Keep,
            Some(i) => Reply::Answer(self.kind.clone(), i),
        }
    }
}
