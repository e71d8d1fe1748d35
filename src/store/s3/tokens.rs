//! ListObjectsV2 continuation tokens behind the trait's key markers.
//!
//! `ObjectStore::list_objects` pages by marker: a key to list after (the engine resumes a
//! listing from a journaled key). ListObjectsV2 pages by an opaque continuation token. The S3
//! client hands out the page's last key (or prefix) as the marker and remembers the token the
//! store gave for it; a request whose marker it remembers sends the token, any other marker
//! goes as `start-after`. Both list the same keys; the token is what S3 asks for.
//!
//! No I/O; bounded: past `CAP` remembered tokens the oldest are forgotten (their listings
//! fall back to `start-after`).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Tokens kept at most (one per listing in flight is the usual need).
const CAP: usize = 1024;

/// What a token continues: bucket, prefix, delimiter and the marker handed out.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListingAt {
    pub bucket: String,
    pub prefix: String,
    pub delimiter: Option<String>,
    pub marker: String,
}

#[derive(Debug, Default)]
pub struct ContinuationTokens {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    tokens: HashMap<ListingAt, String>,
    order: VecDeque<ListingAt>,
}

impl ContinuationTokens {
    pub fn remember(&self, at: ListingAt, token: String) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if g.tokens.insert(at.clone(), token).is_none() {
            g.order.push_back(at);
        }
        while g.order.len() > CAP {
            if let Some(old) = g.order.pop_front() {
                g.tokens.remove(&old);
            }
        }
    }

    /// The token for `at`, if one was remembered (it stays: a retried page sends it again).
    pub fn get(&self, at: &ListingAt) -> Option<String> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.tokens.get(at).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(m: &str) -> ListingAt {
        ListingAt {
            bucket: "b".into(),
            prefix: "p/".into(),
            delimiter: None,
            marker: m.into(),
        }
    }

    #[test]
    fn a_remembered_marker_gives_its_token_and_others_none() {
        let t = ContinuationTokens::default();
        t.remember(at("p/k1"), "tok1".into());
        assert_eq!(t.get(&at("p/k1")).as_deref(), Some("tok1"));
        assert_eq!(
            t.get(&at("p/k1")).as_deref(),
            Some("tok1"),
            "kept for a retry"
        );
        assert_eq!(t.get(&at("p/k2")), None);
        let mut other = at("p/k1");
        other.delimiter = Some("/".into());
        assert_eq!(t.get(&other), None);
    }

    #[test]
    fn the_oldest_tokens_are_forgotten_past_the_cap() {
        let t = ContinuationTokens::default();
        for i in 0..CAP + 10 {
            t.remember(at(&format!("k{i}")), format!("t{i}"));
        }
        assert_eq!(t.get(&at("k0")), None);
        assert_eq!(
            t.get(&at(&format!("k{}", CAP + 9))).as_deref(),
            Some(&*format!("t{}", CAP + 9))
        );
    }
}
