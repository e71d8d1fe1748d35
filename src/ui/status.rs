//! The status line: one message at a time, a note that expires after `STATUS_TTL` on the app
//! clock, an error after `ERROR_TTL`, or a sticky one that stays until replaced. It only
//! holds text; the views draw it.

use std::time::Duration;

use super::app::App;

/// How long a note stays on the status line (app clock); errors stay longer.
pub const STATUS_TTL: Duration = Duration::from_secs(5);
pub const ERROR_TTL: Duration = Duration::from_secs(30);

impl App {
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

    /// Drops a note (not an error, not a sticky message): called before each key.
    pub fn clear_note(&mut self) {
        if self.status_ttl == Some(STATUS_TTL) {
            self.status = None;
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
}
