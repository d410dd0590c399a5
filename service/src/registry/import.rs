//! Staging an artifact for registration: copy only the artifact's own files (as
//! [`Artifact::files`] lists them) into a registry-owned temporary directory and verify the
//! copy, without holding any registry lock.
//!
//! The source directory is untrusted (a client named it): a symbolic link anywhere in it is
//! refused, never followed; each of the artifact's files must be a regular file; their total
//! size is checked against the server's limit before anything is copied; each file is copied
//! as the very file that was checked (same device and inode) and to exactly its checked size;
//! the copy must load as an artifact with the same metadata. Client-visible messages name only
//! the artifact's file names, never server paths or file contents (details go to the log).
use std::fs::File;
use std::io::Read;
use std::path::Path;

use statecast_models::artifact::{ARTIFACT_FILE, Artifact};
use statecast_models::device::DeviceSpec;
use statecast_models::error::Error as ModelError;
use statecast_models::zoo::AnyModel;

use crate::{Error, Result};

/// Largest `artifact.json` read into memory (64 MiB: per-series scalers of ~10⁵ series fit).
pub const MAX_METADATA_BYTES: u64 = 64 << 20;

fn bad_path(reason: impl Into<String>) -> Error {
    Error::InvalidArgument {
        field: "path".into(),
        reason: reason.into(),
    }
}

fn io(context: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        context: context.into(),
        source,
    }
}

/// A regular file's identity and size as checked before copying.
struct Checked {
    len: u64,
    #[cfg(unix)]
    id: (u64, u64),
}

impl Checked {
    fn of(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        Self {
            len: meta.len(),
            #[cfg(unix)]
            id: (meta.dev(), meta.ino()),
        }
    }
}

/// Refuse a source that is not a plain directory or holds a symbolic link.
fn check_directory(source: &Path) -> Result<()> {
    let meta =
        std::fs::symlink_metadata(source).map_err(|_| bad_path("not an artifact directory on the server"))?;
    if !meta.is_dir() {
        return Err(bad_path("not an artifact directory on the server"));
    }
    let entries = std::fs::read_dir(source).map_err(|_| bad_path("the artifact directory cannot be read"))?;
    for entry in entries {
        let entry = entry.map_err(|_| bad_path("the artifact directory cannot be read"))?;
        let kind = entry
            .file_type()
            .map_err(|_| bad_path("the artifact directory cannot be read"))?;
        if kind.is_symlink() {
            return Err(bad_path(format!(
                "`{}` in the artifact directory is a symbolic link; links are refused, not followed \
                 (replace it with the file itself)",
                entry.file_name().to_string_lossy()
            )));
        }
    }
    Ok(())
}

/// `file` of `source`: a regular file (not followed if a link), its identity and size.
fn check_file(source: &Path, file: &str) -> Result<Checked> {
    let meta = std::fs::symlink_metadata(source.join(file))
        .map_err(|_| bad_path(format!("the artifact directory has no `{file}`")))?;
    if meta.file_type().is_symlink() {
        return Err(bad_path(format!(
            "`{file}` is a symbolic link; links are refused, not followed"
        )));
    }
    if !meta.is_file() {
        return Err(bad_path(format!("`{file}` is not a regular file")));
    }
    Ok(Checked::of(&meta))
}

/// Copy `file` from `source` to `dest`, refusing anything but the checked file at its checked
/// size (a swap or growth since the check fails the import).
fn copy_checked(source: &Path, dest: &Path, file: &str, checked: &Checked) -> Result<()> {
    let changed = || bad_path(format!("`{file}` changed during the import; try again"));
    let input = File::open(source.join(file)).map_err(|_| changed())?;
    let meta = input.metadata().map_err(|_| changed())?;
    let now = Checked::of(&meta);
    #[cfg(unix)]
    if now.id != checked.id {
        return Err(changed());
    }
    if !meta.is_file() || now.len != checked.len {
        return Err(changed());
    }
    let mut output = File::create_new(dest.join(file)).map_err(io("creating a staged artifact file"))?;
    let copied = std::io::copy(&mut input.take(checked.len + 1), &mut output)
        .map_err(io("copying an artifact file into the registry"))?;
    if copied != checked.len {
        return Err(changed());
    }
    output.sync_all().map_err(io("flushing a staged artifact file"))?;
    Ok(())
}

/// Why an artifact does not load, in words that name no server path and quote no file content.
fn describe(e: &ModelError) -> String {
    match e {
        ModelError::MissingFile { path } => format!(
            "the artifact directory has no `{}`",
            path.file_name().unwrap_or_default().to_string_lossy()
        ),
        ModelError::Json { source, .. } => format!(
            "`{ARTIFACT_FILE}` is not valid artifact metadata (line {}, column {})",
            source.line(),
            source.column()
        ),
        ModelError::UnsupportedVersion {
            found,
            min_supported,
            max_supported,
            ..
        } => format!(
            "artifact format version {found} is not supported (this server reads {min_supported}–{max_supported})"
        ),
        ModelError::CorruptWeights { .. } => "the weights file cannot be read".into(),
        ModelError::WeightsMismatch { .. } => "the weights do not match the model configuration".into(),
        ModelError::InvalidConfig { what, .. } => format!("the artifact's {what} is invalid"),
        ModelError::Io { .. } | ModelError::ResumeMismatch { .. } | ModelError::DataMismatch { .. } => {
            "the artifact does not load".into()
        }
    }
}

fn not_an_artifact(e: &ModelError) -> Error {
    tracing::warn!(error = %e, "refused an artifact for registration");
    bad_path(format!(
        "not a loadable statecast artifact: {} (the server log has the details)",
        describe(e)
    ))
}

/// Copy the artifact in `source` into the new directory `staging` (which must not exist) and
/// verify the copy loads. Returns the staged artifact's metadata and model (loaded from
/// `staging`). `max_bytes` bounds the artifact's total size. `after_copy` runs once the files
/// are copied (tests use it to hold an import in flight).
///
/// On error `staging` may be left partly written; the caller removes it.
///
/// # Errors
/// [`Error::InvalidArgument`] (`path`) for a source that is not a directory, holds a symbolic
/// link, lacks one of the artifact's files, has one that is not a regular file, changes during
/// the copy, or does not load; [`Error::ResourceExhausted`] when the metadata or the whole
/// artifact is over its limit; [`Error::Io`] when writing the copy fails.
pub(super) fn stage(
    source: &Path,
    staging: &Path,
    max_bytes: u64,
    after_copy: &dyn Fn(),
) -> Result<(Artifact, AnyModel)> {
    check_directory(source)?;
    let metadata = check_file(source, ARTIFACT_FILE)?;
    let limit = max_bytes.min(MAX_METADATA_BYTES);
    if metadata.len > limit {
        return Err(Error::ResourceExhausted {
            reason: format!(
                "`{ARTIFACT_FILE}` is {} bytes, over the server's limit of {limit} bytes",
                metadata.len
            ),
        });
    }
    let artifact = Artifact::read_metadata(source).map_err(|e| not_an_artifact(&e))?;
    artifact.validate().map_err(|e| not_an_artifact(&e))?;
    let files = artifact.files();
    let mut checked = Vec::with_capacity(files.len());
    let mut total: u64 = 0;
    for file in &files {
        let c = check_file(source, file)?;
        total = total.saturating_add(c.len);
        checked.push(c);
    }
    if total > max_bytes {
        return Err(Error::ResourceExhausted {
            reason: format!(
                "the artifact's files total {} MiB, over the server's import limit of {} MiB (--max-import-mib)",
                total.div_ceil(1 << 20),
                max_bytes >> 20
            ),
        });
    }
    std::fs::create_dir(staging).map_err(io("creating a staging directory"))?;
    for (file, c) in files.iter().zip(&checked) {
        copy_checked(source, staging, file, c)?;
    }
    after_copy();
    let device = DeviceSpec::Cpu.device()?;
    let (copy, model) = Artifact::load(staging, &device).map_err(|e| not_an_artifact(&e))?;
    if copy != artifact {
        return Err(bad_path(format!(
            "`{ARTIFACT_FILE}` changed during the import; try again"
        )));
    }
    // Make the directory entries durable before the rename publishes them.
    if let Ok(dir) = File::open(staging) {
        let _ = dir.sync_all();
    }
    Ok((copy, model))
}
