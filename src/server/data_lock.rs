//! `--data DIR` belongs to one server at a time: two servers on one directory would each
//! delete the blobs the other's state refers to.
//!
//! The lock is `flock(2)` on `DIR/haul-serve.lock`, held while the server runs and released
//! by the kernel if the process dies, so a crash never leaves a stale lock. `flock` rather
//! than `fcntl` record locks because it also excludes a second server in the same process (a
//! test, `haul demo`), and closing another descriptor of the file does not drop it; the
//! holder writes its pid into the file so the refusal can name it. Creates `DIR` (0700) when
//! missing, the lock file 0600. Must not delete or rewrite anything else in `DIR`.

use std::fs::File;
use std::path::{Path, PathBuf};

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "haul-serve.lock";

/// A held lock on a data directory; dropping it releases the lock.
#[derive(Debug)]
pub struct DataLock {
    _file: File,
    path: PathBuf,
}

impl DataLock {
    /// Creates `dir` if needed and locks it, or says which process holds it.
    pub fn take(dir: &Path) -> anyhow::Result<DataLock> {
        super::persist::create_private_dir(dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create the --data directory {}: {e}; check the parent exists and is writable",
                dir.display()
            )
        })?;
        let path = dir.join(LOCK_FILE);
        let file = open_private(&path)
            .map_err(|e| anyhow::anyhow!("cannot open the lock file {}: {e}", path.display()))?;
        lock(&file, &path, dir)?;
        write_pid(&file);
        Ok(DataLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn open_private(path: &Path) -> std::io::Result<File> {
    let mut o = std::fs::OpenOptions::new();
    o.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

#[cfg(unix)]
fn lock(file: &File, path: &Path, dir: &Path) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd as _;
    // SAFETY: flock on a descriptor we own; it stays open as long as the `DataLock`.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
        anyhow::bail!("cannot lock {}: {err}", path.display());
    }
    let holder = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
        .map(|pid| format!("process {pid}"))
        .unwrap_or_else(|| "another process".to_string());
    anyhow::bail!(
        "--data {} is in use by {holder} (it holds {}): stop that server first, or give this one another directory",
        dir.display(),
        path.display()
    )
}

#[cfg(not(unix))]
fn lock(_file: &File, _path: &Path, _dir: &Path) -> anyhow::Result<()> {
    Ok(())
}

/// Replaces the file's content with this process's pid; best effort (the lock is what
/// counts, the pid only names the holder).
fn write_pid(file: &File) {
    use std::io::{Seek as _, Write as _};
    let mut f = file;
    let _ = f.set_len(0);
    let _ = f.seek(std::io::SeekFrom::Start(0));
    let _ = writeln!(f, "{}", std::process::id());
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_dir_names_the_holder_and_the_first_release_frees_it() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("data");
        let first = DataLock::take(&dir).expect("first lock");
        let e = DataLock::take(&dir).expect_err("second lock").to_string();
        assert!(
            e.contains(&format!("process {}", std::process::id())),
            "{e}"
        );
        assert!(e.contains("--data"), "{e}");
        drop(first);
        DataLock::take(&dir).expect("free again");
    }

    #[test]
    fn the_data_dir_and_the_lock_file_are_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("data");
        let lock = DataLock::take(&dir).expect("lock");
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(lock.path()), 0o600);
    }
}
