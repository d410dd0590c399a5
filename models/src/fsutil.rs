//! Atomic directory replacement and small JSON file helpers shared by checkpoints and artifacts.
//!
//! A directory `dir` is replaced by writing its new contents into a sibling temporary directory
//! `.{name}.tmp-{pid}-{n}` and renaming it into place. Linux cannot rename a directory over a
//! non-empty one, so an existing `dir` is first renamed to `.{name}.old`, then the new one moved
//! in, then the old one removed. A reader therefore sees either the complete old or the complete
//! new directory; if the process dies between the two renames, [`resolve_dir`] finds the complete
//! old copy under `.{name}.old`.
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn sibling(dir: &Path, suffix: &str) -> Result<PathBuf> {
    let name = dir
        .file_name()
        .ok_or_else(|| Error::invalid("directory", format!("{} has no final name", dir.display())))?;
    let parent = dir.parent().unwrap_or_else(|| Path::new("."));
    Ok(parent.join(format!(".{}{suffix}", name.to_string_lossy())))
}

/// Write a directory atomically: `fill` writes the files into a fresh temporary directory, which
/// then replaces `dir` (created or overwritten). On error the temporary directory is removed and
/// `dir` is untouched.
pub(crate) fn replace_dir(dir: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let parent = dir.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = sibling(dir, &format!(".tmp-{}-{n}", std::process::id()))?;
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    fs::create_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let written = fill(&tmp).and_then(|()| sync_dir(&tmp));
    if let Err(e) = written {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let old = sibling(dir, ".old")?;
    if dir.exists() {
        if old.exists() {
            fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
        }
        fs::rename(dir, &old).map_err(|e| Error::io(dir, e))?;
    }
    fs::rename(&tmp, dir).map_err(|e| Error::io(dir, e))?;
    if old.exists() {
        fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
    }
    sync_dir(parent)
}

/// The directory to read for `dir`: `dir` itself, or its complete previous copy `.{name}.old`
/// when a replacement was interrupted between its two renames; `None` when neither exists.
pub(crate) fn resolve_dir(dir: &Path) -> Option<PathBuf> {
    if dir.is_dir() {
        return Some(dir.to_path_buf());
    }
    sibling(dir, ".old").ok().filter(|old| old.is_dir())
}

fn sync_dir(dir: &Path) -> Result<()> {
    // Directory fsync makes the renames durable; not all platforms allow opening a directory.
    if let Ok(f) = fs::File::open(dir) {
        let _ = f.sync_all();
    }
    Ok(())
}

/// Write `value` as pretty JSON to `path` and flush it to disk.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })?;
    write_file(path, text.as_bytes())
}

/// Replace `path` with `value` as pretty JSON atomically: written to a temporary file beside
/// it, flushed, then renamed over it (a reader sees the old or the new file, never a mix).
pub(crate) fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut tmp_name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    write_json(&tmp, value)?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Write `bytes` to `path` and flush it to disk.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = fs::File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes).map_err(|e| Error::io(path, e))?;
    f.sync_all().map_err(|e| Error::io(path, e))
}

/// Read a file to a string; a missing file is [`Error::MissingFile`].
pub(crate) fn read_text(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::MissingFile {
                path: path.to_path_buf(),
            }
        } else {
            Error::io(path, e)
        }
    })
}

/// Read and parse a JSON file.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_is_all_or_nothing() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a");
        replace_dir(&dir, |d| write_file(&d.join("x"), b"1")).unwrap();
        assert_eq!(fs::read(dir.join("x")).unwrap(), b"1");
        // A failing writer leaves the old directory intact and no temporary behind.
        let err = replace_dir(&dir, |d| {
            write_file(&d.join("x"), b"2")?;
            Err(Error::invalid("test", "boom"))
        });
        assert!(err.is_err());
        assert_eq!(fs::read(dir.join("x")).unwrap(), b"1");
        replace_dir(&dir, |d| write_file(&d.join("y"), b"3")).unwrap();
        assert!(!dir.join("x").exists());
        assert_eq!(fs::read(dir.join("y")).unwrap(), b"3");
        let names: Vec<_> = fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a")]);
    }

    #[test]
    fn interrupted_replace_falls_back_to_old_copy() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("last");
        let old = root.path().join(".last.old");
        fs::create_dir(&old).unwrap();
        assert_eq!(resolve_dir(&dir), Some(old));
        assert_eq!(resolve_dir(&root.path().join("none")), None);
    }
}
