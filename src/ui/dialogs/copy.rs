//! The copy dialog (`c`): destination bucket (a picker filtered by typing), key or prefix,
//! part size, concurrency, storage class and what to do when the destination exists. Enter (or
//! `y`) checks every request with the engine's own `engine::request::check` and queues them;
//! an error stays in the dialog.
//!
//! Owns its fields; reads raw keys (its text fields need them). No network.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tui_input::{Input, InputRequest};

use super::Reply;
use crate::engine::request::{self, CopyRequest};
use crate::engine::{plan, CopyOptions, CopySpec, Overwrite, PartSize, Strategy};
use crate::store::{BucketName, CosUri};
use crate::ui::browse::ObjectList;
use crate::ui::views::count;

/// The copy dialog's storage-class choices: 0 keeps the source's class, `i` is COS's class
/// `i - 1` (the same list the planner checks against).
pub const STORAGE_CLASS_CHOICES: usize = crate::store::STORAGE_CLASSES.len() + 1;

/// The label of storage-class choice `i`.
pub fn storage_class_label(i: usize) -> &'static str {
    match i {
        0 => "keep source",
        i => crate::store::STORAGE_CLASSES[i - 1],
    }
}

/// Fields of the copy dialog, in focus order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyField {
    Bucket,
    Key,
    PartSize,
    Concurrency,
    StorageClass,
    IfExists,
}

impl CopyField {
    pub const ALL: [CopyField; 6] = [
        CopyField::Bucket,
        CopyField::Key,
        CopyField::PartSize,
        CopyField::Concurrency,
        CopyField::StorageClass,
        CopyField::IfExists,
    ];
}

/// The destination dialog opened by `c`.
#[derive(Debug, Clone)]
pub struct CopyDialog {
    pub source_bucket: BucketName,
    /// The listing prefix the sources were picked under; destination names are relative to it.
    pub base: String,
    /// (key, size) of objects chosen directly.
    pub objects: Vec<(String, u64)>,
    /// Prefixes chosen (expanded to objects by listing after Enter).
    pub prefixes: Vec<String>,
    pub focus: CopyField,
    pub bucket: Input,
    pub known_buckets: Vec<String>,
    pub pick: usize,
    pub key: Input,
    pub part_size: Input,
    pub concurrency: Input,
    pub class: usize,
    pub overwrite: Overwrite,
    pub error: Option<String>,
    /// Requests in flight the planner sizes "auto" parts for (the global limit).
    pub limit: usize,
}

impl CopyDialog {
    /// Known buckets matching what is typed (all of them when the field is empty or holds a
    /// bucket already chosen, so coming back to the field shows every choice).
    pub fn bucket_choices(&self) -> Vec<&str> {
        let typed = self.bucket.value().trim().to_lowercase();
        if self.known_buckets.contains(&typed) {
            return self.known_buckets.iter().map(|s| s.as_str()).collect();
        }
        self.known_buckets
            .iter()
            .filter(|b| b.contains(&typed))
            .map(|s| s.as_str())
            .collect()
    }

    /// The destination bucket: the highlighted pick, or what is typed when no known bucket
    /// matches it (a bucket haul has not seen, typed in full).
    pub fn chosen_bucket(&self) -> String {
        let choices = self.bucket_choices();
        match choices.get(self.pick.min(choices.len().saturating_sub(1))) {
            Some(c) => c.to_string(),
            None => self.bucket.value().trim().to_string(),
        }
    }

    /// Where the pick goes after typing: a bucket typed in full, else the first choice that is
    /// not the source bucket (the source when it is the only one).
    fn first_other_pick(&self) -> usize {
        let typed = self.bucket.value().trim().to_lowercase();
        let source = self.source_bucket.to_string();
        let choices = self.bucket_choices();
        if let Some(i) = choices.iter().position(|c| *c == typed) {
            return i;
        }
        choices.iter().position(|c| *c != source).unwrap_or(0)
    }

    /// Leaving the Bucket field: the field shows the bucket chosen.
    fn commit_bucket(&mut self) {
        let chosen = self.chosen_bucket();
        self.bucket = Input::new(chosen.clone());
        self.pick = self
            .bucket_choices()
            .iter()
            .position(|c| *c == chosen)
            .unwrap_or(0);
    }

    /// Moves the focus, committing the bucket pick when leaving the Bucket field.
    fn focus_on(&mut self, field: CopyField) {
        if self.focus == CopyField::Bucket && field != CopyField::Bucket {
            self.commit_bucket();
        }
        if self.focus != CopyField::Bucket && field == CopyField::Bucket {
            // Back on the field: an empty filter (every bucket, the same order), the pick still
            // on the bucket chosen, so typing filters instead of appending to a name.
            if self.known_buckets.iter().any(|b| b == self.bucket.value()) {
                self.bucket = Input::default();
            }
        }
        self.focus = field;
    }

    pub fn is_single_object(&self) -> bool {
        self.objects.len() == 1 && self.prefixes.is_empty()
    }

    pub fn total_bytes(&self) -> u64 {
        self.objects.iter().map(|(_, s)| s).sum()
    }
}

impl CopyDialog {
    /// The dialog for the marked rows of `list` (or the selected one); `None` when nothing
    /// there can be copied.
    pub fn open(
        list: &ObjectList,
        known: Vec<String>,
        d: &CopyOptions,
        limit: usize,
    ) -> Option<CopyDialog> {
        let mut objects = Vec::new();
        let mut prefixes = Vec::new();
        let marked: Vec<_> = list.rows.iter().filter(|r| r.marked).collect();
        let chosen: Vec<_> = if marked.is_empty() {
            list.selected().into_iter().collect()
        } else {
            marked
        };
        for r in chosen {
            if r.is_prefix {
                prefixes.push(list.full_key(r));
            } else {
                objects.push((list.full_key(r), r.size));
            }
        }
        if objects.is_empty() && prefixes.is_empty() {
            return None;
        }
        let default_key = if objects.len() == 1 && prefixes.is_empty() {
            objects[0].0.clone()
        } else {
            list.prefix.clone()
        };
        let part = match d.part_size {
            PartSize::Auto => "auto".to_string(),
            PartSize::Fixed(n) => crate::units::format_size(n).replace(' ', ""),
        };
        let conc = d
            .concurrency
            .map(|n| n.to_string())
            .unwrap_or_else(|| "auto".into());
        let class = d
            .storage_class
            .as_deref()
            .and_then(|c| {
                crate::store::STORAGE_CLASSES
                    .iter()
                    .position(|s| *s == c)
                    .map(|i| i + 1)
            })
            .unwrap_or(0);
        let mut dialog = CopyDialog {
            source_bucket: list.bucket.clone(),
            base: list.prefix.clone(),
            objects,
            prefixes,
            focus: CopyField::Bucket,
            // An empty filter shows every known bucket; the pick starts on the first one that
            // is not the source, so Enter right away never copies an object onto itself.
            bucket: Input::default(),
            known_buckets: known,
            pick: 0,
            key: Input::new(default_key),
            part_size: Input::new(part),
            concurrency: Input::new(conc),
            class,
            overwrite: d.overwrite,
            error: None,
            limit,
        };
        dialog.pick = dialog.first_other_pick();
        Some(dialog)
    }

    /// A key in the dialog.
    pub fn handle_key(&mut self, ev: KeyEvent) -> Reply {
        let d = self;
        let idx = CopyField::ALL
            .iter()
            .position(|f| *f == d.focus)
            .unwrap_or(0);
        let text_field = matches!(
            d.focus,
            CopyField::Bucket | CopyField::Key | CopyField::PartSize | CopyField::Concurrency
        );
        let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        match ev.code {
            KeyCode::Esc => return Reply::CopyCancelled,
            KeyCode::Char('c') if ctrl => return Reply::Quit,
            KeyCode::Tab => d.focus_on(CopyField::ALL[(idx + 1) % CopyField::ALL.len()]),
            KeyCode::BackTab => {
                d.focus_on(CopyField::ALL[(idx + CopyField::ALL.len() - 1) % CopyField::ALL.len()])
            }
            // The bucket picker is searched by typing; `/` (never part of a bucket name) starts
            // a new search, as on every list.
            KeyCode::Char('/') if d.focus == CopyField::Bucket => {
                d.bucket = Input::default();
                d.pick = d.first_other_pick();
            }
            KeyCode::Down | KeyCode::Up if d.focus == CopyField::Bucket => {
                let n = d.bucket_choices().len();
                if n > 0 {
                    let cur = d.pick.min(n - 1);
                    d.pick = if ev.code == KeyCode::Down {
                        (cur + 1) % n
                    } else {
                        (cur + n - 1) % n
                    };
                }
            }
            KeyCode::Down => d.focus_on(CopyField::ALL[(idx + 1).min(CopyField::ALL.len() - 1)]),
            KeyCode::Up => d.focus_on(CopyField::ALL[idx.saturating_sub(1)]),
            KeyCode::Enter => {
                // In the Bucket field Enter takes the highlighted pick and moves on (like Tab);
                // in any other field it queues.
                if d.focus == CopyField::Bucket {
                    d.focus_on(CopyField::Key);
                    return Reply::Keep;
                }
                return d.submit();
            }
            _ if text_field => {
                if let Some(req) = input_request(&ev) {
                    let input = match d.focus {
                        CopyField::Bucket => &mut d.bucket,
                        CopyField::Key => &mut d.key,
                        CopyField::PartSize => &mut d.part_size,
                        _ => &mut d.concurrency,
                    };
                    if input.handle(req).is_some_and(|r| r.value) {
                        // An edit: the check below the fields is redone live.
                        d.error = None;
                    }
                    if d.focus == CopyField::Bucket {
                        // Typing filters; the pick goes to the first match that is not the
                        // source (or the source, when only it matches).
                        d.pick = d.first_other_pick();
                    }
                }
            }
            KeyCode::Char('h') | KeyCode::Left | KeyCode::Char('l') | KeyCode::Right => {
                let back = matches!(ev.code, KeyCode::Char('h') | KeyCode::Left);
                d.error = None;
                match d.focus {
                    CopyField::StorageClass => {
                        let n = STORAGE_CLASS_CHOICES;
                        d.class = if back {
                            (d.class + n - 1) % n
                        } else {
                            (d.class + 1) % n
                        };
                    }
                    _ => {
                        d.overwrite = match d.overwrite {
                            Overwrite::Always => Overwrite::Skip,
                            Overwrite::Skip => Overwrite::Always,
                        }
                    }
                }
            }
            KeyCode::Char('y') => return d.submit(),
            KeyCode::Char('n') | KeyCode::Char('q') => return Reply::CopyCancelled,
            _ => {}
        }
        Reply::Keep
    }

    /// What Enter would do, checked live with the engine's own rules (`request::check`) and
    /// the planner: the destination and, for one object, how it is copied. `Err` is what
    /// Enter would refuse, so the dialog shows it before anything is queued.
    pub fn preview(&self) -> Result<String, String> {
        let specs = build_copy(self)?;
        let Some(first) = specs.first() else {
            return Err("nothing to copy".into());
        };
        if self.is_single_object() {
            let size = self.objects[0].1;
            let limit = first.options.concurrency.unwrap_or(self.limit);
            let how = match plan::choose_strategy(
                size,
                first.options.part_size,
                plan::DEFAULT_SINGLE_COPY_THRESHOLD,
                limit,
            ) {
                Ok(Strategy::Single) => "one PUT Object - Copy".to_string(),
                Ok(Strategy::Multipart {
                    part_size, parts, ..
                }) => {
                    let auto = match first.options.part_size {
                        PartSize::Auto => format!(" (auto, for {limit} in flight)"),
                        PartSize::Fixed(_) => String::new(),
                    };
                    format!(
                        "{} parts of {}{auto}",
                        crate::ui::views::thousands(parts as u64),
                        crate::units::format_size(part_size)
                    )
                }
                Err(e) => return Err(format!("part size: {e}")),
            };
            return Ok(format!("→ {} · {how}", first.destination));
        }
        let dest = CosUri {
            bucket: first.destination.bucket.clone(),
            key: dest_prefix(self.key.value().trim_start_matches('/')),
        };
        Ok(format!(
            "→ {dest} · {} (each keeps its name under it)",
            count(specs.len(), "transfer", "transfers")
        ))
    }

    /// Checks the fields; queues the copies, or keeps the dialog open with the error.
    fn submit(&mut self) -> Reply {
        match build_copy(self) {
            Err(e) => {
                self.error = Some(e);
                Reply::Keep
            }
            Ok(specs) => Reply::Queue(specs),
        }
    }
}

/// The destination prefix several sources go under: the key typed, ending in `/`.
fn dest_prefix(key: &str) -> String {
    if key.is_empty() || key.ends_with('/') {
        key.to_string()
    } else {
        format!("{key}/")
    }
}

/// A key as a tui-input request (text fields).
pub fn input_request(ev: &KeyEvent) -> Option<InputRequest> {
    tui_input::backend::crossterm::to_input_request(&crossterm::event::Event::Key(*ev))
}

/// Checks the dialog with the engine's own rules and builds one copy request per chosen object
/// and one prefix transfer per chosen prefix (the engine lists it).
fn build_copy(d: &CopyDialog) -> Result<Vec<CopySpec>, String> {
    let bucket_text = d.chosen_bucket();
    if bucket_text.is_empty() {
        return Err("no destination bucket: pick one with ↑↓ or type its NAME-APPID".into());
    }
    let dest_bucket = BucketName::parse(&bucket_text).map_err(|e| e.to_string())?;
    let part_text = d.part_size.value().trim();
    let part_size = if part_text.is_empty() {
        PartSize::Auto
    } else {
        request::parse_part_size("part size", part_text).map_err(|e| e.to_string())?
    };
    let conc_text = d.concurrency.value().trim();
    let concurrency = if conc_text.is_empty() || conc_text.eq_ignore_ascii_case("auto") {
        None
    } else {
        Some(request::parse_concurrency("concurrency", conc_text).map_err(|e| e.to_string())?)
    };
    let options = CopyOptions {
        part_size,
        concurrency,
        storage_class: (d.class > 0).then(|| storage_class_label(d.class).to_string()),
        overwrite: d.overwrite,
        ..Default::default()
    };
    let key = d.key.value().trim_start_matches('/');
    let check = |source: String, destination: String, recursive: bool, size: Option<u64>| {
        let spec = request::check(CopyRequest {
            source: CosUri {
                bucket: d.source_bucket.clone(),
                key: source,
            },
            destination: CosUri {
                bucket: dest_bucket.clone(),
                key: destination,
            },
            recursive,
            options: options.clone(),
            known_size: size,
        })
        .map_err(|e| e.to_string())?;
        crate::store::encode::validate_key(&spec.destination.key)
            .map_err(|e| format!("destination key: {e}"))?;
        Ok::<_, String>(spec)
    };
    if d.is_single_object() && !key.ends_with('/') {
        if key.is_empty() {
            return Err("the destination key is empty: type one".into());
        }
        let (k, size) = &d.objects[0];
        return Ok(vec![check(k.clone(), key.to_string(), false, Some(*size))?]);
    }
    let dest_prefix = dest_prefix(key);
    let mut specs = Vec::new();
    for (k, size) in &d.objects {
        let rel = k.strip_prefix(&d.base).unwrap_or(k);
        specs.push(check(
            k.clone(),
            format!("{dest_prefix}{rel}"),
            false,
            Some(*size),
        )?);
    }
    for p in &d.prefixes {
        let rel = p.strip_prefix(&d.base).unwrap_or(p);
        specs.push(check(p.clone(), format!("{dest_prefix}{rel}"), true, None)?);
    }
    Ok(specs)
}
