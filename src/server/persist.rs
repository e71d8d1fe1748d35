//! `--data DIR`: the server's state saved and loaded across runs.
//!
//! `DIR/state.json` holds buckets, objects and uploads with their content as extents;
//! synthetic extents are a seed and a range, and real (uploaded) bytes live beside it in
//! `DIR/blobs/`, one file per extent named by its CRC-64 and length, written once and shared
//! by every object that holds them. Every write is atomic (temporary file, fsync, rename), so
//! a crash leaves the previous state or the new one, never half of each; blobs no longer
//! referenced are removed after a successful save.

use std::cell::RefCell;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::state::State;

const FILE: &str = "state.json";
const BLOBS: &str = "blobs";

thread_local! {
    /// The blob directory of the save or load running on this thread, and the blobs it used.
    static BLOB_CTX: RefCell<Option<(PathBuf, HashSet<String>)>> = const { RefCell::new(None) };
}

fn with_ctx<T>(dir: &Path, f: impl FnOnce() -> T) -> (T, HashSet<String>) {
    BLOB_CTX.with(|c| *c.borrow_mut() = Some((dir.join(BLOBS), HashSet::new())));
    let out = f();
    let used = BLOB_CTX
        .with(|c| c.borrow_mut().take())
        .map(|(_, u)| u)
        .unwrap_or_default();
    (out, used)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

pub fn load(dir: &Path) -> anyhow::Result<Option<State>> {
    let path = dir.join(FILE);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
    };
    let (state, _) = with_ctx(dir, || serde_json::from_slice::<State>(&text));
    let state = state.map_err(|e| {
        anyhow::anyhow!(
            "{} is not a haul server state ({e}); move the directory away to start empty",
            path.display()
        )
    })?;
    Ok(Some(state))
}

pub fn save(dir: &Path, state: &State) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join(BLOBS))
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.join(BLOBS).display()))?;
    let (text, used) = with_ctx(dir, || serde_json::to_vec(state));
    let text = text?;
    let path = dir.join(FILE);
    write_atomic(&path, &text)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    if let Ok(entries) = std::fs::read_dir(dir.join(BLOBS)) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !used.contains(&name) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(())
}

/// `#[serde(with = "…")]` for `Content` fields inside `State`: real extents go to blob files
/// while a save or load is running on this thread, inline otherwise.
pub mod content_ref {
    use super::*;
    use crate::server::content::{Content, Extent};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Stored {
        Blob { name: String, len: u64 },
        Synthetic { seed: u64, offset: u64, len: u64 },
        Inline(Content),
    }

    pub fn serialize<S: Serializer>(c: &Content, s: S) -> Result<S::Ok, S::Error> {
        let dir = BLOB_CTX.with(|ctx| ctx.borrow().as_ref().map(|(d, _)| d.clone()));
        let Some(dir) = dir else {
            return vec![Stored::Inline(c.clone())].serialize(s);
        };
        let mut out = Vec::with_capacity(c.extents().len());
        for e in c.extents() {
            match e {
                Extent::Real { bytes, crc } => {
                    let name = format!("{crc:016x}-{}", bytes.len());
                    let path = dir.join(&name);
                    if !path.exists() {
                        write_atomic(&path, bytes).map_err(|e| {
                            serde::ser::Error::custom(format!(
                                "cannot write {}: {e}",
                                path.display()
                            ))
                        })?;
                    }
                    BLOB_CTX.with(|ctx| {
                        if let Some((_, used)) = ctx.borrow_mut().as_mut() {
                            used.insert(name.clone());
                        }
                    });
                    out.push(Stored::Blob {
                        name,
                        len: bytes.len() as u64,
                    });
                }
                Extent::Synthetic {
                    seed, offset, len, ..
                } => out.push(Stored::Synthetic {
                    seed: *seed,
                    offset: *offset,
                    len: *len,
                }),
            }
        }
        out.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Content, D::Error> {
        let stored = Vec::<Stored>::deserialize(d)?;
        let dir = BLOB_CTX.with(|ctx| ctx.borrow().as_ref().map(|(d, _)| d.clone()));
        let mut parts = Vec::with_capacity(stored.len());
        for s in stored {
            parts.push(match s {
                Stored::Inline(c) => c,
                Stored::Synthetic { seed, offset, len } => {
                    Content::synthetic_range(seed, offset, len)
                }
                Stored::Blob { name, len } => {
                    let dir = dir.clone().ok_or_else(|| {
                        serde::de::Error::custom("a blob reference outside a --data load")
                    })?;
                    if name.contains('/') || name.contains('\\') || name.starts_with('.') {
                        return Err(serde::de::Error::custom(format!("bad blob name {name:?}")));
                    }
                    let path = dir.join(&name);
                    let bytes = std::fs::read(&path).map_err(|e| {
                        serde::de::Error::custom(format!("cannot read {}: {e}", path.display()))
                    })?;
                    if bytes.len() as u64 != len {
                        return Err(serde::de::Error::custom(format!(
                            "{} holds {} bytes, the state says {len}",
                            path.display(),
                            bytes.len()
                        )));
                    }
                    Content::from_bytes(bytes::Bytes::from(bytes))
                }
            });
        }
        Ok(Content::concat(&parts))
    }
}
