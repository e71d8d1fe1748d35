//! Help (`?`): every binding of the key map; `j`/`k` scroll, Esc, `q` or `?` close. The text
//! is drawn by `views::help` from the same key map the App uses.

use super::Reply;
use crate::ui::keymap::Action;

/// Scrolls or closes Help.
pub fn handle(scroll: &mut usize, action: Action) -> Reply {
    match action {
        Action::Down => *scroll += 1,
        Action::Up => *scroll = scroll.saturating_sub(1),
        Action::Back | Action::Cancel | Action::Help | Action::No => return Reply::Close,
        _ => {}
    }
    Reply::Keep
}
