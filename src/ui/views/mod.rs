//! Views: pure functions from App state to a `Buffer`. The screen is a tab bar, a body (the
//! current screen), a status line and a footer of key hints, with dialogs drawn on top.
//!
//! Nothing here mutates state or talks to anything. Layout helpers are shared with the App's
//! mouse handling (`tab_spans`, `row_at`) so clicks land where the rows were drawn.

pub mod browse;
pub mod dialog;
pub mod goto;
pub mod help;
pub mod job;
pub mod legend;
pub mod log;
pub mod queue;
pub mod uploads;

use std::time::Duration;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Clear, Widget};

use super::app::{App, CopyField, Dialog, Screen};
use super::keymap::{Action, Context};
use super::theme::Theme;

/// Smallest area the views lay out; below it they draw a note instead.
pub const MIN_WIDTH: u16 = 20;
pub const MIN_HEIGHT: u16 = 5;

/// The main areas: tab bar, body, status line, footer.
pub struct Areas {
    pub tabs: Rect,
    pub body: Rect,
    pub status: Rect,
    pub footer: Rect,
}

pub fn areas(area: Rect) -> Areas {
    let h = area.height;
    Areas {
        tabs: Rect::new(area.x, area.y, area.width, 1.min(h)),
        body: Rect::new(area.x, area.y + 1, area.width, h.saturating_sub(3)),
        status: Rect::new(area.x, area.y + h.saturating_sub(2), area.width, 1),
        footer: Rect::new(area.x, area.y + h.saturating_sub(1), area.width, 1),
    }
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        put(
            buf,
            area.x,
            area.y,
            "haul: enlarge the terminal",
            area.width,
            app.theme.accent(),
        );
        return;
    }
    let a = areas(area);
    render_tabs(app, a.tabs, buf);
    match app.screen {
        Screen::Browse => browse::render(app, a.body, buf),
        Screen::Queue => match app.queue.detail.and_then(|id| app.jobs.get(&id)) {
            Some(job) => job::render(job, &app.theme, app.now(), a.body, buf),
            None => queue::render(app, a.body, buf),
        },
        Screen::Uploads => uploads::render(app, a.body, buf),
        Screen::Log => log::render(app, a.body, buf),
    }
    render_status(app, a.status, buf);
    render_footer(app, a.footer, buf);
    match &app.dialog {
        Some(Dialog::Help { scroll, search }) => {
            let scope = match app.screen {
                Screen::Browse => Context::Browse,
                Screen::Queue if app.queue.detail.is_some() => Context::Job,
                Screen::Queue => Context::Queue,
                Screen::Uploads => Context::Uploads,
                Screen::Log => Context::Log,
            };
            help::render(&app.keymap, &app.theme, scope, *scroll, search, area, buf)
        }
        Some(Dialog::Confirm(c)) => dialog::render_confirm(c, &app.theme, area, buf),
        Some(Dialog::Copy(d)) => dialog::render_copy(d, &app.theme, area, buf),
        Some(Dialog::Details(d)) => dialog::render_details(d, &app.theme, area, buf),
        Some(Dialog::Goto(g)) => goto::render(g, &app.theme, area, buf),
        None => {}
    }
}

/// Tab positions on the bar: (screen, first column, past-the-end column).
pub fn tab_spans(width: u16) -> Vec<(Screen, u16, u16)> {
    tab_spans_badged(width, "")
}

/// The Queue tab's news: transfers running (`▶3`) and failed (`✗1`), empty when none.
pub fn queue_badge(app: &App) -> String {
    let (running, failed) = crate::ui::jobs::tab_counts(app.jobs.values());
    let mut s = String::new();
    if running > 0 {
        s.push_str(&format!(" ▶{running}"));
    }
    if failed > 0 {
        s.push_str(&format!(" ✗{failed}"));
    }
    s
}

/// Tab positions with the Queue tab widened by its badge (what the bar draws, and what a click
/// is tested against).
pub fn tab_spans_badged(width: u16, badge: &str) -> Vec<(Screen, u16, u16)> {
    let mut x = 1u16;
    let mut out = Vec::new();
    for s in Screen::ALL {
        let mut w = (s.title().len() + 4) as u16; // "1 Browse" plus padding
        if s == Screen::Queue {
            w += badge.chars().count() as u16;
        }
        if x + w > width {
            break;
        }
        out.push((s, x, x + w));
        x += w + 1;
    }
    out
}

fn render_tabs(app: &App, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let badge = queue_badge(app);
    let spans = tab_spans_badged(area.width, &badge);
    for (i, (screen, x0, x1)) in spans.iter().copied().enumerate() {
        let style = if screen == app.screen {
            t.selected()
        } else {
            t.dim()
        };
        let label = format!(" {} {} ", i + 1, screen.title());
        let padded = format!("{label:w$}", w = (x1 - x0) as usize);
        put(buf, area.x + x0, area.y, &padded, x1 - x0, style);
        if screen == Screen::Queue && !badge.is_empty() {
            // Failures in the error colour, so they are seen from any screen.
            let bx = area.x + x0 + label.chars().count() as u16 - 1;
            let (running, failed) = badge.split_once(" ✗").unwrap_or((badge.as_str(), ""));
            put(buf, bx, area.y, running, x1 - bx, style);
            if !failed.is_empty() {
                let fx = bx + running.chars().count() as u16;
                put(
                    buf,
                    fx,
                    area.y,
                    &format!(" ✗{failed} "),
                    x1.saturating_sub(fx - area.x),
                    style.patch(t.error()),
                );
            }
        }
    }
    let title = format!("haul · {} ", app.title);
    let w = title.chars().count() as u16;
    let used = spans.last().map(|s| s.2).unwrap_or(0);
    if area.width > used + w + 1 {
        put(buf, area.x + area.width - w, area.y, &title, w, t.accent());
    }
}

fn render_status(app: &App, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    if let Some(input) = &app.filter_input {
        let text = format!("/{}", input.value());
        put(buf, area.x, area.y, &text, area.width, t.accent());
        let cx = area.x + 1 + input.visual_cursor() as u16;
        if cx < area.x + area.width {
            buf[(cx, area.y)].set_style(Style::default().add_modifier(Modifier::REVERSED));
        }
        return;
    }
    if let Some(s) = app.status_line() {
        let style = if app.status_is_error() {
            t.error()
        } else {
            t.fg("warn")
        };
        put(buf, area.x, area.y, s, area.width, style);
        return;
    }
    // On the Queue, a failed job's reason shows under the list while it is selected.
    if app.screen == Screen::Queue && app.dialog.is_none() {
        if let Some(j) = app.selected_job().and_then(|id| app.jobs.get(&id)) {
            if let crate::engine::JobState::Failed(reason) = &j.state {
                let then = if app.queue.starts_from_zero(j) {
                    "r starts a new upload from zero"
                } else {
                    "r retries"
                };
                let text = format!("job {} failed: {reason} ({then})", j.id);
                put(
                    buf,
                    area.x,
                    area.y,
                    &fit(&text, area.width as usize),
                    area.width,
                    t.error(),
                );
            } else if app.queue.detail.is_none() {
                // The full route of the selected job: the name column cuts it to fit.
                let head = format!("job {}: ", j.id);
                let room = (area.width as usize).saturating_sub(head.chars().count());
                let text = format!(
                    "{head}{}",
                    queue::route_full(&j.spec.source, &j.spec.destination, room)
                );
                put(buf, area.x, area.y, &text, area.width, t.dim());
            }
        }
    }
}

fn render_footer(app: &App, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let ctx = match app.filter_input {
        Some(_) => None,
        None => Some(app.context()),
    };
    let hints: Vec<(String, String, u8)> = match ctx {
        Some(_) if matches!(app.dialog, Some(Dialog::Goto(_))) => vec![
            ("Enter".into(), "open".into(), 0),
            ("Esc".into(), "close".into(), 1),
        ],
        Some(_) if matches!(app.dialog, Some(Dialog::Details(_))) => {
            vec![("Esc".into(), "close".into(), 0)]
        }
        Some(_) if matches!(&app.dialog, Some(Dialog::Copy(d)) if d.focus == CopyField::Bucket) => {
            vec![
                ("↑↓".into(), "pick bucket".into(), 0),
                ("Enter".into(), "take it".into(), 1),
                ("Esc".into(), "cancel".into(), 2),
            ]
        }
        Some(_) if matches!(app.dialog, Some(Dialog::Confirm(_))) => match &app.dialog {
            Some(Dialog::Confirm(c)) => confirm_hints(app, c),
            _ => vec![],
        },
        Some(_) if matches!(app.dialog, Some(Dialog::Copy(_))) => vec![
            ("Enter".into(), "queue".into(), 0),
            ("Tab".into(), "next field".into(), 1),
            ("←→".into(), "choose".into(), 2),
            ("Esc".into(), "cancel".into(), 3),
        ],
        Some(c) => app.keymap.hints_where(c, |a| app.action_applies(a)),
        // Typing a search: the keys that end it, from the key map's `input` context.
        None => app.keymap.hints(Context::Input),
    };
    // Take hints in priority order while they fit; drop the rest.
    let mut x = area.x;
    let end = area.x + area.width;
    for (k, d, _) in hints {
        let w = (k.chars().count() + d.chars().count() + 3) as u16;
        if x + w > end {
            break;
        }
        put(buf, x, area.y, &k, w, t.accent());
        put(
            buf,
            x + k.chars().count() as u16 + 1,
            area.y,
            &d,
            w,
            t.dim(),
        );
        x += w;
    }
    let _ = Context::Global;
}

/// A confirmation's footer: what `y`, `n` and Enter do in this dialog, by its buttons' names.
fn confirm_hints(app: &App, c: &crate::ui::app::Confirm) -> Vec<(String, String, u8)> {
    let key = |a: Action, d: &str| {
        app.keymap
            .key_for(Context::Dialog, a)
            .unwrap_or_else(|| d.to_string())
    };
    let lower = |b: crate::ui::app::Button| b.label().to_lowercase();
    vec![
        (key(Action::Yes, "y"), lower(c.yes()), 0),
        (key(Action::No, "n"), lower(c.no()), 1),
        (
            key(Action::Confirm, "Enter"),
            format!("{} (highlighted)", lower(c.highlighted())),
            2,
        ),
        ("←→".into(), "choose".into(), 3),
    ]
}

// ----- drawing helpers -------------------------------------------------------------------

/// Writes `s` at (x, y), clipped to `w` cells.
pub fn put(buf: &mut Buffer, x: u16, y: u16, s: &str, w: u16, style: Style) {
    if w == 0 || !buf.area.contains(ratatui::layout::Position { x, y }) {
        return;
    }
    let max = (buf.area.x + buf.area.width).saturating_sub(x).min(w);
    buf.set_stringn(x, y, s, max as usize, style);
}

/// `s` cut to `w` characters with a trailing `…` when cut.
pub fn fit(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n <= w {
        return s.to_string();
    }
    if w == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(w - 1).collect();
    out.push('…');
    out
}

/// `s` cut from the left (`…tail`) to `w` characters: keeps the end of a long key visible.
pub fn fit_left(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n <= w {
        return s.to_string();
    }
    if w == 0 {
        return String::new();
    }
    let mut out = String::from("…");
    out.extend(s.chars().skip(n - (w - 1)));
    out
}

/// Right-aligns `s` in `w` columns.
pub fn right(s: &str, w: usize) -> String {
    format!("{:>w$}", fit(s, w))
}

/// First visible row for a cursor: the list scrolls a page at a time, so it is a pure
/// function of the cursor, the height and the length (mouse hits agree with the drawing). The
/// last page ends at the last row: a list never scrolls past its end into blank rows.
pub fn scroll_offset(cursor: usize, height: usize, len: usize) -> usize {
    if height == 0 {
        return 0;
    }
    ((cursor / height) * height).min(len.saturating_sub(height))
}

/// Where each screen's list rows start (relative to the body's top).
pub fn list_top(app: &App) -> u16 {
    match app.screen {
        Screen::Browse => 2,
        Screen::Queue => 3,
        Screen::Uploads => 2,
        Screen::Log => 1,
    }
}

/// Which list row is drawn at terminal row `y`, if any.
pub fn row_at(app: &App, y: u16) -> Option<usize> {
    if app.screen == Screen::Queue && app.queue.detail.is_some() {
        return None;
    }
    let a = areas(app.size);
    let top = a.body.y + list_top(app);
    let mut bottom = a.body.y + a.body.height;
    if let (Screen::Browse, Some(list)) = (app.screen, app.browse.stack.last()) {
        // Agree with the drawing: a failed page's line takes the last row.
        bottom = top + browse::list_rows(list, a.body.height) as u16;
    }
    if y < top || y >= bottom {
        return None;
    }
    let height = (bottom - top) as usize;
    if app.screen == Screen::Log {
        return None;
    }
    let (len, cursor) = app.list_len_cursor();
    Some(scroll_offset(cursor, height, len) + (y - top) as usize)
}

/// A progress bar of `w` cells: exact part solid, estimated part shaded.
pub fn bar(theme: &Theme, exact: f64, estimated: f64, w: usize) -> Vec<(String, Style)> {
    let full = ((exact.clamp(0.0, 1.0)) * w as f64).floor() as usize;
    let est = ((estimated.clamp(0.0, 1.0)) * w as f64).floor() as usize;
    let est = est.max(full).min(w);
    vec![
        (theme.symbols.bar_full.repeat(full), theme.fg("ok")),
        (theme.symbols.bar_estimate.repeat(est - full), theme.dim()),
        (theme.symbols.bar_empty.repeat(w - est), theme.dim()),
    ]
}

/// Draws styled segments from (x, y), clipped to `w`.
pub fn put_spans(buf: &mut Buffer, x: u16, y: u16, spans: &[(String, Style)], w: u16) {
    let mut cx = x;
    let end = x.saturating_add(w);
    for (s, st) in spans {
        if cx >= end {
            break;
        }
        put(buf, cx, y, s, end - cx, *st);
        cx = cx.saturating_add(s.chars().count() as u16);
    }
}

pub fn format_rate(bps: f64) -> String {
    if bps <= 0.0 {
        return "-".into();
    }
    format!("{}/s", crate::units::format_size(bps as u64))
}

/// The engine's ETA format (one for the CLI and the TUI), `-` when there is none.
pub fn format_eta(d: Option<Duration>) -> String {
    d.map(crate::engine::progress::format_eta)
        .unwrap_or_else(|| "-".into())
}

/// A count and its noun: `count(1, "job", "jobs")` → "1 job", 3,000 → "3,000 jobs".
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!(
        "{} {}",
        thousands(n as u64),
        if n == 1 { one } else { many }
    )
}

/// Thousands separators: 10000 → "10,000".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Columns blanked either side of a popup so half-cut background text never sits against its
/// border; a background strip narrower than `POPUP_STRAY` beyond that is blanked too.
const POPUP_GUTTER: u16 = 2;
const POPUP_STRAY: u16 = 3;

/// Place a centred popup of at most `w`×`h` inside `area` and clear it plus a gutter either side,
/// so nothing drawn underneath shows through or bleeds beside its border at any width.
pub fn popup(area: Rect, w: u16, h: u16, buf: &mut Buffer) -> Rect {
    let r = centered(area, w, h);
    let left = r.x - area.x;
    let right = (area.x + area.width) - (r.x + r.width);
    let gutter = |margin: u16| {
        if margin < POPUP_GUTTER + POPUP_STRAY {
            margin
        } else {
            POPUP_GUTTER
        }
    };
    let (gl, gr) = (gutter(left), gutter(right));
    Clear.render(Rect::new(r.x - gl, r.y, r.width + gl + gr, r.height), buf);
    r
}

/// A centred rectangle of at most `w`×`h` inside `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}
