//! Keys → `Action`s: the default map in `assets/keymap.toml` (embedded), merged with the user's
//! keymap file. The help overlay and footer hints are generated from the same bindings.
//!
//! Pure: parses TOML text and answers lookups; reading the user's file is the caller's job.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;

/// The default key map, embedded at build time.
pub const DEFAULT_KEYMAP: &str = include_str!("../../assets/keymap.toml");

/// What a key asks for. Screens decide what each action means for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Up,
    Down,
    Top,
    Bottom,
    PageUp,
    PageDown,
    Open,
    Back,
    NextTab,
    PrevTab,
    TabBrowse,
    TabQueue,
    TabUploads,
    TabLog,
    Filter,
    Mark,
    MarkAll,
    Copy,
    /// Browse: delete the marked (or selected) objects, after a confirmation naming them.
    Delete,
    Info,
    Sort,
    ReverseSort,
    PauseResume,
    Cancel,
    Abort,
    Resume,
    ConcurrencyUp,
    ConcurrencyDown,
    /// The global limit of requests in flight (all transfers), live.
    LimitUp,
    LimitDown,
    /// The selected URI to the clipboard (OSC 52).
    CopyUri,
    /// Go to a typed `cos://` location.
    Goto,
    /// Log: cycle the level shown.
    LogLevel,
    PauseAll,
    ResumeAll,
    RetryFailed,
    ClearFinished,
    StateFilter,
    /// Uploads: show the next / previous bucket's uploads.
    NextBucket,
    PrevBucket,
    Refresh,
    Help,
    Quit,
    Suspend,
    Yes,
    No,
    Left,
    Right,
    Confirm,
    /// Unbinds a key in a user keymap.
    None,
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Context {
    Global,
    Browse,
    Queue,
    Job,
    Uploads,
    Log,
    Dialog,
    Help,
    /// Typing a search (`/`): the keys that end it; every other key is text.
    Input,
}

impl Context {
    pub const ALL: [Context; 9] = [
        Context::Global,
        Context::Browse,
        Context::Queue,
        Context::Job,
        Context::Uploads,
        Context::Log,
        Context::Dialog,
        Context::Help,
        Context::Input,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Context::Global => "global",
            Context::Browse => "browse",
            Context::Queue => "queue",
            Context::Job => "job",
            Context::Uploads => "uploads",
            Context::Log => "log",
            Context::Dialog => "dialog",
            Context::Help => "help",
            Context::Input => "input",
        }
    }

    /// Does this context fall back to the global bindings?
    fn inherits_global(self) -> bool {
        !matches!(self, Context::Dialog | Context::Help | Context::Input)
    }
}

/// A key with its modifiers, normalised (shift folded into the character).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
    pub alt: bool,
}

impl Key {
    pub fn from_event(ev: &KeyEvent) -> Key {
        // Terminals report Shift-Tab as BackTab, sometimes with SHIFT set: SHIFT is ignored.
        let code = ev.code;
        Key {
            code,
            ctrl: ev.modifiers.contains(KeyModifiers::CONTROL),
            alt: ev.modifiers.contains(KeyModifiers::ALT),
        }
    }

    /// Parses `j`, `G`, `ctrl-a`, `enter`, `shift-tab`, `pgdn`, `space`, …
    pub fn parse(s: &str) -> Result<Key, String> {
        let mut ctrl = false;
        let mut alt = false;
        let mut rest = s;
        loop {
            let lower = rest.to_ascii_lowercase();
            if rest.len() > 1 && lower.starts_with("ctrl-") {
                ctrl = true;
                rest = &rest[5..];
            } else if rest.len() > 1 && lower.starts_with("alt-") {
                alt = true;
                rest = &rest[4..];
            } else {
                break;
            }
        }
        let code = match rest.to_ascii_lowercase().as_str() {
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" | "shift-tab" => KeyCode::BackTab,
            "backspace" => KeyCode::Backspace,
            "space" => KeyCode::Char(' '),
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pgup" | "pageup" => KeyCode::PageUp,
            "pgdn" | "pagedown" => KeyCode::PageDown,
            "delete" | "del" => KeyCode::Delete,
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => KeyCode::Char(if ctrl { c.to_ascii_lowercase() } else { c }),
                    _ => {
                        return Err(format!(
                            "{s:?} is not a key: write e.g. j, G, ctrl-a, enter, pgdn"
                        ))
                    }
                }
            }
        };
        Ok(Key { code, ctrl, alt })
    }

    /// How the help and footer show the key.
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Enter => "Enter".to_string(),
            KeyCode::Esc => "Esc".to_string(),
            KeyCode::Tab => "Tab".to_string(),
            KeyCode::BackTab => "S-Tab".to_string(),
            KeyCode::Backspace => "Bksp".to_string(),
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Up => "↑".to_string(),
            KeyCode::Down => "↓".to_string(),
            KeyCode::Left => "←".to_string(),
            KeyCode::Right => "→".to_string(),
            KeyCode::Home => "Home".to_string(),
            KeyCode::End => "End".to_string(),
            KeyCode::PageUp => "PgUp".to_string(),
            KeyCode::PageDown => "PgDn".to_string(),
            KeyCode::Delete => "Del".to_string(),
            KeyCode::Char(c) => c.to_string(),
            _ => "?".to_string(),
        };
        let mut s = String::new();
        if self.ctrl {
            s.push_str("C-");
        }
        if self.alt {
            s.push_str("M-");
        }
        s.push_str(&base);
        s
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryFile {
    keys: Vec<String>,
    action: Action,
    #[serde(default)]
    desc: Option<String>,
    #[serde(default)]
    hint: Option<u8>,
}

/// One line of the help: keys, action, description, footer priority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub keys: Vec<Key>,
    pub action: Action,
    pub desc: String,
    pub hint: Option<u8>,
}

/// The merged key map.
#[derive(Debug, Clone)]
pub struct Keymap {
    lookup: BTreeMap<(Context, KeyOrd), Action>,
    bindings: BTreeMap<Context, Vec<Binding>>,
}

/// `Key` ordered by a stable string form (KeyCode is not `Ord`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct KeyOrd(String);

fn key_ord(k: &Key) -> KeyOrd {
    KeyOrd(format!("{}{}{:?}", k.ctrl as u8, k.alt as u8, k.code))
}

impl Keymap {
    /// The embedded defaults.
    pub fn default_map() -> Keymap {
        Keymap::parse(DEFAULT_KEYMAP, None).expect("the embedded keymap.toml parses (tested)")
    }

    /// The defaults with a user's keymap text merged over them.
    pub fn with_user(user: &str) -> Result<Keymap, String> {
        Keymap::parse(DEFAULT_KEYMAP, Some(user))
    }

    fn parse(defaults: &str, user: Option<&str>) -> Result<Keymap, String> {
        let mut map = Keymap {
            lookup: BTreeMap::new(),
            bindings: BTreeMap::new(),
        };
        map.merge(defaults)
            .map_err(|e| format!("default keymap: {e}"))?;
        if let Some(user) = user {
            map.merge(user)?;
        }
        Ok(map)
    }

    fn merge(&mut self, text: &str) -> Result<(), String> {
        let file: BTreeMap<String, Vec<EntryFile>> =
            toml::from_str(text).map_err(|e| format!("keymap is not valid: {e}"))?;
        for (ctx_name, entries) in file {
            let ctx = Context::ALL
                .into_iter()
                .find(|c| c.name() == ctx_name)
                .ok_or_else(|| {
                    format!(
                        "keymap has an unknown section [[{ctx_name}]]: use global, browse, queue, job, uploads, log, dialog, help or input"
                    )
                })?;
            for e in entries {
                let keys = e
                    .keys
                    .iter()
                    .map(|k| Key::parse(k))
                    .collect::<Result<Vec<_>, _>>()?;
                // A new binding replaces older ones on the same keys.
                let list = self.bindings.entry(ctx).or_default();
                for k in &keys {
                    for b in list.iter_mut() {
                        b.keys.retain(|old| old != k);
                    }
                }
                list.retain(|b| !b.keys.is_empty());
                for k in &keys {
                    if e.action == Action::None {
                        self.lookup.remove(&(ctx, key_ord(k)));
                    } else {
                        self.lookup.insert((ctx, key_ord(k)), e.action);
                    }
                }
                if e.action != Action::None {
                    list.push(Binding {
                        keys,
                        action: e.action,
                        desc: e.desc.unwrap_or_else(|| format!("{:?}", e.action)),
                        hint: e.hint,
                    });
                }
            }
        }
        Ok(())
    }

    /// The action for a key in a context (falling back to global where the context does).
    pub fn action(&self, ctx: Context, key: &Key) -> Option<Action> {
        let k = key_ord(key);
        self.lookup
            .get(&(ctx, k.clone()))
            .or_else(|| {
                if ctx.inherits_global() {
                    self.lookup.get(&(Context::Global, k))
                } else {
                    None
                }
            })
            .copied()
    }

    pub fn bindings(&self, ctx: Context) -> &[Binding] {
        self.bindings.get(&ctx).map(|v| v.as_slice()).unwrap_or(&[])
    }

    /// The first key bound to `action` in `ctx` (or global), for prompts like "press c to copy".
    pub fn key_for(&self, ctx: Context, action: Action) -> Option<String> {
        let find = |c: Context| {
            self.bindings(c)
                .iter()
                .find(|b| b.action == action)
                .and_then(|b| b.keys.first())
                .map(|k| k.label())
        };
        find(ctx).or_else(|| find(Context::Global))
    }

    /// Footer hints for a context, most important first: (keys label, short description).
    pub fn hints(&self, ctx: Context) -> Vec<(String, String, u8)> {
        self.hints_where(ctx, |_| true)
    }

    /// Footer hints for a context whose action passes `applies` (does something right now).
    pub fn hints_where(
        &self,
        ctx: Context,
        applies: impl Fn(Action) -> bool,
    ) -> Vec<(String, String, u8)> {
        let mut out: Vec<(String, String, u8)> = Vec::new();
        let mut push = |c: Context| {
            for b in self.bindings(c) {
                if !applies(b.action) {
                    continue;
                }
                if let (Some(h), Some(k)) = (b.hint, b.keys.first()) {
                    if out.iter().any(|(kl, _, _)| *kl == k.label()) {
                        continue;
                    }
                    let short = b
                        .desc
                        .split([' ', '(', ':'])
                        .next()
                        .unwrap_or("")
                        .to_string();
                    out.push((k.label(), short_desc(&b.desc, &short), h));
                }
            }
        };
        push(ctx);
        if ctx.inherits_global() {
            push(Context::Global);
        }
        out.sort_by_key(|(_, _, h)| *h);
        out
    }
}

fn short_desc(desc: &str, first_word: &str) -> String {
    // "pause / resume job" → "pause/resume"; "copy marked or selected: …" → "copy".
    let head = desc.split([':', '(']).next().unwrap_or(desc).trim();
    if let Some((a, b)) = head.split_once(" / ") {
        let b = b.split(' ').next().unwrap_or(b);
        return format!("{a}/{b}");
    }
    first_word.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Key {
        Key::parse(s).unwrap()
    }

    #[test]
    fn default_keymap_parses_and_matches_design_table() {
        let m = Keymap::default_map();
        assert_eq!(m.action(Context::Browse, &key("j")), Some(Action::Down));
        assert_eq!(m.action(Context::Browse, &key("c")), Some(Action::Copy));
        assert_eq!(
            m.action(Context::Queue, &key("p")),
            Some(Action::PauseResume)
        );
        assert_eq!(m.action(Context::Queue, &key("A")), Some(Action::Abort));
        assert_eq!(
            m.action(Context::Queue, &key("+")),
            Some(Action::ConcurrencyUp)
        );
        assert_eq!(m.action(Context::Log, &key("ctrl-c")), Some(Action::Quit));
        assert_eq!(m.action(Context::Browse, &key("space")), Some(Action::Mark));
        assert_eq!(
            m.action(Context::Browse, &key("ctrl-a")),
            Some(Action::MarkAll)
        );
        assert_eq!(m.action(Context::Dialog, &key("y")), Some(Action::Yes));
        // Dialogs do not fall through to global keys.
        assert_eq!(m.action(Context::Dialog, &key("c")), None);
    }

    #[test]
    fn user_keymap_overrides_and_unbinds() {
        let user = r#"
[[queue]]
keys = ["space"]
action = "pause_resume"
desc = "pause"

[[global]]
keys = ["q"]
action = "none"
"#;
        let m = Keymap::with_user(user).unwrap();
        assert_eq!(
            m.action(Context::Queue, &key("space")),
            Some(Action::PauseResume)
        );
        assert_eq!(
            m.action(Context::Queue, &key("p")),
            Some(Action::PauseResume)
        );
        assert_eq!(m.action(Context::Browse, &key("q")), None);
        assert_eq!(
            m.action(Context::Browse, &key("ctrl-c")),
            Some(Action::Quit)
        );
    }

    #[test]
    fn bad_keymap_says_what_is_wrong() {
        let e = Keymap::with_user("[[nowhere]]\nkeys=[\"x\"]\naction=\"quit\"").unwrap_err();
        assert!(e.contains("unknown section"), "{e}");
        let e = Keymap::with_user("[[global]]\nkeys=[\"hyper-x\"]\naction=\"quit\"").unwrap_err();
        assert!(e.contains("not a key"), "{e}");
        let e = Keymap::with_user("[[global]]\nkeys=[\"x\"]\naction=\"fly\"").unwrap_err();
        assert!(e.contains("not valid"), "{e}");
    }

    #[test]
    fn hints_are_ordered_by_priority() {
        let m = Keymap::default_map();
        let h = m.hints(Context::Queue);
        assert_eq!(h[0].0, "?");
        assert!(h.iter().any(|(k, d, _)| k == "p" && d == "pause/resume"));
    }
}
