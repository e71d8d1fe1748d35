//! The App: the thin router of the UI. A key becomes an `Action` through the key map and goes
//! to the open dialog, else to the current screen; each owns its state and answers with
//! engine `Command`s (`screens/`, `dialogs/`). Engine events are folded in `events`.
//!
//! Pure: no terminal, no network, no awaiting. Time comes from the injected `Clock`. The run
//! loop in `ui::mod` owns the terminal and the channels and calls in here.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use tui_input::Input;

use super::clock::Clock;
use super::jobs::JobModel;
use super::keymap::{Action, Context, Key, Keymap};
use super::screens::Ctx;
use super::theme::Theme;
use super::views::count;
use crate::engine::{BrowseRequest, Command, CopyOptions, JobId, JobState, LogLevel};
use crate::store::{BucketName, CosUri};

// The types screens and dialogs own, under the names the views and tests use.
pub use super::dialogs::confirm::{Button, Confirm, ConfirmKind};
pub use super::dialogs::copy::{storage_class_label, CopyDialog, CopyField, STORAGE_CLASS_CHOICES};
pub use super::dialogs::details::Details;
pub use super::dialogs::{Dialog, Reply};
pub use super::screens::browse::BrowseState;
pub use super::screens::log::{LogEntry, LogState, LOG_CAP};
pub use super::screens::queue::{QueueState, StateFilter};
use super::screens::uploads;
pub use super::screens::uploads::UploadsState;
pub use super::screens::{Note, Screen};
pub use super::status::{ERROR_TTL, STATUS_TTL};

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
    /// Ring the terminal bell when a transfer finishes or fails (`[ui] bell`).
    pub bell: bool,
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
            bell: false,
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
    /// The jobs the engine reported, shared by the Queue, Uploads and the quit dialog.
    pub jobs: BTreeMap<JobId, JobModel>,
    pub queue: QueueState,
    pub uploads: UploadsState,
    pub log: LogState,
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
    /// `[ui] bell`: ring when a transfer ends.
    pub bell: bool,
    /// Bytes for the terminal itself (the bell, an OSC 52 clipboard copy); the run loop writes
    /// and clears them.
    pub to_terminal: Vec<u8>,
    /// Interrupted transfers restored from the journal at start (announced on the status line).
    pub interrupted_found: usize,
    /// What the run loop prints once the terminal is restored (what became of the jobs).
    pub exit_note: Option<String>,
    /// Counts engine events and keys: what the Queue's remembered rows are valid for.
    pub rev: u64,
}

/// Runs `$body` with a `Ctx` over the App's shared state, then applies what it asked for (a
/// status note, a dialog). Screens' own fields stay borrowable beside it.
macro_rules! with_ctx {
    ($app:ident, $ctx:ident => $body:expr) => {{
        let mut $ctx = Ctx {
            now: $app.clock.now(),
            page: $app.page(),
            concurrency: $app.concurrency,
            jobs: &mut $app.jobs,
            access_paths: &$app.access_paths,
            copy_defaults: &$app.copy_defaults,
            note: None,
            dialog: None,
        };
        let out = $body;
        let (note, dialog) = ($ctx.note, $ctx.dialog);
        $app.apply(note, dialog);
        out
    }};
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
            queue: QueueState::default(),
            uploads: UploadsState::default(),
            log: LogState::default(),
            concurrency: None,
            dialog: None,
            filter_input: None,
            status: None,
            status_since: SystemTime::UNIX_EPOCH,
            status_ttl: None,
            size: Rect::new(0, 0, 80, 24),
            control: Control::None,
            dirty: true,
            bell: opts.bell,
            to_terminal: Vec::new(),
            interrupted_found: 0,
            exit_note: None,
            rev: 0,
        };
        for n in notes {
            app.push_log(LogLevel::Warn, n.clone());
            app.set_error(n);
        }
        app
    }

    /// The commands to send at start-up: list the buckets.
    pub fn start(&mut self) -> Vec<Command> {
        self.browse.start()
    }

    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// Applies what a screen or dialog asked for through its `Ctx`.
    fn apply(&mut self, note: Option<Note>, dialog: Option<Dialog>) {
        match note {
            Some(Note::Info(s)) => self.set_status(s),
            Some(Note::Error(s)) => self.set_error(s),
            None => {}
        }
        if dialog.is_some() {
            self.dialog = dialog;
        }
    }

    // ----- rendering -----------------------------------------------------------------------

    pub fn render(&self, area: Rect, buf: &mut Buffer) {
        super::views::render(self, area, buf);
    }

    /// The key context for the current screen and dialog.
    pub fn context(&self) -> Context {
        if self.filter_input.is_some() {
            return Context::Input;
        }
        match &self.dialog {
            Some(Dialog::Help { .. }) => Context::Help,
            Some(_) => Context::Dialog,
            None => match self.screen {
                Screen::Browse => Context::Browse,
                Screen::Queue if self.queue.detail.is_some() => Context::Job,
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
        let detail = self.queue.detail.is_some();
        match action {
            Action::Open => match self.screen {
                Screen::Browse => true,
                Screen::Queue => !detail && self.selected_job().is_some(),
                Screen::Uploads | Screen::Log => false,
            },
            Action::Back => match self.screen {
                _ if !self.search().is_empty() => true,
                Screen::Browse => in_bucket,
                Screen::Queue => detail,
                Screen::Uploads | Screen::Log => false,
            },
            Action::Filter => !(self.screen == Screen::Queue && detail),
            Action::Refresh => matches!(self.screen, Screen::Browse | Screen::Uploads),
            Action::Copy | Action::Info | Action::Mark | Action::MarkAll | Action::Sort => {
                self.screen != Screen::Browse || in_bucket
            }
            Action::Delete => self.screen == Screen::Browse && in_bucket,
            _ => true,
        }
    }

    fn page(&self) -> usize {
        (self.size.height as usize).saturating_sub(6).max(1)
    }

    // ----- input ---------------------------------------------------------------------------

    pub fn handle_key(&mut self, ev: KeyEvent) -> Vec<Command> {
        self.dirty = true;
        self.rev += 1;
        if ev.kind == crossterm::event::KeyEventKind::Release {
            return vec![];
        }
        // A note answers the key before: the next key replaces it (or clears it), so "open a
        // bucket first" does not outlive opening one. Errors stay their time.
        self.clear_note();
        if self.filter_input.is_some() {
            return self.search_key(ev);
        }
        if let Some(d) = self.dialog.as_mut().filter(|d| d.takes_keys()) {
            let reply = d.on_key(ev);
            return self.on_reply(reply);
        }
        let key = Key::from_event(&ev);
        // Ctrl-c always quits (through the dialog when jobs run), even inside dialogs.
        if ev.code == KeyCode::Char('c')
            && ev.modifiers.contains(KeyModifiers::CONTROL)
            && self.dialog.is_some()
        {
            return self.on_reply(Reply::Quit);
        }
        match self.keymap.action(self.context(), &key) {
            Some(a) => self.update(a),
            None => vec![],
        }
    }

    pub fn handle_mouse(&mut self, ev: MouseEvent) -> Vec<Command> {
        self.dirty = true;
        self.rev += 1;
        if !matches!(ev.kind, MouseEventKind::Moved) {
            self.clear_note();
        }
        if self.dialog.is_some() {
            return vec![];
        }
        match ev.kind {
            MouseEventKind::ScrollDown => self.update(Action::Down),
            MouseEventKind::ScrollUp => self.update(Action::Up),
            MouseEventKind::Down(MouseButton::Left) => {
                if ev.row == 0 {
                    for (screen, x0, x1) in super::views::tab_spans_badged(
                        self.size.width,
                        &super::views::queue_badge(self),
                    ) {
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

    /// Turns an action into state changes and commands: the open dialog takes it, else the
    /// App's own keys (tabs, help, quit, cursor), else the current screen.
    pub fn update(&mut self, action: Action) -> Vec<Command> {
        self.dirty = true;
        if self.search_first(action) {
            return vec![];
        }
        if let Some(d) = self.dialog.as_mut() {
            let reply = d.on_action(action);
            return self.on_reply(reply);
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
                self.dialog = Some(Dialog::Help {
                    scroll: 0,
                    search: String::new(),
                });
                vec![]
            }
            Action::Quit => self.quit(),
            Action::CopyUri => self.copy_uri(),
            Action::Goto => self.open_goto(),
            Action::Suspend => {
                self.control = Control::Suspend;
                vec![]
            }
            Action::Filter => {
                if self.action_applies(Action::Filter) {
                    self.filter_input = Some(Input::new(self.search()));
                }
                vec![]
            }
            _ => match self.screen {
                Screen::Browse => with_ctx!(self, ctx => self.browse.handle(action, &mut ctx)),
                Screen::Queue => with_ctx!(self, ctx => self.queue.handle(action, &mut ctx)),
                Screen::Uploads => match action {
                    Action::NextBucket => self.cycle_uploads_bucket(true),
                    Action::PrevBucket => self.cycle_uploads_bucket(false),
                    _ => with_ctx!(self, ctx => self.uploads.handle(action, &mut ctx)),
                },
                Screen::Log => match action {
                    Action::LogLevel => {
                        let level = self.log.level.next();
                        self.log.set_level(level);
                        self.set_status(format!("Log: showing {}", level.label()));
                        vec![]
                    }
                    _ => vec![],
                },
            },
        }
    }

    /// Applies a dialog's reply to a key.
    fn on_reply(&mut self, reply: Reply) -> Vec<Command> {
        match reply {
            Reply::Keep => vec![],
            Reply::Close => {
                self.dialog = None;
                vec![]
            }
            Reply::Answer(kind, button) => {
                self.dialog = None;
                self.confirmed(kind, button)
            }
            Reply::CopyCancelled => {
                self.dialog = None;
                self.set_status("copy cancelled");
                vec![]
            }
            Reply::Queue(specs) => {
                let cmds: Vec<Command> = specs.into_iter().map(Command::Enqueue).collect();
                let n = cmds.len();
                self.dialog = None;
                self.set_status(format!(
                    "queued {n} cop{}",
                    if n == 1 { "y" } else { "ies" }
                ));
                self.browse.clear_marks();
                cmds
            }
            Reply::Goto(uri) => {
                self.dialog = None;
                self.goto(uri)
            }
            Reply::Quit => {
                self.dialog = None;
                self.update(Action::Quit)
            }
        }
    }

    fn quit(&mut self) -> Vec<Command> {
        let running = self.unfinished_jobs();
        if running.is_empty() {
            self.control = Control::Quit;
            return vec![Command::Shutdown];
        }
        let lost = running
            .iter()
            .filter(|id| !self.queue.journaled.contains(id))
            .count();
        self.dialog = Some(Dialog::Confirm(Confirm::quit(running.len(), lost)));
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

    /// Does what the answer to a confirmation says.
    fn confirmed(&mut self, kind: ConfirmKind, button: Button) -> Vec<Command> {
        match (kind, button) {
            (ConfirmKind::AbortJob(id), Button::Abort) => {
                self.set_status(format!("aborting job {id}"));
                vec![Command::Abort(id)]
            }
            (ConfirmKind::AbortJob(id), _) => {
                self.set_status(format!("job {id} not aborted"));
                vec![]
            }
            (
                ConfirmKind::AbortUploads {
                    bucket,
                    uploads,
                    jobs,
                },
                Button::Abort,
            ) => {
                self.set_status(format!(
                    "aborting {} in {bucket}",
                    count(uploads.len(), "upload", "uploads")
                ));
                self.uploads.loading = true;
                self.queue.upload_gone.extend(jobs);
                vec![Command::AbortUploads { bucket, uploads }]
            }
            (ConfirmKind::ClearFinished, Button::Clear) => {
                self.set_status("clearing finished transfers");
                vec![Command::ClearFinished]
            }
            (ConfirmKind::DeleteObjects { bucket, keys }, Button::Delete) => {
                self.set_status(format!(
                    "deleting {} from cos://{bucket}/",
                    count(keys.len(), "object", "objects")
                ));
                vec![Command::DeleteObjects { bucket, keys }]
            }
            (ConfirmKind::DeleteObjects { .. }, _) => {
                self.set_status("nothing deleted");
                vec![]
            }
            (ConfirmKind::ClearFinished, _) => {
                self.set_status("nothing cleared");
                vec![]
            }
            (ConfirmKind::AbortUploads { .. }, _) => {
                self.set_status("no upload aborted");
                vec![]
            }
            (ConfirmKind::Quit, b @ (Button::PauseAndQuit | Button::AbortAndQuit)) => {
                let jobs = self.unfinished_jobs();
                self.exit_note = Some(exit_note(b, &jobs, &self.queue.journaled));
                let stop = if b == Button::PauseAndQuit {
                    Command::Pause
                } else {
                    Command::Abort
                };
                let mut cmds: Vec<Command> = jobs.into_iter().map(stop).collect();
                cmds.push(Command::Shutdown);
                self.control = Control::Quit;
                cmds
            }
            (ConfirmKind::Quit, _) => {
                self.set_status("not quitting");
                vec![]
            }
        }
    }

    pub(super) fn switch_to_browse(&mut self) -> Vec<Command> {
        self.switch(Screen::Browse)
    }

    fn switch(&mut self, screen: Screen) -> Vec<Command> {
        self.screen = screen;
        // A note belongs to the screen it was made on; errors and sticky messages stay.
        self.clear_note();
        self.filter_input = None;
        if screen == Screen::Uploads {
            let fallback = self.job_destination_buckets().into_iter().next();
            return self.uploads.enter(self.browse.location(), fallback);
        }
        vec![]
    }

    /// Destination buckets of jobs not finished yet, in job order.
    pub fn job_destination_buckets(&self) -> Vec<BucketName> {
        uploads::job_destination_buckets(&self.jobs)
    }

    fn cycle_uploads_bucket(&mut self, forward: bool) -> Vec<Command> {
        let all = uploads::buckets_to_offer(
            self.browse.location().map(|(b, _)| b),
            &self.jobs,
            self.browse.known_buckets(&self.access_paths),
        );
        let browse = self.browse.location();
        with_ctx!(self, ctx => self.uploads.cycle(&all, browse, forward, &mut ctx))
    }

    /// Asks for the uploads of the current target again (after an abort).
    pub(super) fn relist_uploads(&mut self) -> Vec<Command> {
        match self.uploads.target.clone() {
            Some((bucket, prefix)) => {
                self.uploads.loading = true;
                vec![Command::Browse(BrowseRequest::Uploads { bucket, prefix })]
            }
            None => vec![],
        }
    }
}

/// The line printed after the terminal is restored when quitting left jobs behind.
fn exit_note(b: Button, jobs: &[JobId], journaled: &std::collections::BTreeSet<JobId>) -> String {
    let ids: Vec<String> = jobs.iter().map(|j| j.to_string()).collect();
    let lost = jobs.iter().filter(|j| !journaled.contains(j)).count();
    let what = count(jobs.len(), "job", "jobs");
    if b == Button::AbortAndQuit {
        return format!(
            "haul: aborted {what} ({}); their uploads are deleted",
            ids.join(", ")
        );
    }
    let mut s = format!(
        "haul: paused {what} ({}); `haul jobs resume` continues them, or start haul again \
         (the Queue lists them as interrupted)",
        ids.join(", ")
    );
    if lost > 0 {
        s.push_str(&format!(
            "; {} not journaled and cannot be resumed",
            count(lost, "was", "were")
        ));
    }
    s
}
