//! The help overlay (`?`): every binding of the key map, grouped by context, generated from
//! the same `Keymap` the App uses, so a user's rebinding shows here as it works. The screen it
//! was opened on comes first, with its legend (`legend.rs`), then Everywhere, then the rest.
//!
//! Pure: draws from the key map.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::{Block, Borders, Widget};

use super::{fit, popup, put};
use crate::ui::keymap::{Context, Keymap};
use crate::ui::theme::Theme;

pub fn lines(keymap: &Keymap, scope: Context, t: &Theme) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut order = vec![scope];
    order.extend(Context::ALL.into_iter().filter(|c| *c != scope));
    for ctx in order {
        let b = keymap.bindings(ctx);
        if b.is_empty() {
            continue;
        }
        out.push((true, title(ctx).to_string()));
        for binding in b {
            let keys: Vec<String> = binding.keys.iter().map(|k| k.label()).collect();
            out.push((false, format!("  {:18} {}", keys.join(" "), binding.desc)));
        }
        if ctx == scope {
            let legend = super::legend::lines(scope, t);
            if !legend.is_empty() {
                out.push((true, format!("{} · what the figures mean", title(ctx))));
                out.extend(legend.into_iter().map(|l| (false, l)));
            }
        }
    }
    out
}

fn title(ctx: Context) -> &'static str {
    match ctx {
        Context::Global => "Everywhere",
        Context::Browse => "Browse",
        Context::Queue => "Queue",
        Context::Job => "Job detail",
        Context::Uploads => "Uploads",
        Context::Log => "Log",
        Context::Dialog => "Dialogs",
        Context::Help => "Help",
    }
}

pub fn render(
    keymap: &Keymap,
    t: &Theme,
    scope: Context,
    scroll: usize,
    area: Rect,
    buf: &mut Buffer,
) {
    let r = popup(area, 76, area.height.saturating_sub(2).max(3), buf);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" Help · j/k scroll · Esc closes ")
        .border_style(t.accent());
    let inner = block.inner(r);
    block.render(r, buf);
    let all = lines(keymap, scope, t);
    let h = inner.height as usize;
    let scroll = scroll.min(all.len().saturating_sub(h));
    for (i, (is_title, l)) in all.iter().skip(scroll).take(h).enumerate() {
        let style = if *is_title {
            t.title()
        } else {
            Default::default()
        };
        put(
            buf,
            inner.x + 1,
            inner.y + i as u16,
            &fit(l, inner.width.saturating_sub(1) as usize),
            inner.width.saturating_sub(1),
            style,
        );
    }
}
