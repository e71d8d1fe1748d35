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
/// stay apart. The date is left out (the Log holds one session).
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

/// A resource path without its query string (signatures and tokens never reach the screen).
pub fn redact(resource: &str) -> &str {
    resource.split('?').next().unwrap_or(resource)
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let head = format!(
        "{:12} {:6} {:7} {:>8}  RESOURCE / MESSAGE  (request id at the end)",
        "TIME (UTC)", "METHOD", "STATUS", "LATENCY"
    );
    put(buf, area.x, area.y, &head, area.width, t.dim());
    let height = area.height.saturating_sub(1) as usize;
    if app.log.is_empty() {
        put(
            buf,
            area.x + 2,
            area.y + 1,
            "Nothing logged yet.",
            area.width,
            t.dim(),
        );
        return;
    }
    let end = app.log.len().saturating_sub(app.log_back);
    let start = end.saturating_sub(height);
    for (i, e) in app.log.range(start..end).enumerate() {
        let y = area.y + 1 + i as u16;
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
