//! Where the cache lives when the caller names no directory.

use std::env;
use std::path::PathBuf;

/// The default cache directory: `$STEPCACHE_DIR` if set, else the platform's cache
/// directory plus `stepcache`:
///
/// | platform | directory |
/// |---|---|
/// | Linux and other Unix | `$XDG_CACHE_HOME/stepcache`, or `~/.cache/stepcache` |
/// | macOS | `~/Library/Caches/stepcache` |
/// | Windows | `%LOCALAPPDATA%\stepcache` |
///
/// `None` if the home directory cannot be found.
pub fn default_dir() -> Option<PathBuf> {
    let var = |name: &str| env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = var("STEPCACHE_DIR") {
        return Some(dir);
    }
    let base = if cfg!(windows) {
        var("LOCALAPPDATA")
    } else if cfg!(target_os = "macos") {
        var("HOME").map(|h| h.join("Library").join("Caches"))
    } else {
        var("XDG_CACHE_HOME")
            .filter(|p| p.is_absolute())
            .or_else(|| var("HOME").map(|h| h.join(".cache")))
    };
    base.map(|b| b.join("stepcache"))
}
