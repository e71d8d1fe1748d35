//! The cursor on the current list: how many rows it has, moving over them, and what the
//! views ask about lists (the bucket entries, the jobs the Queue shows). Pure; part of the App.

use super::app::App;
use super::browse::BucketEntry;
use super::screens::Screen;
use crate::engine::{Command, JobId};

impl App {
    /// Rows of the current list and the cursor into them.
    pub fn list_len_cursor(&self) -> (usize, usize) {
        match self.screen {
            Screen::Browse => self.browse.len_cursor(&self.access_paths),
            Screen::Queue => (self.visible_jobs().len(), self.queue.cursor),
            Screen::Uploads => (self.uploads.visible().len(), self.uploads.cursor),
            Screen::Log => self.log.len_cursor(),
        }
    }

    pub fn set_cursor(&mut self, c: usize) {
        let (len, _) = self.list_len_cursor();
        let c = c.min(len.saturating_sub(1));
        match self.screen {
            Screen::Browse => self.browse.set_cursor(c),
            Screen::Queue => self.queue.cursor = c,
            Screen::Uploads => self.uploads.cursor = c,
            Screen::Log => {
                // Log rows under the tab bar and column header, less one date row.
                let page = (self.size.height as usize).saturating_sub(5).max(1);
                self.log.set_cursor(c, page)
            }
        }
    }

    pub(super) fn move_by(&mut self, delta: isize) -> Vec<Command> {
        if self.screen == Screen::Queue && self.queue.detail.is_some() {
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
    pub(super) fn after_move(&mut self) -> Vec<Command> {
        if self.screen != Screen::Browse {
            return vec![];
        }
        self.browse.after_move()
    }

    // ----- what the views ask ---------------------------------------------------------------

    /// The bucket screen's entries (see `BrowseState::bucket_entries`).
    pub fn bucket_entries(&self) -> Vec<BucketEntry> {
        self.browse.bucket_entries(&self.access_paths)
    }

    /// Job ids the Queue shows, in order.
    pub fn visible_jobs(&self) -> Vec<JobId> {
        self.queue.visible_at(&self.jobs, self.rev)
    }

    pub fn selected_job(&self) -> Option<JobId> {
        match self.queue.detail {
            Some(id) => Some(id),
            None => self.visible_jobs().get(self.queue.cursor).copied(),
        }
    }
}
