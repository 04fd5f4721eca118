//! Rings in a named file (normally under `/dev/shm`) shared between two
//! processes on one host.
//!
//! Either side may create the file; the other opens it. The creator builds the
//! ring under a temporary name and links it into place only when the header
//! is complete, so an opener never sees a half-written ring, and creation
//! fails if `path` already exists. Nobody removes the file automatically:
//! whoever owns the ring's lifetime calls `std::fs::remove_file` (the mapping
//! stays valid in processes that have it open).
//!
//! Limits: a process that truncates the file while it is mapped makes the
//! other side fault (SIGBUS), as with any shared mapping; a side that crashes
//! leaves its attach flag set, so its role cannot be re-attached.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering as StdOrdering};
use std::sync::Arc;

use memmap2::MmapMut;

use super::config::RingConfig;
use super::consumer::Consumer;
use super::error::{ConfigError, RingError, Role};
use super::layout::DATA_OFFSET;
use super::producer::Producer;
use super::region::Region;

impl Producer {
    /// Creates the ring file `path` (which must not exist) and attaches to it
    /// as its producer.
    pub fn create_shm(path: impl AsRef<Path>, config: RingConfig) -> Result<Producer, RingError> {
        let region = create(path.as_ref(), &config, Role::Producer)?;
        Ok(Producer::new(region, 0, 0, config.batch))
    }

    /// Opens the existing ring file `path` as its producer, publishing every
    /// `batch` commits.
    pub fn open_shm(path: impl AsRef<Path>, batch: usize) -> Result<Producer, RingError> {
        if batch == 0 {
            return Err(ConfigError::ZeroBatch.into());
        }
        let (region, head, tail) = open(path.as_ref(), Role::Producer)?;
        Ok(Producer::new(region, head, tail, batch))
    }
}

impl Consumer {
    /// Creates the ring file `path` (which must not exist) and attaches to it
    /// as its consumer.
    pub fn create_shm(path: impl AsRef<Path>, config: RingConfig) -> Result<Consumer, RingError> {
        let region = create(path.as_ref(), &config, Role::Consumer)?;
        Ok(Consumer::new(region, 0, 0))
    }

    /// Opens the existing ring file `path` as its consumer.
    pub fn open_shm(path: impl AsRef<Path>) -> Result<Consumer, RingError> {
        let (region, head, tail) = open(path.as_ref(), Role::Consumer)?;
        Ok(Consumer::new(region, head, tail))
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RingError + '_ {
    move |source| RingError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Removes the temporary file on every exit path of `create`.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // SYNC: Relaxed; the counter only needs to be unique, it orders nothing.
    let n = COUNTER.fetch_add(1, StdOrdering::Relaxed);
    let name = path
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy());
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

fn create(path: &Path, config: &RingConfig, role: Role) -> Result<Arc<Region>, RingError> {
    config.validate()?;
    let tmp = temp_path(path);
    // Private to this user (0600 whatever the umask allows more of), and
    // never through a symlink (`create_new` is O_EXCL, which refuses one).
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    let _guard = RemoveOnDrop(tmp.clone());
    file.set_len((DATA_OFFSET + config.capacity) as u64)
        .map_err(io_err(&tmp))?;
    let region = map_file(&file, &tmp, |c| c.init(config.capacity, config.max_record))?;
    region.control().attach(role)?;
    // Publishing by hard link fails if `path` exists, unlike rename.
    std::fs::hard_link(&tmp, path).map_err(io_err(path))?;
    Ok(Arc::new(region))
}

fn open(path: &Path, role: Role) -> Result<(Arc<Region>, u64, u64), RingError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(io_err(path))?;
    let meta = file.metadata().map_err(io_err(path))?;
    check_trusted(&meta, path)?;
    let len = meta.len();
    if len < DATA_OFFSET as u64 {
        return Err(RingError::Truncated {
            len,
            min: DATA_OFFSET as u64,
        });
    }
    if usize::try_from(len).is_err() {
        return Err(RingError::CorruptHeader {
            reason: "file is larger than the address space",
        });
    }
    let region = map_file(&file, path, |_| {})?;
    let control = region.control();
    control.attach(role)?;
    match control.positions(region.capacity()) {
        Ok((head, tail)) => Ok((Arc::new(region), head, tail)),
        Err(e) => {
            control.detach(role);
            Err(e)
        }
    }
}

/// Refuses a ring file that is not a regular file of this user, private
/// to it: tuples in it would be readable, or writable, by others.
fn check_trusted(meta: &std::fs::Metadata, path: &Path) -> Result<(), RingError> {
    let untrusted = |reason: String| {
        Err(RingError::Untrusted {
            path: path.to_path_buf(),
            reason,
        })
    };
    if !meta.file_type().is_file() {
        return untrusted("not a regular file".into());
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return untrusted(format!("owned by uid {}, not this user ({me})", meta.uid()));
    }
    if meta.mode() & 0o077 != 0 {
        return untrusted(format!(
            "mode {:03o}: group or others may access it (it must be 0600)",
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

fn map_file(
    file: &File,
    path: &Path,
    prepare: impl FnOnce(&super::layout::Control),
) -> Result<Region, RingError> {
    // SAFETY: the ring file is shared only with the one peer process that
    // follows the same protocol: the control block is accessed atomically and
    // the data area only through the head/tail hand-over, never as references
    // that the peer could write under. (A peer truncating the file would make
    // accesses fault; that is documented at the module level.)
    let map = unsafe { MmapMut::map_mut(file) }.map_err(io_err(path))?;
    // SAFETY: every process maps the control block at offset 0 and accesses it
    // only as a `Control`; any bytes there are a valid `Control`.
    unsafe { Region::from_map(map, prepare) }
}
