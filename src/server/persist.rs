//! `--data DIR`: the server's state saved and loaded across runs.
//!
//! `DIR/state.json` holds buckets, objects and uploads with their content as extents;
//! synthetic extents are a seed and a range, and real (uploaded) bytes live beside it in
//! `DIR/blobs/`, one file per extent, written once and shared by every object that holds
//! the same bytes. A blob is named `{crc64:016x}-{len}`, and `{crc64:016x}-{len}-{n}` when
//! different bytes already hold that name: before a name is reused its file is compared with
//! the bytes (once per process and blob, remembered in `KNOWN`), so two blobs with equal
//! CRC-64 and length can never be mistaken for each other. State saved by older versions
//! (plain `{crc}-{len}` names) loads unchanged. Uploaded bodies that the server streamed to
//! disk (`spill.rs`) are hard-linked into `DIR/blobs/` as they are and saved as a range of
//! that file; a load reads them from there on demand instead of into memory. Every write is atomic (temporary file, fsync,
//! rename), so a crash leaves the previous state or the new one, never half of each; blobs no
//! longer referenced are removed after a successful save.
//!
//! Everything here is private to the user running the server: directories are created 0700
//! and files 0600 (the state names buckets, keys and upload ids). `DIR` is locked by
//! `data_lock` while a server uses it.
//!
//! Must not trust a blob file's name alone to say what bytes it holds.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;

use super::state::State;

const FILE: &str = "state.json";
const BLOBS: &str = "blobs";

/// The save or load running on one thread: its blob directory, the blob names it used and
/// the `KNOWN` entries it relied on.
struct BlobCtx {
    dir: PathBuf,
    names: HashSet<String>,
    known: HashSet<(usize, usize)>,
    /// File blobs opened by this load, by name, so ranges of one file share one `Blob`.
    opened: std::collections::HashMap<String, std::sync::Arc<super::spill::Blob>>,
}

thread_local! {
    static BLOB_CTX: RefCell<Option<BlobCtx>> = const { RefCell::new(None) };
}

/// Blob files known to hold exactly the bytes of a live allocation: (blob dir, address,
/// length) → (those bytes, file name). Holding the `Bytes` keeps the allocation alive, so its
/// address cannot be reused by other bytes while the entry exists. Saves prune it to what
/// they used.
type Known = BTreeMap<(PathBuf, usize, usize), (Bytes, String)>;
static KNOWN: Mutex<Known> = Mutex::new(BTreeMap::new());

fn known() -> std::sync::MutexGuard<'static, Known> {
    KNOWN.lock().unwrap_or_else(|p| p.into_inner())
}

fn identity(b: &Bytes) -> (usize, usize) {
    (b.as_ptr() as usize, b.len())
}

fn with_ctx<T>(dir: &Path, f: impl FnOnce() -> T) -> (T, HashSet<String>) {
    let blobs = dir.join(BLOBS);
    BLOB_CTX.with(|c| {
        *c.borrow_mut() = Some(BlobCtx {
            dir: blobs.clone(),
            names: HashSet::new(),
            known: HashSet::new(),
            opened: std::collections::HashMap::new(),
        })
    });
    let out = f();
    let ctx = BLOB_CTX.with(|c| c.borrow_mut().take());
    match ctx {
        Some(ctx) => (out, ctx.names),
        None => (out, HashSet::new()),
    }
}

/// Stores `bytes` (CRC-64 `crc`) in `dir` under a name no other bytes hold, or finds the
/// file that already holds them; returns the name.
fn store_blob(dir: &Path, bytes: &Bytes, crc: u64) -> std::io::Result<String> {
    let (addr, len) = identity(bytes);
    let key = (dir.to_path_buf(), addr, len);
    if let Some((_, name)) = known().get(&key) {
        if dir.join(name).exists() {
            return Ok(name.clone());
        }
    }
    let base = format!("{crc:016x}-{len}");
    for n in 0u32.. {
        let name = if n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let path = dir.join(&name);
        match std::fs::read(&path) {
            Ok(existing) if existing == bytes.as_ref() => {}
            // Equal CRC and length, different bytes: try the next name.
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => write_atomic(&path, bytes)?,
            Err(e) => return Err(e),
        }
        known().insert(key, (bytes.clone(), name.clone()));
        return Ok(name);
    }
    Err(std::io::Error::other(format!(
        "no free blob name for {base} in {}",
        dir.display()
    )))
}

/// Creates `dir` and its missing parents with mode 0700 (existing ones are left as they are).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Creates (or truncates) `path` for writing, mode 0600 when created.
pub fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = create_private_file(&tmp)?;
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
    create_private_dir(&dir.join(BLOBS))
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.join(BLOBS).display()))?;
    let blobs = dir.join(BLOBS);
    let mut relied = HashSet::new();
    let (text, used) = with_ctx(dir, || {
        let text = serde_json::to_vec(state);
        relied = BLOB_CTX.with(|c| {
            c.borrow_mut()
                .as_mut()
                .map(|ctx| std::mem::take(&mut ctx.known))
                .unwrap_or_default()
        });
        text
    });
    let text = text?;
    let path = dir.join(FILE);
    write_atomic(&path, &text)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    if let Ok(entries) = std::fs::read_dir(dir.join(BLOBS)) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !used.contains(&name) && !super::spill::is_live(&entry.path()) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    known().retain(|(d, addr, len), _| d != &blobs || relied.contains(&(*addr, *len)));
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
        Blob {
            name: String,
            len: u64,
        },
        Synthetic {
            seed: u64,
            offset: u64,
            len: u64,
        },
        Inline(Content),
        /// `len` bytes at `offset` of the blob file `name`, whose CRC-64 is `crc`.
        File {
            name: String,
            offset: u64,
            len: u64,
            crc: u64,
        },
    }

    pub fn serialize<S: Serializer>(c: &Content, s: S) -> Result<S::Ok, S::Error> {
        let dir = BLOB_CTX.with(|ctx| ctx.borrow().as_ref().map(|c| c.dir.clone()));
        let Some(dir) = dir else {
            return vec![Stored::Inline(c.clone())].serialize(s);
        };
        let mut out = Vec::with_capacity(c.extents().len());
        for e in c.extents() {
            match e {
                Extent::Real { bytes, crc } => {
                    let name = store_blob(&dir, bytes, *crc).map_err(|e| {
                        serde::ser::Error::custom(format!(
                            "cannot store a blob in {}: {e}",
                            dir.display()
                        ))
                    })?;
                    BLOB_CTX.with(|ctx| {
                        if let Some(ctx) = ctx.borrow_mut().as_mut() {
                            ctx.names.insert(name.clone());
                            ctx.known.insert(identity(bytes));
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
                Extent::File {
                    blob,
                    offset,
                    len,
                    crc,
                } => {
                    let name = blob.save_into(&dir).map_err(|e| {
                        serde::ser::Error::custom(format!(
                            "cannot store a blob in {}: {e}",
                            dir.display()
                        ))
                    })?;
                    BLOB_CTX.with(|ctx| {
                        if let Some(ctx) = ctx.borrow_mut().as_mut() {
                            ctx.names.insert(name.clone());
                        }
                    });
                    out.push(Stored::File {
                        name,
                        offset: *offset,
                        len: *len,
                        crc: *crc,
                    });
                }
            }
        }
        out.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Content, D::Error> {
        let stored = Vec::<Stored>::deserialize(d)?;
        let dir = BLOB_CTX.with(|ctx| ctx.borrow().as_ref().map(|c| c.dir.clone()));
        let mut parts = Vec::with_capacity(stored.len());
        for s in stored {
            parts.push(match s {
                Stored::Inline(c) => c,
                Stored::Synthetic { seed, offset, len } => {
                    Content::synthetic_range(seed, offset, len)
                }
                Stored::File {
                    name,
                    offset,
                    len,
                    crc,
                } => {
                    let dir = dir.clone().ok_or_else(|| {
                        serde::de::Error::custom("a blob reference outside a --data load")
                    })?;
                    if name.contains('/') || name.contains('\\') || name.starts_with('.') {
                        return Err(serde::de::Error::custom(format!("bad blob name {name:?}")));
                    }
                    let cached = BLOB_CTX.with(|ctx| {
                        ctx.borrow()
                            .as_ref()
                            .and_then(|c| c.opened.get(&name).cloned())
                    });
                    let blob = match cached {
                        Some(b) => b,
                        None => {
                            let path = dir.join(&name);
                            let size = std::fs::metadata(&path)
                                .map_err(|e| {
                                    serde::de::Error::custom(format!(
                                        "cannot read {}: {e}",
                                        path.display()
                                    ))
                                })?
                                .len();
                            // The whole file's CRC is only known for a whole-file range.
                            let whole_crc = if offset == 0 && len == size { crc } else { 0 };
                            let b = crate::server::spill::Blob::saved(&dir, &name, size, whole_crc);
                            BLOB_CTX.with(|ctx| {
                                if let Some(c) = ctx.borrow_mut().as_mut() {
                                    c.opened.insert(name.clone(), b.clone());
                                }
                            });
                            b
                        }
                    };
                    if offset.checked_add(len).is_none_or(|end| end > blob.len()) {
                        return Err(serde::de::Error::custom(format!(
                            "{} holds {} bytes, the state names bytes {offset}..{}",
                            dir.join(&name).display(),
                            blob.len(),
                            offset.saturating_add(len)
                        )));
                    }
                    Content::from_blob_range(blob, offset, len, crc)
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
                    let bytes = Bytes::from(bytes);
                    // These bytes are that file's: the next save need not compare them.
                    known().insert(
                        (dir, identity(&bytes).0, bytes.len()),
                        (bytes.clone(), name),
                    );
                    Content::from_bytes(bytes)
                }
            });
        }
        Ok(Content::concat(&parts))
    }
}
