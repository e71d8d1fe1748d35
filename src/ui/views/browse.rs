//! The Browse screen: buckets (or the profile's access paths), then the objects and prefixes
//! of a bucket/prefix with marks, filter and sort.
//!
//! Pure: draws from `App` state. Only the visible rows are touched, so a listing of hundreds
//! of thousands of rows draws as fast as a short one.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

use super::{fit, fit_left, put, right, scroll_offset, thousands};
use crate::ui::app::App;
use crate::ui::browse::{format_time, BucketEntry, Load, ObjectList};
use crate::ui::keymap::{Action, Context};
use crate::units::format_size;

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    match app.browse.stack.last() {
        Some(list) => render_objects(app, list, area, buf),
        None => render_buckets(app, area, buf),
    }
}

fn render_buckets(app: &App, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let b = &app.browse.buckets;
    let w = area.width;
    let entries = app.bucket_entries();
    let head = if b.loading {
        "Buckets · loading…".to_string()
    } else if !b.filter.is_empty() {
        format!(
            "Buckets · {} of {} match /{}",
            entries.len(),
            b.buckets.len(),
            b.filter
        )
    } else {
        format!("Buckets · {}", b.buckets.len())
    };
    put(buf, area.x, area.y, &head, w, t.title());
    let region_w = 16usize;
    let created_w = 16usize;
    let name_w = (w as usize).saturating_sub(region_w + created_w + 4).max(8);
    let header = format!(
        "  {:name_w$} {:region_w$} {:created_w$}",
        "NAME", "REGION", "CREATED"
    );
    put(buf, area.x, area.y + 1, &header, w, t.dim());
    let top = area.y + 2;
    let height = area.height.saturating_sub(2) as usize;
    if entries.is_empty() {
        let msg: Vec<String> = if b.loading {
            vec!["Listing buckets…".into()]
        } else if let Some(e) = &b.error {
            vec![
                format!("Could not list buckets: {e}"),
                "The account may lack GetService permission: add access_paths (cos://bucket/prefix) to the profile to browse them directly. R retries.".into(),
            ]
        } else {
            vec![
                "No buckets in this account.".into(),
                "Add access_paths to the profile to browse buckets of other accounts. R refreshes."
                    .into(),
            ]
        };
        let mut y = top;
        for (i, m) in msg.iter().enumerate() {
            let style = if b.error.is_some() && i == 0 {
                t.error()
            } else {
                t.dim()
            };
            for l in super::dialog::wrap(m, w.saturating_sub(2).max(8) as usize) {
                if y >= area.y + area.height {
                    return;
                }
                put(buf, area.x + 2, y, &l, w.saturating_sub(2), style);
                y += 1;
            }
        }
        return;
    }
    let mut y = top;
    if let Some(e) = &b.error {
        let text = format!("Could not list buckets ({e}); showing the profile's access paths:");
        let wrapped = super::dialog::wrap(&text, w.saturating_sub(2).max(8) as usize);
        let room = height.saturating_sub(entries.len().min(height / 2)).min(3);
        for l in wrapped.iter().take(room) {
            put(buf, area.x + 2, y, l, w.saturating_sub(2), t.error());
            y += 1;
        }
    }
    let rows = (area.y + area.height).saturating_sub(y) as usize;
    let off = scroll_offset(b.cursor, rows, entries.len());
    for (i, e) in entries.iter().enumerate().skip(off).take(rows) {
        let line = match e {
            BucketEntry::Bucket(bi) => {
                let x = &b.buckets[*bi];
                let created = x
                    .created
                    .map(|c| format_time(c.unix_timestamp()))
                    .unwrap_or_else(|| "-".into());
                format!(
                    "  {:name_w$} {:region_w$} {:created_w$}",
                    fit(&x.name, name_w),
                    fit(&x.region, region_w),
                    created
                )
            }
            BucketEntry::AccessPath(pi) => {
                let p = &app.access_paths[*pi];
                format!(
                    "{} {:name_w$} {:region_w$}",
                    t.symbols.prefix,
                    fit(&p.to_string(), name_w + 1),
                    "access path"
                )
            }
        };
        let style = if i == b.cursor {
            t.selected()
        } else {
            Default::default()
        };
        let yy = y + (i - off) as u16;
        if i == b.cursor {
            buf.set_style(Rect::new(area.x, yy, w, 1), style);
        }
        put(buf, area.x, yy, &line, w, style);
    }
}

fn render_objects(app: &App, list: &ObjectList, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let w = area.width as usize;
    let retry = app
        .keymap
        .key_for(Context::Browse, Action::Refresh)
        .unwrap_or_else(|| "refresh".into());
    let back = app
        .keymap
        .key_for(Context::Browse, Action::Back)
        .unwrap_or_else(|| "back".into());
    // Head: where we are and what is loaded.
    let loaded = match &list.load {
        Load::Loading if list.rows.is_empty() => "loading…".to_string(),
        Load::Loading => format!("{}, loading more…", rows_n(list)),
        Load::More(_) => format!("{}, more as you scroll", rows_n(list)),
        Load::Complete => rows_n(list),
        Load::Capped => format!(
            "first {} rows (limit): narrow with a prefix or /",
            thousands(list.rows.len() as u64)
        ),
        Load::Failed(_) => format!("{}, listing failed: {retry} retries", rows_n(list)),
    };
    let mut head = format!("cos://{}/{} · {loaded}", list.bucket, list.prefix);
    let marked = list.marked_count();
    if marked > 0 {
        head.push_str(&format!(" · {marked} marked"));
    }
    if !list.filter.is_empty() {
        head.push_str(&format!(
            " · /{} ({})",
            list.filter,
            thousands(list.view.len() as u64)
        ));
    }
    head.push_str(&format!(
        " · by {}{}",
        list.sort.label(),
        if list.reverse { " ↑" } else { "" }
    ));
    put(
        buf,
        area.x,
        area.y,
        &fit_left(&head, w),
        area.width,
        t.title(),
    );

    let size_w = 10usize;
    let time_w = 16usize;
    let class_w = if w >= 100 { 19 } else { 11 };
    let name_w = w.saturating_sub(2 + size_w + time_w + class_w + 3).max(8);
    let header = format!(
        "  {:name_w$} {:>size_w$} {:time_w$} {:class_w$}",
        "NAME", "SIZE", "MODIFIED", "CLASS"
    );
    put(buf, area.x, area.y + 1, &header, area.width, t.dim());
    let top = area.y + 2;
    let height = list_rows(list, area.height);
    if list.view.is_empty() {
        let msg = match &list.load {
            Load::Failed(e) => {
                let mut v = vec![(
                    format!("Listing failed: press {retry} to retry, {back} to go back."),
                    t.error(),
                )];
                for l in super::dialog::wrap(e, w.saturating_sub(2).max(8)) {
                    v.push((l, t.dim()));
                }
                v
            }
            Load::Loading => vec![("Listing…".to_string(), t.dim())],
            _ if !list.filter.is_empty() => vec![(
                format!(
                    "Nothing loaded matches /{} (Esc in the filter clears it).",
                    list.filter
                ),
                t.dim(),
            )],
            _ => vec![("Empty: no objects or prefixes here.".to_string(), t.dim())],
        };
        for (i, (m, st)) in msg.iter().enumerate().take(height) {
            put(
                buf,
                area.x + 2,
                top + i as u16,
                m,
                area.width.saturating_sub(2),
                *st,
            );
        }
        return;
    }
    let off = scroll_offset(list.cursor, height, list.view.len());
    for (vi, &ri) in list.view.iter().enumerate().skip(off).take(height) {
        let r = &list.rows[ri as usize];
        let y = top + (vi - off) as u16;
        let selected = vi == list.cursor;
        let mark = if r.marked {
            &t.symbols.marked
        } else {
            &t.symbols.unmarked
        };
        let (size, time, class) = if r.is_prefix {
            (String::new(), String::new(), String::new())
        } else {
            (
                format_size(r.size),
                format_time(r.modified),
                list.classes
                    .get(r.class as usize)
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
            )
        };
        let name = if r.is_prefix {
            format!("{} {}", t.symbols.prefix, r.name)
        } else {
            r.name.to_string()
        };
        let line = format!(
            "{mark} {:name_w$} {} {:time_w$} {:class_w$}",
            fit(&name, name_w),
            right(&size, size_w),
            time,
            fit(&class, class_w)
        );
        let mut style = if r.is_prefix {
            t.fg("prefix")
        } else {
            Default::default()
        };
        if r.marked {
            style = style.patch(t.fg("marked"));
        }
        if selected {
            buf.set_style(Rect::new(area.x, y, area.width, 1), t.selected());
            style = style.patch(t.selected());
        }
        put(buf, area.x, y, &line, area.width, style);
    }
    if let Load::Failed(e) = &list.load {
        let y = area.y + area.height - 1;
        put(
            buf,
            area.x,
            y,
            &fit(
                &format!(
                    "Next page failed: press {retry} to retry ({} rows loaded stay). {e}",
                    thousands(list.rows.len() as u64)
                ),
                w,
            ),
            area.width,
            t.error(),
        );
    }
}

/// "1 row", "1,000 rows": what is loaded.
fn rows_n(list: &ObjectList) -> String {
    super::count(list.rows.len(), "row", "rows")
}

/// Rows of a listing that fit in a body `body_height` high: the head and the column header
/// take two, a failed next page's line (under the rows) one more.
pub fn list_rows(list: &ObjectList, body_height: u16) -> usize {
    let failed_line = matches!(list.load, Load::Failed(_)) && !list.view.is_empty();
    body_height.saturating_sub(2 + u16::from(failed_line)) as usize
}
