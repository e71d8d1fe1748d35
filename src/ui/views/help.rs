//! The help overlay (`?`): every binding of the key map, grouped by context, generated from
//! the same `Keymap` the App uses, so a user's rebinding shows here as it works. The screen it
//! was opened on comes first, with its legend (`legend.rs`: what its figures and glyphs mean).
//!
//! Pure: draws from the key map.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::{Block, Borders, Widget};

use super::{fit, popup, put};
use crate::ui::keymap::{Context, Keymap};
use crate::ui::theme::Theme;

pub fn lines(keymap: &Keymap) -> Vec<(bool, String)> {
    searched(keymap, "")
}

/// Help's lines whose binding (keys or description) contains `search` (case-insensitive),
/// under their section titles; every line when it is empty.
pub fn searched(keymap: &Keymap, search: &str) -> Vec<(bool, String)> {
    scoped(keymap, search, None)
}

/// `searched`, with the section of `scope` first and its legend under it (lines of the legend
/// are searched too).
pub fn scoped(
    keymap: &Keymap,
    search: &str,
    scope: Option<(Context, &Theme)>,
) -> Vec<(bool, String)> {
    let q = search.to_lowercase();
    let mut out = Vec::new();
    let first = scope.map(|(c, _)| c);
    let mut order: Vec<Context> = first.into_iter().collect();
    order.extend(Context::ALL.into_iter().filter(|c| Some(*c) != first));
    for ctx in order {
        if let Some((_, t)) = scope.filter(|(c, _)| *c == ctx) {
            let mut rows = section_rows(keymap, ctx, &q);
            let legend: Vec<String> = super::legend::lines(ctx, t)
                .into_iter()
                .filter(|l| q.is_empty() || l.to_lowercase().contains(&q))
                .collect();
            if !rows.is_empty() {
                out.push((true, title(ctx).to_string()));
                out.extend(rows.drain(..).map(|l| (false, l)));
            }
            if !legend.is_empty() {
                out.push((true, format!("{} · what the figures mean", title(ctx))));
                out.extend(legend.into_iter().map(|l| (false, l)));
            }
            continue;
        }
        let rows = section_rows(keymap, ctx, &q);
        if rows.is_empty() {
            continue;
        }
        out.push((true, title(ctx).to_string()));
        out.extend(rows.into_iter().map(|l| (false, l)));
    }
    out
}

/// One context's bindings as Help lines, those matching `q` (lower case; all when empty).
fn section_rows(keymap: &Keymap, ctx: Context, q: &str) -> Vec<String> {
    keymap
        .bindings(ctx)
        .iter()
        .map(|binding| {
            let keys: Vec<String> = binding.keys.iter().map(|k| k.label()).collect();
            format!("  {:18} {}", keys.join(" "), binding.desc)
        })
        .filter(|l| q.is_empty() || l.to_lowercase().contains(q))
        .collect()
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
        Context::Input => "Search (after /)",
    }
}

/// Help's lines wrapped to `w` columns: a description that does not fit continues under
/// itself (hanging indent), nothing is cut.
pub fn wrapped(
    keymap: &Keymap,
    search: &str,
    scope: Option<(Context, &Theme)>,
    w: usize,
) -> Vec<(bool, String)> {
    let indent = 2 + 18 + 1;
    let mut out = Vec::new();
    for (is_title, l) in scoped(keymap, search, scope) {
        if is_title || l.chars().count() <= w || w <= indent + 8 {
            out.push((is_title, l));
            continue;
        }
        let head: String = l.chars().take(indent).collect();
        let rest: String = l.chars().skip(indent).collect();
        for (i, part) in super::dialog::wrap(&rest, w - indent)
            .into_iter()
            .enumerate()
        {
            let lead = if i == 0 {
                head.clone()
            } else {
                " ".repeat(indent)
            };
            out.push((false, format!("{lead}{part}")));
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
pub fn render(
    keymap: &Keymap,
    t: &Theme,
    scope: Context,
    scroll: usize,
    search: &str,
    area: Rect,
    buf: &mut Buffer,
) {
    let w = super::dialog::dialog_width(area).saturating_sub(2);
    let r = popup(area, w, area.height.saturating_sub(2).max(3), buf);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(if search.is_empty() {
            " Help · j/k scroll · / search · Esc closes ".to_string()
        } else {
            format!(" Help · /{search} · j/k scroll · Esc clears the search ")
        })
        .border_style(t.accent());
    let inner = block.inner(r);
    block.render(r, buf);
    let mut all = wrapped(
        keymap,
        search,
        Some((scope, t)),
        inner.width.saturating_sub(1) as usize,
    );
    if all.is_empty() {
        all.push((
            false,
            format!("No key matches /{search} (Esc clears the search)."),
        ));
    }
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
