//! Server-side paths a client may name: only files under directories the operator configured.
//!
//! A client names server-side files in two places: dataset paths of training jobs
//! (`--data-root`) and artifact directories given to `RegisterModel` (`--import-root`). Each is
//! checked against an [`AllowedRoots`] before anything is opened:
//!
//! - the roots are canonicalised once at start-up (they must exist and be directories);
//! - a requested path is canonicalised too (symlinks and `..` resolved by the OS), and must lie
//!   under one root; a relative path is tried under each root in order;
//! - a path that does not exist and a path outside every root get the **same** answer, so a
//!   client cannot probe which server files exist.
//!
//! Without roots nothing may be named; the error says which server flag enables it. The check
//! and the later open are two steps: a local user who can swap a symlink inside a root between
//! them can still redirect the read, so roots should be directories only the operator writes.
use std::path::{Component, Path, PathBuf};

/// Why a requested path was refused. Messages never reveal whether a path exists.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RootError {
    /// The server was started without any root for this kind of path.
    #[error("this server reads no client-named {what}: start it with {flag} DIR to allow paths under DIR")]
    NoRoots {
        /// What the roots hold (e.g. "dataset files").
        what: &'static str,
        /// The `serve` flag that configures them.
        flag: &'static str,
    },
    /// Missing, unreadable or outside every root (deliberately indistinguishable).
    #[error("`{requested}` is not an existing path under the server's {flag} directories")]
    NotAllowed {
        /// The path as the client sent it.
        requested: String,
        /// The `serve` flag that configures the roots.
        flag: &'static str,
    },
    /// The path is empty or holds a NUL byte.
    #[error("the path is empty or contains a NUL byte")]
    Malformed,
}

/// Directories under which client-named paths are allowed (canonical form), and object-store
/// prefixes (`s3://bucket/prefix/`) under which client-named object URLs are allowed.
#[derive(Debug, Clone)]
pub struct AllowedRoots {
    roots: Vec<PathBuf>,
    url_roots: Vec<String>,
    what: &'static str,
    flag: &'static str,
}

/// Whether `s` names an object in an object store (`s3://…`) rather than a local path.
pub fn is_object_url(s: &str) -> bool {
    s.starts_with("s3://") || s.starts_with("s3a://")
}

/// `url` in the form roots are compared in: `s3://bucket/a/b` (scheme and bucket lower-case,
/// no empty, `.` or `..` segments, no query or fragment); `None` when it is not such a URL.
fn normal_object_url(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "s3" | "s3a") || parsed.query().is_some() || parsed.fragment().is_some() {
        return None;
    }
    let bucket = parsed.host_str()?.to_ascii_lowercase();
    // `Url` resolves `..` itself; refuse them in the raw text too, and empty segments.
    if url.split('/').skip(3).any(|seg| seg == ".." || seg == ".") {
        return None;
    }
    let path = parsed.path().trim_start_matches('/');
    if path.split('/').any(str::is_empty) && !path.is_empty() {
        return None;
    }
    Some(format!("s3://{bucket}/{path}"))
}

impl AllowedRoots {
    /// Roots for `what` (e.g. "dataset files"), configured with the `serve` flag `flag`.
    ///
    /// # Errors
    /// The I/O error of a root that does not exist, with the root named; a root that is not a
    /// directory is [`std::io::ErrorKind::NotADirectory`].
    pub fn new(
        roots: impl IntoIterator<Item = PathBuf>,
        what: &'static str,
        flag: &'static str,
    ) -> std::io::Result<Self> {
        let mut canonical = Vec::new();
        let mut url_roots = Vec::new();
        for root in roots {
            let text = root.to_string_lossy();
            if is_object_url(&text) {
                let normal = normal_object_url(text.trim_end_matches('/')).ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("{flag} {text}: not an s3://bucket/prefix URL"),
                    )
                })?;
                let normal = format!("{}/", normal.trim_end_matches('/'));
                if !url_roots.contains(&normal) {
                    url_roots.push(normal);
                }
                continue;
            }
            let c = std::fs::canonicalize(&root)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{flag} {}: {e}", root.display())))?;
            if !c.is_dir() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotADirectory,
                    format!("{flag} {} is not a directory", root.display()),
                ));
            }
            if !canonical.contains(&c) {
                canonical.push(c);
            }
        }
        Ok(Self {
            roots: canonical,
            url_roots,
            what,
            flag,
        })
    }

    /// No roots: every request for `what` is refused with [`RootError::NoRoots`].
    pub fn none(what: &'static str, flag: &'static str) -> Self {
        Self {
            roots: Vec::new(),
            url_roots: Vec::new(),
            what,
            flag,
        }
    }

    /// The canonical roots.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// Whether any root is configured.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty() && self.url_roots.is_empty()
    }

    /// The normal form of the object URL `requested` when it lies under an object-store root.
    /// Whether the object exists is learnt only when it is read.
    ///
    /// # Errors
    /// [`RootError::NoRoots`] without any root, [`RootError::NotAllowed`] for a URL that is
    /// malformed or outside every object-store root.
    pub fn resolve_url(&self, requested: &str) -> Result<String, RootError> {
        if self.is_empty() {
            return Err(RootError::NoRoots {
                what: self.what,
                flag: self.flag,
            });
        }
        let refused = || RootError::NotAllowed {
            requested: requested.chars().take(256).collect(),
            flag: self.flag,
        };
        let normal = normal_object_url(requested).ok_or_else(refused)?;
        if self
            .url_roots
            .iter()
            .any(|root| normal.starts_with(root.as_str()))
        {
            Ok(normal)
        } else {
            Err(refused())
        }
    }

    /// The canonical form of `requested` when it exists under a root.
    ///
    /// A `file://` prefix is accepted and stripped. Relative paths are tried under each root in
    /// order; absolute ones must canonicalise to a path under some root.
    ///
    /// # Errors
    /// [`RootError::NoRoots`] without roots, [`RootError::Malformed`] for an empty path or one
    /// with a NUL byte, [`RootError::NotAllowed`] otherwise (missing or outside: one answer).
    pub fn resolve(&self, requested: &str) -> Result<PathBuf, RootError> {
        if self.roots.is_empty() {
            return Err(RootError::NoRoots {
                what: self.what,
                flag: self.flag,
            });
        }
        let stripped = requested.strip_prefix("file://").unwrap_or(requested);
        if stripped.is_empty() || stripped.contains('\0') {
            return Err(RootError::Malformed);
        }
        let path = Path::new(stripped);
        let candidates: Vec<PathBuf> = if path.is_absolute() {
            vec![path.to_path_buf()]
        } else if path.components().any(|c| matches!(c, Component::ParentDir)) {
            // A relative path climbing out with `..` is refused before touching the disk.
            Vec::new()
        } else {
            self.roots.iter().map(|r| r.join(path)).collect()
        };
        for candidate in candidates {
            if let Ok(canonical) = std::fs::canonicalize(&candidate)
                && self.roots.iter().any(|root| canonical.starts_with(root))
            {
                return Ok(canonical);
            }
        }
        Err(RootError::NotAllowed {
            requested: requested.chars().take(256).collect(),
            flag: self.flag,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(dirs: &[&Path]) -> AllowedRoots {
        AllowedRoots::new(
            dirs.iter().map(|d| d.to_path_buf()),
            "dataset files",
            "--data-root",
        )
        .unwrap()
    }

    #[test]
    fn paths_under_a_root_resolve_absolute_relative_and_file_url() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let file = dir.path().join("sub/data.csv");
        std::fs::write(&file, "a\n1\n").unwrap();
        let r = roots(&[dir.path()]);
        let canonical = std::fs::canonicalize(&file).unwrap();
        assert_eq!(r.resolve(file.to_str().unwrap()).unwrap(), canonical);
        assert_eq!(r.resolve("sub/data.csv").unwrap(), canonical);
        assert_eq!(
            r.resolve(&format!("file://{}", file.display())).unwrap(),
            canonical
        );
        // `..` that stays inside the root is fine when absolute (the OS resolves it).
        let inside = dir.path().join("sub/../sub/data.csv");
        assert_eq!(r.resolve(inside.to_str().unwrap()).unwrap(), canonical);
    }

    #[test]
    fn outside_and_missing_paths_get_one_answer() {
        let dir = tempfile::tempdir().unwrap();
        let r = roots(&[dir.path()]);
        let outside = r.resolve("/etc/passwd").unwrap_err();
        let missing = r.resolve("/no/such/file").unwrap_err();
        let escaping = r.resolve("../../../../etc/passwd").unwrap_err();
        let url = r.resolve("file:///etc/passwd").unwrap_err();
        for e in [&outside, &missing, &escaping, &url] {
            assert!(matches!(e, RootError::NotAllowed { .. }), "{e:?}");
        }
        // The messages differ only by the echoed request, never by existence.
        let shape = |e: &RootError, req: &str| e.to_string().replace(req, "REQ");
        assert_eq!(shape(&outside, "/etc/passwd"), shape(&missing, "/no/such/file"));
        assert_eq!(r.resolve("").unwrap_err(), RootError::Malformed);
        assert_eq!(r.resolve("a\0b").unwrap_err(), RootError::Malformed);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_out_of_a_root_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let secret_dir = tempfile::tempdir().unwrap();
        let secret = secret_dir.path().join("secret.csv");
        std::fs::write(&secret, "token\nhunter2\n").unwrap();
        std::os::unix::fs::symlink(&secret, dir.path().join("link.csv")).unwrap();
        std::os::unix::fs::symlink(secret_dir.path(), dir.path().join("linkdir")).unwrap();
        let r = roots(&[dir.path()]);
        assert!(matches!(
            r.resolve("link.csv").unwrap_err(),
            RootError::NotAllowed { .. }
        ));
        assert!(matches!(
            r.resolve("linkdir/secret.csv").unwrap_err(),
            RootError::NotAllowed { .. }
        ));
        // A link that stays inside the root is followed.
        std::fs::write(dir.path().join("real.csv"), "a\n1\n").unwrap();
        std::os::unix::fs::symlink(dir.path().join("real.csv"), dir.path().join("alias.csv")).unwrap();
        assert!(r.resolve("alias.csv").is_ok());
    }

    #[test]
    fn no_roots_names_the_flag_and_bad_roots_fail_at_start() {
        let r = AllowedRoots::none("artifact directories", "--import-root");
        let e = r.resolve("/tmp").unwrap_err();
        assert!(e.to_string().contains("--import-root"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert!(AllowedRoots::new([file], "x", "--data-root").is_err());
        assert!(AllowedRoots::new([dir.path().join("missing")], "x", "--data-root").is_err());
    }
}

#[cfg(test)]
mod object_url_tests {
    use super::*;

    #[test]
    fn object_urls_resolve_only_under_object_store_roots() {
        let dir = tempfile::tempdir().unwrap();
        let roots = AllowedRoots::new(
            [
                dir.path().to_path_buf(),
                PathBuf::from("s3://Data-Bucket/datasets/"),
            ],
            "dataset files",
            "--data-root",
        )
        .unwrap();
        assert_eq!(
            roots
                .resolve_url("s3://data-bucket/datasets/ett/ETTh1.parquet")
                .unwrap(),
            "s3://data-bucket/datasets/ett/ETTh1.parquet"
        );
        for refused in [
            "s3://data-bucket/datasets-evil/x.parquet",
            "s3://data-bucket/other/x.parquet",
            "s3://data-bucket/datasets/../secrets/x.parquet",
            "s3://data-bucket/datasets/./x.parquet",
            "s3://data-bucket/datasets//x.parquet",
            "s3://other/datasets/x.parquet",
            "s3://data-bucket/datasets/x.parquet?versionId=1",
            "http://data-bucket/datasets/x.parquet",
            "s3://",
        ] {
            assert!(
                matches!(roots.resolve_url(refused), Err(RootError::NotAllowed { .. })),
                "{refused}"
            );
        }
        // Local roots only: object URLs are refused; no roots at all: the flag is named.
        let local = AllowedRoots::new([dir.path().to_path_buf()], "dataset files", "--data-root").unwrap();
        assert!(matches!(
            local.resolve_url("s3://data-bucket/datasets/x.parquet"),
            Err(RootError::NotAllowed { .. })
        ));
        let none = AllowedRoots::none("dataset files", "--data-root");
        assert!(matches!(
            none.resolve_url("s3://b/x.parquet"),
            Err(RootError::NoRoots { .. })
        ));
        assert!(AllowedRoots::new([PathBuf::from("s3://")], "dataset files", "--data-root").is_err());
    }
}
