//! The Log screen: requests and log lines, newest last, capped at `LOG_CAP`; it follows the
//! tail unless scrolled up.
//!
//! Owns the lines and the scroll position; lines arrive through `push`.

use std::collections::VecDeque;
use std::time::SystemTime;

use crate::engine::LogLevel;
use crate::store::RequestRecord;

/// Log lines kept on the Log screen.
pub const LOG_CAP: usize = 5_000;

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

/// The Log screen's own state.
#[derive(Debug, Clone, Default)]
pub struct LogState {
    pub entries: VecDeque<LogEntry>,
    /// Rows scrolled up from the newest; 0 follows the tail.
    pub back: usize,
}

impl LogState {
    pub fn push(&mut self, e: LogEntry) {
        if self.entries.len() == LOG_CAP {
            self.entries.pop_front();
        }
        self.entries.push_back(e);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<&LogEntry> {
        self.entries.get(i)
    }

    /// Rows and the cursor (the newest row shown).
    pub fn len_cursor(&self) -> (usize, usize) {
        let n = self.entries.len();
        (n, n.saturating_sub(1 + self.back))
    }

    /// Puts the cursor (the newest row shown) on row `c`.
    pub fn set_cursor(&mut self, c: usize) {
        self.back = self.entries.len().saturating_sub(1).saturating_sub(c);
    }
}
