//! The Queue screen: a header of totals (bytes, %, aggregate rate, ETA, jobs by state,
//! effective concurrency) and one row per job: state, source → destination, size, progress,
//! %, rate, ETA, parts done / in flight / total, retries.
//!
//! Pure: draws from `App` state and the clock's `now`.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;

use super::{bar, fit, format_eta, format_rate, put, put_spans, right, scroll_offset, thousands};
use crate::store::{BucketName, CosUri};
use crate::ui::app::{App, StateFilter};
use crate::ui::jobs::{totals, JobModel};
use crate::units::format_size;

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let now = app.now();
    let tot = totals(app.jobs.values(), now);
    let line1 = header_line(app, &tot);
    put(buf, area.x, area.y, &line1, area.width, t.title());
    let mut states: Vec<String> = tot
        .by_state
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    if states.is_empty() {
        states.push("no jobs".into());
    }
    let ids = app.visible_jobs();
    let mut line2 = format!(
        "{}: {}",
        super::count(app.jobs.len(), "job", "jobs"),
        states.join(", ")
    );
    if app.queue.filter != StateFilter::All {
        line2.push_str(&format!(" · showing {}", app.queue.filter.label()));
    }
    if !app.queue.search.is_empty() {
        line2.push_str(&format!(
            " · /{} ({} shown)",
            app.queue.search,
            thousands(ids.len() as u64)
        ));
    }
    put(buf, area.x, area.y + 1, &line2, area.width, t.dim());

    let cols = Columns::for_width(area.width as usize);
    put(buf, area.x, area.y + 2, &cols.header(), area.width, t.dim());
    let top = area.y + 3;
    let height = area.height.saturating_sub(3) as usize;
    if ids.is_empty() {
        let m = if app.jobs.is_empty() {
            "No copies yet: mark objects on the Browse screen (1) and press c.".to_string()
        } else if !app.queue.search.is_empty() {
            let which = match app.queue.filter {
                StateFilter::All => String::new(),
                f => format!("{} ", f.label()),
            };
            format!(
                "No {which}job matches /{} (Esc clears the search).",
                app.queue.search
            )
        } else {
            "No jobs in this state (f changes the filter).".to_string()
        };
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
    let off = scroll_offset(app.queue.cursor, height, ids.len());
    for (i, id) in ids.iter().enumerate().skip(off).take(height) {
        let Some(j) = app.jobs.get(id) else { continue };
        let y = top + (i - off) as u16;
        let selected = i == app.queue.cursor;
        draw_row(app, j, &cols, area.x, y, area.width, selected, buf);
    }
}

/// The header's first line: bytes and progress when there are any, rate and ETA while
/// something runs, and requests in flight (parts of one-object copies, objects of prefix
/// copies) against the global limit; "idle" instead of figures left from the last run.
pub fn header_line(app: &App, tot: &crate::ui::jobs::Totals) -> String {
    let running: Vec<&JobModel> = app.jobs.values().filter(|j| j.state.is_active()).collect();
    let mut parts = Vec::new();
    if tot.bytes > 0 {
        parts.push(format!(
            "{} of {} ({:.1}%)",
            format_size(tot.done),
            format_size(tot.bytes),
            tot.done as f64 * 100.0 / tot.bytes as f64
        ));
    }
    if running.is_empty() {
        parts.push("idle".into());
    } else {
        parts.push(format_rate(tot.rate));
        parts.push(format!("ETA {}", format_eta(tot.eta)));
        let flying: usize = running
            .iter()
            .map(|j| j.in_flight.len() + j.fold.in_flight.len())
            .sum();
        parts.push(format!("{flying} in flight"));
    }
    if let Some((limit, eff)) = app.concurrency {
        if eff < limit && !running.is_empty() {
            parts.push(format!("limit {limit} (throttled to {eff})"));
        } else {
            parts.push(format!("limit {limit}"));
        }
    }
    parts.join(" · ")
}

/// Column widths for a terminal width. Below 120 columns the bar is dropped (progress shows
/// as an underline under the name) so the route keeps room; below 100 the rate is compact.
/// The state column always fits the longest state ("interrupted").
pub struct Columns {
    state: usize,
    name: usize,
    size: usize,
    bar: usize,
    pct: usize,
    rate: usize,
    eta: usize,
    parts: usize,
    retries: usize,
    wide: bool,
    compact_rate: bool,
}

impl Columns {
    pub fn for_width(w: usize) -> Columns {
        let wide = w >= 120;
        let narrow = w < 100;
        let mut c = Columns {
            state: 11,
            name: 0,
            size: if narrow { 8 } else { 9 },
            bar: 0,
            pct: 6,
            rate: if narrow { 7 } else { 10 },
            eta: 6,
            parts: if wide { 17 } else { 13 },
            retries: if wide { 3 } else { 2 },
            wide,
            compact_rate: narrow,
        };
        let fixed = c.state + c.size + c.pct + c.rate + c.eta + c.parts + c.retries + 7;
        let rest = w.saturating_sub(fixed);
        if wide {
            c.bar = (rest / 3).clamp(10, 30);
            c.name = rest.saturating_sub(c.bar + 1).max(10);
        } else {
            c.name = rest.max(8);
        }
        c
    }

    /// The name column's width (routes are fitted to it).
    pub fn name_width(&self) -> usize {
        self.name
    }

    fn header(&self) -> String {
        let title = if self.name >= 30 {
            "SOURCE → DESTINATION"
        } else {
            // The route column holds only the destination; the selected job's source is on
            // the status line below.
            "→ DEST · source ↓"
        };
        let mut s = format!(
            "{:w$} {:nw$} {:>sw$}",
            "STATE",
            fit(title, self.name),
            "SIZE",
            w = self.state,
            nw = self.name,
            sw = self.size
        );
        if self.bar > 0 {
            s.push_str(&format!(" {:bw$}", "PROGRESS", bw = self.bar));
        }
        s.push_str(&format!(
            " {:>pw$} {:>rw$} {:>ew$} {:>qw$} {:>tw$}",
            "%",
            "RATE",
            "ETA",
            "DONE/FLY/ALL",
            "RT",
            pw = self.pct,
            rw = self.rate,
            ew = self.eta,
            qw = self.parts,
            tw = self.retries
        ));
        s
    }
}

#[allow(clippy::too_many_arguments)]
fn draw_row(
    app: &App,
    j: &JobModel,
    c: &Columns,
    x: u16,
    y: u16,
    w: u16,
    selected: bool,
    buf: &mut Buffer,
) {
    let t = &app.theme;
    let now = app.now();
    let frac = j.fraction();
    let total = j.total();
    let est = total
        .filter(|s| *s > 0)
        .map(|s| j.bytes_estimated(now) as f64 / s as f64)
        .unwrap_or(frac);
    let name = route(&j.spec.source, &j.spec.destination, c.name);
    let size = total.map(format_size).unwrap_or_else(|| "-".into());
    let pct = if total.is_some() {
        format!("{:.1}%", frac * 100.0)
    } else {
        "-".into()
    };
    let parts = if j.is_prefix() {
        // A prefix transfer counts objects: done / in flight / listed (+ while listing),
        // then ✗ and the failed ones.
        let n = |x: u64| if c.wide { thousands(x) } else { x.to_string() };
        let mut s = format!(
            "{}/{}/{}{}",
            n(j.done + j.skipped),
            j.fold.in_flight.len(),
            n(j.listed),
            if j.listing_complete { "" } else { "+" }
        );
        if j.failed > 0 {
            s.push_str(&format!(
                "{}✗{}",
                if c.wide { " " } else { "" },
                n(j.failed)
            ));
        }
        s
    } else if c.wide {
        format!(
            "{}/{}/{}",
            thousands(j.parts_done as u64),
            j.in_flight.len(),
            thousands(j.parts_total() as u64)
        )
    } else {
        format!("{}/{}/{}", j.parts_done, j.in_flight.len(), j.parts_total())
    };
    let mut cx = x;
    let state_style = t.state(&j.state);
    let row_style = if selected {
        t.selected()
    } else {
        Default::default()
    };
    if selected {
        buf.set_style(Rect::new(x, y, w, 1), row_style);
    }
    let end = x + w;
    let cell =
        |buf: &mut Buffer, s: &str, width: usize, style: ratatui::style::Style, cx: &mut u16| {
            if *cx < end {
                put(
                    buf,
                    *cx,
                    y,
                    s,
                    (end - *cx).min(width as u16),
                    style.patch(row_style),
                );
            }
            *cx = cx.saturating_add(width as u16 + 1);
        };
    cell(
        buf,
        &fit(j.state.label(), c.state),
        c.state,
        state_style,
        &mut cx,
    );
    let name_x = cx;
    cell(
        buf,
        &format!("{name:nw$}", nw = c.name),
        c.name,
        Default::default(),
        &mut cx,
    );
    if c.bar == 0 && total.is_some() {
        // Narrow: progress as an underline under the name.
        let n = ((frac * c.name as f64).floor() as u16).min(c.name as u16);
        if n > 0 {
            buf.set_style(
                Rect::new(name_x, y, n.min(end.saturating_sub(name_x)), 1),
                t.fg("ok").add_modifier(Modifier::UNDERLINED),
            );
        }
    }
    cell(
        buf,
        &right(&size, c.size),
        c.size,
        Default::default(),
        &mut cx,
    );
    if c.bar > 0 {
        if cx < end {
            put_spans(
                buf,
                cx,
                y,
                &bar(t, frac, est, c.bar),
                (end - cx).min(c.bar as u16),
            );
        }
        cx += c.bar as u16 + 1;
    }
    cell(buf, &right(&pct, c.pct), c.pct, Default::default(), &mut cx);
    // A finished transfer shows its average rate.
    let rate = if j.state == crate::engine::JobState::Done {
        j.average_rate(now)
    } else {
        j.rate(now)
    };
    cell(
        buf,
        &right(
            &if c.compact_rate {
                compact_rate(rate)
            } else {
                format_rate(rate)
            },
            c.rate,
        ),
        c.rate,
        Default::default(),
        &mut cx,
    );
    cell(
        buf,
        &right(&format_eta(j.eta(now)), c.eta),
        c.eta,
        Default::default(),
        &mut cx,
    );
    cell(
        buf,
        &right(&parts, c.parts),
        c.parts,
        Default::default(),
        &mut cx,
    );
    let rt_style = if j.retries > 0 { t.fg("warn") } else { t.dim() };
    cell(
        buf,
        &right(&j.retries.to_string(), c.retries),
        c.retries,
        rt_style,
        &mut cx,
    );
}

/// A rate in at most 7 columns: `25.6M/s`, `1023K/s`, `-`.
fn compact_rate(bps: f64) -> String {
    if bps <= 0.0 {
        return "-".into();
    }
    let s = format_size(bps as u64);
    match s.split_once(' ') {
        Some((n, unit)) => format!("{n}{}/s", unit.trim_end_matches("iB")),
        None => s,
    }
}

/// A bucket as people say it: the name without `-APPID`.
fn short_bucket(b: &BucketName) -> &str {
    let s = b.as_str();
    s.strip_suffix(b.appid())
        .and_then(|x| x.strip_suffix('-'))
        .filter(|x| !x.is_empty())
        .unwrap_or(s)
}

/// `s` cut in the middle to `w` characters: the head up to the first `/` (the bucket) when it
/// takes at most half, else a third, then `…`, then as much of the tail (the file name) as fits.
pub fn middle(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n <= w {
        return s.to_string();
    }
    if w < 4 {
        return fit(s, w);
    }
    let head = match s.find('/') {
        Some(i) if s[..=i].chars().count() <= w / 2 => s[..=i].chars().count(),
        _ => w / 3,
    };
    let tail = w - head - 1;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(n - tail));
    out
}

/// A route with both URIs in full (`cos://…`) when they fit in `w`, else as `route` fits it.
pub fn route_full(src: &CosUri, dst: &CosUri, w: usize) -> String {
    let full = format!("{src} → {dst}");
    if full.chars().count() <= w {
        return full;
    }
    route(src, dst, w)
}

/// The Queue's name cell: source → destination fitted to `w` columns. Full URIs when they
/// fit; else buckets without their APPID (`media → backup: KEY` when the key is kept), each
/// side cut in the middle (bucket and file name stay); below 30 columns only `→ destination` (the selected job's full route is on the status
/// line). A destination in the source's bucket shows as its key only.
pub fn route(src: &CosUri, dst: &CosUri, w: usize) -> String {
    let same_bucket = src.bucket == dst.bucket;
    let full = format!(
        "{}/{} → {}",
        src.bucket,
        src.key,
        if same_bucket {
            dst.key.clone()
        } else {
            format!("{}/{}", dst.bucket, dst.key)
        }
    );
    if full.chars().count() <= w {
        return full;
    }
    let s = format!("{}/{}", short_bucket(&src.bucket), src.key);
    let d = if same_bucket {
        dst.key.clone()
    } else {
        format!("{}/{}", short_bucket(&dst.bucket), dst.key)
    };
    let (sl, dl) = (s.chars().count(), d.chars().count());
    if w < 30 {
        return format!("→ {}", middle(&d, w.saturating_sub(2)));
    }
    let avail = w - 3;
    if sl + dl <= avail {
        return format!("{s} → {d}");
    }
    if !same_bucket && src.key == dst.key {
        // The same key into another bucket: name the buckets once, then the key.
        let buckets = format!(
            "{} → {}: ",
            short_bucket(&src.bucket),
            short_bucket(&dst.bucket)
        );
        let room = w.saturating_sub(buckets.chars().count());
        if room >= 12 {
            return format!("{buckets}{}", middle(&src.key, room));
        }
    }
    // The destination gets at least half, more when the source is short.
    let dw = dl.min(avail.saturating_sub(sl).max(avail.div_ceil(2)));
    let sw = avail - dw;
    format!("{} → {}", middle(&s, sw), middle(&d, dw))
}
