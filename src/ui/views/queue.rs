//! The Queue screen: a header of totals (bytes, %, aggregate rate, ETA, jobs by state,
//! effective concurrency) and one row per job: state, source → destination, size, progress,
//! %, rate, ETA, parts done / in flight / total, retries.
//!
//! Pure: draws from `App` state and the clock's `now`.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;

use super::{
    bar, fit, fit_left, format_eta, format_rate, put, put_spans, right, scroll_offset, thousands,
};
use crate::ui::app::{App, StateFilter};
use crate::ui::jobs::{totals, JobModel};
use crate::units::format_size;

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let now = app.now();
    let tot = totals(app.jobs.values(), now);
    let pct = if tot.bytes > 0 {
        tot.done as f64 * 100.0 / tot.bytes as f64
    } else {
        0.0
    };
    let line1 = format!(
        "{} of {} ({pct:.1}%) · {} · ETA {} · concurrency {}",
        format_size(tot.done),
        format_size(tot.bytes),
        format_rate(tot.rate),
        format_eta(tot.eta),
        match app.concurrency {
            Some((limit, eff)) => format!("{eff} of {limit}"),
            None => "-".into(),
        }
    );
    put(buf, area.x, area.y, &line1, area.width, t.title());
    let mut states: Vec<String> = tot
        .by_state
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    if states.is_empty() {
        states.push("no jobs".into());
    }
    let mut line2 = format!("{} jobs: {}", app.jobs.len(), states.join(", "));
    if app.queue_filter != StateFilter::All {
        line2.push_str(&format!(" · showing {}", app.queue_filter.label()));
    }
    put(buf, area.x, area.y + 1, &line2, area.width, t.dim());

    let cols = Columns::for_width(area.width as usize);
    put(buf, area.x, area.y + 2, &cols.header(), area.width, t.dim());
    let top = area.y + 3;
    let height = area.height.saturating_sub(3) as usize;
    let ids = app.visible_jobs();
    if ids.is_empty() {
        let m = if app.jobs.is_empty() {
            "No copies yet: mark objects on the Browse screen (1) and press c."
        } else {
            "No jobs in this state (f changes the filter)."
        };
        put(
            buf,
            area.x + 2,
            top,
            m,
            area.width.saturating_sub(2),
            t.dim(),
        );
        return;
    }
    let off = scroll_offset(app.queue_cursor, height);
    for (i, id) in ids.iter().enumerate().skip(off).take(height) {
        let Some(j) = app.jobs.get(id) else { continue };
        let y = top + (i - off) as u16;
        let selected = i == app.queue_cursor;
        draw_row(app, j, &cols, area.x, y, area.width, selected, buf);
    }
}

/// Column widths for a terminal width; narrow terminals drop the bar and show progress
/// under the name instead.
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
}

impl Columns {
    pub fn for_width(w: usize) -> Columns {
        let wide = w >= 100;
        let mut c = Columns {
            state: if wide { 11 } else { 9 },
            name: 0,
            size: 9,
            bar: 0,
            pct: 6,
            rate: 10,
            eta: 6,
            parts: if wide { 17 } else { 13 },
            retries: if wide { 3 } else { 2 },
            wide,
        };
        let fixed = c.state + c.size + c.pct + c.rate + c.eta + c.parts + c.retries + 7;
        let rest = w.saturating_sub(fixed + 1);
        if wide {
            c.bar = (rest / 3).clamp(10, 30);
            c.name = rest.saturating_sub(c.bar + 1).max(10);
        } else {
            c.name = rest.max(8);
        }
        c
    }

    fn header(&self) -> String {
        let mut s = format!(
            "{:w$} {:nw$} {:>sw$}",
            "STATE",
            "SOURCE → DESTINATION",
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
    let est = j
        .size
        .filter(|s| *s > 0)
        .map(|s| j.bytes_estimated(now) as f64 / s as f64)
        .unwrap_or(frac);
    let src = format!("{}", j.spec.source);
    let dst_same_bucket = j.spec.source.bucket == j.spec.destination.bucket;
    let dst = if dst_same_bucket {
        j.spec.destination.key.clone()
    } else {
        j.spec.destination.to_string()
    };
    let name = fit_left(
        &format!(
            "{} → {}",
            src.trim_start_matches("cos://"),
            dst.trim_start_matches("cos://")
        ),
        c.name,
    );
    let size = j.size.map(format_size).unwrap_or_else(|| "-".into());
    let pct = if j.size.is_some() {
        format!("{:.1}%", frac * 100.0)
    } else {
        "-".into()
    };
    let parts = if c.wide {
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
    if c.bar == 0 && j.size.is_some() {
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
    cell(
        buf,
        &right(&format_rate(j.rate(now)), c.rate),
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
