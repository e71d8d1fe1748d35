//! The server's data: buckets, objects and multipart uploads, and the pure operations on them
//! (listing with markers and delimiters, part bookkeeping).
//!
//! No I/O and no clock: callers pass the time in. Persistence (`--data`, `persist.rs`)
//! serialises this with serde; HTTP lives in `service.rs`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::content::Content;

pub const STANDARD: &str = "STANDARD";
pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;
/// Largest single PUT, PUT Copy across regions and part: 5 GB.
pub const MAX_SIMPLE: u64 = 5 * GIB;
/// Smallest part except the last one: 1 MB.
pub const MIN_PART: u64 = MIB;
/// Largest object: 48.82 TB (50,000 GB).
pub const MAX_OBJECT: u64 = 50_000 * GIB;
pub const MAX_PARTS: u32 = 10_000;

/// Content headers and `x-cos-meta-*` of an object or an upload, plus its storage class.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Meta {
    pub content_type: Option<String>,
    /// cache-control, content-disposition, content-encoding, expires and x-cos-meta-*,
    /// lowercased names, sorted.
    pub headers: Vec<(String, String)>,
    pub storage_class: String,
}

impl Meta {
    pub fn standard() -> Self {
        Meta {
            storage_class: STANDARD.to_string(),
            ..Meta::default()
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Object {
    #[serde(with = "super::persist::content_ref")]
    pub content: Content,
    pub size: u64,
    /// Without quotes: `<md5 hex>` or `<hex>-<N>`.
    pub etag: String,
    pub crc64: u64,
    /// Unix seconds.
    pub last_modified: i64,
    pub meta: Meta,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Part {
    #[serde(with = "super::persist::content_ref")]
    pub content: Content,
    pub size: u64,
    pub etag: String,
    pub crc64: u64,
    pub last_modified: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Upload {
    pub id: String,
    pub key: String,
    pub initiated: i64,
    pub meta: Meta,
    pub parts: BTreeMap<u32, Part>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bucket {
    pub name: String,
    pub region: String,
    pub created: i64,
    pub objects: BTreeMap<String, Object>,
    /// By upload id; ids sort in creation order.
    pub uploads: BTreeMap<String, Upload>,
}

impl Bucket {
    pub fn new(name: &str, region: &str, now: i64) -> Self {
        Bucket {
            name: name.to_string(),
            region: region.to_string(),
            created: now,
            objects: BTreeMap::new(),
            uploads: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub buckets: BTreeMap<String, Bucket>,
    pub next_upload: u64,
}

impl State {
    /// A fresh upload id: sortable by creation, unguessable enough for a local server.
    pub fn new_upload_id(&mut self, seed: u64) -> String {
        self.next_upload += 1;
        let n = self.next_upload;
        let mix = super::faults::mix(&[seed, n, 0x75706c6f6164]);
        format!("{n:016x}{mix:016x}")
    }
}

/// One entry of a delimited listing.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry<'a, T> {
    Item(&'a str, &'a T),
    Prefix(String),
}

/// A page of a listing.
pub struct Page<'a, T> {
    pub entries: Vec<Entry<'a, T>>,
    pub truncated: bool,
}

/// Lists `items` (sorted by key) after `marker`, under `prefix`, rolling keys that contain
/// `delimiter` after the prefix into common prefixes; `max` entries (items + prefixes).
pub fn list_page<'a, T>(
    items: impl Iterator<Item = (&'a str, &'a T)>,
    prefix: &str,
    delimiter: &str,
    marker: &str,
    max: usize,
) -> Page<'a, T> {
    list_page_after(items, prefix, delimiter, marker, max, |key, _| {
        marker.is_empty() || key > marker
    })
}

/// `list_page` where `after(key, item)` says which items come after the marker (multipart
/// uploads page by key *and* upload id); `marker` still decides which common prefixes were
/// already returned.
pub fn list_page_after<'a, T>(
    items: impl Iterator<Item = (&'a str, &'a T)>,
    prefix: &str,
    delimiter: &str,
    marker: &str,
    max: usize,
    after: impl Fn(&str, &T) -> bool,
) -> Page<'a, T> {
    let mut entries = Vec::new();
    let mut last_prefix: Option<String> = None;
    let mut truncated = false;
    for (key, item) in items {
        if !after(key, item) {
            continue;
        }
        if !key.starts_with(prefix) {
            if key > prefix && !prefix.is_empty() {
                break;
            }
            continue;
        }
        if let Some(lp) = &last_prefix {
            if key.starts_with(lp.as_str()) {
                continue;
            }
        }
        let rolled = if delimiter.is_empty() {
            None
        } else {
            key[prefix.len()..]
                .find(delimiter)
                .map(|i| key[..prefix.len() + i + delimiter.len()].to_string())
        };
        if let Some(cp) = &rolled {
            // A marker equal to a common prefix means that prefix was already returned.
            if cp.as_str() <= marker {
                last_prefix = rolled;
                continue;
            }
        }
        if entries.len() == max {
            truncated = true;
            break;
        }
        match rolled {
            Some(cp) => {
                last_prefix = Some(cp.clone());
                entries.push(Entry::Prefix(cp));
            }
            None => entries.push(Entry::Item(key, item)),
        }
    }
    Page { entries, truncated }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: &[&'static str]) -> Vec<(&'static str, ())> {
        v.iter().map(|k| (*k, ())).collect()
    }

    fn render(p: &Page<'_, ()>) -> Vec<String> {
        p.entries
            .iter()
            .map(|e| match e {
                Entry::Item(k, _) => k.to_string(),
                Entry::Prefix(p) => format!("P:{p}"),
            })
            .collect()
    }

    #[test]
    fn delimiter_rolls_up_prefixes_and_marker_skips_them() {
        let v = keys(&["a/1", "a/2", "b", "c/x/1", "c/y", "d"]);
        let it = || v.iter().map(|(k, t)| (*k, t));
        let p = list_page(it(), "", "/", "", 2);
        assert_eq!(render(&p), ["P:a/", "b"]);
        assert!(p.truncated);
        let p = list_page(it(), "", "/", "b", 2);
        assert_eq!(render(&p), ["P:c/", "d"]);
        assert!(!p.truncated);
        let p = list_page(it(), "", "/", "a/", 10);
        assert_eq!(render(&p), ["b", "P:c/", "d"]);
        let p = list_page(it(), "c/", "/", "", 10);
        assert_eq!(render(&p), ["P:c/x/", "c/y"]);
        let p = list_page(it(), "c/", "", "", 1);
        assert_eq!(render(&p), ["c/x/1"]);
        assert!(p.truncated);
    }
}
