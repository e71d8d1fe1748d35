//! The copy dialog (`c`): destination bucket (a picker filtered by typing), key or prefix,
//! part size, concurrency, storage class and what to do when the destination exists. Enter (or
//! `y`) checks every request with the engine's own `engine::request::check` and queues them;
//! an error stays in the dialog.
//!
//! Below the fields it says what will happen: the engine's check (or the planner's part size
//! × count), each bucket's region, whether the destination object exists, and the
//! key-vs-prefix rule. Regions and existence are asked of the engine (`lookups`, answered by
//! `on_region` / `on_exists` as events arrive), never awaited.
//!
//! Owns its fields; reads raw keys (its text fields need them). No network.

use std::collections::HashMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tui_input::{Input, InputRequest};

use super::Reply;
use crate::engine::request::{self, CopyRequest};
use crate::engine::{plan, BrowseRequest, CopyOptions, CopySpec, Overwrite, PartSize, Strategy};
use crate::store::{BucketName, CosUri, Dialect};
use crate::ui::browse::ObjectList;
use crate::ui::views::count;

/// The copy dialog's storage-class choices on COS: 0 keeps the source's class, `i` is COS's
/// class `i - 1` (the same list the planner checks against).
pub const STORAGE_CLASS_CHOICES: usize = crate::store::STORAGE_CLASSES.len() + 1;

/// The storage classes of a dialect (the lists `request::check_options_in` accepts).
pub fn storage_classes(dialect: Dialect) -> &'static [&'static str] {
    match dialect {
        Dialect::Cos => crate::store::STORAGE_CLASSES,
        Dialect::S3 => crate::store::s3::STORAGE_CLASSES,
    }
}

/// The label of COS storage-class choice `i`.
pub fn storage_class_label(i: usize) -> &'static str {
    class_label(Dialect::Cos, i)
}

/// The label of storage-class choice `i` in `dialect`: 0 keeps the source's class.
pub fn class_label(dialect: Dialect, i: usize) -> &'static str {
    match i {
        0 => "keep source",
        i => storage_classes(dialect).get(i - 1).copied().unwrap_or("?"),
    }
}

/// A lookup asked of the engine: `None` while its answer is on its way.
pub type Lookup<T> = Option<Result<T, String>>;

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
    /// Regions asked of the engine, per bucket.
    pub regions: HashMap<BucketName, Lookup<String>>,
    /// Whether a destination object exists (its size), per destination asked about.
    pub exists: HashMap<CosUri, Lookup<Option<u64>>>,
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

    /// The session's dialect: the source bucket's (one profile, one store).
    pub fn dialect(&self) -> Dialect {
        self.source_bucket.dialect()
    }

    /// The label of the storage class chosen.
    pub fn class_label(&self) -> &'static str {
        class_label(self.dialect(), self.class)
    }

    /// The destination bucket typed or picked, if it is a valid name (a `cos://` or `s3://`
    /// prefix names its store; a bare name is in the session's).
    pub fn destination_bucket(&self) -> Option<BucketName> {
        parse_bucket(&self.chosen_bucket(), self.dialect()).ok()
    }

    /// The one destination object when the dialog copies one object to an exact key.
    pub fn destination_object(&self) -> Option<CosUri> {
        if !self.is_single_object() {
            return None;
        }
        build_copy(self)
            .ok()
            .and_then(|s| s.into_iter().next())
            .map(|s| s.destination)
    }

    /// What to ask the engine now that was not asked yet: the source and destination buckets'
    /// regions, and whether the one destination object exists. Each is asked once.
    pub fn lookups(&mut self) -> Vec<BrowseRequest> {
        let mut out = Vec::new();
        let mut buckets = vec![self.source_bucket.clone()];
        // A bucket of another store cannot be asked through this session's engine.
        buckets.extend(
            self.destination_bucket()
                .filter(|b| b.dialect() == self.dialect()),
        );
        for b in buckets {
            if !self.regions.contains_key(&b) {
                self.regions.insert(b.clone(), None);
                out.push(BrowseRequest::Region(b));
            }
        }
        if let Some(uri) = self.destination_object() {
            if !self.exists.contains_key(&uri) {
                self.exists.insert(uri.clone(), None);
                out.push(BrowseRequest::Exists(uri));
            }
        }
        out
    }

    /// The engine's answer to a region lookup.
    pub fn on_region(&mut self, bucket: &BucketName, r: Result<String, String>) {
        if let Some(slot) = self.regions.get_mut(bucket) {
            *slot = Some(r);
        }
    }

    /// The engine's answer to an existence lookup.
    pub fn on_exists(&mut self, uri: &CosUri, r: Result<Option<u64>, String>) {
        if let Some(slot) = self.exists.get_mut(uri) {
            *slot = Some(r);
        }
    }

    /// One line per fact: the buckets' regions, the destination's existence and the
    /// key-vs-prefix rule.
    pub fn facts(&self) -> Vec<String> {
        let region = |b: &BucketName| match self.regions.get(b) {
            Some(Some(Ok(r))) => format!("{b} {r}"),
            Some(Some(Err(e))) => format!("{b} region unknown ({e})"),
            Some(None) => format!("{b} …"),
            None => b.to_string(),
        };
        let mut regions = format!("Regions: {}", region(&self.source_bucket));
        if let Some(d) = self.destination_bucket() {
            if d != self.source_bucket && d.dialect() == self.dialect() {
                regions.push_str(&format!(" → {}", region(&d)));
            }
        }
        let then = match self.overwrite {
            Overwrite::Always => "will be overwritten",
            Overwrite::Skip => "will be skipped",
        };
        let exists = match self.destination_object() {
            Some(uri) => match self.exists.get(&uri) {
                Some(Some(Ok(Some(size)))) => format!(
                    "Destination: exists ({} bytes) — {then} (If it exists)",
                    crate::ui::views::thousands(*size)
                ),
                Some(Some(Ok(None))) => "Destination: new".to_string(),
                Some(Some(Err(e))) => format!("Destination: not checked ({e})"),
                _ => "Destination: checking…".to_string(),
            },
            None if self.is_single_object() => "Destination: —".to_string(),
            None => format!("Destinations that exist {then} (If it exists)"),
        };
        vec![
            regions,
            exists,
            "Key rule: ending in / → prefix + source's name; otherwise the exact key".to_string(),
        ]
    }
}

/// A destination bucket as typed: `cos://NAME-APPID` or `s3://name` names its store (a trailing
/// `/` is allowed); a bare name is a bucket of `dialect`.
fn parse_bucket(text: &str, dialect: Dialect) -> Result<BucketName, String> {
    let (d, name) = if let Some(rest) = text.strip_prefix("cos://") {
        (Dialect::Cos, rest)
    } else if let Some(rest) = text.strip_prefix("s3://") {
        (Dialect::S3, rest)
    } else {
        (dialect, text)
    };
    BucketName::parse_in(d, name.trim_end_matches('/')).map_err(|e| e.to_string())
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
                storage_classes(list.bucket.dialect())
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
            regions: HashMap::new(),
            exists: HashMap::new(),
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
            // a new search, as on every list, except after a scheme (`s3://NAME`, `cos://NAME`).
            KeyCode::Char('/')
                if d.focus == CopyField::Bucket && !d.bucket.value().contains(':') =>
            {
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
                        let n = storage_classes(d.dialect()).len() + 1;
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
        let what = match d.dialect() {
            Dialect::Cos => "NAME-APPID",
            Dialect::S3 => "name",
        };
        return Err(format!(
            "no destination bucket: pick one with ↑↓ or type its {what}"
        ));
    }
    let dest_bucket = parse_bucket(&bucket_text, d.dialect())?;
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
        storage_class: (d.class > 0).then(|| d.class_label().to_string()),
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
