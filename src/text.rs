//! Text from the outside world (object keys, bucket names, server messages) made safe to print
//! on a terminal.
//!
//! Pure: no I/O. Human-readable output goes through `escape_control`; `--json` output never
//! does (serde_json escapes control characters itself, so JSON stays exact).

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach a terminal raw: C0 controls (ESC, CR, LF, TAB …), DEL, C1
/// controls (U+0080–U+009F, which some terminals obey like ESC sequences) and the Unicode
/// direction overrides that can make a key read backwards.
fn needs_escape(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{200e}' | '\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}')
}

/// `s` with every control character written as an escape, the way `ls -b` does: `\n`, `\r`,
/// `\t`, `\x1b` (other C0 controls and DEL as `\xNN`), C1 controls and direction overrides as
/// `\u{NNNN}`. Everything else, including a backslash, is left as it is, so ordinary keys
/// print unchanged (and without a copy). Use `--json` where the exact bytes matter.
pub fn escape_control(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && needs_escape(c) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_text_is_borrowed_unchanged() {
        for s in [
            "",
            "dir/a b+c.bin",
            "日本語/ключ",
            "back\\slash",
            "emoji 🚚",
        ] {
            assert!(
                matches!(escape_control(s), Cow::Borrowed(t) if t == s),
                "{s}"
            );
        }
    }

    #[test]
    fn line_breaks_tabs_and_escape_become_visible() {
        assert_eq!(escape_control("a\nb\rc\td"), "a\\nb\\rc\\td");
        assert_eq!(
            escape_control("\u{1b}[2J\u{1b}]0;title\u{7}"),
            "\\x1b[2J\\x1b]0;title\\x07"
        );
    }

    #[test]
    fn every_c0_c1_and_del_is_escaped() {
        for code in (0u32..0x20).chain(0x7f..0xa0) {
            let c = char::from_u32(code).unwrap();
            let out = escape_control(&c.to_string()).into_owned();
            assert!(out.starts_with('\\'), "{code:#x} -> {out:?}");
            assert!(!out.chars().any(needs_escape), "{code:#x} -> {out:?}");
        }
        assert_eq!(escape_control("\u{0}"), "\\x00");
        assert_eq!(escape_control("\u{7f}"), "\\x7f");
        assert_eq!(escape_control("\u{9b}31m"), "\\u{009b}31m");
    }

    #[test]
    fn direction_overrides_are_escaped() {
        assert_eq!(
            escape_control("evil\u{202e}fdp.exe"),
            "evil\\u{202e}fdp.exe"
        );
    }
}
