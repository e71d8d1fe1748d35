//! Search (`/`) on every list: Browse's listing or bucket list, the Queue, Uploads, the Log
//! and Help. The text typed filters as it is typed (shown on the status line); Enter keeps it
//! (each screen's header shows it), Esc clears it. Esc or Back on a searched list clears the
//! search before it does anything else. The keys that end typing come from the key map's
//! `input` context, so Help and a user's key map describe them as they work.
//!
//! Each screen owns its search text; this module only routes keys to the current one.

use crossterm::event::KeyEvent;

use super::app::App;
use super::dialogs::copy::input_request;
use super::dialogs::Dialog;
use super::keymap::{Action, Context, Key};
use super::screens::Screen;
use crate::engine::Command;

impl App {
    /// The search of the current list (Help's while Help is open).
    pub fn search(&self) -> String {
        if let Some(Dialog::Help { search, .. }) = &self.dialog {
            return search.clone();
        }
        match self.screen {
            Screen::Browse => self.browse.filter(),
            Screen::Queue => self.queue.search.clone(),
            Screen::Uploads => self.uploads.search.clone(),
            Screen::Log => self.log.search().to_string(),
        }
    }

    /// Filters the current list (or Help) by `text`.
    pub(super) fn set_search(&mut self, text: String) {
        if let Some(Dialog::Help { search, scroll }) = &mut self.dialog {
            *search = text;
            *scroll = 0;
            return;
        }
        match self.screen {
            Screen::Browse => self.browse.set_filter(text),
            Screen::Queue => {
                self.queue.search = text;
                self.queue.cursor = 0;
            }
            Screen::Uploads => {
                self.uploads.search = text;
                self.uploads.cursor = 0;
            }
            Screen::Log => self.log.set_search(text),
        }
    }

    /// A key while typing a search.
    pub(super) fn search_key(&mut self, ev: KeyEvent) -> Vec<Command> {
        match self.keymap.action(Context::Input, &Key::from_event(&ev)) {
            Some(Action::Confirm) => {
                self.filter_input = None;
                return vec![];
            }
            Some(Action::Cancel) => {
                self.filter_input = None;
                self.set_search(String::new());
                return vec![];
            }
            _ => {}
        }
        let Some(input) = self.filter_input.as_mut() else {
            return vec![];
        };
        if let Some(req) = input_request(&ev) {
            input.handle(req);
        }
        let text = input.value().to_string();
        self.set_search(text);
        self.after_move()
    }

    /// Opens the search line on Help (`/` there); Back on a searched list or Help clears the
    /// search instead of leaving. True when the action was used up here.
    pub(super) fn search_first(&mut self, action: Action) -> bool {
        let help = matches!(self.dialog, Some(Dialog::Help { .. }));
        match action {
            Action::Filter if help => {
                self.filter_input = Some(tui_input::Input::new(self.search()));
                true
            }
            Action::Back if help || (self.dialog.is_none() && !self.in_job_detail()) => {
                if self.search().is_empty() {
                    return false;
                }
                self.set_search(String::new());
                true
            }
            _ => false,
        }
    }

    fn in_job_detail(&self) -> bool {
        self.screen == Screen::Queue && self.queue.detail.is_some()
    }
}
