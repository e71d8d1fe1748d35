//! The Log screen: requests and log lines, newest last, capped at `LOG_CAP`; it follows the
//! tail unless scrolled up. A search (`/`) and a level (`v`: everything, log lines only,
//! warnings and failed requests, errors) narrow what it shows.
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

/// The Log screen's own state. With a search (`/`) the screen shows only the entries whose
/// text contains it: `len`, `get` and the cursor are over those.
#[derive(Debug, Clone, Default)]
pub struct LogState {
    pub entries: VecDeque<LogEntry>,
    /// Rows scrolled up from the newest; 0 follows the tail.
    pub back: usize,
    /// Sequence number of `entries[0]` (entries dropped at the cap shift it).
    first_seq: u64,
    search: String,
    /// The least severe entries shown.
    pub level: LevelFilter,
    /// Sequence numbers of the entries that match `search` and `level`, oldest first.
    matches: VecDeque<u64>,
}

/// Which entries the Log shows, by severity (`v` cycles).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LevelFilter {
    #[default]
    All,
    /// Log lines, no requests.
    Lines,
    /// Warnings and errors, and requests that failed (an error status or no answer).
    Warnings,
    /// Errors, and requests answered 5xx or not at all.
    Errors,
}

impl LevelFilter {
    pub fn next(self) -> LevelFilter {
        match self {
            LevelFilter::All => LevelFilter::Lines,
            LevelFilter::Lines => LevelFilter::Warnings,
            LevelFilter::Warnings => LevelFilter::Errors,
            LevelFilter::Errors => LevelFilter::All,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            LevelFilter::All => "everything",
            LevelFilter::Lines => "log lines (no requests)",
            LevelFilter::Warnings => "warnings, errors and failed requests",
            LevelFilter::Errors => "errors and requests answered 5xx or not at all",
        }
    }

    fn accepts(self, e: &LogEntry) -> bool {
        match (self, e) {
            (LevelFilter::All, _) => true,
            (LevelFilter::Lines, LogEntry::Line { .. }) => true,
            (LevelFilter::Lines, LogEntry::Request { .. }) => false,
            (LevelFilter::Warnings, LogEntry::Line { level, .. }) => *level != LogLevel::Info,
            (LevelFilter::Warnings, LogEntry::Request { record, .. }) => {
                record.status.is_none_or(|s| s >= 400)
            }
            (LevelFilter::Errors, LogEntry::Line { level, .. }) => *level == LogLevel::Error,
            (LevelFilter::Errors, LogEntry::Request { record, .. }) => {
                record.status.is_none_or(|s| s >= 500)
            }
        }
    }
}

impl LogState {
    pub fn push(&mut self, e: LogEntry) {
        if self.entries.len() == LOG_CAP {
            self.entries.pop_front();
            if self.matches.front() == Some(&self.first_seq) {
                self.matches.pop_front();
            }
            self.first_seq += 1;
        }
        if !self.unfiltered() && self.shows(&e) {
            self.matches
                .push_back(self.first_seq + self.entries.len() as u64);
        }
        self.entries.push_back(e);
    }

    pub fn search(&self) -> &str {
        &self.search
    }

    /// Shows only the entries containing `text` (case-insensitive); empty shows all.
    pub fn set_search(&mut self, text: String) {
        self.search = text.to_lowercase();
        self.refilter();
    }

    /// Shows the entries `level` accepts (and the search matches).
    pub fn set_level(&mut self, level: LevelFilter) {
        self.level = level;
        self.refilter();
    }

    fn unfiltered(&self) -> bool {
        self.search.is_empty() && self.level == LevelFilter::All
    }

    fn shows(&self, e: &LogEntry) -> bool {
        self.level.accepts(e) && (self.search.is_empty() || matches(e, &self.search))
    }

    fn refilter(&mut self) {
        self.back = 0;
        self.matches = if self.unfiltered() {
            VecDeque::new()
        } else {
            (0..self.entries.len())
                .filter(|&i| self.shows(&self.entries[i]))
                .map(|i| self.first_seq + i as u64)
                .collect()
        };
    }

    /// Entries shown (those matching the search).
    pub fn len(&self) -> usize {
        if self.unfiltered() {
            self.entries.len()
        } else {
            self.matches.len()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries in the log, searched or not.
    pub fn total(&self) -> usize {
        self.entries.len()
    }

    /// The `i`th entry shown.
    pub fn get(&self, i: usize) -> Option<&LogEntry> {
        if self.unfiltered() {
            return self.entries.get(i);
        }
        let seq = *self.matches.get(i)?;
        self.entries.get((seq - self.first_seq) as usize)
    }

    /// Rows and the cursor (the newest row shown).
    pub fn len_cursor(&self) -> (usize, usize) {
        let n = self.len();
        (n, n.saturating_sub(1 + self.back))
    }

    /// Puts the cursor (the newest row shown) on row `c`, but never above the last row of the
    /// first screenful: scrolled to the top, a full `page` of the oldest rows shows.
    pub fn set_cursor(&mut self, c: usize, page: usize) {
        let n = self.len();
        let c = c.max(page.min(n).saturating_sub(1));
        self.back = n.saturating_sub(1).saturating_sub(c);
    }
}

/// Whether an entry's text (as the Log shows it, without the time) contains `q` (lowercase).
fn matches(e: &LogEntry, q: &str) -> bool {
    let text = match e {
        LogEntry::Request { record, .. } => format!(
            "{} {} {} {} {}",
            record.method,
            record
                .status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "neterr".into()),
            record.resource.split('?').next().unwrap_or_default(),
            record.code.as_deref().unwrap_or_default(),
            record.request_id.as_deref().unwrap_or_default()
        ),
        LogEntry::Line { level, message, .. } => format!("{level:?} {message}"),
    };
    text.to_lowercase().contains(q)
}
