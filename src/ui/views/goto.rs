//! The go-to dialog (`:`): one line to type a location in, its error, and the keys.
//!
//! Pure: draws from the dialog's state.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Borders, Widget};

use super::{fit_left, popup, put};
use crate::ui::dialogs::goto::Goto;
use crate::ui::theme::Theme;

pub fn render(g: &Goto, t: &Theme, area: Rect, buf: &mut Buffer) {
    let w = area.width.saturating_sub(4).clamp(20, 100);
    let r = popup(area, w, 5, buf);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" Go to · Enter opens · Esc closes ")
        .border_style(t.accent());
    let inner = block.inner(r);
    block.render(r, buf);
    if inner.height == 0 || inner.width < 4 {
        return;
    }
    let room = inner.width.saturating_sub(2) as usize;
    let text = fit_left(g.input.value(), room);
    put(
        buf,
        inner.x + 1,
        inner.y,
        &text,
        inner.width - 1,
        Style::default(),
    );
    let cx = inner.x + 1 + (g.input.visual_cursor().min(room)) as u16;
    if cx < inner.x + inner.width {
        buf[(cx, inner.y)].set_style(Style::default().add_modifier(Modifier::REVERSED));
    }
    let (line, style) = match &g.error {
        Some(e) => (e.clone(), t.error()),
        None => (
            "cos://BUCKET-APPID/prefix/ (an object's URI opens its folder)".to_string(),
            t.dim(),
        ),
    };
    if inner.height > 1 {
        put(
            buf,
            inner.x + 1,
            inner.y + 2.min(inner.height - 1),
            &super::fit(&line, room),
            inner.width - 1,
            style,
        );
    }
}
