//! The four screens, one module each: the state a screen owns and its `handle(action, ctx)`,
//! which changes that state and answers with engine `Command`s.
//!
//! A screen never reaches into another screen or into the App: what it may read or ask for
//! besides its own state comes through `Ctx` (the jobs the engine reported, the clock, the
//! status line, a dialog to open). Pure: no terminal, no network, no awaiting.

pub mod browse;
pub mod log;
pub mod queue;
pub mod uploads;

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::dialogs::Dialog;
use super::jobs::JobModel;
use crate::engine::{CopyOptions, JobId};
use crate::store::CosUri;

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
    pub fn index(self) -> usize {
        Screen::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

/// A message for the status line, set by a screen or dialog and shown by the App.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    Info(String),
    Error(String),
}

/// What a screen or dialog may use besides its own state. The App builds one per key and
/// applies what was asked for (`note`, `dialog`) afterwards.
pub struct Ctx<'a> {
    pub now: SystemTime,
    /// The jobs the engine reported (shared by the Queue, Uploads and the quit dialog).
    pub jobs: &'a mut BTreeMap<JobId, JobModel>,
    /// (global limit, effective) from `Event::Concurrency`.
    pub concurrency: Option<(usize, usize)>,
    /// Rows a page key moves.
    pub page: usize,
    pub access_paths: &'a [CosUri],
    pub copy_defaults: &'a CopyOptions,
    /// Set by `note` / `error`: the last one wins.
    pub note: Option<Note>,
    /// Set by `open`: the dialog to show after this key.
    pub dialog: Option<Dialog>,
}

impl Ctx<'_> {
    /// A note on the status line (it expires).
    pub fn note(&mut self, msg: impl Into<String>) {
        self.note = Some(Note::Info(msg.into()));
    }
    /// An error on the status line (it stays longer).
    pub fn error(&mut self, msg: impl Into<String>) {
        self.note = Some(Note::Error(msg.into()));
    }
    /// Opens a dialog over the screen.
    pub fn open(&mut self, d: Dialog) {
        self.dialog = Some(d);
    }
}
