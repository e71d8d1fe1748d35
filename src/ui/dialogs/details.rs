//! An object's details (`i` or Enter on an object): its URI, then its metadata once the HEAD
//! the screen asked for arrives. Esc, Enter or `n` close it.

use super::Reply;
use crate::store::{CosUri, ObjectMeta};
use crate::ui::keymap::Action;

/// Details of one object (`i`).
#[derive(Debug, Clone)]
pub struct Details {
    pub uri: CosUri,
    pub meta: Option<Result<ObjectMeta, String>>,
}

impl Details {
    pub fn handle(&mut self, action: Action) -> Reply {
        match action {
            Action::Cancel | Action::Back | Action::Confirm | Action::No => Reply::Close,
            _ => Reply::Keep,
        }
    }

    /// The HEAD of an object arrived; it fills the dialog if it is for this object.
    pub fn on_meta(&mut self, uri: &CosUri, meta: Result<ObjectMeta, String>) {
        if &self.uri == uri {
            self.meta = Some(meta);
        }
    }
}
