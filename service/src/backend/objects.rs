//! [`Objects`]: artifacts and training checkpoints in an object store (scale-out mode), through
//! the `object_store` crate: a local directory (`file:///abs/dir`) or an S3-compatible bucket
//! (`s3://bucket/prefix`, configured by the usual `AWS_*` environment variables, e.g.
//! `AWS_ENDPOINT=http://minio:9000` and `AWS_ALLOW_HTTP=true` for MinIO).
//!
//! The registry and the job code are blocking, so this wrapper owns a small tokio runtime and
//! blocks on it; call it from plain threads or `spawn_blocking`, never from async code. Every
//! single `put` is atomic in the stores used here (the local store writes a temporary file and
//! renames it; S3 objects appear whole), and a group of files is made atomic by the caller:
//! files first, then one pointer (a registry row, or a checkpoint's `CURRENT` object).
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path as Key;

use crate::{Error, Result};

/// Largest single object read back (artifacts and checkpoints are bounded well below this).
const MAX_OBJECT_BYTES: u64 = 4 << 30;

/// An object store and the key prefix statecast owns in it.
pub struct Objects {
    store: Arc<dyn ObjectStore>,
    prefix: Key,
    url: String,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Objects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Objects")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Drop for Objects {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which tokio forbids inside async code (the server drops
        // the registry there at shutdown): let its threads wind down in the background.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn store_error(context: impl Into<String>) -> impl FnOnce(object_store::Error) -> Error {
    let context = context.into();
    move |source| Error::ObjectStore { context, source }
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// A relative `a/b/c` key under `prefix`; `rel` must not be empty.
fn child(prefix: &Key, rel: &str) -> Key {
    rel.split('/')
        .filter(|p| !p.is_empty())
        .fold(prefix.clone(), |k, part| k.child(part))
}

impl Objects {
    /// Open the store at `url`: `file:///absolute/dir` (created if missing) or `s3://bucket[/prefix]`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] (`--object-store`) for another scheme or a malformed URL,
    /// [`Error::ObjectStore`] when the store cannot be configured, [`Error::Io`] for the
    /// directory of a `file://` store.
    pub fn open(url: &str) -> Result<Self> {
        let bad = |reason: String| Error::InvalidArgument {
            field: "--object-store".into(),
            reason,
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(format!("`{url}` is not a URL: {e}")))?;
        let (store, prefix): (Arc<dyn ObjectStore>, Key) = match parsed.scheme() {
            "file" => {
                let dir = parsed
                    .to_file_path()
                    .map_err(|()| bad(format!("`{url}` is not an absolute file:// path")))?;
                std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
                let local = object_store::local::LocalFileSystem::new_with_prefix(&dir)
                    .map_err(store_error(format!("opening {}", dir.display())))?
                    .with_automatic_cleanup(true);
                (Arc::new(local), Key::default())
            }
            "s3" | "s3a" => {
                let s3 = object_store::aws::AmazonS3Builder::from_env()
                    .with_url(url)
                    .build()
                    .map_err(store_error("configuring the S3 store"))?;
                let prefix = Key::parse(parsed.path().trim_matches('/'))
                    .map_err(|e| bad(format!("bad key prefix in `{url}`: {e}")))?;
                (Arc::new(s3), prefix)
            }
            other => {
                return Err(bad(format!(
                    "unsupported scheme `{other}`: use file:///absolute/dir or s3://bucket/prefix"
                )));
            }
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("statecast-objects")
            .enable_all()
            .build()
            .map_err(io("starting the object-store runtime"))?;
        Ok(Self {
            store,
            prefix,
            url: url.to_string(),
            runtime: Some(runtime),
        })
    }

    /// The URL this store was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        match &self.runtime {
            Some(rt) => rt.block_on(f),
            None => unreachable!("the runtime is only taken in drop"),
        }
    }

    /// Write one object (atomically: readers see the old value or the new one).
    ///
    /// # Errors
    /// [`Error::ObjectStore`].
    pub fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        let k = child(&self.prefix, key);
        self.block_on(self.store.put(&k, bytes.into()))
            .map(|_| ())
            .map_err(store_error(format!("writing {key}")))
    }

    /// Read one object; `None` when it does not exist.
    ///
    /// # Errors
    /// [`Error::ObjectStore`]; [`Error::ResourceExhausted`] for an object over 4 GiB.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let k = child(&self.prefix, key);
        self.block_on(async {
            let got = match self.store.get(&k).await {
                Ok(got) => got,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(store_error(format!("reading {key}"))(e)),
            };
            if got.meta.size > MAX_OBJECT_BYTES {
                return Err(Error::ResourceExhausted {
                    reason: format!("object {key} is larger than {MAX_OBJECT_BYTES} bytes"),
                });
            }
            let bytes = got.bytes().await.map_err(store_error(format!("reading {key}")))?;
            Ok(Some(bytes.to_vec()))
        })
    }

    /// Keys (relative to `dir`, `/`-separated) of every object under the key prefix `dir`.
    ///
    /// # Errors
    /// [`Error::ObjectStore`].
    pub fn list(&self, dir: &str) -> Result<Vec<String>> {
        let base = child(&self.prefix, dir);
        let metas: Vec<object_store::ObjectMeta> = self
            .block_on(self.store.list(Some(&base)).try_collect())
            .map_err(store_error(format!("listing {dir}")))?;
        let mut keys: Vec<String> = metas
            .into_iter()
            .filter_map(|m| {
                m.location.prefix_match(&base).map(|parts| {
                    parts
                        .map(|p| p.as_ref().to_string())
                        .collect::<Vec<_>>()
                        .join("/")
                })
            })
            .filter(|k| !k.is_empty())
            .collect();
        keys.sort();
        Ok(keys)
    }

    /// Upload every regular file under the local directory `local` (recursively) to `dir/…`;
    /// returns the relative keys written. Symbolic links are skipped.
    ///
    /// # Errors
    /// [`Error::Io`] reading the files, [`Error::ObjectStore`] writing them.
    pub fn put_dir(&self, local: &Path, dir: &str) -> Result<Vec<String>> {
        let mut written = Vec::new();
        for (rel, path) in files_under(local)? {
            let bytes = std::fs::read(&path).map_err(io(format!("reading {}", path.display())))?;
            self.put(&format!("{dir}/{rel}"), bytes)?;
            written.push(rel);
        }
        Ok(written)
    }

    /// Download every object under `dir/` into the local directory `local` (created; files
    /// written beside and renamed); returns how many.
    ///
    /// # Errors
    /// [`Error::ObjectStore`], [`Error::Io`]; [`Error::Internal`] for a key that would leave
    /// `local` (`..`).
    pub fn get_dir(&self, dir: &str, local: &Path) -> Result<usize> {
        let keys = self.list(dir)?;
        for rel in &keys {
            if rel.split('/').any(|p| p == ".." || p == ".") {
                return Err(Error::Internal(format!(
                    "object key {dir}/{rel} leaves its directory"
                )));
            }
            let Some(bytes) = self.get(&format!("{dir}/{rel}"))? else {
                continue;
            };
            let path = local.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
            }
            let context = format!("writing {}", path.display());
            crate::fsutil::replace_via_temp(
                &path,
                |tmp| std::fs::write(tmp, &bytes).map_err(io(context.clone())),
                io(context.clone()),
            )?;
        }
        Ok(keys.len())
    }

    /// Delete every object under `dir/`.
    ///
    /// # Errors
    /// [`Error::ObjectStore`].
    pub fn delete_dir(&self, dir: &str) -> Result<()> {
        for rel in self.list(dir)? {
            let k = child(&self.prefix, &format!("{dir}/{rel}"));
            match self.block_on(self.store.delete(&k)) {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(store_error(format!("deleting {dir}/{rel}"))(e)),
            }
        }
        Ok(())
    }
}

/// Every regular file under `dir` as (relative `/`-separated path, full path), sorted; symbolic
/// links are not followed.
///
/// # Errors
/// [`Error::Io`].
pub fn files_under(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![(String::new(), dir.to_path_buf())];
    while let Some((rel, path)) = stack.pop() {
        for entry in std::fs::read_dir(&path).map_err(io(format!("listing {}", path.display())))? {
            let entry = entry.map_err(io(format!("listing {}", path.display())))?;
            let kind = entry
                .file_type()
                .map_err(io(format!("reading {}", entry.path().display())))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let sub = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if kind.is_dir() {
                stack.push((sub, entry.path()));
            } else if kind.is_file() {
                out.push((sub, entry.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// SHA-256 (hex) over the files under `dir`: each file's relative path, length and bytes, in
/// path order. Two directories with the same files hash alike wherever they are.
///
/// # Errors
/// [`Error::Io`].
pub fn content_hash(dir: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (rel, path) in files_under(dir)? {
        let bytes = std::fs::read(&path).map_err(io(format!("reading {}", path.display())))?;
        h.update(rel.as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Largest dataset object [`fetch_url`] downloads: 8 GiB.
pub const MAX_DATASET_BYTES: u64 = 8 << 30;

/// Download the object `url` (`s3://bucket/key…`, credentials from the `AWS_*` environment)
/// into `dir` under the key's file name (so its extension still tells the format); returns
/// the local file.
///
/// # Errors
/// [`Error::InvalidArgument`] (`dataset.path`) for a URL that names no object;
/// [`Error::FailedPrecondition`] when the object does not exist; [`Error::ResourceExhausted`]
/// over [`MAX_DATASET_BYTES`]; [`Error::ObjectStore`], [`Error::Io`].
pub fn fetch_url(url: &str, dir: &Path) -> Result<PathBuf> {
    let bad = |reason: &str| Error::InvalidArgument {
        field: "dataset.path".into(),
        reason: reason.into(),
    };
    let parsed = url::Url::parse(url).map_err(|_| bad("not an s3://bucket/key URL"))?;
    let bucket = parsed.host_str().ok_or_else(|| bad("the URL names no bucket"))?;
    let key = parsed.path().trim_start_matches('/');
    let name = key
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty() && *n != "." && *n != "..")
        .ok_or_else(|| bad("the URL names no object"))?;
    let store = Objects::open(&format!("{}://{bucket}", parsed.scheme()))?;
    let bytes = store.block_on(async {
        let k = Key::parse(key).map_err(|_| bad("malformed object key"))?;
        let got = match store.store.get(&k).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(Error::FailedPrecondition {
                    reason: "dataset: no such object in the store".into(),
                });
            }
            Err(e) => return Err(store_error("reading the dataset object")(e)),
        };
        if got.meta.size > MAX_DATASET_BYTES {
            return Err(Error::ResourceExhausted {
                reason: format!("dataset objects are limited to {MAX_DATASET_BYTES} bytes"),
            });
        }
        got.bytes()
            .await
            .map_err(store_error("reading the dataset object"))
    })?;
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    let path = dir.join(name);
    let context = format!("writing {}", path.display());
    crate::fsutil::replace_via_temp(
        &path,
        |tmp| std::fs::write(tmp, &bytes).map_err(io(context.clone())),
        io(context.clone()),
    )?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_round_trip_through_a_file_store() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        std::fs::create_dir_all(src.join("last")).unwrap();
        std::fs::write(src.join("a.json"), b"{}").unwrap();
        std::fs::write(src.join("last/w.bin"), [1u8, 2, 3]).unwrap();
        let url = format!("file://{}", tmp.path().join("store").display());
        let objects = Objects::open(&url).unwrap();
        let keys = objects.put_dir(&src, "jobs/7/ckpt/1").unwrap();
        assert_eq!(keys, vec!["a.json".to_string(), "last/w.bin".to_string()]);
        assert_eq!(objects.list("jobs/7/ckpt/1").unwrap(), keys);
        let dst = tmp.path().join("dst");
        assert_eq!(objects.get_dir("jobs/7/ckpt/1", &dst).unwrap(), 2);
        assert_eq!(std::fs::read(dst.join("last/w.bin")).unwrap(), vec![1, 2, 3]);
        assert_eq!(content_hash(&src).unwrap(), content_hash(&dst).unwrap());
        std::fs::write(dst.join("a.json"), b"{ }").unwrap();
        assert_ne!(content_hash(&src).unwrap(), content_hash(&dst).unwrap());
        assert_eq!(objects.get("nope").unwrap(), None);
        objects.put("jobs/7/ckpt/CURRENT", b"1".to_vec()).unwrap();
        assert_eq!(objects.get("jobs/7/ckpt/CURRENT").unwrap().unwrap(), b"1");
        objects.delete_dir("jobs/7").unwrap();
        assert!(objects.list("jobs/7").unwrap().is_empty());
    }

    #[test]
    fn unsupported_schemes_name_the_flag() {
        let e = Objects::open("ftp://x/y").unwrap_err().to_string();
        assert!(e.contains("--object-store") && e.contains("ftp"), "{e}");
        let e = Objects::open("not a url").unwrap_err().to_string();
        assert!(e.contains("--object-store"), "{e}");
    }
}
