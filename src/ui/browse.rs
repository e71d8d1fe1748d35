//! The Browse view model: buckets, then the objects and prefixes under a bucket/prefix, loaded a
//! page at a time, kept compactly, filtered and sorted through an index so a long listing stays
//! responsive.
//!
//! Pure: no I/O. The App asks for the next page (a `Command`) when `wants_more` says so.
//!
//! Memory: each loaded row is a `Row` (name relative to the prefix as a boxed str, size,
//! modified seconds, an interned storage class) plus a `u32` in the view index: about 100 bytes
//! a row with 40-character keys (measured by `benches/ui_render.rs`: 96 B). Loading stops at
//! `ROW_CAP` rows (the header says so and suggests a narrower prefix or a filter), so a bucket
//! with millions of objects costs at most ~30 MB however far one scrolls.

use std::time::SystemTime;

use crate::store::{BucketInfo, BucketName, ListObjectsPage};

/// Rows kept per listing before loading stops.
pub const ROW_CAP: usize = 300_000;
/// Ask for the next page when the cursor is this close to the end of the loaded rows.
pub const PREFETCH: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Name,
    Size,
    Time,
}

impl SortKey {
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Name => SortKey::Size,
            SortKey::Size => SortKey::Time,
            SortKey::Time => SortKey::Name,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Size => "size",
            SortKey::Time => "time",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Relative to the listing's prefix; prefixes end in `/`.
    pub name: Box<str>,
    pub size: u64,
    /// Unix seconds, `i64::MIN` when unknown.
    pub modified: i64,
    /// Index into `Listing::classes`.
    pub class: u8,
    pub is_prefix: bool,
    pub marked: bool,
}

/// Where the listing stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Load {
    /// Waiting for the page after `marker`.
    Loading,
    /// More pages exist; the next starts at the marker.
    More(String),
    Complete,
    /// Loading stopped at `ROW_CAP`.
    Capped,
    Failed(String),
}

/// Objects and prefixes under one bucket/prefix.
#[derive(Debug, Clone)]
pub struct ObjectList {
    pub bucket: BucketName,
    pub prefix: String,
    pub rows: Vec<Row>,
    pub classes: Vec<Box<str>>,
    pub load: Load,
    /// The marker of the page in flight (`None` for the first page).
    pub pending_marker: Option<Option<String>>,
    pub view: Vec<u32>,
    pub filter: String,
    pub sort: SortKey,
    pub reverse: bool,
    pub cursor: usize,
    pub pages: usize,
    /// Rows kept before loading stops (`ROW_CAP`; smaller in tests).
    pub cap: usize,
    /// The marker of the page that failed (`Some(None)` for the first page), so `R` asks for
    /// that page again and keeps the rows already loaded.
    pub failed_marker: Option<Option<String>>,
}

impl ObjectList {
    pub fn new(bucket: BucketName, prefix: String) -> ObjectList {
        ObjectList {
            bucket,
            prefix,
            rows: Vec::new(),
            classes: Vec::new(),
            load: Load::Loading,
            pending_marker: Some(None),
            view: Vec::new(),
            filter: String::new(),
            sort: SortKey::Name,
            reverse: false,
            cursor: 0,
            pages: 0,
            cap: ROW_CAP,
            failed_marker: None,
        }
    }

    fn class_index(&mut self, class: &str) -> u8 {
        if let Some(i) = self.classes.iter().position(|c| &**c == class) {
            return i as u8;
        }
        if self.classes.len() < 255 {
            self.classes.push(class.into());
            (self.classes.len() - 1) as u8
        } else {
            0
        }
    }

    /// Folds in one page. Returns false when the page was not the one awaited (stale).
    pub fn on_page(
        &mut self,
        marker: &Option<String>,
        page: Result<ListObjectsPage, String>,
    ) -> bool {
        if self.pending_marker.as_ref() != Some(marker) {
            return false;
        }
        self.pending_marker = None;
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                // The rows loaded so far stay; `retry_failed` asks for this page again.
                self.load = Load::Failed(e);
                self.failed_marker = Some(marker.clone());
                return true;
            }
        };
        self.failed_marker = None;
        self.pages += 1;
        let plen = self.prefix.len();
        for p in &page.common_prefixes {
            let name = p.get(plen..).unwrap_or(p);
            self.rows.push(Row {
                name: name.into(),
                size: 0,
                modified: i64::MIN,
                class: u8::MAX,
                is_prefix: true,
                marked: false,
            });
        }
        for o in &page.objects {
            let name = o.key.get(plen..).unwrap_or(&o.key);
            if name.is_empty() {
                continue; // the prefix's own placeholder object
            }
            let class = self.class_index(&o.storage_class);
            self.rows.push(Row {
                name: name.into(),
                size: o.size,
                modified: o
                    .last_modified
                    .map(|t| t.unix_timestamp())
                    .unwrap_or(i64::MIN),
                class,
                is_prefix: false,
                marked: false,
            });
        }
        self.load = if self.rows.len() >= self.cap {
            Load::Capped
        } else if page.is_truncated {
            match page
                .next_marker
                .or_else(|| page.objects.last().map(|o| o.key.clone()))
            {
                Some(m) => Load::More(m),
                None => Load::Complete,
            }
        } else {
            Load::Complete
        };
        self.rebuild_view();
        true
    }

    /// The marker to request next, if the cursor is near the end and nothing is in flight.
    pub fn wants_more(&self) -> Option<String> {
        match &self.load {
            Load::More(m)
                if self.pending_marker.is_none() && self.cursor + PREFETCH >= self.view.len() =>
            {
                Some(m.clone())
            }
            _ => None,
        }
    }

    /// After a failed page: the marker to ask for again (now marked as requested), keeping
    /// every row loaded so far. `None` when no page failed.
    pub fn retry_failed(&mut self) -> Option<Option<String>> {
        if !matches!(self.load, Load::Failed(_)) {
            return None;
        }
        let marker = self.failed_marker.take()?;
        self.mark_requested(marker.clone());
        Some(marker)
    }

    pub fn mark_requested(&mut self, marker: Option<String>) {
        self.pending_marker = Some(marker);
        self.load = Load::Loading;
    }

    /// Recomputes the filtered, sorted index; keeps the cursor on the same row when it can.
    pub fn rebuild_view(&mut self) {
        let current = self.view.get(self.cursor).copied();
        let f = self.filter.to_lowercase();
        let rows = &self.rows;
        let mut view: Vec<u32> = (0..rows.len() as u32)
            .filter(|&i| f.is_empty() || rows[i as usize].name.to_lowercase().contains(&f))
            .collect();
        // Prefixes first, then by the sort key; name order is the listing order.
        match self.sort {
            SortKey::Name => view.sort_by(|&a, &b| {
                let (a, b) = (&rows[a as usize], &rows[b as usize]);
                b.is_prefix
                    .cmp(&a.is_prefix)
                    .then_with(|| a.name.cmp(&b.name))
            }),
            SortKey::Size => view.sort_by(|&a, &b| {
                let (a, b) = (&rows[a as usize], &rows[b as usize]);
                b.is_prefix
                    .cmp(&a.is_prefix)
                    .then(b.size.cmp(&a.size))
                    .then_with(|| a.name.cmp(&b.name))
            }),
            SortKey::Time => view.sort_by(|&a, &b| {
                let (a, b) = (&rows[a as usize], &rows[b as usize]);
                b.is_prefix
                    .cmp(&a.is_prefix)
                    .then(b.modified.cmp(&a.modified))
                    .then_with(|| a.name.cmp(&b.name))
            }),
        }
        if self.reverse {
            view.reverse();
        }
        self.view = view;
        self.cursor = current
            .and_then(|c| self.view.iter().position(|&i| i == c))
            .unwrap_or(self.cursor.min(self.view.len().saturating_sub(1)));
    }

    pub fn selected(&self) -> Option<&Row> {
        self.view.get(self.cursor).map(|&i| &self.rows[i as usize])
    }

    pub fn marked_count(&self) -> usize {
        self.rows.iter().filter(|r| r.marked).count()
    }

    pub fn full_key(&self, row: &Row) -> String {
        format!("{}{}", self.prefix, row.name)
    }
}

/// The bucket list (or the profile's access paths when listing is denied or empty).
#[derive(Debug, Clone, Default)]
pub struct BucketList {
    pub buckets: Vec<BucketInfo>,
    pub error: Option<String>,
    pub loading: bool,
    pub cursor: usize,
    pub filter: String,
}

/// An entry of the bucket screen: a bucket, or an access path from the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketEntry {
    Bucket(usize),
    AccessPath(usize),
}

/// The time column: `2026-11-27 22:08` in UTC, `-` when unknown.
pub fn format_time(unix: i64) -> String {
    if unix == i64::MIN {
        return "-".into();
    }
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}",
            t.year(),
            t.month() as u8,
            t.day(),
            t.hour(),
            t.minute()
        ),
        Err(_) => "-".into(),
    }
}

/// Unix seconds of a `SystemTime` (for the Uploads and job screens).
pub fn unix(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ObjectSummary;

    fn page(keys: &[&str], more: bool) -> ListObjectsPage {
        ListObjectsPage {
            objects: keys
                .iter()
                .enumerate()
                .map(|(i, k)| ObjectSummary {
                    key: format!("p/{k}"),
                    size: i as u64 * 10,
                    last_modified: None,
                    etag: "e".into(),
                    storage_class: "STANDARD".into(),
                })
                .collect(),
            common_prefixes: vec![],
            is_truncated: more,
            next_marker: None,
        }
    }

    #[test]
    fn pages_append_and_ask_for_more_near_the_end() {
        let mut l = ObjectList::new(BucketName::parse("a-1").unwrap(), "p/".into());
        assert!(l.on_page(&None, Ok(page(&["a", "b"], true))));
        assert_eq!(l.view.len(), 2);
        assert_eq!(l.rows[0].name.as_ref(), "a");
        let m = l.wants_more().unwrap();
        assert_eq!(m, "p/b");
        l.mark_requested(Some(m.clone()));
        assert_eq!(l.wants_more(), None);
        // A stale page (other marker) is ignored.
        assert!(!l.on_page(&None, Ok(page(&["zz"], false))));
        assert!(l.on_page(&Some(m), Ok(page(&["c"], false))));
        assert_eq!(l.view.len(), 3);
        assert_eq!(l.load, Load::Complete);
    }

    #[test]
    fn loading_stops_at_the_cap() {
        let mut l = ObjectList::new(BucketName::parse("a-1").unwrap(), "p/".into());
        l.cap = 3;
        l.on_page(&None, Ok(page(&["a", "b"], true)));
        let m = l.wants_more().unwrap();
        l.mark_requested(Some(m.clone()));
        l.on_page(&Some(m), Ok(page(&["c", "d"], true)));
        assert_eq!(l.load, Load::Capped);
        assert_eq!(l.wants_more(), None);
    }

    #[test]
    fn filter_and_sort_keep_cursor_on_row() {
        let mut l = ObjectList::new(BucketName::parse("a-1").unwrap(), "p/".into());
        l.on_page(&None, Ok(page(&["alpha", "beta", "gamma"], false)));
        l.cursor = 1; // beta
        l.sort = SortKey::Size;
        l.rebuild_view();
        assert_eq!(l.selected().unwrap().name.as_ref(), "beta");
        l.filter = "MM".into();
        l.rebuild_view();
        assert_eq!(l.view.len(), 1);
        assert_eq!(l.selected().unwrap().name.as_ref(), "gamma");
    }
}
