//! The dialogs drawn over a screen, one module each: the copy dialog (`c`), confirmations
//! (abort a job, abort uploads, quit), an object's details (`i`) and Help (`?`).
//!
//! A dialog owns its state and turns keys into a `Reply`; the App applies the reply (closes
//! the dialog, sends commands, sets the status line). Pure: no terminal, no network.

pub mod confirm;
pub mod copy;
pub mod details;
pub mod goto;
pub mod help;

use crossterm::event::KeyEvent;

use self::confirm::{Button, Confirm, ConfirmKind};
use self::copy::CopyDialog;
use self::details::Details;
use super::keymap::Action;
use crate::engine::CopySpec;

#[derive(Debug, Clone)]
pub enum Dialog {
    Copy(Box<CopyDialog>),
    Confirm(Confirm),
    Details(Details),
    /// Help, scrolled by `scroll` lines, showing only the bindings that contain `search`.
    Help {
        scroll: usize,
        search: String,
    },
    /// `:` go to a typed location.
    Goto(goto::Goto),
}

/// What a dialog asks the App to do after a key.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Stay open.
    Keep,
    /// Close; nothing else happens.
    Close,
    /// A confirmation was answered with a button.
    Answer(ConfirmKind, Button),
    /// The copy dialog was left without copying.
    CopyCancelled,
    /// The copy dialog checked its fields: queue these copies.
    Queue(Vec<CopySpec>),
    /// Close and quit (Ctrl-c inside a dialog).
    Quit,
    /// Open this location on Browse.
    Goto(crate::store::CosUri),
}

impl Dialog {
    /// Whether the dialog reads raw keys (text fields) instead of key-map actions.
    pub fn takes_keys(&self) -> bool {
        matches!(self, Dialog::Copy(_) | Dialog::Goto(_))
    }

    /// A raw key, for dialogs with text fields.
    pub fn on_key(&mut self, ev: KeyEvent) -> Reply {
        match self {
            Dialog::Copy(d) => d.handle_key(ev),
            Dialog::Goto(g) => g.handle_key(ev),
            _ => Reply::Keep,
        }
    }

    /// A key-map action.
    pub fn on_action(&mut self, action: Action) -> Reply {
        match self {
            Dialog::Help { scroll, .. } => help::handle(scroll, action),
            Dialog::Details(d) => d.handle(action),
            Dialog::Confirm(c) => c.handle(action),
            Dialog::Copy(_) | Dialog::Goto(_) => Reply::Keep,
        }
    }
}
