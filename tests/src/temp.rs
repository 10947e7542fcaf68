//! A scratch directory for filesystem tests.

use std::path::PathBuf;

/// A directory under the system's temporary directory, named after the test and this
/// process, empty when made and removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// `<tmp>/stepcache-<name>-<pid>`, removed first if a crashed run left it.
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("stepcache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
