//! Files and directories only the user can read: haul's state holds bucket names, keys and
//! upload ids, so directories it creates are 0700 and files it creates are 0600.
//!
//! Creation only: an existing directory keeps its mode (it may be a shared one the user
//! chose, such as `/tmp`). Elsewhere than Unix these are the ordinary calls.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::path::Path;

/// Mode of directories haul creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of files haul creates.
pub const FILE_MODE: u32 = 0o600;

/// `create_dir_all` whose new directories are 0700.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    let mut b = DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(DIR_MODE);
    }
    b.create(path)
}

/// Opens `path` for appending, creating it 0600. A file of haul's that an older version left
/// readable by others is narrowed to 0600 too.
pub fn open_append(path: &Path) -> io::Result<File> {
    let file = with_file_mode(OpenOptions::new().create(true).append(true)).open(path)?;
    narrow(&file)?;
    Ok(file)
}

/// `options` with the mode new files get set to 0600.
pub fn with_file_mode(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    options
}

/// Takes group and other permissions off an open file of haul's.
fn narrow(file: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata()?.permissions().mode();
        if mode & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(mode & 0o700))?;
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_directories_are_0700_and_files_0600() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b");
        create_dir_all(&deep).unwrap();
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&deep), 0o700);
        let log = deep.join("haul.log");
        open_append(&log).unwrap();
        assert_eq!(mode(&log), 0o600);
    }

    #[test]
    fn an_old_world_readable_log_is_narrowed_and_existing_dirs_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        create_dir_all(dir.path()).unwrap();
        assert_eq!(mode(dir.path()), 0o755);
        let log = dir.path().join("haul.log");
        std::fs::write(&log, "old\n").unwrap();
        std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).unwrap();
        open_append(&log).unwrap();
        assert_eq!(mode(&log), 0o600);
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "old\n");
    }
}
