//! Uploaded bodies kept on disk instead of in memory: a request body larger than
//! [`IN_MEMORY_MAX`] is streamed into a *spill file*, and the object's content refers to that
//! file by path (an [`Blob`] inside a file extent, see `content.rs`), so four concurrent 1 GiB
//! PUTs cost the server a few buffers, not 4 GiB.
//!
//! Spill files live in a private directory: `DIR/spill/` with `--data DIR` (same file system
//! as `DIR/blobs/`, so a save hard-links them instead of copying), otherwise a fresh 0700
//! directory under the system temp dir, removed when the server and its content are gone. A
//! spill file is removed when the last content holding it is dropped. Files are opened per
//! read, so stored objects hold no file descriptors.
//!
//! Must not hold a whole body in memory, and must not delete a file that a live `Blob` (or a
//! saved state) still names: `persist.rs` asks [`is_live`] before sweeping a blob file.

use std::collections::HashMap;
use std::io::{Read as _, Seek as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Bodies up to this size are received into memory; larger ones go to a spill file.
pub const IN_MEMORY_MAX: u64 = 256 * 1024;

/// Files that live `Blob`s read from, with how many blobs name each (a save must not sweep
/// them even when no object names them any more: an in-flight GET or copy still reads them).
static LIVE: Mutex<Option<HashMap<PathBuf, usize>>> = Mutex::new(None);

fn live_add(path: &Path) {
    let mut g = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    *g.get_or_insert_with(HashMap::new)
        .entry(path.to_path_buf())
        .or_insert(0) += 1;
}

fn live_remove(path: &Path) {
    let mut g = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(m) = g.as_mut() {
        if let Some(n) = m.get_mut(path) {
            *n -= 1;
            if *n == 0 {
                m.remove(path);
            }
        }
    }
}

/// True while some live `Blob` reads from `path`.
pub fn is_live(path: &Path) -> bool {
    let g = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    g.as_ref().is_some_and(|m| m.contains_key(path))
}

/// The directory spill files are created in.
#[derive(Debug)]
pub struct SpillDir {
    path: PathBuf,
    /// A private temporary directory, removed when the last holder drops it.
    temporary: bool,
    next: AtomicU64,
}

impl SpillDir {
    /// A fresh private directory under the system temp dir.
    pub fn temporary() -> std::io::Result<Arc<SpillDir>> {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "haul-serve-{}-{nanos:x}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        create_private_dir(&path)?;
        Ok(Arc::new(SpillDir {
            path,
            temporary: true,
            next: AtomicU64::new(0),
        }))
    }

    /// `DIR/spill/` for `--data DIR`, emptied of files a crashed run left behind.
    pub fn in_data_dir(dir: &Path) -> std::io::Result<Arc<SpillDir>> {
        let path = dir.join("spill");
        create_private_dir(&path)?;
        if let Ok(entries) = std::fs::read_dir(&path) {
            for e in entries.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
        Ok(Arc::new(SpillDir {
            path,
            temporary: false,
            next: AtomicU64::new(0),
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes a temporary directory and what is in it now that the server has stopped (the
    /// process may exit before the last content holding it is dropped).
    pub fn remove_if_temporary(&self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }

    /// A new, empty spill file (0600) and its path.
    pub fn create(&self) -> std::io::Result<(std::fs::File, PathBuf)> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let path = self.path.join(format!("body-{n:08}"));
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            o.mode(0o600);
        }
        Ok((o.open(&path)?, path))
    }
}

impl Drop for SpillDir {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        b.mode(0o700);
    }
    b.create(path)
}

/// The bytes of one file on disk: a spill file (removed when dropped) or a `--data` blob file
/// (kept; `persist.rs` sweeps it once nothing names it).
#[derive(Debug)]
pub struct Blob {
    path: PathBuf,
    len: u64,
    /// CRC-64/XZ of the whole file.
    crc: u64,
    owned: bool,
    /// Keeps a temporary spill directory alive while its files are.
    _dir: Option<Arc<SpillDir>>,
    /// The `--data` blob file name this blob was saved under, once saved: (blob dir, name).
    saved: Mutex<Option<(PathBuf, String)>>,
}

impl PartialEq for Blob {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
    }
}

impl Eq for Blob {}

impl Blob {
    /// A spill file just written: `len` bytes with CRC `crc`; removed when dropped.
    pub fn spilled(dir: &Arc<SpillDir>, path: PathBuf, len: u64, crc: u64) -> Arc<Blob> {
        live_add(&path);
        Arc::new(Blob {
            path,
            len,
            crc,
            owned: true,
            _dir: Some(dir.clone()),
            saved: Mutex::new(None),
        })
    }

    /// A `--data` blob file named `name` in `blob_dir`, as a load finds it (kept on drop).
    pub fn saved(blob_dir: &Path, name: &str, len: u64, crc: u64) -> Arc<Blob> {
        let path = blob_dir.join(name);
        live_add(&path);
        Arc::new(Blob {
            path,
            len,
            crc,
            owned: false,
            _dir: None,
            saved: Mutex::new(Some((blob_dir.to_path_buf(), name.to_string()))),
        })
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn crc64(&self) -> u64 {
        self.crc
    }

    /// Fills `dst` with the bytes at `offset`.
    pub fn read_at(&self, offset: u64, dst: &mut [u8]) -> std::io::Result<()> {
        let mut f = std::fs::File::open(&self.path)?;
        f.seek(std::io::SeekFrom::Start(offset))?;
        f.read_exact(dst)
    }

    /// The name of this blob's file in `blob_dir` (`--data DIR/blobs`), hard-linking (or
    /// copying) it there on first use, and syncing it to disk.
    pub fn save_into(&self, blob_dir: &Path) -> std::io::Result<String> {
        let mut saved = self.saved.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((dir, name)) = saved.as_ref() {
            if dir == blob_dir && blob_dir.join(name).exists() {
                return Ok(name.clone());
            }
        }
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = format!(
            "{:016x}-{}-f{nanos:x}-{}",
            self.crc,
            self.len,
            N.fetch_add(1, Ordering::Relaxed)
        );
        let target = blob_dir.join(&name);
        if std::fs::hard_link(&self.path, &target).is_err() {
            let tmp = target.with_extension("tmp");
            std::fs::copy(&self.path, &tmp)?;
            std::fs::rename(&tmp, &target)?;
        }
        std::fs::File::open(&target)?.sync_all()?;
        live_add(&target);
        if let Some((dir, old)) = saved.replace((blob_dir.to_path_buf(), name.clone())) {
            live_remove(&dir.join(old));
        }
        Ok(name)
    }
}

impl Drop for Blob {
    fn drop(&mut self) {
        live_remove(&self.path);
        if let Some((dir, name)) = self.saved.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let saved = dir.join(name);
            if saved != self.path {
                live_remove(&saved);
            }
        }
        if self.owned {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
