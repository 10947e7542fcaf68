//! A scratch directory for filesystem tests.

use std::path::{Path, PathBuf};

/// A directory under the system's temporary directory, named after the test and this
/// process, empty when made and removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// `<tmp>/stepcache-<name>-<pid>`, removed first if a crashed run left it; so are
    /// the directories of that name that processes now gone left behind.
    pub fn new(name: &str) -> Self {
        let tmp = std::env::temp_dir();
        let prefix = format!("stepcache-{name}-");
        remove_leftovers(&tmp, &prefix);
        let dir = tmp.join(format!("{prefix}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Removes every `<tmp>/<prefix><pid>` whose process is gone: a server kept in a static
/// for all the tests of a binary is never dropped (statics are not), and a killed run
/// drops nothing, so without this each run would leave its directories behind.
/// Linux only (it asks `/proc` which processes live); elsewhere they stay.
fn remove_leftovers(tmp: &Path, prefix: &str) {
    if !cfg!(target_os = "linux") {
        return;
    }
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|name| name.strip_prefix(prefix))
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = pid
            && !Path::new("/proc").join(pid.to_string()).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
