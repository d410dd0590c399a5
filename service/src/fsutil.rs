//! Files that appear whole or not at all.
use std::path::{Path, PathBuf};

/// The temporary sibling `path` is written to before it is renamed over it:
/// `.NAME.tmp-PID` in the same directory.
fn temp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Replace `path` atomically: `write` fills a temporary file beside it, which is then renamed
/// over `path` (a reader sees the old file or the whole new one). The temporary file is removed
/// when writing or renaming fails; `io` turns the rename's error into `E`.
///
/// # Errors
/// What `write` returns, or the rename's error through `io`.
pub fn replace_via_temp<E>(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), E>,
    io: impl FnOnce(std::io::Error) -> E,
) -> Result<(), E> {
    let tmp = temp_sibling(path);
    let result = write(&tmp).and_then(|()| std::fs::rename(&tmp, path).map_err(io));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_neither_file_nor_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        let failed: Result<(), String> = replace_via_temp(
            &path,
            |tmp| {
                std::fs::write(tmp, "partial").unwrap();
                Err("encoding failed".to_string())
            },
            |e| e.to_string(),
        );
        assert_eq!(failed, Err("encoding failed".to_string()));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        replace_via_temp(&path, |tmp| std::fs::write(tmp, "whole"), |e| e).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "whole");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
