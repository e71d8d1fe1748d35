//! The Log screen: requests (method, resource, status, latency, request id) and log lines,
//! newest last. Records never hold secrets (the store strips signatures and tokens); query
//! strings are dropped here anyway as a second guard.
//!
//! Pure: draws from `App` state.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

use super::{fit, put};
use crate::engine::LogLevel;
use crate::ui::app::{App, LogEntry};
use std::time::SystemTime;

/// Time of day in UTC to the millisecond, `HH:MM:SS.mmm`: requests a few milliseconds apart
/// stay apart. The date is shown on separator rows instead (see `format_day`).
pub fn format_clock(at: SystemTime) -> String {
    let ms = match at.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_millis(),
        Err(_) => return "-".into(),
    };
    let day_ms = ms % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day_ms / 3_600_000,
        (day_ms / 60_000) % 60,
        (day_ms / 1000) % 60,
        day_ms % 1000
    )
}

/// The UTC date of `at`, `YYYY-MM-DD`, for the Log's date separator rows.
pub fn format_day(at: SystemTime) -> String {
    let secs = match at.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(_) => return "-".into(),
    };
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => format!("{:04}-{:02}-{:02}", t.year(), t.month() as u8, t.day()),
        Err(_) => "-".into(),
    }
}

fn entry_at(e: &LogEntry) -> SystemTime {
    match e {
        LogEntry::Request { at, .. } | LogEntry::Line { at, .. } => *at,
    }
}

/// One row of the Log body: an entry, or the date the entries below it happened on.
enum Row<'a> {
    Day(String),
    Entry(&'a LogEntry),
}

/// The rows that fit in `height`, oldest first, ending at entry `end`: a date row opens the
/// view and comes again wherever the day changes, so a session across midnight reads clearly.
fn rows(app: &App, end: usize, height: usize) -> Vec<Row<'_>> {
    let mut out: Vec<Row> = Vec::new(); // newest first while collecting
    let mut i = end;
    while i > 0 && out.len() < height {
        i -= 1;
        let Some(e) = app.log.get(i) else { break };
        out.push(Row::Entry(e));
        let day = format_day(entry_at(e));
        let same_as_older =
            i > 0 && app.log.get(i - 1).map(|o| format_day(entry_at(o))) == Some(day.clone());
        if !same_as_older {
            out.push(Row::Day(day));
        }
    }
    out.truncate(height);
    if let Some(Row::Entry(_)) = out.last() {
        if out.len() == height {
            out.pop();
        }
        if let Some(Row::Entry(e)) = out.last() {
            let day = format_day(entry_at(e));
            out.push(Row::Day(day));
        }
    }
    out.reverse();
    out
}

/// A resource path without its query string (signatures and tokens never reach the screen).
pub fn redact(resource: &str) -> &str {
    resource.split('?').next().unwrap_or(resource)
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let mut head = format!(
        "{:12} {:6} {:7} {:>8}  RESOURCE / MESSAGE",
        "TIME (UTC)", "METHOD", "STATUS", "LATENCY"
    );
    if app.log.search().is_empty() {
        head.push_str("  (request id at the end)");
    } else {
        head.push_str(&format!(
            "  · /{} ({} of {})",
            app.log.search(),
            super::thousands(app.log.len() as u64),
            super::thousands(app.log.total() as u64)
        ));
    }
    put(buf, area.x, area.y, &head, area.width, t.dim());
    let height = area.height.saturating_sub(1) as usize;
    if app.log.is_empty() {
        let m = if app.log.search().is_empty() {
            "Nothing logged yet.".to_string()
        } else {
            format!(
                "Nothing matches /{} (Esc clears the search).",
                app.log.search()
            )
        };
        put(buf, area.x + 2, area.y + 1, &m, area.width, t.dim());
        return;
    }
    // Scrolled near the top (or a date row more than expected): fill the screen downwards.
    let mut end = app.log.len().saturating_sub(app.log.back);
    while end < app.log.len() && rows(app, end, height).len() < height {
        end += 1;
    }
    for (i, row) in rows(app, end, height).into_iter().enumerate() {
        let y = area.y + 1 + i as u16;
        let e = match row {
            Row::Entry(e) => e,
            Row::Day(day) => {
                let l = format!("── {day} (UTC) ──");
                put(
                    buf,
                    area.x,
                    y,
                    &fit(&l, area.width as usize),
                    area.width,
                    t.title(),
                );
                continue;
            }
        };
        let (line, style) = match e {
            LogEntry::Request { at, record } => {
                let status = match record.status {
                    Some(s) => s.to_string(),
                    None => "neterr".into(),
                };
                let mut l = format!(
                    "{:12} {:6} {:7} {:>6}ms  {}",
                    format_clock(*at),
                    record.method,
                    status,
                    record.latency.as_millis(),
                    redact(&record.resource)
                );
                if let Some(c) = &record.code {
                    l.push_str(&format!(" {c}"));
                }
                if let Some(id) = &record.request_id {
                    l.push_str(&format!("  [{id}]"));
                }
                let st = match record.status {
                    Some(s) if s < 400 => Default::default(),
                    Some(s) if s < 500 => t.fg("warn"),
                    _ => t.error(),
                };
                (l, st)
            }
            LogEntry::Line { at, level, message } => {
                let (tag, st) = match level {
                    LogLevel::Info => ("info", Default::default()),
                    LogLevel::Warn => ("warn", t.fg("warn")),
                    LogLevel::Error => ("error", t.error()),
                };
                (
                    format!("{:12} {:6} {}", format_clock(*at), tag, message),
                    st,
                )
            }
        };
        put(
            buf,
            area.x,
            y,
            &fit(&line, area.width as usize),
            area.width,
            style,
        );
    }
}
