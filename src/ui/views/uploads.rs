//! The Uploads screen: incomplete multipart uploads under one bucket/prefix (the Browse
//! location by default; `b` / `B` switch buckets: Browse's, job destinations, the rest), with marks, and
//! whether haul's journal knows each one (then `r` resumes it).
//!
//! Pure: draws from `App` state.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

use super::{fit, put, right, scroll_offset};
use crate::ui::app::App;
use crate::ui::browse::format_time;
use crate::ui::keymap::{Action, Context};
use crate::units::format_size;

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let u = &app.uploads;
    let w = area.width as usize;
    let next_key = app
        .keymap
        .key_for(Context::Uploads, Action::NextBucket)
        .unwrap_or_else(|| "next_bucket".into());
    let Some((bucket, prefix)) = &u.target else {
        put(
            buf,
            area.x,
            area.y,
            "Incomplete multipart uploads",
            area.width,
            t.title(),
        );
        put(
            buf,
            area.x + 2,
            area.y + 2,
            &format!("Open a bucket on the Browse screen (1), or press {next_key} to pick one."),
            area.width.saturating_sub(2),
            t.dim(),
        );
        return;
    };
    // Jobs copying into other buckets: their uploads are one key away.
    let elsewhere: Vec<String> = app
        .job_destination_buckets()
        .into_iter()
        .filter(|b| b != bucket)
        .map(|b| b.to_string())
        .collect();
    let marked = u.rows.iter().filter(|r| r.1).count();
    let mut head = format!(
        "Incomplete uploads in cos://{bucket}/{prefix} · {}",
        u.rows.len()
    );
    if u.loading {
        head.push_str(" · loading…");
    }
    if marked > 0 {
        head.push_str(&format!(" · {marked} marked"));
    }
    let shown = u.visible();
    if !u.search.is_empty() {
        head.push_str(&format!(" · /{} ({} shown)", u.search, shown.len()));
    }
    head.push_str(&match elsewhere.first() {
        Some(b) if elsewhere.len() == 1 => format!(" · jobs → {b} ({next_key})"),
        Some(_) => format!(" · jobs → {} other buckets ({next_key})", elsewhere.len()),
        None => format!(" · {next_key} other bucket"),
    });
    put(buf, area.x, area.y, &head, area.width, t.title());
    let id_w = if w >= 120 { 32 } else { 12 };
    let init_w = 16;
    let parts_w = 6;
    let bytes_w = 10;
    let job_w = 7;
    let key_w = w
        .saturating_sub(2 + id_w + init_w + parts_w + bytes_w + job_w + 5)
        .max(8);
    let header = format!(
        "  {:key_w$} {:id_w$} {:init_w$} {:>parts_w$} {:>bytes_w$} {:job_w$}",
        "KEY", "UPLOAD ID", "INITIATED", "PARTS", "BYTES", "JOURNAL"
    );
    put(buf, area.x, area.y + 1, &header, area.width, t.dim());
    let top = area.y + 2;
    let height = area.height.saturating_sub(2) as usize;
    if u.rows.is_empty() {
        let (m, st) = match (&u.error, u.loading) {
            (Some(e), _) => (
                format!("Could not list uploads: {e} (R retries)"),
                t.error(),
            ),
            (None, true) => ("Listing uploads…".to_string(), t.dim()),
            (None, false) => match elsewhere.first() {
                Some(b) => (
                    format!("No incomplete uploads here. Jobs are copying into {b}: press {next_key} to see its uploads."),
                    t.dim(),
                ),
                None => ("No incomplete uploads here.".to_string(), t.dim()),
            },
        };
        put(buf, area.x + 2, top, &m, area.width.saturating_sub(2), st);
        return;
    }
    if shown.is_empty() {
        let m = format!("No upload matches /{} (Esc clears the search).", u.search);
        put(
            buf,
            area.x + 2,
            top,
            &m,
            area.width.saturating_sub(2),
            t.dim(),
        );
        return;
    }
    let off = scroll_offset(u.cursor, height, shown.len());
    let rows = shown.iter().map(|&r| &u.rows[r]);
    for (i, (s, m)) in rows.enumerate().skip(off).take(height) {
        let y = top + (i - off) as u16;
        let mark = if *m {
            &t.symbols.marked
        } else {
            &t.symbols.unmarked
        };
        let init = s
            .upload
            .initiated
            .map(|t| format_time(t.unix_timestamp()))
            .unwrap_or_else(|| "-".into());
        let job = s
            .job
            .map(|j| format!("job {j}"))
            .unwrap_or_else(|| "-".into());
        let line = format!(
            "{mark} {:key_w$} {:id_w$} {:init_w$} {} {} {:job_w$}",
            fit(&s.upload.key, key_w),
            fit(&s.upload.upload_id, id_w),
            init,
            right(&s.parts.to_string(), parts_w),
            right(&format_size(s.bytes), bytes_w),
            job
        );
        let mut style = if *m {
            t.fg("marked")
        } else {
            Default::default()
        };
        if i == u.cursor {
            buf.set_style(Rect::new(area.x, y, area.width, 1), t.selected());
            style = style.patch(t.selected());
        }
        put(buf, area.x, y, &line, area.width, style);
    }
}
