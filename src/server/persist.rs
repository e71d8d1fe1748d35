//! `--data DIR`: the server's state saved as JSON (with content extents; uploaded bytes are
//! inside the extents) and loaded at start.
//!
//! Writes are atomic (write a temporary file, fsync, rename), so a crash leaves the previous
//! state or the new one, never half of each.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::state::State;

const FILE: &str = "state.json";

pub fn load(dir: &Path) -> anyhow::Result<Option<State>> {
    let path = dir.join(FILE);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
    };
    let state = serde_json::from_slice(&text).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a haul server state ({e}); move it away to start empty",
            path.display()
        )
    })?;
    Ok(Some(state))
}

pub fn save(dir: &Path, state: &State) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    let tmp: PathBuf = dir.join(format!("{FILE}.tmp"));
    let text = serde_json::to_vec(state)?;
    let mut f = std::fs::File::create(&tmp)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
    f.write_all(&text)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(FILE))
        .map_err(|e| anyhow::anyhow!("cannot replace {}: {e}", dir.join(FILE).display()))?;
    Ok(())
}
