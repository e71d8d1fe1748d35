//! The Queue screen: the jobs in order, filtered by state (`f`), and the Job detail of one job
//! (Enter). Keys pause, resume, cancel, retry, abort (through a confirmation) and change a
//! job's concurrency.
//!
//! Owns the cursor, the filter and which job is open; the jobs themselves are the App's
//! (`Ctx::jobs`), folded from engine events.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::Ctx;
use crate::engine::{Command, JobId, JobState};
use crate::ui::dialogs::confirm::Confirm;
use crate::ui::dialogs::Dialog;
use crate::ui::jobs::JobModel;
use crate::ui::keymap::Action;
use crate::ui::views::count;

/// Which jobs the Queue shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    All,
    Active,
    Queued,
    Stopped,
    Failed,
    Finished,
}

impl StateFilter {
    pub fn next(self) -> StateFilter {
        match self {
            StateFilter::All => StateFilter::Active,
            StateFilter::Active => StateFilter::Queued,
            StateFilter::Queued => StateFilter::Stopped,
            StateFilter::Stopped => StateFilter::Failed,
            StateFilter::Failed => StateFilter::Finished,
            StateFilter::Finished => StateFilter::All,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            StateFilter::All => "all",
            StateFilter::Active => "active",
            StateFilter::Queued => "queued",
            StateFilter::Stopped => "paused/cancelled/interrupted",
            StateFilter::Failed => "failed",
            StateFilter::Finished => "finished",
        }
    }
    pub fn accepts(self, s: &JobState) -> bool {
        match self {
            StateFilter::All => true,
            StateFilter::Active => s.is_active(),
            StateFilter::Queued => *s == JobState::Queued,
            StateFilter::Stopped => {
                matches!(
                    s,
                    JobState::Paused | JobState::Cancelled | JobState::Interrupted
                )
            }
            StateFilter::Failed => matches!(s, JobState::Failed(_)),
            StateFilter::Finished => s.is_finished(),
        }
    }
}

/// A remembered `visible` answer: (jobs revision, filter, search, ids).
type Memo = (u64, StateFilter, String, Vec<JobId>);
/// Ids whose text matched, for (jobs added or removed, number of jobs, search).
type TextMemo = ((u64, usize, String), Vec<JobId>);

/// The Queue screen's own state.
#[derive(Debug, Clone)]
pub struct QueueState {
    pub cursor: usize,
    pub filter: StateFilter,
    /// The job whose detail is open.
    pub detail: Option<JobId>,
    /// Jobs the journal holds (resumable after haul exits).
    pub journaled: BTreeSet<JobId>,
    /// Text the rows must contain (`/`): id, source, destination, state or failure.
    pub search: String,
    /// Each job's id and URIs in lowercase, made once when it is added, so a search over
    /// 10,000 jobs allocates nothing per frame.
    hay: HashMap<JobId, String>,
    /// The last `visible` answer and what it was for (jobs revision, filter, search): a frame
    /// asks several times (rows, status line, footer) and computes it once.
    memo: RefCell<Option<Memo>>,
    /// Jobs added or removed so far, and the ids whose text matched the last search.
    members: u64,
    text_memo: RefCell<Option<TextMemo>>,
    /// Jobs whose upload was aborted from the Uploads screen: their next run starts a new
    /// upload from zero, and `r` says so.
    pub upload_gone: BTreeSet<JobId>,
}

impl Default for QueueState {
    fn default() -> Self {
        QueueState {
            cursor: 0,
            filter: StateFilter::All,
            detail: None,
            journaled: BTreeSet::new(),
            upload_gone: BTreeSet::new(),
            search: String::new(),
            hay: HashMap::new(),
            memo: RefCell::new(None),
            members: 0,
            text_memo: RefCell::new(None),
        }
    }
}

impl QueueState {
    /// Job ids the Queue shows, in order: the state filter (`f`) and the search (`/`).
    pub fn visible(&self, jobs: &BTreeMap<JobId, JobModel>) -> Vec<JobId> {
        let q = self.search.to_lowercase();
        if q.is_empty() {
            return jobs
                .values()
                .filter(|j| self.filter.accepts(&j.state))
                .map(|j| j.id)
                .collect();
        }
        // Walk the jobs and the (sorted) ids whose text matches side by side: per job only the
        // state is looked at, so a search over 10,000 jobs costs little per frame.
        let hits = self.text_hits(jobs, &q);
        let mut k = 0;
        jobs.values()
            .filter(|j| {
                while k < hits.len() && hits[k] < j.id {
                    k += 1;
                }
                let text = hits.get(k) == Some(&j.id);
                self.filter.accepts(&j.state) && (text || state_matches(&j.state, &q))
            })
            .map(|j| j.id)
            .collect()
    }

    /// `visible`, remembered for `rev` (the App's count of engine events and keys, which is all
    /// that changes the jobs).
    pub fn visible_at(&self, jobs: &BTreeMap<JobId, JobModel>, rev: u64) -> Vec<JobId> {
        if let Some((r, f, s, ids)) = self.memo.borrow().as_ref() {
            if *r == rev && *f == self.filter && *s == self.search {
                return ids.clone();
            }
        }
        let ids = self.visible(jobs);
        *self.memo.borrow_mut() = Some((rev, self.filter, self.search.clone(), ids.clone()));
        ids
    }

    /// Ids of the jobs whose id or URIs contain `q`, ascending; remembered until the search
    /// or the set of jobs changes.
    fn text_hits(&self, jobs: &BTreeMap<JobId, JobModel>, q: &str) -> Vec<JobId> {
        let key = (self.members, jobs.len(), q.to_string());
        if let Some((k, ids)) = self.text_memo.borrow().as_ref() {
            if *k == key {
                return ids.clone();
            }
        }
        let ids: Vec<JobId> = jobs
            .values()
            .filter(|j| match self.hay.get(&j.id) {
                Some(h) => h.contains(q),
                None => haystack(j).contains(q),
            })
            .map(|j| j.id)
            .collect();
        *self.text_memo.borrow_mut() = Some((key, ids.clone()));
        ids
    }

    /// A job was added: remember what its row is searched by.
    pub fn on_added(&mut self, job: &JobModel) {
        self.hay.insert(job.id, haystack(job));
        self.members += 1;
    }

    /// The job the keys act on: the one open, else the one under the cursor.
    pub fn selected(&self, jobs: &BTreeMap<JobId, JobModel>) -> Option<JobId> {
        if let Some(id) = self.detail {
            return Some(id);
        }
        self.visible(jobs).get(self.cursor).copied()
    }

    /// Whether the job's next run starts a new upload from zero: its upload was aborted here,
    /// or the job failed because the server no longer knows it.
    pub fn starts_from_zero(&self, job: &JobModel) -> bool {
        self.upload_gone.contains(&job.id)
            || matches!(&job.state, JobState::Failed(r) if r.contains("NoSuchUpload"))
    }

    /// A job went away: close its detail and keep the cursor on a row.
    pub fn on_removed(&mut self, id: JobId, jobs: &BTreeMap<JobId, JobModel>) {
        self.hay.remove(&id);
        self.members += 1;
        self.journaled.remove(&id);
        self.upload_gone.remove(&id);
        if self.detail == Some(id) {
            self.detail = None;
        }
        let n = self.visible(jobs).len();
        self.cursor = self.cursor.min(n.saturating_sub(1));
    }

    pub fn handle(&mut self, action: Action, ctx: &mut Ctx) -> Vec<Command> {
        let selected = self.selected(ctx.jobs);
        match action {
            Action::Open => {
                if selected.is_some() {
                    self.detail = selected;
                }
                vec![]
            }
            Action::Back => {
                self.detail = None;
                vec![]
            }
            Action::StateFilter => {
                self.filter = self.filter.next();
                self.cursor = 0;
                ctx.note(format!("showing {} jobs", self.filter.label()));
                vec![]
            }
            Action::PauseAll => {
                ctx.note("pausing all jobs");
                vec![Command::PauseAll]
            }
            Action::ResumeAll => {
                ctx.note("resuming all jobs");
                vec![Command::ResumeAll]
            }
            Action::RetryFailed => {
                let ids: Vec<JobId> = ctx
                    .jobs
                    .values()
                    .filter(|j| matches!(j.state, JobState::Failed(_)))
                    .map(|j| j.id)
                    .collect();
                ctx.note(format!(
                    "retrying {}",
                    count(ids.len(), "failed job", "failed jobs")
                ));
                ids.into_iter().map(Command::Retry).collect()
            }
            Action::ClearFinished => {
                let finished: Vec<&JobModel> = ctx
                    .jobs
                    .values()
                    .filter(|j| j.state.is_finished())
                    .collect();
                if finished.is_empty() {
                    ctx.note("no finished transfers to clear");
                } else {
                    let c = Confirm::clear_finished(&finished);
                    ctx.open(Dialog::Confirm(c));
                }
                vec![]
            }
            Action::LimitUp | Action::LimitDown => {
                let Some((limit, _)) = ctx.concurrency else {
                    ctx.note("the engine has not said its limit yet");
                    return vec![];
                };
                let n = next_limit(limit, action == Action::LimitUp);
                ctx.note(format!(
                    "global limit: {n} requests in flight across all jobs (was {limit})"
                ));
                vec![Command::SetConcurrency { job: None, n }]
            }
            Action::Refresh => vec![],
            Action::Resume => match selected.and_then(|id| ctx.jobs.get(&id)) {
                Some(job) if self.starts_from_zero(job) && resumable(&job.state) => {
                    let (id, cmd) = (job.id, resume_command(job.id, &job.state));
                    let note = format!(
                        "job {id}: its upload was aborted, so this run starts a new upload \
                         from zero ({} copied before is copied again)",
                        crate::units::format_size(job.bytes_done)
                    );
                    ctx.note(note);
                    self.upload_gone.remove(&id);
                    vec![cmd]
                }
                _ => job_action(selected, action, ctx),
            },
            _ => job_action(selected, action, ctx),
        }
    }
}

/// Whether a job's state (or why it failed) contains `q` (lowercase).
fn state_matches(s: &JobState, q: &str) -> bool {
    s.label().contains(q) || matches!(s, JobState::Failed(r) if r.to_lowercase().contains(q))
}

/// What a job's row is searched by besides its state: id and both URIs, in lowercase.
fn haystack(j: &JobModel) -> String {
    format!("{} {} {}", j.id, j.spec.source, j.spec.destination).to_lowercase()
}

/// Whether `r` does something for a job in `state`.
fn resumable(state: &JobState) -> bool {
    matches!(
        state,
        JobState::Failed(_) | JobState::Paused | JobState::Cancelled | JobState::Interrupted
    )
}

/// What `r` sends: a failed job is retried, a stopped one resumed.
fn resume_command(id: JobId, state: &JobState) -> Command {
    match state {
        JobState::Failed(_) => Command::Retry(id),
        _ => Command::Resume(id),
    }
}

/// A key on one job (the selected row or the open detail).
fn job_action(id: Option<JobId>, action: Action, ctx: &mut Ctx) -> Vec<Command> {
    let Some(job) = id.and_then(|id| ctx.jobs.get(&id)) else {
        return vec![];
    };
    let id = job.id;
    let state = job.state.clone();
    match action {
        Action::PauseResume => match state {
            JobState::Paused | JobState::Cancelled | JobState::Interrupted => {
                vec![Command::Resume(id)]
            }
            s if s.is_active() || s == JobState::Queued => vec![Command::Pause(id)],
            s => {
                ctx.note(format!("job {id} is {}: nothing to pause", s.label()));
                vec![]
            }
        },
        Action::Cancel => {
            if state.is_finished() || state == JobState::Cancelled {
                ctx.note(format!("job {id} is {}: nothing to cancel", state.label()));
                return vec![];
            }
            ctx.note(format!(
                "cancelling job {id}; its upload is kept, r resumes"
            ));
            vec![Command::Cancel(id)]
        }
        Action::Resume => match state {
            s if resumable(&s) => vec![resume_command(id, &s)],
            s => {
                ctx.note(format!("job {id} is {}: nothing to resume", s.label()));
                vec![]
            }
        },
        Action::Abort => {
            if state.is_finished() {
                ctx.note(format!("job {id} is {}: nothing to abort", state.label()));
                return vec![];
            }
            let c = Confirm::abort_job(job);
            ctx.open(Dialog::Confirm(c));
            vec![]
        }
        Action::ConcurrencyUp | Action::ConcurrencyDown => {
            let current = job
                .concurrency
                .or(job.spec.options.concurrency)
                .or(ctx.concurrency.map(|(g, _)| g))
                .unwrap_or(job.in_flight.len().max(1));
            let n = if action == Action::ConcurrencyUp {
                current + 1
            } else {
                current.saturating_sub(1).max(1)
            };
            if let Some(j) = ctx.jobs.get_mut(&id) {
                j.concurrency = Some(n);
            }
            match ctx.concurrency {
                Some((limit, _)) if n > limit => ctx.note(format!(
                    "job {id}: up to {n} parts in flight, but the global limit of {limit} still caps it (> raises it)"
                )),
                _ => ctx.note(format!("job {id}: up to {n} parts in flight")),
            }
            vec![Command::SetConcurrency { job: Some(id), n }]
        }
        _ => vec![],
    }
}

/// The global limit one `>` / `<` away: steps of an eighth (at least 1), within the engine's
/// 1–1024.
pub fn next_limit(limit: usize, up: bool) -> usize {
    let step = (limit / 8).max(1);
    if up {
        (limit + step).min(1024)
    } else {
        limit.saturating_sub(step).max(1)
    }
}
