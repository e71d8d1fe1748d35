//! The Job detail screen. A one-object transfer: its facts (upload id, part size,
//! verification), a part map (one cell per part, or several parts per cell when the area is
//! small, with the scale shown), the parts in flight with estimated bars (shaded, prefixed
//! `~`), and the last errors in full. A prefix transfer: object counts and bytes, the objects
//! in flight, and the failed objects with their errors. A finished one: how long it took and
//! its average rate.
//!
//! Pure: a function of one `JobModel`, the theme and `now`.

use std::time::SystemTime;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::{Block, Borders, Paragraph, Widget, Wrap};

use super::{bar, fit, format_eta, format_rate, put, put_spans, thousands};
use crate::engine::{JobState, Verification};
use crate::ui::jobs::{JobModel, PartCell};
use crate::ui::theme::Theme;
use crate::units::format_size;

pub fn render(j: &JobModel, t: &Theme, now: SystemTime, area: Rect, buf: &mut Buffer) {
    if area.height < 4 {
        return;
    }
    if j.is_prefix() {
        return render_prefix(j, t, now, area, buf);
    }
    let w = area.width;
    let head = format!(
        "Job {} · {} · {} → {}",
        j.id,
        j.state.label(),
        j.spec.source,
        j.spec.destination
    );
    put(
        buf,
        area.x,
        area.y,
        &fit(&head, w as usize),
        w,
        t.state(&j.state).patch(t.title()),
    );
    let size = j
        .size
        .map(format_size)
        .unwrap_or_else(|| "not planned yet".into());
    let line2 = format!(
        "size {size} · part size {} · parts {} done, {} in flight, {} total",
        if j.part_size > 0 {
            format_size(j.part_size)
        } else {
            "-".into()
        },
        thousands(j.parts_done as u64),
        j.in_flight.len(),
        thousands(j.parts_total() as u64),
    );
    put(
        buf,
        area.x,
        area.y + 1,
        &fit(&line2, w as usize),
        w,
        Style::default(),
    );
    let line3 = format!(
        "{:.1}% · {} · retries {}{}",
        j.fraction() * 100.0,
        speed(j, now),
        j.retries,
        j.concurrency
            .map(|n| format!(" · up to {n} in flight"))
            .unwrap_or_default(),
    );
    put(
        buf,
        area.x,
        area.y + 2,
        &fit(&line3, w as usize),
        w,
        Style::default(),
    );
    let line4 = format!(
        "upload id {} · verification: {}",
        j.upload_id.as_deref().unwrap_or("-"),
        verification_text(&j.state, j.verification.as_ref())
    );
    put(
        buf,
        area.x,
        area.y + 3,
        &fit(&line4, w as usize),
        w,
        t.dim(),
    );

    let rest = Rect::new(area.x, area.y + 4, w, area.height - 4);
    if rest.height < 3 {
        return;
    }
    // Split: part map gets what it needs up to ~half, in-flight and errors share the rest.
    let inner_w = w.saturating_sub(2).max(1) as usize;
    let parts = j.parts.len().max(1);
    let want_rows = parts.div_ceil(inner_w) as u16 + 3;
    let map_h = want_rows.min((rest.height / 2).max(4)).min(rest.height);
    let map_area = Rect::new(rest.x, rest.y, w, map_h);
    render_part_map(j, t, map_area, buf);
    let below = Rect::new(rest.x, rest.y + map_h, w, rest.height - map_h);
    if below.height < 2 {
        return;
    }
    let err_h = if j.errors.is_empty() {
        2.min(below.height)
    } else {
        // As many lines as the wrapped errors need, at most half the space.
        let width = (w as usize).max(1);
        let need: usize = j
            .errors
            .iter()
            .map(|e| (e.chars().count() + 2).div_ceil(width))
            .sum();
        ((need + 1) as u16)
            .clamp(3, (below.height / 2).max(3))
            .min(below.height)
    };
    let fly = Rect::new(below.x, below.y, w, below.height - err_h);
    let errs = Rect::new(below.x, below.y + fly.height, w, err_h);
    render_in_flight(j, t, now, fly, buf);
    render_errors(j, t, errs, buf);
}

fn verification_text(state: &JobState, v: Option<&Verification>) -> String {
    match v {
        None if *state == JobState::Verifying => "checking…".into(),
        None => "not yet".into(),
        Some(v) if v.skipped => "skipped".into(),
        Some(v) => {
            let size = if v.size_matched {
                "size ✓"
            } else {
                "size ✗ MISMATCH"
            };
            let crc = match v.crc64_matched {
                Some(true) => "CRC64 ✓",
                Some(false) => "CRC64 ✗ MISMATCH",
                None => "CRC64 not compared (one side has none)",
            };
            format!("{size}, {crc}")
        }
    }
}

/// The state a cell of several parts shows: failures and retries first, then activity, then
/// done only when every part in it is done.
fn cell_state(cells: &[PartCell]) -> (PartCell, bool) {
    let mut any_done = false;
    let mut all_done = true;
    let mut worst = PartCell::Pending;
    for c in cells {
        match c {
            PartCell::Failed => return (PartCell::Failed, false),
            PartCell::Retrying => worst = PartCell::Retrying,
            PartCell::InFlight if worst != PartCell::Retrying => worst = PartCell::InFlight,
            PartCell::Done => any_done = true,
            _ => {}
        }
        if *c != PartCell::Done {
            all_done = false;
        }
    }
    if worst != PartCell::Pending {
        return (worst, false);
    }
    if all_done && !cells.is_empty() {
        return (PartCell::Done, false);
    }
    (PartCell::Pending, any_done)
}

pub fn parts_per_cell(parts: usize, cells: usize) -> usize {
    if cells == 0 {
        return parts.max(1);
    }
    parts.div_ceil(cells).max(1)
}

/// The part map's glyph for a state's role: the theme's symbol in colour; without colour,
/// shape tells the states apart.
pub fn part_glyph<'a>(t: &'a Theme, role: &str) -> &'a str {
    if !t.no_color {
        return t.symbols.part.as_str();
    }
    match role {
        "part_pending" => "·",
        "part_partial" => "▪",
        "part_inflight" => "▒",
        "part_retrying" => "?",
        "part_failed" => "X",
        _ => "█",
    }
}

fn render_part_map(j: &JobModel, t: &Theme, area: Rect, buf: &mut Buffer) {
    let inner_w = area.width.saturating_sub(2) as usize;
    let inner_h = area.height.saturating_sub(3) as usize; // border + legend line
    let parts = j.parts.len();
    let per = parts_per_cell(parts, inner_w * inner_h);
    let title = if parts == 0 {
        " Part map ".to_string()
    } else if per == 1 {
        format!(
            " Part map · {} parts · 1 cell = 1 part ",
            thousands(parts as u64)
        )
    } else {
        format!(
            " Part map · {} parts · 1 cell = {per} parts ",
            thousands(parts as u64)
        )
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .title(title)
        .border_style(t.dim());
    let inner = block.inner(area);
    block.render(area, buf);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    if parts == 0 {
        put(
            buf,
            inner.x,
            inner.y,
            "not planned yet",
            inner.width,
            t.dim(),
        );
        return;
    }
    let cells = parts.div_ceil(per);
    for c in 0..cells {
        let (row, col) = (c / inner_w, c % inner_w);
        if row >= inner_h {
            break;
        }
        let chunk = &j.parts[c * per..((c + 1) * per).min(parts)];
        let (state, partial) = cell_state(chunk);
        let role = match (state, partial) {
            (PartCell::Pending, true) => "part_partial",
            (PartCell::Pending, false) => "part_pending",
            (PartCell::InFlight, _) => "part_inflight",
            (PartCell::Retrying, _) => "part_retrying",
            (PartCell::Failed, _) => "part_failed",
            (PartCell::Done, _) => "part_done",
        };
        let style = t.fg(role);
        let s = part_glyph(t, role);
        put(buf, inner.x + col as u16, inner.y + row as u16, s, 1, style);
    }
    // The legend draws each state with the glyph the map uses for it.
    let legend: Vec<(String, Style)> = [
        ("part_done", "done  "),
        ("part_inflight", "in flight  "),
        ("part_retrying", "retrying  "),
        ("part_failed", "failed  "),
        ("part_partial", "partly done  "),
        ("part_pending", "pending"),
    ]
    .into_iter()
    .map(|(role, label)| (format!("{} {label}", part_glyph(t, role)), t.fg(role)))
    .collect();
    put_spans(
        buf,
        inner.x,
        inner.y + inner.height - 1,
        &legend,
        inner.width,
    );
}

fn render_in_flight(j: &JobModel, t: &Theme, now: SystemTime, area: Rect, buf: &mut Buffer) {
    if area.height == 0 {
        return;
    }
    let rate = j.per_part_rate();
    let head = match rate {
        Some(r) => format!(
            "In flight: {} · bars are estimates (~) from elapsed time × {} per part",
            j.in_flight.len(),
            format_rate(r)
        ),
        None => format!(
            "In flight: {} · bars appear once a part has finished (no rate measured yet)",
            j.in_flight.len()
        ),
    };
    put(
        buf,
        area.x,
        area.y,
        &fit(&head, area.width as usize),
        area.width,
        t.title(),
    );
    let rows = area.height.saturating_sub(1) as usize;
    let bar_w = (area.width as usize).saturating_sub(58).clamp(4, 40);
    for (i, (&part, f)) in j.in_flight.iter().enumerate().take(rows) {
        let y = area.y + 1 + i as u16;
        let len = j.part_len(part).max(1);
        let elapsed = now.duration_since(f.started).unwrap_or_default();
        let est = j.estimate(part, now);
        let frac = est.map(|b| b as f64 / len as f64).unwrap_or(0.0);
        let label = format!("part {:>5} attempt {:<2} ", part, f.attempt);
        put(buf, area.x, y, &label, area.width, Default::default());
        let bx = area.x + label.chars().count() as u16;
        if bx < area.x + area.width {
            put_spans(
                buf,
                bx,
                y,
                &bar(t, 0.0, frac, bar_w),
                (area.x + area.width - bx).min(bar_w as u16),
            );
        }
        let tail = match est {
            Some(b) => format!(
                " ~{:>3.0}% ~{} of {} · {}s",
                frac * 100.0,
                format_size(b),
                format_size(len),
                elapsed.as_secs()
            ),
            None => format!(" ? of {} · {}s", format_size(len), elapsed.as_secs()),
        };
        let tx = bx + bar_w as u16;
        if tx < area.x + area.width {
            put(buf, tx, y, &tail, area.x + area.width - tx, t.dim());
        }
    }
    if j.in_flight.len() > rows && rows > 0 {
        let y = area.y + rows as u16;
        let more = format!("… and {} more in flight", j.in_flight.len() - rows + 1);
        put(
            buf,
            area.x,
            y,
            &format!("{more:w$}", w = area.width as usize),
            area.width,
            t.dim(),
        );
    }
}

fn render_errors(j: &JobModel, t: &Theme, area: Rect, buf: &mut Buffer) {
    if area.height == 0 {
        return;
    }
    if j.errors.is_empty() {
        put(buf, area.x, area.y, "Errors: none", area.width, t.dim());
        return;
    }
    put(
        buf,
        area.x,
        area.y,
        &format!("Last errors ({}):", j.errors.len()),
        area.width,
        t.error(),
    );
    let text: Vec<ratatui::text::Line> = j
        .errors
        .iter()
        .rev()
        .map(|e| ratatui::text::Line::styled(format!("• {e}"), t.fg("error")))
        .collect();
    Paragraph::new(text).wrap(Wrap { trim: false }).render(
        Rect::new(area.x, area.y + 1, area.width, area.height - 1),
        buf,
    );
}

/// Rate and ETA while it runs; time taken and average rate once it ended.
fn speed(j: &JobModel, now: SystemTime) -> String {
    if j.ended_at.is_some() || j.state.is_finished() {
        format!(
            "took {} · {} average",
            crate::engine::progress::format_eta(j.elapsed(now)),
            format_rate(j.average_rate(now))
        )
    } else {
        format!(
            "{} · ETA {}",
            format_rate(j.rate(now)),
            format_eta(j.eta(now))
        )
    }
}

/// A prefix transfer: counts and bytes, objects in flight, failed objects with their errors.
fn render_prefix(j: &JobModel, t: &Theme, now: SystemTime, area: Rect, buf: &mut Buffer) {
    let w = area.width;
    let line = |buf: &mut Buffer, y: u16, s: &str, style: Style| {
        put(buf, area.x, area.y + y, &fit(s, w as usize), w, style)
    };
    line(
        buf,
        0,
        &format!(
            "Job {} · {} · {} → {}",
            j.id,
            j.state.label(),
            j.spec.source,
            j.spec.destination
        ),
        t.state(&j.state).patch(t.title()),
    );
    let listed = if j.listing_complete {
        format!("{} listed", thousands(j.listed))
    } else {
        format!("{}+ listed so far", thousands(j.listed))
    };
    line(
        buf,
        1,
        &format!(
            "objects: {} done, {} skipped, {} failed, {} in flight of {listed} · {} of {}",
            thousands(j.done),
            thousands(j.skipped),
            thousands(j.failed),
            j.fold.in_flight.len(),
            format_size(j.bytes_done),
            format_size(j.listed_bytes),
        ),
        Style::default(),
    );
    line(
        buf,
        2,
        &format!(
            "{:.1}% · {} · retries {}{}",
            j.fraction() * 100.0,
            speed(j, now),
            j.retries,
            j.concurrency
                .map(|n| format!(" · up to {n} in flight"))
                .unwrap_or_default(),
        ),
        Style::default(),
    );
    let info = match &j.fold.waiting {
        Some(wt) => wt.describe(j.instant_of(now)),
        None if j.journaled => "journaled: resumable after a restart".into(),
        None => "not journaled: a restart loses its progress".into(),
    };
    line(buf, 3, &info, t.dim());
    let rest = Rect::new(area.x, area.y + 4, w, area.height - 4);
    if rest.height < 2 {
        return;
    }
    // In flight above, failures below; failures get what they need up to half.
    let fail_h = if j.failures.is_empty() {
        1
    } else {
        ((j.failures.len() + 1) as u16).min(rest.height / 2).max(2)
    };
    let fly = Rect::new(rest.x, rest.y, w, rest.height - fail_h);
    let fail = Rect::new(rest.x, rest.y + fly.height, w, fail_h);
    if fly.height > 0 {
        put(
            buf,
            fly.x,
            fly.y,
            &format!("Objects in flight: {}", j.fold.in_flight.len()),
            w,
            t.title(),
        );
        let rows = fly.height.saturating_sub(1) as usize;
        let n = j.fold.in_flight.len();
        for (i, (key, size)) in j.fold.in_flight.iter().enumerate().take(rows) {
            let text = if i + 1 == rows && n > rows {
                format!("… and {} more", n - rows + 1)
            } else {
                format!("{:>10}  {key}", format_size(*size))
            };
            put(
                buf,
                fly.x,
                fly.y + 1 + i as u16,
                &fit(&text, w as usize),
                w,
                Style::default(),
            );
        }
    }
    if j.failures.is_empty() {
        put(buf, fail.x, fail.y, "Failed objects: none", w, t.dim());
        return;
    }
    put(
        buf,
        fail.x,
        fail.y,
        &format!(
            "Failed objects: {}{}",
            thousands(j.failed),
            if (j.failed as usize) > j.failures.len() {
                format!(" (the first {} shown)", j.failures.len())
            } else {
                String::new()
            }
        ),
        w,
        t.error(),
    );
    for (i, (key, err)) in j
        .failures
        .iter()
        .take(fail.height.saturating_sub(1) as usize)
        .enumerate()
    {
        put(
            buf,
            fail.x,
            fail.y + 1 + i as u16,
            &fit(&format!("✗ {key}: {err}"), w as usize),
            w,
            t.fg("error"),
        );
    }
}
