//! Dialogs drawn over the screen: confirmations with buttons (abort a job, abort uploads,
//! quit with jobs running), the copy destination dialog, and an object's details.
//!
//! Pure: draws from dialog state.

use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Borders, Paragraph, Widget, Wrap};
use tui_input::Input;

use super::{count, fit, popup, put, thousands};
use crate::engine::Overwrite;
use crate::ui::app::{storage_class_label, Button, Confirm, CopyDialog, CopyField, Details};
use crate::ui::browse::format_time;
use crate::ui::theme::Theme;
use crate::units::format_size;

fn frame(t: &Theme, title: &str, area: Rect, w: u16, h: u16, buf: &mut Buffer) -> Rect {
    let r = popup(area, w, h, buf);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" {title} "))
        .border_style(t.accent());
    let inner = block.inner(r);
    block.render(r, buf);
    inner
}

fn buttons(
    t: &Theme,
    labels: &[Button],
    selected: usize,
    x: u16,
    y: u16,
    w: u16,
    buf: &mut Buffer,
) {
    let mut cx = x;
    for (i, l) in labels.iter().enumerate() {
        let s = format!("[ {} ]", l.label());
        let style = if i == selected {
            t.selected()
        } else {
            Style::default()
        };
        if cx < x + w {
            put(buf, cx, y, &s, x + w - cx, style);
        }
        cx += s.chars().count() as u16 + 2;
    }
}

/// How wide a dialog is: 78 columns up to a 104-column terminal, then three quarters of the
/// width up to 120, so long sentences wrap less on a wide terminal.
pub fn dialog_width(area: Rect) -> u16 {
    ((area.width as u32 * 3 / 4) as u16)
        .clamp(78, 120)
        .min(area.width)
}

pub fn render_confirm(c: &Confirm, t: &Theme, area: Rect, buf: &mut Buffer) {
    let w = dialog_width(area).saturating_sub(4);
    let body_w = w.saturating_sub(4) as usize;
    // Wrap every line so nothing the user must read is cut off.
    let mut lines: Vec<(bool, String)> = Vec::new();
    for (i, l) in c.lines.iter().enumerate() {
        for part in wrap(l, body_w.max(8)) {
            lines.push((i == 0, part));
        }
    }
    let want = lines.len() as u16 + 4;
    let inner = frame(t, &c.title, area, w, want.min(area.height), buf);
    if inner.height < 2 {
        return;
    }
    let rows = inner.height.saturating_sub(2) as usize;
    let scroll = c.scroll.min(lines.len().saturating_sub(rows));
    for (i, (first, l)) in lines.iter().skip(scroll).take(rows).enumerate() {
        let style = if *first { t.title() } else { Style::default() };
        put(
            buf,
            inner.x + 1,
            inner.y + i as u16,
            l,
            inner.width.saturating_sub(1),
            style,
        );
    }
    if lines.len() > rows && rows > 0 {
        let note = format!(
            "lines {}-{} of {} (j/k scroll)",
            scroll + 1,
            (scroll + rows).min(lines.len()),
            lines.len()
        );
        put(
            buf,
            inner.x + 1,
            inner.y + inner.height - 2,
            &note,
            inner.width,
            t.dim(),
        );
    }
    buttons(
        t,
        &c.buttons,
        c.selected,
        inner.x + 1,
        inner.y + inner.height - 1,
        inner.width,
        buf,
    );
}

/// Word-wraps `s` to `w` columns (characters); long words are split.
pub fn wrap(s: &str, w: usize) -> Vec<String> {
    let mut out = Vec::new();
    let indent: String = s.chars().take_while(|c| *c == ' ').collect();
    let mut line = String::new();
    for word in s.split_whitespace() {
        let mut word = word.to_string();
        loop {
            let len = line.chars().count();
            let wl = word.chars().count();
            let sep = usize::from(len > 0);
            if len + sep + wl <= w {
                if len == 0 {
                    line.push_str(if out.is_empty() { &indent } else { "" });
                    if line.chars().count() + wl > w {
                        line.clear();
                    }
                } else {
                    line.push(' ');
                }
                line.push_str(&word);
                break;
            }
            if len > 0 {
                out.push(std::mem::take(&mut line));
                continue;
            }
            let head: String = word.chars().take(w).collect();
            word = word.chars().skip(w).collect();
            out.push(head);
            if word.is_empty() {
                break;
            }
        }
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn input_line(
    t: &Theme,
    label: &str,
    input: &Input,
    focused: bool,
    x: u16,
    y: u16,
    w: u16,
    buf: &mut Buffer,
) {
    let lw = 14u16;
    let style = if focused { t.accent() } else { t.dim() };
    put(buf, x, y, &format!("{label:13}"), lw, style);
    let fw = w.saturating_sub(lw) as usize;
    let scroll = input.visual_scroll(fw.saturating_sub(1));
    let shown: String = input.value().chars().skip(scroll).take(fw).collect();
    let field_style = if focused {
        Style::default().add_modifier(Modifier::UNDERLINED)
    } else {
        Style::default()
    };
    put(
        buf,
        x + lw,
        y,
        &format!("{shown:fw$}"),
        fw as u16,
        field_style,
    );
    if focused {
        let cx = x + lw + (input.visual_cursor().saturating_sub(scroll)) as u16;
        if buf.area.contains(Position { x: cx, y }) && cx < x + w {
            buf[(cx, y)].set_style(Style::default().add_modifier(Modifier::REVERSED));
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn choice_line(
    t: &Theme,
    label: &str,
    value: &str,
    focused: bool,
    x: u16,
    y: u16,
    w: u16,
    buf: &mut Buffer,
) {
    let style = if focused { t.accent() } else { t.dim() };
    put(buf, x, y, &format!("{label:13}"), 14, style);
    let v = format!("‹ {value} ›");
    let vs = if focused {
        t.selected()
    } else {
        Style::default()
    };
    put(buf, x + 14, y, &v, w.saturating_sub(14), vs);
}

pub fn render_copy(d: &CopyDialog, t: &Theme, area: Rect, buf: &mut Buffer) {
    let w = dialog_width(area);
    let iw = w.saturating_sub(4);
    let choices = d.bucket_choices();
    let list_h = if d.focus == CopyField::Bucket {
        choices.len().clamp(1, 5) as u16
    } else {
        0
    };
    let what = if d.is_single_object() {
        format!("{} ({})", d.objects[0].0, format_size(d.objects[0].1))
    } else {
        let mut parts = Vec::new();
        if !d.objects.is_empty() {
            parts.push(format!(
                "{}, {}",
                count(d.objects.len(), "object", "objects"),
                format_size(d.total_bytes())
            ));
        }
        if !d.prefixes.is_empty() {
            parts.push(format!(
                "{}, listed then queued",
                count(d.prefixes.len(), "prefix", "prefixes")
            ));
        }
        parts.join(" + ")
    };
    // Wrapped, not cut: the source, and what Enter would do (or why it would refuse).
    let from = wrap(
        &format!("From cos://{}/ : {what}", d.source_bucket),
        iw.max(8) as usize,
    );
    let checked = match &d.error {
        Some(e) => Err(e.clone()),
        None => d.preview(),
    };
    let (tail, tail_style) = match checked {
        Err(e) => (wrap(&e, iw.max(8) as usize), t.error()),
        Ok(p) => (wrap(&p, iw.max(8) as usize), t.dim()),
    };
    let h = (from.len() + tail.len()) as u16 + 10 + list_h;
    let inner = frame(t, "Copy", area, w, h.min(area.height), buf);
    if inner.height < 3 {
        return;
    }
    let x = inner.x + 1;
    let mut y = inner.y;
    for l in &from {
        put(buf, x, y, l, iw, t.title());
        y += 1;
    }
    y += 1;
    let bottom = inner.y + inner.height;
    let f = d.focus;
    if y < bottom {
        input_line(
            t,
            "Bucket",
            &d.bucket,
            f == CopyField::Bucket,
            x,
            y,
            iw,
            buf,
        );
        if f == CopyField::Bucket && d.bucket.value().is_empty() {
            put(
                buf,
                x + 15,
                y,
                "type to filter, ↑↓ pick",
                iw.saturating_sub(15),
                t.dim(),
            );
        }
        y += 1;
    }
    if f == CopyField::Bucket {
        let sel = d.pick.min(choices.len().saturating_sub(1));
        let start = sel.saturating_sub(list_h.saturating_sub(1) as usize);
        if choices.is_empty() && y < bottom {
            put(
                buf,
                x + 14,
                y,
                "(no known bucket matches: type a full NAME-APPID)",
                iw.saturating_sub(14),
                t.dim(),
            );
            y += 1;
        }
        let source = d.source_bucket.to_string();
        for (i, c) in choices.iter().enumerate().skip(start).take(list_h as usize) {
            if y >= bottom {
                break;
            }
            let style = if i == sel { t.selected() } else { t.dim() };
            let pointer = if i == sel { "▸ " } else { "  " };
            let label = if *c == source {
                format!("{pointer}{c} (source)")
            } else {
                format!("{pointer}{c}")
            };
            put(
                buf,
                x + 12,
                y,
                &fit(&label, iw.saturating_sub(12) as usize),
                iw.saturating_sub(12),
                style,
            );
            y += 1;
        }
    }
    let key_label = if d.is_single_object() {
        "Key"
    } else {
        "Prefix"
    };
    let rows: [(&str, Option<&Input>, CopyField); 3] = [
        (key_label, Some(&d.key), CopyField::Key),
        ("Part size", Some(&d.part_size), CopyField::PartSize),
        ("Concurrency", Some(&d.concurrency), CopyField::Concurrency),
    ];
    for (label, input, field) in rows {
        if y >= bottom {
            return;
        }
        if let Some(i) = input {
            input_line(t, label, i, f == field, x, y, iw, buf);
        }
        y += 1;
    }
    if y < bottom {
        choice_line(
            t,
            "Storage",
            storage_class_label(d.class),
            f == CopyField::StorageClass,
            x,
            y,
            iw,
            buf,
        );
        y += 1;
    }
    if y < bottom {
        let ow = match d.overwrite {
            Overwrite::Always => "overwrite (for all)",
            Overwrite::Skip => "skip (for all)",
        };
        choice_line(
            t,
            "If it exists",
            ow,
            f == CopyField::IfExists,
            x,
            y,
            iw,
            buf,
        );
        y += 1;
    }
    for l in &tail {
        if y + 1 >= bottom {
            break;
        }
        put(buf, x, y, l, iw, tail_style);
        y += 1;
    }
    let hint = if f == CopyField::Bucket {
        "↑↓ pick · type to filter · Enter/Tab take it · Esc cancel"
    } else {
        "Tab/↑↓ field · ←→ choose · Enter queue · Esc cancel"
    };
    put(buf, x, bottom - 1, &fit(hint, iw as usize), iw, t.dim());
}

pub fn render_details(d: &Details, t: &Theme, area: Rect, buf: &mut Buffer) {
    let mut lines: Vec<String> = vec![d.uri.to_string(), String::new()];
    let mut error = false;
    match &d.meta {
        None => lines.push("loading (HEAD Object)…".into()),
        Some(Err(e)) => {
            error = true;
            lines.push(format!("HEAD failed: {e}"));
        }
        Some(Ok(m)) => {
            lines.push(format!(
                "Size           {} ({} bytes)",
                format_size(m.size),
                thousands(m.size)
            ));
            lines.push(format!("ETag           {}", m.etag));
            lines.push(format!(
                "CRC64          {}",
                m.crc64
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "none".into())
            ));
            lines.push(format!("Storage class  {}", m.storage_class));
            lines.push(format!(
                "Modified       {}",
                m.last_modified
                    .map(|t| format_time(t.unix_timestamp()))
                    .unwrap_or_else(|| "-".into())
            ));
            let h = &m.headers;
            for (k, v) in [
                ("Content-Type", &h.content_type),
                ("Cache-Control", &h.cache_control),
                ("Disposition", &h.content_disposition),
                ("Encoding", &h.content_encoding),
                ("Expires", &h.expires),
            ] {
                if let Some(v) = v {
                    lines.push(format!("{k:14} {v}"));
                }
            }
            if h.meta.is_empty() {
                lines.push("Metadata       none".into());
            }
            for (k, v) in &h.meta {
                lines.push(format!("x-cos-meta-{k}: {v}"));
            }
        }
    }
    let w = dialog_width(area);
    let rows: usize = lines
        .iter()
        .map(|l| wrap(l, w.saturating_sub(4).max(8) as usize).len())
        .sum();
    let h = (rows as u16 + 3).min(area.height);
    let inner = frame(t, "Object", area, w, h, buf);
    let style = if error { t.error() } else { Style::default() };
    Paragraph::new(lines.join("\n"))
        .style(style)
        .wrap(Wrap { trim: false })
        .render(
            Rect::new(
                inner.x + 1,
                inner.y,
                inner.width.saturating_sub(2),
                inner.height.saturating_sub(1),
            ),
            buf,
        );
    if inner.height > 0 {
        put(
            buf,
            inner.x + 1,
            inner.y + inner.height - 1,
            "Esc closes",
            inner.width,
            t.dim(),
        );
    }
}
