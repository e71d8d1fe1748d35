//! App-level keys that are not one screen's: copying the selected URI to the clipboard
//! (OSC 52). Pure, like the rest of the App: the bytes go to `App::to_terminal`.

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
