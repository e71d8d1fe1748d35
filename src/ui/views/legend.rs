//! What the figures and glyphs of a screen mean, for Help: the Queue's header and columns
//! (DONE / FLY / ALL, RT, RATE, ETA, the tab's ▶ / ✗), the Job detail's part map and estimates.
//! Help shows the legend of the screen it was opened on, under that screen's keys.
//!
//! Pure: text from the theme's symbols (so a user's part glyph or `NO_COLOR` shows as drawn).

use crate::ui::keymap::Context;
use crate::ui::theme::Theme;

/// Lines of the legend for `scope`; empty when the screen has nothing to explain.
pub fn lines(scope: Context, t: &Theme) -> Vec<String> {
    let s = |v: &[&str]| v.iter().map(|l| format!("  {l}")).collect::<Vec<_>>();
    match scope {
        Context::Queue => s(&[
            "Header: bytes done of all jobs (%) · rate · ETA · N in flight (parts",
            "  and objects being copied) · limit L, the global limit (< and >",
            "  change it; \"throttled to E\" while COS answers SlowDown) · idle",
            "DONE/FLY/ALL: a one-object job's parts done / in flight / total;",
            "  a prefix's objects done / in flight / listed (+ while listing),",
            "  then ✗ and the objects that failed",
            "RT: requests retried · RATE: smoothed over the last 20 s; a done job",
            "  shows its average · ETA: at that rate (a prefix: once listed)",
            "Tab title: ▶ transfers running, ✗ transfers failed",
        ]),
        Context::Job => {
            let p = &t.symbols.part;
            let glyphs = if t.no_color {
                "█ done  ▒ in flight  ? retrying  X failed  ▪ partly  · pending".to_string()
            } else {
                format!("{p} coloured: done green, in flight cyan, retrying yellow,")
            };
            let mut v = s(&[
                "Part map: one cell per part (or per N parts, as its title says)",
                &format!("  {glyphs}"),
            ]);
            if !t.no_color {
                v.extend(s(&["  failed red, partly done blue, pending grey"]));
            }
            v.extend(s(&[
                "In flight: ~ marks estimates (elapsed × one part's measured rate)",
                "A prefix job: objects in flight, failed objects with their errors",
            ]));
            v
        }
        _ => vec![],
    }
}
