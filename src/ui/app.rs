//! App state and its two doors: `handle_key` / `update` turn keys into state changes and
//! `Command`s, and `on_event` folds engine `Event`s into the view models.
//!
//! Pure: no terminal, no network, no awaiting. Time comes from the injected `Clock`. The run
//! loop in `ui::mod` owns the terminal and the channels and calls in here.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use tui_input::{Input, InputRequest};

use super::browse::{BucketEntry, BucketList, Load, ObjectList, SortKey};
use super::clock::Clock;
use super::jobs::JobModel;
use super::keymap::{Action, Context, Key, Keymap};
use super::theme::Theme;
use crate::engine::request::{self, CopyRequest};
use crate::engine::{
    BrowseRequest, Command, CopyOptions, CopySpec, Event, JobId, JobState, Listing, LogLevel,
    Overwrite, PartSize, UploadSummary,
};
use crate::store::{BucketName, CosUri, ObjectMeta, RequestRecord};

/// Log lines kept on the Log screen.
pub const LOG_CAP: usize = 5_000;
/// How long a note stays on the status line (app clock); errors stay longer.
pub const STATUS_TTL: Duration = Duration::from_secs(5);
pub const ERROR_TTL: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Browse,
    Queue,
    Uploads,
    Log,
}

impl Screen {
    pub const ALL: [Screen; 4] = [Screen::Browse, Screen::Queue, Screen::Uploads, Screen::Log];
    pub fn title(self) -> &'static str {
        match self {
            Screen::Browse => "Browse",
            Screen::Queue => "Queue",
            Screen::Uploads => "Uploads",
            Screen::Log => "Log",
        }
    }
    fn index(self) -> usize {
        Screen::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

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

/// A line on the Log screen.
#[derive(Debug, Clone)]
pub enum LogEntry {
    Request {
        at: SystemTime,
        record: RequestRecord,
    },
    Line {
        at: SystemTime,
        level: LogLevel,
        message: String,
    },
}

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
    pub cursor: usize,
}

/// Everything the Browse screen holds: the buckets, then a stack of listings (one per level
/// opened, so going back is instant).
#[derive(Debug, Clone, Default)]
pub struct BrowseState {
    pub buckets: BucketList,
    pub stack: Vec<ObjectList>,
}

/// The copy dialog's storage-class choices: 0 keeps the source's class, `i` is COS's class
/// `i - 1` (the same list the planner checks against).
pub const STORAGE_CLASS_CHOICES: usize = crate::store::STORAGE_CLASSES.len() + 1;

/// The label of storage-class choice `i`.
pub fn storage_class_label(i: usize) -> &'static str {
    match i {
        0 => "keep source",
        i => crate::store::STORAGE_CLASSES[i - 1],
    }
}

/// Fields of the copy dialog, in focus order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyField {
    Bucket,
    Key,
    PartSize,
    Concurrency,
    StorageClass,
    IfExists,
}

impl CopyField {
    pub const ALL: [CopyField; 6] = [
        CopyField::Bucket,
        CopyField::Key,
        CopyField::PartSize,
        CopyField::Concurrency,
        CopyField::StorageClass,
        CopyField::IfExists,
    ];
}

/// The destination dialog opened by `c`.
#[derive(Debug, Clone)]
pub struct CopyDialog {
    pub source_bucket: BucketName,
    /// The listing prefix the sources were picked under; destination names are relative to it.
    pub base: String,
    /// (key, size) of objects chosen directly.
    pub objects: Vec<(String, u64)>,
    /// Prefixes chosen (expanded to objects by listing after Enter).
    pub prefixes: Vec<String>,
    pub focus: CopyField,
    pub bucket: Input,
    pub known_buckets: Vec<String>,
    pub pick: usize,
    pub key: Input,
    pub part_size: Input,
    pub concurrency: Input,
    pub class: usize,
    pub overwrite: Overwrite,
    pub error: Option<String>,
}

impl CopyDialog {
    /// Known buckets matching what is typed (all of them when the field is empty or holds a
    /// bucket already chosen, so coming back to the field shows every choice).
    pub fn bucket_choices(&self) -> Vec<&str> {
        let typed = self.bucket.value().trim().to_lowercase();
        if self.known_buckets.contains(&typed) {
            return self.known_buckets.iter().map(|s| s.as_str()).collect();
        }
        self.known_buckets
            .iter()
            .filter(|b| b.contains(&typed))
            .map(|s| s.as_str())
            .collect()
    }

    /// The destination bucket: the highlighted pick, or what is typed when no known bucket
    /// matches it (a bucket haul has not seen, typed in full).
    pub fn chosen_bucket(&self) -> String {
        let choices = self.bucket_choices();
        match choices.get(self.pick.min(choices.len().saturating_sub(1))) {
            Some(c) => c.to_string(),
            None => self.bucket.value().trim().to_string(),
        }
    }

    /// Where the pick goes after typing: a bucket typed in full, else the first choice that is
    /// not the source bucket (the source when it is the only one).
    fn first_other_pick(&self) -> usize {
        let typed = self.bucket.value().trim().to_lowercase();
        let source = self.source_bucket.to_string();
        let choices = self.bucket_choices();
        if let Some(i) = choices.iter().position(|c| *c == typed) {
            return i;
        }
        choices.iter().position(|c| *c != source).unwrap_or(0)
    }

    /// Leaving the Bucket field: the field shows the bucket chosen.
    fn commit_bucket(&mut self) {
        let chosen = self.chosen_bucket();
        self.bucket = Input::new(chosen.clone());
        self.pick = self
            .bucket_choices()
            .iter()
            .position(|c| *c == chosen)
            .unwrap_or(0);
    }

    /// Moves the focus, committing the bucket pick when leaving the Bucket field.
    fn focus_on(&mut self, field: CopyField) {
        if self.focus == CopyField::Bucket && field != CopyField::Bucket {
            self.commit_bucket();
        }
        if self.focus != CopyField::Bucket && field == CopyField::Bucket {
            // Back on the field: an empty filter (every bucket, the same order), the pick still
            // on the bucket chosen, so typing filters instead of appending to a name.
            if self.known_buckets.iter().any(|b| b == self.bucket.value()) {
                self.bucket = Input::default();
            }
        }
        self.focus = field;
    }

    pub fn is_single_object(&self) -> bool {
        self.objects.len() == 1 && self.prefixes.is_empty()
    }

    pub fn total_bytes(&self) -> u64 {
        self.objects.iter().map(|(_, s)| s).sum()
    }
}

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
}

/// Details of one object (`i`).
#[derive(Debug, Clone)]
pub struct Details {
    pub uri: CosUri,
    pub meta: Option<Result<ObjectMeta, String>>,
}

#[derive(Debug, Clone)]
pub enum Dialog {
    Copy(Box<CopyDialog>),
    Confirm(Confirm),
    Details(Details),
    Help { scroll: usize },
}

/// What the run loop should do after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Control {
    #[default]
    None,
    Quit,
    Suspend,
}

/// Options the caller gives the UI.
#[derive(Debug, Clone)]
pub struct UiOptions {
    /// Shown in the tab bar: the profile name, or "demo".
    pub title: String,
    /// A user keymap file merged over `assets/keymap.toml`.
    pub keymap_path: Option<std::path::PathBuf>,
    /// A user theme file merged over `assets/theme.toml`.
    pub theme_path: Option<std::path::PathBuf>,
    /// Drop colours (set from `NO_COLOR` by `UiOptions::new`).
    pub no_color: bool,
    /// Wall clock for rates and estimates; `Clock::manual` in tests.
    pub clock: Clock,
    /// Buckets/prefixes to offer when the account may not list buckets.
    pub access_paths: Vec<CosUri>,
    /// Defaults the copy dialog starts from.
    pub copy_defaults: CopyOptions,
}

impl UiOptions {
    /// Defaults, honouring `NO_COLOR` (any non-empty value).
    pub fn new(title: impl Into<String>) -> UiOptions {
        UiOptions {
            title: title.into(),
            keymap_path: None,
            theme_path: None,
            no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            clock: Clock::system(),
            access_paths: Vec::new(),
            copy_defaults: CopyOptions::default(),
        }
    }
}

pub struct App {
    pub keymap: Keymap,
    pub theme: Theme,
    pub clock: Clock,
    pub title: String,
    pub access_paths: Vec<CosUri>,
    pub copy_defaults: CopyOptions,
    pub screen: Screen,
    pub browse: BrowseState,
    pub jobs: BTreeMap<JobId, JobModel>,
    pub queue_cursor: usize,
    pub queue_filter: StateFilter,
    pub job_detail: Option<JobId>,
    pub uploads: UploadsState,
    pub log: VecDeque<LogEntry>,
    /// Log rows scrolled up from the newest; 0 follows the tail.
    pub log_back: usize,
    /// (global limit, effective) from `Event::Concurrency`.
    pub concurrency: Option<(usize, usize)>,
    pub dialog: Option<Dialog>,
    /// `/` typing in progress on the current list.
    pub filter_input: Option<Input>,
    /// One line of feedback ("queued 3 copies"), replaced by the next; set it with
    /// `set_status` / `set_error` so it expires (see `status_line`).
    pub status: Option<String>,
    /// When the status was set and how long it shows (`None`: until replaced).
    pub status_since: SystemTime,
    pub status_ttl: Option<Duration>,
    /// Last known terminal size, for paging and mouse hit tests.
    pub size: Rect,
    pub control: Control,
    /// Set when something visible changed; the run loop redraws and clears it.
    pub dirty: bool,
}

impl App {
    /// Builds the app; a broken user keymap or theme falls back to the defaults and says so.
    pub fn new(opts: &UiOptions) -> App {
        let mut notes = Vec::new();
        let keymap = match &opts.keymap_path {
            Some(p) => match std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read keymap {}: {e}", p.display()))
                .and_then(|t| Keymap::with_user(&t).map_err(|e| format!("{}: {e}", p.display())))
            {
                Ok(k) => k,
                Err(e) => {
                    notes.push(format!("{e}; using the default keys"));
                    Keymap::default_map()
                }
            },
            None => Keymap::default_map(),
        };
        let theme = match &opts.theme_path {
            Some(p) => match std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read theme {}: {e}", p.display()))
                .and_then(|t| {
                    Theme::with_user(&t, opts.no_color).map_err(|e| format!("{}: {e}", p.display()))
                }) {
                Ok(t) => t,
                Err(e) => {
                    notes.push(format!("{e}; using the default theme"));
                    Theme::default_theme(opts.no_color)
                }
            },
            None => Theme::default_theme(opts.no_color),
        };
        let mut app = App {
            keymap,
            theme,
            clock: opts.clock.clone(),
            title: opts.title.clone(),
            access_paths: opts.access_paths.clone(),
            copy_defaults: opts.copy_defaults.clone(),
            screen: Screen::Browse,
            browse: BrowseState::default(),
            jobs: BTreeMap::new(),
            queue_cursor: 0,
            queue_filter: StateFilter::All,
            job_detail: None,
            uploads: UploadsState::default(),
            log: VecDeque::new(),
            log_back: 0,
            concurrency: None,
            dialog: None,
            filter_input: None,
            status: None,
            status_since: SystemTime::UNIX_EPOCH,
            status_ttl: None,
            size: Rect::new(0, 0, 80, 24),
            control: Control::None,
            dirty: true,
        };
        for n in notes {
            app.push_log(LogLevel::Warn, n.clone());
            app.set_status(n);
        }
        app
    }

    /// The commands to send at start-up: list the buckets.
    pub fn start(&mut self) -> Vec<Command> {
        self.browse.buckets.loading = true;
        vec![Command::Browse(BrowseRequest::Buckets)]
    }

    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    // ----- status line -----------------------------------------------------------------------

    /// Shows a note on the status line for `STATUS_TTL` (app clock) or until the next screen.
    pub fn set_status(&mut self, msg: impl Into<String>) {
        self.show_status(msg.into(), Some(STATUS_TTL));
    }

    /// Shows an error on the status line; it stays `ERROR_TTL`, longer than a note.
    pub fn set_error(&mut self, msg: impl Into<String>) {
        self.show_status(msg.into(), Some(ERROR_TTL));
    }

    /// Shows a message that stays until something replaces it (the engine has stopped).
    pub fn set_sticky_status(&mut self, msg: impl Into<String>) {
        self.show_status(msg.into(), None);
    }

    fn show_status(&mut self, msg: String, ttl: Option<Duration>) {
        self.status = Some(msg);
        self.status_since = self.now();
        self.status_ttl = ttl;
        self.dirty = true;
    }

    /// The status message if it has not expired on the app clock.
    pub fn status_line(&self) -> Option<&str> {
        let s = self.status.as_deref()?;
        match self.status_ttl {
            Some(ttl) => {
                let age = self
                    .now()
                    .duration_since(self.status_since)
                    .unwrap_or_default();
                (age < ttl).then_some(s)
            }
            None => Some(s),
        }
    }

    /// Whether the status line holds an error (drawn in the error colour).
    pub fn status_is_error(&self) -> bool {
        self.status_ttl == Some(ERROR_TTL)
    }

    /// Drops an expired status message; true when the screen must be redrawn. The run loop
    /// calls it on its slow tick.
    pub fn expire_status(&mut self) -> bool {
        if self.status.is_some() && self.status_line().is_none() {
            self.status = None;
            return true;
        }
        false
    }

    // ----- rendering -----------------------------------------------------------------------

    pub fn render(&self, area: Rect, buf: &mut Buffer) {
        super::views::render(self, area, buf);
    }

    /// The key context for the current screen and dialog.
    pub fn context(&self) -> Context {
        match &self.dialog {
            Some(Dialog::Help { .. }) => Context::Help,
            Some(_) => Context::Dialog,
            None => match self.screen {
                Screen::Browse => Context::Browse,
                Screen::Queue if self.job_detail.is_some() => Context::Job,
                Screen::Queue => Context::Queue,
                Screen::Uploads => Context::Uploads,
                Screen::Log => Context::Log,
            },
        }
    }

    /// Whether `action` does something on the current screen; the footer lists only those.
    /// Screen-level: an action that merely explains itself ("open a bucket first") does not count.
    pub fn action_applies(&self, action: Action) -> bool {
        if self.dialog.is_some() {
            return true;
        }
        let in_bucket = !self.browse.stack.is_empty();
        match action {
            Action::Open => match self.screen {
                Screen::Browse => true,
                Screen::Queue => self.job_detail.is_none() && self.selected_job().is_some(),
                Screen::Uploads | Screen::Log => false,
            },
            Action::Back => match self.screen {
                Screen::Browse => in_bucket,
                Screen::Queue => self.job_detail.is_some(),
                Screen::Uploads | Screen::Log => false,
            },
            Action::Filter => {
                self.screen == Screen::Browse
                    || (self.screen == Screen::Queue && self.job_detail.is_none())
            }
            Action::Refresh => matches!(self.screen, Screen::Browse | Screen::Uploads),
            Action::Copy | Action::Info | Action::Mark | Action::MarkAll | Action::Sort => {
                self.screen != Screen::Browse || in_bucket
            }
            _ => true,
        }
    }

    fn page(&self) -> usize {
        (self.size.height as usize).saturating_sub(6).max(1)
    }

    // ----- input ---------------------------------------------------------------------------

    pub fn handle_key(&mut self, ev: KeyEvent) -> Vec<Command> {
        self.dirty = true;
        if ev.kind == crossterm::event::KeyEventKind::Release {
            return vec![];
        }
        if self.filter_input.is_some() {
            return self.filter_key(ev);
        }
        if matches!(self.dialog, Some(Dialog::Copy(_))) {
            return self.copy_key(ev);
        }
        let key = Key::from_event(&ev);
        // Ctrl-c always quits (through the dialog when jobs run), even inside dialogs.
        if ev.code == KeyCode::Char('c')
            && ev.modifiers.contains(KeyModifiers::CONTROL)
            && self.dialog.is_some()
        {
            self.dialog = None;
            return self.update(Action::Quit);
        }
        match self.keymap.action(self.context(), &key) {
            Some(a) => self.update(a),
            None => vec![],
        }
    }

    pub fn handle_mouse(&mut self, ev: MouseEvent) -> Vec<Command> {
        self.dirty = true;
        if self.dialog.is_some() {
            return vec![];
        }
        match ev.kind {
            MouseEventKind::ScrollDown => self.update(Action::Down),
            MouseEventKind::ScrollUp => self.update(Action::Up),
            MouseEventKind::Down(MouseButton::Left) => {
                if ev.row == 0 {
                    for (screen, x0, x1) in super::views::tab_spans(self.size.width) {
                        if ev.column >= x0 && ev.column < x1 {
                            return self.switch(screen);
                        }
                    }
                    return vec![];
                }
                if let Some(row) = super::views::row_at(self, ev.row) {
                    self.set_cursor(row);
                    return self.after_move();
                }
                vec![]
            }
            _ => vec![],
        }
    }

    pub fn resize(&mut self, width: u16, height: u16) {
        self.size = Rect::new(0, 0, width, height);
        self.dirty = true;
    }

    fn filter_key(&mut self, ev: KeyEvent) -> Vec<Command> {
        let Some(input) = self.filter_input.as_mut() else {
            return vec![];
        };
        match ev.code {
            KeyCode::Enter => {
                self.filter_input = None;
                return vec![];
            }
            KeyCode::Esc => {
                self.filter_input = None;
                self.set_filter(String::new());
                return vec![];
            }
            _ => {
                if let Some(req) = input_request(&ev) {
                    input.handle(req);
                }
            }
        }
        let text = input.value().to_string();
        self.set_filter(text);
        self.after_move()
    }

    fn set_filter(&mut self, text: String) {
        match self.screen {
            Screen::Browse => match self.browse.stack.last_mut() {
                Some(list) => {
                    list.filter = text;
                    list.rebuild_view();
                }
                None => {
                    self.browse.buckets.filter = text;
                    self.browse.buckets.cursor = 0;
                }
            },
            _ => {
                self.set_status(
                    "filtering works on the Browse screen; on the Queue, f filters by state",
                );
            }
        }
    }

    /// Turns an action into state changes and commands.
    pub fn update(&mut self, action: Action) -> Vec<Command> {
        self.dirty = true;
        if let Some(d) = self.dialog.take() {
            return self.dialog_action(d, action);
        }
        match action {
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-(self.page() as isize)),
            Action::PageDown => self.move_by(self.page() as isize),
            Action::Top => self.move_by(isize::MIN / 2),
            Action::Bottom => self.move_by(isize::MAX / 2),
            Action::NextTab => self.switch(Screen::ALL[(self.screen.index() + 1) % 4]),
            Action::PrevTab => self.switch(Screen::ALL[(self.screen.index() + 3) % 4]),
            Action::TabBrowse => self.switch(Screen::Browse),
            Action::TabQueue => self.switch(Screen::Queue),
            Action::TabUploads => self.switch(Screen::Uploads),
            Action::TabLog => self.switch(Screen::Log),
            Action::Help => {
                self.dialog = Some(Dialog::Help { scroll: 0 });
                vec![]
            }
            Action::Quit => self.quit(),
            Action::Suspend => {
                self.control = Control::Suspend;
                vec![]
            }
            Action::Filter => {
                if self.screen == Screen::Browse {
                    let current = match self.browse.stack.last() {
                        Some(l) => l.filter.clone(),
                        None => self.browse.buckets.filter.clone(),
                    };
                    self.filter_input = Some(Input::new(current));
                } else if self.screen == Screen::Queue {
                    return self.update(Action::StateFilter);
                }
                vec![]
            }
            _ => match self.screen {
                Screen::Browse => self.browse_action(action),
                Screen::Queue => self.queue_action(action),
                Screen::Uploads => self.uploads_action(action),
                Screen::Log => vec![],
            },
        }
    }

    fn quit(&mut self) -> Vec<Command> {
        let running = self.unfinished_jobs();
        if running.is_empty() {
            self.control = Control::Quit;
            return vec![Command::Shutdown];
        }
        let active = running.len();
        self.dialog = Some(Dialog::Confirm(Confirm {
            title: "Quit haul?".into(),
            lines: vec![
                format!("{active} job(s) are not finished."),
                "Pause and quit: they stay resumable; haul offers them at the next start.".into(),
                "Abort and quit: their uploads are deleted on the server.".into(),
            ],
            buttons: vec!["Pause and quit", "Abort and quit", "Stay"],
            selected: 0,
            scroll: 0,
            kind: ConfirmKind::Quit,
        }));
        vec![]
    }

    /// Jobs that quitting would leave behind: queued, running, or paused with work left.
    fn unfinished_jobs(&self) -> Vec<JobId> {
        self.jobs
            .values()
            .filter(|j| {
                j.state.is_active() || matches!(j.state, JobState::Queued | JobState::Paused)
            })
            .map(|j| j.id)
            .collect()
    }

    fn dialog_action(&mut self, dialog: Dialog, action: Action) -> Vec<Command> {
        match dialog {
            Dialog::Help { scroll } => {
                match action {
                    Action::Down => self.dialog = Some(Dialog::Help { scroll: scroll + 1 }),
                    Action::Up => {
                        self.dialog = Some(Dialog::Help {
                            scroll: scroll.saturating_sub(1),
                        })
                    }
                    Action::Back | Action::Cancel | Action::Help | Action::No => {}
                    _ => self.dialog = Some(Dialog::Help { scroll }),
                }
                vec![]
            }
            Dialog::Details(d) => {
                if !matches!(
                    action,
                    Action::Cancel | Action::Back | Action::Confirm | Action::No
                ) {
                    self.dialog = Some(Dialog::Details(d));
                }
                vec![]
            }
            Dialog::Confirm(mut c) => {
                let n = c.buttons.len();
                let choice = match action {
                    Action::Left => {
                        c.selected = (c.selected + n - 1) % n;
                        None
                    }
                    Action::Right => {
                        c.selected = (c.selected + 1) % n;
                        None
                    }
                    Action::Down => {
                        c.scroll += 1;
                        None
                    }
                    Action::Up => {
                        c.scroll = c.scroll.saturating_sub(1);
                        None
                    }
                    Action::Confirm => Some(c.selected),
                    Action::Yes => Some(match c.kind {
                        ConfirmKind::Quit => 0,
                        _ => 1,
                    }),
                    Action::No | Action::Cancel | Action::Back => Some(match c.kind {
                        ConfirmKind::Quit => 2,
                        _ => 0,
                    }),
                    _ => None,
                };
                match choice {
                    None => {
                        self.dialog = Some(Dialog::Confirm(c));
                        vec![]
                    }
                    Some(i) => self.confirmed(c.kind, i),
                }
            }
            Dialog::Copy(d) => {
                self.dialog = Some(Dialog::Copy(d));
                vec![]
            }
        }
    }

    fn confirmed(&mut self, kind: ConfirmKind, button: usize) -> Vec<Command> {
        match (kind, button) {
            (ConfirmKind::AbortJob(id), 1) => {
                self.set_status(format!("aborting job {id}"));
                vec![Command::Abort(id)]
            }
            (ConfirmKind::AbortUploads { bucket, uploads }, 1) => {
                self.set_status(format!("aborting {} upload(s) in {bucket}", uploads.len()));
                self.uploads.loading = true;
                vec![Command::AbortUploads { bucket, uploads }]
            }
            (ConfirmKind::Quit, 0) => {
                let mut cmds: Vec<Command> = self
                    .unfinished_jobs()
                    .into_iter()
                    .map(Command::Pause)
                    .collect();
                cmds.push(Command::Shutdown);
                self.control = Control::Quit;
                cmds
            }
            (ConfirmKind::Quit, 1) => {
                let mut cmds: Vec<Command> = self
                    .unfinished_jobs()
                    .into_iter()
                    .map(Command::Abort)
                    .collect();
                cmds.push(Command::Shutdown);
                self.control = Control::Quit;
                cmds
            }
            _ => {
                self.set_status("nothing done");
                vec![]
            }
        }
    }

    fn switch(&mut self, screen: Screen) -> Vec<Command> {
        self.screen = screen;
        // A note belongs to the screen it was made on; errors and sticky messages stay.
        if self.status_ttl == Some(STATUS_TTL) {
            self.status = None;
        }
        self.filter_input = None;
        if screen == Screen::Uploads {
            let browse = self
                .browse
                .stack
                .last()
                .map(|l| (l.bucket.clone(), l.prefix.clone()));
            // Follow Browse when it moved since last time (a bucket picked with `b` stays
            // otherwise); with nothing open there, show the first job destination's uploads.
            let target = if browse.is_some() && browse != self.uploads.browse_seen {
                self.uploads.browse_seen = browse.clone();
                browse
            } else if self.uploads.target.is_none() {
                self.job_destination_buckets()
                    .into_iter()
                    .next()
                    .map(|b| (b, String::new()))
            } else {
                None
            };
            if let Some(t) = target {
                if Some(&t) != self.uploads.target.as_ref() {
                    return self.list_uploads(t);
                }
            }
        }
        vec![]
    }

    /// Points the Uploads screen at `target` and asks for its uploads.
    fn list_uploads(&mut self, target: (BucketName, String)) -> Vec<Command> {
        self.uploads = UploadsState {
            target: Some(target.clone()),
            browse_seen: self.uploads.browse_seen.take(),
            loading: true,
            ..Default::default()
        };
        let (bucket, prefix) = target;
        vec![Command::Browse(BrowseRequest::Uploads { bucket, prefix })]
    }

    /// Destination buckets of jobs not finished yet (their uploads are the ones in progress),
    /// in job order.
    pub fn job_destination_buckets(&self) -> Vec<BucketName> {
        let mut out: Vec<BucketName> = Vec::new();
        for j in self.jobs.values() {
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
    pub fn uploads_buckets(&self) -> Vec<BucketName> {
        let mut out = Vec::new();
        let all = self
            .browse
            .stack
            .last()
            .map(|l| l.bucket.clone())
            .into_iter()
            .chain(self.job_destination_buckets())
            .chain(
                self.known_buckets()
                    .into_iter()
                    .filter_map(|b| BucketName::parse(&b).ok()),
            );
        for b in all {
            if !out.contains(&b) {
                out.push(b);
            }
        }
        out
    }

    /// Shows the next (or previous) bucket's uploads: the whole bucket, or the Browse prefix
    /// when it is the Browse bucket.
    fn cycle_uploads_bucket(&mut self, forward: bool) -> Vec<Command> {
        let all = self.uploads_buckets();
        if all.is_empty() {
            self.set_status("no bucket known yet: open one on the Browse screen (1)");
            return vec![];
        }
        let n = all.len();
        let next = match self
            .uploads
            .target
            .as_ref()
            .and_then(|(b, _)| all.iter().position(|x| x == b))
        {
            Some(i) if forward => (i + 1) % n,
            Some(i) => (i + n - 1) % n,
            None => 0,
        };
        let bucket = all[next].clone();
        let prefix = match self.browse.stack.last() {
            Some(l) if l.bucket == bucket => l.prefix.clone(),
            _ => String::new(),
        };
        self.list_uploads((bucket, prefix))
    }

    // ----- cursor --------------------------------------------------------------------------

    /// Rows of the current list and the cursor into them.
    fn list_len_cursor(&self) -> (usize, usize) {
        match self.screen {
            Screen::Browse => match self.browse.stack.last() {
                Some(l) => (l.view.len(), l.cursor),
                None => (self.bucket_entries().len(), self.browse.buckets.cursor),
            },
            Screen::Queue => (self.visible_jobs().len(), self.queue_cursor),
            Screen::Uploads => (self.uploads.rows.len(), self.uploads.cursor),
            Screen::Log => (
                self.log.len(),
                self.log.len().saturating_sub(1 + self.log_back),
            ),
        }
    }

    pub fn set_cursor(&mut self, c: usize) {
        let (len, _) = self.list_len_cursor();
        let c = c.min(len.saturating_sub(1));
        match self.screen {
            Screen::Browse => match self.browse.stack.last_mut() {
                Some(l) => l.cursor = c,
                None => self.browse.buckets.cursor = c,
            },
            Screen::Queue => self.queue_cursor = c,
            Screen::Uploads => self.uploads.cursor = c,
            Screen::Log => self.log_back = len.saturating_sub(1).saturating_sub(c),
        }
    }

    fn move_by(&mut self, delta: isize) -> Vec<Command> {
        if self.screen == Screen::Queue && self.job_detail.is_some() {
            return vec![];
        }
        if self.screen == Screen::Queue {
            // Moving over the jobs: the status line shows the selected job (its full route or
            // why it failed) instead of the last feedback.
            self.status = None;
        }
        let (len, cur) = self.list_len_cursor();
        let c = (cur as isize)
            .saturating_add(delta)
            .clamp(0, len.saturating_sub(1) as isize);
        self.set_cursor(c as usize);
        self.after_move()
    }

    /// Loads the next page when the cursor nears the end of what is loaded.
    fn after_move(&mut self) -> Vec<Command> {
        if self.screen != Screen::Browse {
            return vec![];
        }
        let Some(list) = self.browse.stack.last_mut() else {
            return vec![];
        };
        match list.wants_more() {
            Some(marker) => {
                list.mark_requested(Some(marker.clone()));
                vec![Command::Browse(BrowseRequest::Objects {
                    bucket: list.bucket.clone(),
                    prefix: list.prefix.clone(),
                    marker: Some(marker),
                })]
            }
            None => vec![],
        }
    }

    // ----- browse --------------------------------------------------------------------------

    /// The bucket screen's entries: buckets matching the filter, then access paths when the
    /// listing failed or was empty.
    pub fn bucket_entries(&self) -> Vec<BucketEntry> {
        let b = &self.browse.buckets;
        let f = b.filter.to_lowercase();
        let mut out: Vec<BucketEntry> = b
            .buckets
            .iter()
            .enumerate()
            .filter(|(_, x)| f.is_empty() || x.name.contains(&f))
            .map(|(i, _)| BucketEntry::Bucket(i))
            .collect();
        if b.buckets.is_empty() && !b.loading {
            out.extend(
                self.access_paths
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| f.is_empty() || p.to_string().contains(&f))
                    .map(|(i, _)| BucketEntry::AccessPath(i)),
            );
        }
        out
    }

    fn open_listing(&mut self, bucket: BucketName, prefix: String) -> Vec<Command> {
        let list = ObjectList::new(bucket.clone(), prefix.clone());
        self.browse.stack.push(list);
        vec![Command::Browse(BrowseRequest::Objects {
            bucket,
            prefix,
            marker: None,
        })]
    }

    fn browse_action(&mut self, action: Action) -> Vec<Command> {
        let Some(list) = self.browse.stack.last_mut() else {
            return self.buckets_action(action);
        };
        match action {
            Action::Open => {
                let Some(row) = list.selected() else {
                    return vec![];
                };
                if row.is_prefix {
                    let (bucket, prefix) = (list.bucket.clone(), list.full_key(row));
                    return self.open_listing(bucket, prefix);
                }
                self.update_info()
            }
            Action::Back => {
                self.browse.stack.pop();
                vec![]
            }
            Action::Mark => {
                if let Some(&i) = list.view.get(list.cursor) {
                    let r = &mut list.rows[i as usize];
                    r.marked = !r.marked;
                    list.cursor = (list.cursor + 1).min(list.view.len().saturating_sub(1));
                }
                self.after_move()
            }
            Action::MarkAll => {
                let all = list.view.iter().all(|&i| list.rows[i as usize].marked);
                for &i in &list.view {
                    list.rows[i as usize].marked = !all;
                }
                vec![]
            }
            Action::Sort => {
                list.sort = list.sort.next();
                list.rebuild_view();
                let note = sort_note(list.sort, &list.load);
                self.set_status(note);
                vec![]
            }
            Action::ReverseSort => {
                list.reverse = !list.reverse;
                list.rebuild_view();
                vec![]
            }
            Action::Refresh => {
                // After a failed page, ask for that page again: the rows loaded stay.
                if let Some(marker) = list.retry_failed() {
                    let note = format!(
                        "retrying the listing of cos://{}/{} ({} rows kept)",
                        list.bucket,
                        list.prefix,
                        list.rows.len()
                    );
                    let cmd = Command::Browse(BrowseRequest::Objects {
                        bucket: list.bucket.clone(),
                        prefix: list.prefix.clone(),
                        marker,
                    });
                    self.set_status(note);
                    return vec![cmd];
                }
                let (bucket, prefix) = (list.bucket.clone(), list.prefix.clone());
                self.browse.stack.pop();
                self.open_listing(bucket, prefix)
            }
            Action::Info => self.update_info(),
            Action::Copy => self.open_copy(),
            _ => vec![],
        }
    }

    fn update_info(&mut self) -> Vec<Command> {
        let Some(list) = self.browse.stack.last() else {
            return vec![];
        };
        let Some(row) = list.selected() else {
            return vec![];
        };
        if row.is_prefix {
            self.set_status("i shows an object's details; this is a prefix");
            return vec![];
        }
        let uri = CosUri {
            bucket: list.bucket.clone(),
            key: list.full_key(row),
        };
        self.dialog = Some(Dialog::Details(Details {
            uri: uri.clone(),
            meta: None,
        }));
        vec![Command::Browse(BrowseRequest::HeadObject(uri))]
    }

    fn buckets_action(&mut self, action: Action) -> Vec<Command> {
        match action {
            Action::Open => {
                let entries = self.bucket_entries();
                match entries.get(self.browse.buckets.cursor) {
                    Some(BucketEntry::Bucket(i)) => {
                        let name = self.browse.buckets.buckets[*i].name.clone();
                        match BucketName::parse(&name) {
                            Ok(b) => self.open_listing(b, String::new()),
                            Err(e) => {
                                self.set_error(e.to_string());
                                vec![]
                            }
                        }
                    }
                    Some(BucketEntry::AccessPath(i)) => {
                        let p = self.access_paths[*i].clone();
                        let prefix = if p.key.is_empty() || p.key.ends_with('/') {
                            p.key
                        } else {
                            format!("{}/", p.key)
                        };
                        self.open_listing(p.bucket, prefix)
                    }
                    None => vec![],
                }
            }
            Action::Refresh => {
                self.browse.buckets.loading = true;
                self.browse.buckets.error = None;
                vec![Command::Browse(BrowseRequest::Buckets)]
            }
            Action::Copy | Action::Info | Action::Mark | Action::MarkAll => {
                self.set_status("open a bucket first (Enter)");
                vec![]
            }
            _ => vec![],
        }
    }

    fn known_buckets(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .browse
            .buckets
            .buckets
            .iter()
            .map(|b| b.name.clone())
            .collect();
        for p in &self.access_paths {
            v.push(p.bucket.to_string());
        }
        for l in &self.browse.stack {
            v.push(l.bucket.to_string());
        }
        v.sort();
        v.dedup();
        v
    }

    fn open_copy(&mut self) -> Vec<Command> {
        let known = self.known_buckets();
        let Some(list) = self.browse.stack.last() else {
            return vec![];
        };
        let mut objects = Vec::new();
        let mut prefixes = Vec::new();
        let marked: Vec<_> = list.rows.iter().filter(|r| r.marked).collect();
        let chosen: Vec<_> = if marked.is_empty() {
            list.selected().into_iter().collect()
        } else {
            marked
        };
        for r in chosen {
            if r.is_prefix {
                prefixes.push(list.full_key(r));
            } else {
                objects.push((list.full_key(r), r.size));
            }
        }
        if objects.is_empty() && prefixes.is_empty() {
            self.set_status("nothing to copy here");
            return vec![];
        }
        let default_key = if objects.len() == 1 && prefixes.is_empty() {
            objects[0].0.clone()
        } else {
            list.prefix.clone()
        };
        let d = &self.copy_defaults;
        let part = match d.part_size {
            PartSize::Auto => "auto".to_string(),
            PartSize::Fixed(n) => crate::units::format_size(n).replace(' ', ""),
        };
        let conc = d
            .concurrency
            .map(|n| n.to_string())
            .unwrap_or_else(|| "auto".into());
        let class = d
            .storage_class
            .as_deref()
            .and_then(|c| {
                crate::store::STORAGE_CLASSES
                    .iter()
                    .position(|s| *s == c)
                    .map(|i| i + 1)
            })
            .unwrap_or(0);
        let mut dialog = CopyDialog {
            source_bucket: list.bucket.clone(),
            base: list.prefix.clone(),
            objects,
            prefixes,
            focus: CopyField::Bucket,
            // An empty filter shows every known bucket; the pick starts on the first one that
            // is not the source, so Enter right away never copies an object onto itself.
            bucket: Input::default(),
            known_buckets: known,
            pick: 0,
            key: Input::new(default_key),
            part_size: Input::new(part),
            concurrency: Input::new(conc),
            class,
            overwrite: d.overwrite,
            error: None,
        };
        dialog.pick = dialog.first_other_pick();
        self.dialog = Some(Dialog::Copy(Box::new(dialog)));
        vec![]
    }

    fn copy_key(&mut self, ev: KeyEvent) -> Vec<Command> {
        let Some(Dialog::Copy(d)) = self.dialog.as_mut() else {
            return vec![];
        };
        let idx = CopyField::ALL
            .iter()
            .position(|f| *f == d.focus)
            .unwrap_or(0);
        let text_field = matches!(
            d.focus,
            CopyField::Bucket | CopyField::Key | CopyField::PartSize | CopyField::Concurrency
        );
        let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        match ev.code {
            KeyCode::Esc => {
                self.dialog = None;
                self.set_status("copy cancelled");
                return vec![];
            }
            KeyCode::Char('c') if ctrl => {
                self.dialog = None;
                return self.update(Action::Quit);
            }
            KeyCode::Tab => d.focus_on(CopyField::ALL[(idx + 1) % CopyField::ALL.len()]),
            KeyCode::BackTab => {
                d.focus_on(CopyField::ALL[(idx + CopyField::ALL.len() - 1) % CopyField::ALL.len()])
            }
            KeyCode::Down | KeyCode::Up if d.focus == CopyField::Bucket => {
                let n = d.bucket_choices().len();
                if n > 0 {
                    let cur = d.pick.min(n - 1);
                    d.pick = if ev.code == KeyCode::Down {
                        (cur + 1) % n
                    } else {
                        (cur + n - 1) % n
                    };
                }
            }
            KeyCode::Down => d.focus_on(CopyField::ALL[(idx + 1).min(CopyField::ALL.len() - 1)]),
            KeyCode::Up => d.focus_on(CopyField::ALL[idx.saturating_sub(1)]),
            KeyCode::Enter => {
                // In the Bucket field Enter takes the highlighted pick and moves on (like Tab);
                // in any other field it queues.
                if d.focus == CopyField::Bucket {
                    d.focus_on(CopyField::Key);
                    return vec![];
                }
                return self.submit_copy();
            }
            _ if text_field => {
                if let Some(req) = input_request(&ev) {
                    let input = match d.focus {
                        CopyField::Bucket => &mut d.bucket,
                        CopyField::Key => &mut d.key,
                        CopyField::PartSize => &mut d.part_size,
                        _ => &mut d.concurrency,
                    };
                    input.handle(req);
                    if d.focus == CopyField::Bucket {
                        // Typing filters; the pick goes to the first match that is not the
                        // source (or the source, when only it matches).
                        d.pick = d.first_other_pick();
                    }
                }
            }
            KeyCode::Char('h') | KeyCode::Left | KeyCode::Char('l') | KeyCode::Right => {
                let back = matches!(ev.code, KeyCode::Char('h') | KeyCode::Left);
                match d.focus {
                    CopyField::StorageClass => {
                        let n = STORAGE_CLASS_CHOICES;
                        d.class = if back {
                            (d.class + n - 1) % n
                        } else {
                            (d.class + 1) % n
                        };
                    }
                    _ => {
                        d.overwrite = match d.overwrite {
                            Overwrite::Always => Overwrite::Skip,
                            Overwrite::Skip => Overwrite::Always,
                        }
                    }
                }
            }
            KeyCode::Char('y') => return self.submit_copy(),
            KeyCode::Char('n') | KeyCode::Char('q') => {
                self.dialog = None;
                self.set_status("copy cancelled");
            }
            _ => {}
        }
        vec![]
    }

    fn submit_copy(&mut self) -> Vec<Command> {
        let Some(Dialog::Copy(d)) = self.dialog.as_mut() else {
            return vec![];
        };
        match build_copy(d) {
            Err(e) => {
                d.error = Some(e);
                vec![]
            }
            Ok(specs) => {
                let cmds: Vec<Command> = specs.into_iter().map(Command::Enqueue).collect();
                let n = cmds.len();
                let note = format!("queued {n} cop{}", if n == 1 { "y" } else { "ies" });
                self.dialog = None;
                self.set_status(note);
                if let Some(l) = self.browse.stack.last_mut() {
                    for r in l.rows.iter_mut() {
                        r.marked = false;
                    }
                }
                cmds
            }
        }
    }

    // ----- queue ---------------------------------------------------------------------------

    /// Job ids the Queue shows, in order.
    pub fn visible_jobs(&self) -> Vec<JobId> {
        self.jobs
            .values()
            .filter(|j| self.queue_filter.accepts(&j.state))
            .map(|j| j.id)
            .collect()
    }

    pub fn selected_job(&self) -> Option<JobId> {
        if let Some(id) = self.job_detail {
            return Some(id);
        }
        self.visible_jobs().get(self.queue_cursor).copied()
    }

    fn queue_action(&mut self, action: Action) -> Vec<Command> {
        let selected = self.selected_job();
        match action {
            Action::Open => {
                if selected.is_some() {
                    self.job_detail = selected;
                }
                vec![]
            }
            Action::Back => {
                self.job_detail = None;
                vec![]
            }
            Action::StateFilter => {
                self.queue_filter = self.queue_filter.next();
                self.queue_cursor = 0;
                self.set_status(format!("showing {} jobs", self.queue_filter.label()));
                vec![]
            }
            Action::PauseAll => {
                self.set_status("pausing all jobs");
                vec![Command::PauseAll]
            }
            Action::ResumeAll => {
                self.set_status("resuming all jobs");
                vec![Command::ResumeAll]
            }
            Action::RetryFailed => {
                let ids: Vec<JobId> = self
                    .jobs
                    .values()
                    .filter(|j| matches!(j.state, JobState::Failed(_)))
                    .map(|j| j.id)
                    .collect();
                self.set_status(format!("retrying {} failed job(s)", ids.len()));
                ids.into_iter().map(Command::Retry).collect()
            }
            Action::ClearFinished => {
                let ids: Vec<JobId> = self
                    .jobs
                    .values()
                    .filter(|j| j.state.is_finished())
                    .map(|j| j.id)
                    .collect();
                self.set_status(format!("clearing {} finished job(s)", ids.len()));
                ids.into_iter().map(Command::Remove).collect()
            }
            Action::Refresh => vec![],
            _ => {
                let Some(id) = selected else { return vec![] };
                let Some(job) = self.jobs.get(&id) else {
                    return vec![];
                };
                self.job_action(job.clone_state(), id, action)
            }
        }
    }

    fn job_action(&mut self, snap: JobSnap, id: JobId, action: Action) -> Vec<Command> {
        let state = snap.state.clone();
        match action {
            Action::PauseResume => match state {
                JobState::Paused | JobState::Cancelled | JobState::Interrupted => {
                    vec![Command::Resume(id)]
                }
                s if s.is_active() || s == JobState::Queued => vec![Command::Pause(id)],
                s => {
                    self.set_status(format!("job {id} is {}: nothing to pause", s.label()));
                    vec![]
                }
            },
            Action::Cancel => {
                if state.is_finished() || state == JobState::Cancelled {
                    self.set_status(format!("job {id} is {}: nothing to cancel", state.label()));
                    return vec![];
                }
                self.set_status(format!(
                    "cancelling job {id}; its upload is kept, r resumes"
                ));
                vec![Command::Cancel(id)]
            }
            Action::Resume => match state {
                JobState::Failed(_) => vec![Command::Retry(id)],
                JobState::Paused | JobState::Cancelled | JobState::Interrupted => {
                    vec![Command::Resume(id)]
                }
                s => {
                    self.set_status(format!("job {id} is {}: nothing to resume", s.label()));
                    vec![]
                }
            },
            Action::Abort => {
                if state.is_finished() {
                    self.set_status(format!("job {id} is {}: nothing to abort", state.label()));
                    return vec![];
                }
                let job = &self.jobs[&id];
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
                        Some(u) => format!(
                            "The upload {u} is deleted on the server; this cannot be undone."
                        ),
                        None => "No upload has been started yet.".into(),
                    },
                ];
                self.dialog = Some(Dialog::Confirm(Confirm {
                    title: "Abort job".into(),
                    lines,
                    buttons: vec!["No", "Abort"],
                    selected: 0,
                    scroll: 0,
                    kind: ConfirmKind::AbortJob(id),
                }));
                vec![]
            }
            Action::ConcurrencyUp | Action::ConcurrencyDown => {
                let current = snap
                    .concurrency
                    .or(snap.option_concurrency)
                    .or(self.concurrency.map(|(g, _)| g))
                    .unwrap_or(snap.in_flight.max(1));
                let n = if action == Action::ConcurrencyUp {
                    current + 1
                } else {
                    current.saturating_sub(1).max(1)
                };
                if let Some(j) = self.jobs.get_mut(&id) {
                    j.concurrency = Some(n);
                }
                self.set_status(format!("job {id}: up to {n} parts in flight"));
                vec![Command::SetConcurrency { job: Some(id), n }]
            }
            _ => vec![],
        }
    }

    // ----- uploads -------------------------------------------------------------------------

    fn uploads_action(&mut self, action: Action) -> Vec<Command> {
        match action {
            Action::NextBucket => return self.cycle_uploads_bucket(true),
            Action::PrevBucket => return self.cycle_uploads_bucket(false),
            _ => {}
        }
        let u = &mut self.uploads;
        match action {
            Action::Mark => {
                if let Some(r) = u.rows.get_mut(u.cursor) {
                    r.1 = !r.1;
                    u.cursor = (u.cursor + 1).min(u.rows.len().saturating_sub(1));
                }
                vec![]
            }
            Action::MarkAll => {
                let all = u.rows.iter().all(|r| r.1);
                for r in u.rows.iter_mut() {
                    r.1 = !all;
                }
                vec![]
            }
            Action::Refresh => match u.target.clone() {
                Some((bucket, prefix)) => {
                    u.loading = true;
                    u.error = None;
                    vec![Command::Browse(BrowseRequest::Uploads { bucket, prefix })]
                }
                None => vec![],
            },
            Action::Resume => {
                let Some((row, _)) = u.rows.get(u.cursor) else {
                    return vec![];
                };
                let (note, cmds) = match row.job {
                    Some(id) => (
                        format!("resuming job {id} ({})", row.upload.key),
                        vec![Command::Resume(id)],
                    ),
                    None => (
                        format!(
                            "haul's journal does not know the upload of {}: it cannot be resumed here",
                            row.upload.key
                        ),
                        vec![],
                    ),
                };
                self.set_status(note);
                cmds
            }
            Action::Abort => {
                let Some((bucket, _)) = u.target.clone() else {
                    return vec![];
                };
                let marked: Vec<&UploadSummary> =
                    u.rows.iter().filter(|r| r.1).map(|r| &r.0).collect();
                let chosen: Vec<&UploadSummary> = if marked.is_empty() {
                    u.rows.get(u.cursor).map(|r| &r.0).into_iter().collect()
                } else {
                    marked
                };
                if chosen.is_empty() {
                    return vec![];
                }
                let bytes: u64 = chosen.iter().map(|s| s.bytes).sum();
                let parts: u32 = chosen.iter().map(|s| s.parts).sum();
                let mut lines = vec![format!(
                    "Abort {} upload(s) in {bucket}? {parts} parts, {} are deleted:",
                    chosen.len(),
                    crate::units::format_size(bytes)
                )];
                for s in &chosen {
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
                self.dialog = Some(Dialog::Confirm(Confirm {
                    title: "Abort uploads".into(),
                    lines,
                    buttons: vec!["No", "Abort"],
                    selected: 0,
                    scroll: 0,
                    kind: ConfirmKind::AbortUploads { bucket, uploads },
                }));
                vec![]
            }
            _ => vec![],
        }
    }

    // ----- events --------------------------------------------------------------------------

    fn push_log(&mut self, level: LogLevel, message: String) {
        let at = self.now();
        self.push_entry(LogEntry::Line { at, level, message });
    }

    fn push_entry(&mut self, e: LogEntry) {
        if self.log.len() == LOG_CAP {
            self.log.pop_front();
        }
        self.log.push_back(e);
    }

    /// Folds one engine event into the view models; may answer with commands (next pages of a
    /// prefix being expanded into copies).
    pub fn on_event(&mut self, ev: Event) -> Vec<Command> {
        self.dirty = true;
        let now = self.now();
        match ev {
            Event::JobAdded {
                id, spec, state, ..
            } => {
                self.jobs.insert(id, JobModel::new(id, spec, state));
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
            Event::JobHistory { .. } => {}
            Event::JobRemoved { id } => {
                self.jobs.remove(&id);
                if self.job_detail == Some(id) {
                    self.job_detail = None;
                }
                let n = self.visible_jobs().len();
                self.queue_cursor = self.queue_cursor.min(n.saturating_sub(1));
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
            Event::Request(record) => self.push_entry(LogEntry::Request { at: now, record }),
            Event::Log { level, message } => self.push_log(level, message),
            Event::UploadsAborted { aborted, failed } => {
                let mut note = format!("aborted {aborted} upload(s)");
                if !failed.is_empty() {
                    note.push_str(&format!("; {} failed: {}", failed.len(), failed.join("; ")));
                    self.push_log(LogLevel::Error, note.clone());
                    self.set_error(note);
                } else {
                    self.set_status(note);
                }
                if let Some((bucket, prefix)) = self.uploads.target.clone() {
                    self.uploads.loading = true;
                    return vec![Command::Browse(BrowseRequest::Uploads { bucket, prefix })];
                }
            }
        }
        vec![]
    }

    fn on_listing(&mut self, l: Listing) -> Vec<Command> {
        match l {
            Listing::Buckets(r) => {
                let b = &mut self.browse.buckets;
                b.loading = false;
                match r {
                    Ok(mut v) => {
                        v.sort_by(|a, b| a.name.cmp(&b.name));
                        b.buckets = v;
                        b.error = None;
                    }
                    Err(e) => {
                        b.buckets.clear();
                        b.error = Some(e);
                    }
                }
                vec![]
            }
            Listing::Objects {
                bucket,
                prefix,
                marker,
                page,
            } => {
                let mut cmds = Vec::new();
                let mut consumed = false;
                for list in self.browse.stack.iter_mut() {
                    if list.bucket == bucket && list.prefix == prefix {
                        consumed |= list.on_page(&marker, page.clone());
                    }
                }
                if consumed {
                    cmds.extend(self.after_move());
                }
                cmds
            }
            Listing::Object { uri, meta } => {
                if let Some(Dialog::Details(d)) = self.dialog.as_mut() {
                    if d.uri == uri {
                        d.meta = Some(meta);
                    }
                }
                vec![]
            }
            Listing::Uploads {
                bucket,
                prefix,
                uploads,
            } => {
                if self.uploads.target.as_ref() == Some(&(bucket.clone(), prefix.clone())) {
                    let u = &mut self.uploads;
                    u.loading = false;
                    match uploads {
                        Ok(v) => {
                            u.rows = v.into_iter().map(|s| (s, false)).collect();
                            u.error = None;
                        }
                        Err(e) => {
                            u.rows.clear();
                            u.error = Some(e);
                        }
                    }
                    u.cursor = u.cursor.min(u.rows.len().saturating_sub(1));
                }
                vec![]
            }
        }
    }
}

/// The bits of a job the key handlers need, copied so `self` can be borrowed mutably.
#[derive(Debug, Clone)]
pub struct JobSnap {
    pub state: JobState,
    pub concurrency: Option<usize>,
    pub option_concurrency: Option<usize>,
    pub in_flight: usize,
}

impl JobModel {
    fn clone_state(&self) -> JobSnap {
        JobSnap {
            state: self.state.clone(),
            concurrency: self.concurrency,
            option_concurrency: self.spec.options.concurrency,
            in_flight: self.in_flight.len(),
        }
    }
}

fn sort_note(sort: SortKey, load: &Load) -> String {
    let partial = matches!(load, Load::More(_) | Load::Loading | Load::Capped);
    format!(
        "sorted by {}{}",
        sort.label(),
        if partial {
            " (rows loaded so far; more load as you scroll)"
        } else {
            ""
        }
    )
}

/// A key as a tui-input request (text fields).
fn input_request(ev: &KeyEvent) -> Option<InputRequest> {
    tui_input::backend::crossterm::to_input_request(&crossterm::event::Event::Key(*ev))
}

/// Checks the dialog with the engine's own rules and builds one copy request per chosen object
/// and one prefix transfer per chosen prefix (the engine lists it).
fn build_copy(d: &CopyDialog) -> Result<Vec<CopySpec>, String> {
    let bucket_text = d.chosen_bucket();
    if bucket_text.is_empty() {
        return Err("no destination bucket: pick one with ↑↓ or type its NAME-APPID".into());
    }
    let dest_bucket = BucketName::parse(&bucket_text).map_err(|e| e.to_string())?;
    let part_text = d.part_size.value().trim();
    let part_size = if part_text.is_empty() {
        PartSize::Auto
    } else {
        request::parse_part_size("part size", part_text).map_err(|e| e.to_string())?
    };
    let conc_text = d.concurrency.value().trim();
    let concurrency = if conc_text.is_empty() || conc_text.eq_ignore_ascii_case("auto") {
        None
    } else {
        Some(request::parse_concurrency("concurrency", conc_text).map_err(|e| e.to_string())?)
    };
    let options = CopyOptions {
        part_size,
        concurrency,
        storage_class: (d.class > 0).then(|| storage_class_label(d.class).to_string()),
        overwrite: d.overwrite,
        ..Default::default()
    };
    let key = d.key.value().trim_start_matches('/');
    let check = |source: String, destination: String, recursive: bool, size: Option<u64>| {
        let spec = request::check(CopyRequest {
            source: CosUri {
                bucket: d.source_bucket.clone(),
                key: source,
            },
            destination: CosUri {
                bucket: dest_bucket.clone(),
                key: destination,
            },
            recursive,
            options: options.clone(),
            known_size: size,
        })
        .map_err(|e| e.to_string())?;
        crate::store::encode::validate_key(&spec.destination.key)
            .map_err(|e| format!("destination key: {e}"))?;
        Ok::<_, String>(spec)
    };
    if d.is_single_object() && !key.ends_with('/') {
        if key.is_empty() {
            return Err("the destination key is empty: type one".into());
        }
        let (k, size) = &d.objects[0];
        return Ok(vec![check(k.clone(), key.to_string(), false, Some(*size))?]);
    }
    let dest_prefix = if key.is_empty() || key.ends_with('/') {
        key.to_string()
    } else {
        format!("{key}/")
    };
    let mut specs = Vec::new();
    for (k, size) in &d.objects {
        let rel = k.strip_prefix(&d.base).unwrap_or(k);
        specs.push(check(
            k.clone(),
            format!("{dest_prefix}{rel}"),
            false,
            Some(*size),
        )?);
    }
    for p in &d.prefixes {
        let rel = p.strip_prefix(&d.base).unwrap_or(p);
        specs.push(check(p.clone(), format!("{dest_prefix}{rel}"), true, None)?);
    }
    Ok(specs)
}
