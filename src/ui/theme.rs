//! Colours and symbols: the default theme in `assets/theme.toml` (embedded), a user's theme file
//! merged over it, and `NO_COLOR` (colours dropped, bold / reverse / dim kept).
//!
//! Pure: parses TOML text into `Style`s; reading files and the environment is the caller's job.

use std::collections::BTreeMap;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

pub const DEFAULT_THEME: &str = include_str!("../../assets/theme.toml");

#[derive(Debug, Default, Deserialize)]
struct ThemeFile {
    #[serde(flatten)]
    colors: BTreeMap<String, toml::Value>,
}

/// Symbols used by the views.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbols {
    pub marked: String,
    pub unmarked: String,
    pub prefix: String,
    pub part: String,
    pub bar_full: String,
    pub bar_empty: String,
    pub bar_estimate: String,
}

/// Resolved styles for every role the views draw.
#[derive(Debug, Clone)]
pub struct Theme {
    pub no_color: bool,
    colors: BTreeMap<String, Color>,
    pub symbols: Symbols,
}

impl Theme {
    pub fn default_theme(no_color: bool) -> Theme {
        Theme::parse(DEFAULT_THEME, None, no_color)
            .expect("the embedded theme.toml parses (tested)")
    }

    pub fn with_user(user: &str, no_color: bool) -> Result<Theme, String> {
        Theme::parse(DEFAULT_THEME, Some(user), no_color)
    }

    fn parse(defaults: &str, user: Option<&str>, no_color: bool) -> Result<Theme, String> {
        let mut colors = BTreeMap::new();
        let mut symbols = BTreeMap::new();
        for (i, text) in [Some(defaults), user].into_iter().flatten().enumerate() {
            let file: ThemeFile = toml::from_str(text).map_err(|e| {
                format!(
                    "{} theme is not valid TOML: {e}",
                    if i == 0 { "default" } else { "user" }
                )
            })?;
            for (k, v) in file.colors {
                match (k.as_str(), v) {
                    ("symbols", toml::Value::Table(t)) => {
                        for (sk, sv) in t {
                            let s = sv
                                .as_str()
                                .ok_or_else(|| format!("theme symbol {sk:?} must be a string"))?;
                            symbols.insert(sk, s.to_string());
                        }
                    }
                    (_, v) => {
                        let c = parse_color(&v).map_err(|e| format!("theme key {k:?}: {e}"))?;
                        colors.insert(k, c);
                    }
                }
            }
        }
        let sym = |k: &str, d: &str| symbols.get(k).cloned().unwrap_or_else(|| d.to_string());
        Ok(Theme {
            no_color,
            colors,
            symbols: Symbols {
                marked: sym("marked", "*"),
                unmarked: sym("unmarked", " "),
                prefix: sym("prefix", ">"),
                part: sym("part", "#"),
                bar_full: sym("bar_full", "#"),
                bar_empty: sym("bar_empty", "."),
                bar_estimate: sym("bar_estimate", "~"),
            },
        })
    }

    /// The foreground style for a named role; plain under `NO_COLOR`.
    pub fn fg(&self, role: &str) -> Style {
        match (self.no_color, self.colors.get(role)) {
            (false, Some(c)) => Style::default().fg(*c),
            _ => Style::default(),
        }
    }

    pub fn accent(&self) -> Style {
        self.fg("accent").add_modifier(Modifier::BOLD)
    }
    pub fn dim(&self) -> Style {
        self.fg("dim").add_modifier(Modifier::DIM)
    }
    pub fn error(&self) -> Style {
        self.fg("error").add_modifier(Modifier::BOLD)
    }
    /// The selected row: a background colour, or reverse video without colour.
    pub fn selected(&self) -> Style {
        match (self.no_color, self.colors.get("selected_bg")) {
            (false, Some(c)) => Style::default().bg(*c).add_modifier(Modifier::BOLD),
            _ => Style::default().add_modifier(Modifier::REVERSED),
        }
    }
    pub fn title(&self) -> Style {
        self.accent()
    }

    pub fn state(&self, state: &crate::engine::JobState) -> Style {
        use crate::engine::JobState as S;
        match state {
            S::Running | S::Preparing | S::Completing | S::Verifying => self.fg("state_running"),
            S::Paused | S::Cancelled | S::Interrupted => self.fg("state_paused"),
            S::Done => self.fg("state_done"),
            S::Failed(_) | S::Aborted => self.fg("state_failed").add_modifier(Modifier::BOLD),
            S::Queued | S::Skipped => self.fg("state_idle"),
        }
    }
}

fn parse_color(v: &toml::Value) -> Result<Color, String> {
    match v {
        toml::Value::Integer(i) if (0..=255).contains(i) => Ok(Color::Indexed(*i as u8)),
        toml::Value::String(s) => {
            if let Some(hex) = s.strip_prefix('#') {
                if hex.len() == 6 {
                    if let Ok(n) = u32::from_str_radix(hex, 16) {
                        return Ok(Color::Rgb((n >> 16) as u8, (n >> 8) as u8, n as u8));
                    }
                }
                return Err(format!("{s:?} is not a #rrggbb colour"));
            }
            s.parse::<Color>().map_err(|_| {
                format!("{s:?} is not a colour: use a name like cyan, #rrggbb or 0-255")
            })
        }
        other => Err(format!("{other} is not a colour")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_theme_parses() {
        let t = Theme::default_theme(false);
        assert_eq!(t.fg("accent").fg, Some(Color::Cyan));
        assert_eq!(t.symbols.part, "■");
    }

    #[test]
    fn no_color_drops_colours_keeps_selection_visible() {
        let t = Theme::default_theme(true);
        assert_eq!(t.fg("accent").fg, None);
        assert!(t.selected().add_modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn user_theme_overrides_and_errors_name_the_key() {
        let t = Theme::with_user("accent = \"#ff8000\"\n[symbols]\npart = \"x\"", false).unwrap();
        assert_eq!(t.fg("accent").fg, Some(Color::Rgb(255, 128, 0)));
        assert_eq!(t.symbols.part, "x");
        let e = Theme::with_user("accent = \"plaid\"", false).unwrap_err();
        assert!(e.contains("accent") && e.contains("plaid"), "{e}");
    }
}
