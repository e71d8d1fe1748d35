//! App-level keys that are not one screen's: copying the selected URI to the clipboard
//! (OSC 52; the bytes go to `App::to_terminal`) and going to a typed location (`:`). Pure,
//! like the rest of the App.

use super::app::App;
use super::screens::Screen;
use crate::engine::Command;
use crate::store::CosUri;

impl App {
    /// The URI of what is selected: an object or prefix on Browse (a bucket on the bucket
    /// list), the destination of the selected job on the Queue, an upload's key on Uploads.
    pub fn selected_uri(&self) -> Option<String> {
        match self.screen {
            Screen::Browse => match self.browse.stack.last() {
                Some(list) => {
                    let row = list.selected()?;
                    Some(
                        CosUri {
                            bucket: list.bucket.clone(),
                            key: list.full_key(row),
                        }
                        .to_string(),
                    )
                }
                None => {
                    let entries = self.browse.bucket_entries(&self.access_paths);
                    match entries.get(self.browse.buckets.cursor)? {
                        super::browse::BucketEntry::Bucket(i) => Some(format!(
                            "cos://{}/",
                            self.browse.buckets.buckets.get(*i)?.name
                        )),
                        super::browse::BucketEntry::AccessPath(i) => {
                            Some(self.access_paths.get(*i)?.to_string())
                        }
                    }
                }
            },
            Screen::Queue => {
                let id = self.selected_job()?;
                Some(self.jobs.get(&id)?.spec.destination.to_string())
            }
            Screen::Uploads => {
                let (bucket, _) = self.uploads.target.as_ref()?;
                let (row, _) = self.uploads.rows.get(self.uploads.cursor)?;
                Some(
                    CosUri {
                        bucket: bucket.clone(),
                        key: row.upload.key.clone(),
                    }
                    .to_string(),
                )
            }
            Screen::Log => None,
        }
    }

    /// `y`: the selected URI to the clipboard.
    pub(super) fn copy_uri(&mut self) -> Vec<Command> {
        let Some(uri) = self.selected_uri() else {
            self.set_status("nothing selected to copy");
            return vec![];
        };
        match super::clipboard::osc52(&uri) {
            Some(bytes) => {
                self.to_terminal.extend(bytes);
                self.set_status(format!(
                    "copied {uri} (OSC 52: the terminal puts it on the clipboard)"
                ));
            }
            None => self.set_error("too long to copy through the terminal"),
        }
        vec![]
    }
}

impl App {
    /// `:`: the go-to dialog, starting from where Browse is.
    pub(super) fn open_goto(&mut self) -> Vec<Command> {
        let start = match self.browse.location() {
            Some((bucket, prefix)) => format!("cos://{bucket}/{prefix}"),
            None => "cos://".to_string(),
        };
        self.dialog = Some(super::dialogs::Dialog::Goto(
            super::dialogs::goto::Goto::new(&start),
        ));
        vec![]
    }

    /// Opens `uri` on Browse: a prefix as its listing, an object in its folder.
    pub(super) fn goto(&mut self, uri: CosUri) -> Vec<Command> {
        let prefix = if uri.is_prefix() {
            uri.key.clone()
        } else {
            match uri.key.rfind('/') {
                Some(i) => uri.key[..=i].to_string(),
                None => String::new(),
            }
        };
        let mut cmds = self.switch_to_browse();
        while !self.browse.stack.is_empty() {
            self.browse.pop_keeping_marks();
        }
        self.browse.stack.push(super::browse::ObjectList::new(
            uri.bucket.clone(),
            prefix.clone(),
        ));
        let note = if uri.is_prefix() {
            format!("opened cos://{}/{prefix}", uri.bucket)
        } else {
            let name = &uri.key[prefix.len()..];
            format!("opened cos://{}/{prefix}: {name} is in it", uri.bucket)
        };
        self.set_status(note);
        cmds.push(Command::Browse(crate::engine::BrowseRequest::Objects {
            bucket: uri.bucket,
            prefix,
            marker: None,
        }));
        cmds
    }
}
