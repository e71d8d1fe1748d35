//! The Browse screen: the bucket list, then a stack of object listings (one per level opened,
//! so going back is instant). Keys open, mark, sort, refresh, show details (`i`) and open the
//! copy dialog (`c`).
//!
//! Owns only its listings; listing pages arrive as engine events through `on_*`.

use super::Ctx;
use crate::engine::{BrowseRequest, Command, Listing};
use crate::store::{BucketInfo, BucketName, CosUri};
use crate::ui::browse::{BucketEntry, BucketList, Load, ObjectList, Row, SortKey};
use crate::ui::dialogs::confirm::Confirm;
use crate::ui::dialogs::copy::CopyDialog;
use crate::ui::dialogs::details::Details;
use crate::ui::dialogs::Dialog;
use crate::ui::keymap::Action;

/// Everything the Browse screen holds: the buckets, then a stack of listings (one per level
/// opened, so going back is instant).
#[derive(Debug, Clone, Default)]
pub struct BrowseState {
    pub buckets: BucketList,
    pub stack: Vec<ObjectList>,
    /// Marks of listings left (`Back`, `:`), by bucket and prefix: names marked there, put back
    /// when the listing is opened again, so marks survive leaving a folder.
    pub kept_marks:
        std::collections::BTreeMap<(BucketName, String), std::collections::BTreeSet<Box<str>>>,
}

impl BrowseState {
    /// The bucket and prefix open, if any.
    pub fn location(&self) -> Option<(BucketName, String)> {
        self.stack
            .last()
            .map(|l| (l.bucket.clone(), l.prefix.clone()))
    }

    /// The bucket screen's entries: buckets matching the filter, then access paths when the
    /// listing failed or was empty.
    pub fn bucket_entries(&self, access_paths: &[CosUri]) -> Vec<BucketEntry> {
        let b = &self.buckets;
        let f = b.filter.to_lowercase();
        let mut out: Vec<BucketEntry> = b
            .buckets
            .iter()
            .enumerate()
            .filter(|(_, x)| f.is_empty() || x.name.contains(&f))
            .map(|(i, _)| BucketEntry::Bucket(i))
            .collect();
        if b.buckets.is_empty() && !b.loading {
            out.extend(
                access_paths
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| f.is_empty() || p.to_string().contains(&f))
                    .map(|(i, _)| BucketEntry::AccessPath(i)),
            );
        }
        out
    }

    /// Every bucket haul has seen: listed, given as access paths, or opened.
    pub fn known_buckets(&self, access_paths: &[CosUri]) -> Vec<String> {
        let mut v: Vec<String> = self
            .buckets
            .buckets
            .iter()
            .map(|b| b.name.clone())
            .collect();
        for p in access_paths {
            v.push(p.bucket.to_string());
        }
        for l in &self.stack {
            v.push(l.bucket.to_string());
        }
        v.sort();
        v.dedup();
        v
    }

    /// Rows of the current list and the cursor into them.
    pub fn len_cursor(&self, access_paths: &[CosUri]) -> (usize, usize) {
        match self.stack.last() {
            Some(l) => (l.view.len(), l.cursor),
            None => (self.bucket_entries(access_paths).len(), self.buckets.cursor),
        }
    }

    /// Puts the cursor on row `c` (already clamped by the caller).
    pub fn set_cursor(&mut self, c: usize) {
        match self.stack.last_mut() {
            Some(l) => l.cursor = c,
            None => self.buckets.cursor = c,
        }
    }

    /// The filter text of the current list.
    pub fn filter(&self) -> String {
        match self.stack.last() {
            Some(l) => l.filter.clone(),
            None => self.buckets.filter.clone(),
        }
    }

    /// Filters the current list by `text`.
    pub fn set_filter(&mut self, text: String) {
        match self.stack.last_mut() {
            Some(list) => {
                list.filter = text;
                list.rebuild_view();
            }
            None => {
                self.buckets.filter = text;
                self.buckets.cursor = 0;
            }
        }
    }

    /// Asks for the bucket list again.
    pub fn start(&mut self) -> Vec<Command> {
        self.buckets.loading = true;
        vec![Command::Browse(BrowseRequest::Buckets)]
    }

    fn open_listing(&mut self, bucket: BucketName, prefix: String) -> Vec<Command> {
        let list = ObjectList::new(bucket.clone(), prefix.clone());
        self.stack.push(list);
        vec![Command::Browse(BrowseRequest::Objects {
            bucket,
            prefix,
            marker: None,
        })]
    }

    /// Loads the next page when the cursor nears the end of what is loaded.
    pub fn after_move(&mut self) -> Vec<Command> {
        let Some(list) = self.stack.last_mut() else {
            return vec![];
        };
        match list.wants_more() {
            Some(marker) => {
                list.mark_requested(Some(marker.clone()));
                vec![Command::Browse(BrowseRequest::Objects {
                    bucket: list.bucket.clone(),
                    prefix: list.prefix.clone(),
                    marker: Some(marker),
                })]
            }
            None => vec![],
        }
    }

    /// Clears the marks of the current listing (after its copies were queued).
    pub fn clear_marks(&mut self) {
        if let Some(l) = self.stack.last_mut() {
            for r in l.rows.iter_mut() {
                r.marked = false;
            }
            self.kept_marks
                .remove(&(l.bucket.clone(), l.prefix.clone()));
        }
    }

    /// Leaves the current listing, keeping its marks for when it is opened again: the marked
    /// rows loaded, and kept marks of rows not loaded this time.
    pub fn pop_keeping_marks(&mut self) {
        let Some(l) = self.stack.pop() else { return };
        let k = (l.bucket.clone(), l.prefix.clone());
        let mut kept = self.kept_marks.remove(&k).unwrap_or_default();
        for r in &l.rows {
            if r.marked {
                kept.insert(r.name.clone());
            } else {
                kept.remove(&r.name);
            }
        }
        if !kept.is_empty() {
            self.kept_marks.insert(k, kept);
        }
    }

    /// Marks kept elsewhere than the current listing.
    pub fn marks_elsewhere(&self) -> usize {
        let here = self.location();
        self.kept_marks
            .iter()
            .filter(|(k, _)| Some((*k).clone()) != here)
            .map(|(_, v)| v.len())
            .sum()
    }

    pub fn handle(&mut self, action: Action, ctx: &mut Ctx) -> Vec<Command> {
        let Some(list) = self.stack.last_mut() else {
            return self.buckets_action(action, ctx);
        };
        match action {
            Action::Open => {
                let Some(row) = list.selected() else {
                    return vec![];
                };
                if row.is_prefix {
                    let (bucket, prefix) = (list.bucket.clone(), list.full_key(row));
                    return self.open_listing(bucket, prefix);
                }
                self.open_details(ctx)
            }
            Action::Back => {
                self.pop_keeping_marks();
                vec![]
            }
            Action::Mark => {
                if let Some(&i) = list.view.get(list.cursor) {
                    let r = &mut list.rows[i as usize];
                    r.marked = !r.marked;
                    list.cursor = (list.cursor + 1).min(list.view.len().saturating_sub(1));
                }
                self.after_move()
            }
            Action::MarkAll => {
                let all = list.view.iter().all(|&i| list.rows[i as usize].marked);
                for &i in &list.view {
                    list.rows[i as usize].marked = !all;
                }
                vec![]
            }
            Action::Sort => {
                list.sort = list.sort.next();
                list.rebuild_view();
                ctx.note(sort_note(list.sort, &list.load));
                vec![]
            }
            Action::ReverseSort => {
                list.reverse = !list.reverse;
                list.rebuild_view();
                vec![]
            }
            Action::Refresh => {
                // After a failed page, ask for that page again: the rows loaded stay.
                if let Some(marker) = list.retry_failed() {
                    ctx.note(format!(
                        "retrying the listing of cos://{}/{} ({} rows kept)",
                        list.bucket,
                        list.prefix,
                        list.rows.len()
                    ));
                    return vec![Command::Browse(BrowseRequest::Objects {
                        bucket: list.bucket.clone(),
                        prefix: list.prefix.clone(),
                        marker,
                    })];
                }
                let (bucket, prefix) = (list.bucket.clone(), list.prefix.clone());
                self.pop_keeping_marks();
                self.open_listing(bucket, prefix)
            }
            Action::Info => self.open_details(ctx),
            Action::Copy => self.open_copy(ctx),
            Action::Delete => self.open_delete(ctx),
            _ => vec![],
        }
    }

    /// `D`: the marked objects, else the selected one. Folders are not expanded: deleting a
    /// prefix's contents is a decision to take inside it, object by object.
    fn open_delete(&mut self, ctx: &mut Ctx) -> Vec<Command> {
        let Some(list) = self.stack.last() else {
            return vec![];
        };
        let marked: Vec<&Row> = list.rows.iter().filter(|r| r.marked).collect();
        let chosen: Vec<&Row> = if marked.is_empty() {
            list.selected().into_iter().collect()
        } else {
            marked
        };
        if chosen.iter().any(|r| r.is_prefix) {
            ctx.note("D deletes objects, not folders: open the folder and mark what to delete");
            return vec![];
        }
        if chosen.is_empty() {
            ctx.note("nothing to delete here");
            return vec![];
        }
        let objects = chosen.iter().map(|r| (list.full_key(r), r.size)).collect();
        ctx.open(Dialog::Confirm(Confirm::delete_objects(
            list.bucket.clone(),
            objects,
        )));
        vec![]
    }

    /// Objects deleted through `D`: their rows leave every open listing of that bucket.
    pub fn on_deleted(&mut self, bucket: &BucketName, keys: &[String]) {
        let gone: std::collections::HashSet<&str> = keys.iter().map(String::as_str).collect();
        for list in self.stack.iter_mut().filter(|l| &l.bucket == bucket) {
            let prefix = list.prefix.clone();
            let before = list.rows.len();
            list.rows
                .retain(|r| r.is_prefix || !gone.contains(format!("{prefix}{}", r.name).as_str()));
            if list.rows.len() != before {
                list.rebuild_view();
                list.cursor = list.cursor.min(list.view.len().saturating_sub(1));
            }
        }
    }

    fn open_details(&mut self, ctx: &mut Ctx) -> Vec<Command> {
        let Some(list) = self.stack.last() else {
            return vec![];
        };
        let Some(row) = list.selected() else {
            return vec![];
        };
        if row.is_prefix {
            ctx.note("i shows an object's details; this is a prefix");
            return vec![];
        }
        let uri = CosUri {
            bucket: list.bucket.clone(),
            key: list.full_key(row),
        };
        ctx.open(Dialog::Details(Details {
            uri: uri.clone(),
            meta: None,
        }));
        vec![Command::Browse(BrowseRequest::HeadObject(uri))]
    }

    fn buckets_action(&mut self, action: Action, ctx: &mut Ctx) -> Vec<Command> {
        match action {
            Action::Open => {
                let entries = self.bucket_entries(ctx.access_paths);
                match entries.get(self.buckets.cursor) {
                    Some(BucketEntry::Bucket(i)) => {
                        let name = self.buckets.buckets[*i].name.clone();
                        match BucketName::parse(&name) {
                            Ok(b) => self.open_listing(b, String::new()),
                            Err(e) => {
                                ctx.error(e.to_string());
                                vec![]
                            }
                        }
                    }
                    Some(BucketEntry::AccessPath(i)) => {
                        let p = ctx.access_paths[*i].clone();
                        let prefix = if p.key.is_empty() || p.key.ends_with('/') {
                            p.key
                        } else {
                            format!("{}/", p.key)
                        };
                        self.open_listing(p.bucket, prefix)
                    }
                    None => vec![],
                }
            }
            Action::Refresh => {
                self.buckets.loading = true;
                self.buckets.error = None;
                vec![Command::Browse(BrowseRequest::Buckets)]
            }
            Action::Copy | Action::Info | Action::Mark | Action::MarkAll => {
                ctx.note("open a bucket first (Enter)");
                vec![]
            }
            _ => vec![],
        }
    }

    fn open_copy(&mut self, ctx: &mut Ctx) -> Vec<Command> {
        let known = self.known_buckets(ctx.access_paths);
        let Some(list) = self.stack.last() else {
            return vec![];
        };
        let limit = ctx
            .concurrency
            .map(|(limit, _)| limit)
            .unwrap_or(crate::engine::DEFAULT_CONCURRENCY);
        match CopyDialog::open(list, known, ctx.copy_defaults, limit) {
            Some(d) => ctx.open(Dialog::Copy(Box::new(d))),
            None => ctx.note("nothing to copy here"),
        }
        vec![]
    }

    /// The bucket list arrived (or failed).
    pub fn on_buckets(&mut self, r: Result<Vec<BucketInfo>, String>) {
        let b = &mut self.buckets;
        b.loading = false;
        match r {
            Ok(mut v) => {
                v.sort_by(|a, b| a.name.cmp(&b.name));
                b.buckets = v;
                b.error = None;
            }
            Err(e) => {
                b.buckets.clear();
                b.error = Some(e);
            }
        }
    }

    /// A page of objects arrived: every open listing of that bucket and prefix takes it; true
    /// when one did (the caller then checks whether the cursor wants the next page).
    pub fn on_objects(&mut self, l: Listing) -> bool {
        let Listing::Objects {
            bucket,
            prefix,
            marker,
            page,
        } = l
        else {
            return false;
        };
        let mut consumed = false;
        let kept = self.kept_marks.get(&(bucket.clone(), prefix.clone()));
        for list in self.stack.iter_mut() {
            if list.bucket == bucket && list.prefix == prefix {
                let before = list.rows.len();
                consumed |= list.on_page(&marker, page.clone());
                if let Some(kept) = kept {
                    // Only the rows this page added: a mark taken off since stays off.
                    for r in list.rows.iter_mut().skip(before) {
                        if kept.contains(&r.name) {
                            r.marked = true;
                        }
                    }
                }
            }
        }
        consumed
    }
}

fn sort_note(sort: SortKey, load: &Load) -> String {
    let partial = matches!(load, Load::More(_) | Load::Loading | Load::Capped);
    format!(
        "sorted by {}{}",
        sort.label(),
        if partial {
            " (rows loaded so far; more load as you scroll)"
        } else {
            ""
        }
    )
}
