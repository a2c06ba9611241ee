//! The file layer under SSTables, manifests and the log store. Everything the engine writes
//! goes through [`FileSystem`], so fault tests can swap in [`FaultFs`], which fails writes or
//! fsyncs on demand, flips bits on read, and simulates a machine crash by cutting every file
//! back to what was fsynced plus a torn part of what was not.

use std::collections::HashMap;
use std::fmt::Debug;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

/// A file opened for writing at its end.
pub trait WriteFile: Send + Sync + Debug {
    /// Appends all of `buf`.
    fn write_all(&self, buf: &[u8]) -> io::Result<()>;
    /// Makes everything written so far durable (fsync / fdatasync).
    fn sync(&self) -> io::Result<()>;
    /// Cuts the file to `len` bytes (and positions further writes there).
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// The file's length in bytes.
    fn size_bytes(&self) -> io::Result<u64>;
    /// Grows the file to `len` bytes of written zeros (no hole), leaving the write position
    /// where it is. Later writes inside that space overwrite allocated blocks, so an fsync
    /// after them need not record a new file size (the log store preallocates segments).
    fn extend_zeroed(&self, len: u64) -> io::Result<()>;
}

/// A file opened for positional reads; shareable between threads.
pub trait ReadFile: Send + Sync + Debug {
    /// Fills `buf` from `offset`; fails if the file is shorter.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// The file's length in bytes.
    fn size_bytes(&self) -> io::Result<u64>;
}

/// The operations the engine needs from a file system.
pub trait FileSystem: Send + Sync + Debug {
    /// Creates (or truncates) a file for writing.
    fn create(&self, path: &Path) -> io::Result<Arc<dyn WriteFile>>;
    /// Opens an existing file for writing at its end.
    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn WriteFile>>;
    /// Opens a file for positional reads.
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn ReadFile>>;
    /// Renames atomically.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Creates a directory and its parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// File names in a directory.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Whether a path exists.
    fn exists(&self, path: &Path) -> bool;
}

/// The operating system's file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

#[derive(Debug)]
struct RealWriteFile(File);

impl WriteFile for RealWriteFile {
    fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        (&self.0).write_all(buf)
    }
    fn sync(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        use std::io::Seek;
        self.0.set_len(len)?;
        (&self.0).seek(io::SeekFrom::Start(len)).map(|_| ())
    }
    fn size_bytes(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn extend_zeroed(&self, len: u64) -> io::Result<()> {
        static ZEROS: [u8; 64 << 10] = [0; 64 << 10];
        let mut at = self.size_bytes()?;
        while at < len {
            let n = (len - at).min(ZEROS.len() as u64) as usize;
            self.0.write_all_at(&ZEROS[..n], at)?;
            at += n as u64;
        }
        Ok(())
    }
}

#[derive(Debug)]
struct RealReadFile(File);

impl ReadFile for RealReadFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.0.read_exact_at(buf, offset)
    }
    fn size_bytes(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
}

/// Opens an existing file for writing at its end. Not `O_APPEND`: Linux would put the
/// positional writes of [`WriteFile::extend_zeroed`] at the end too.
fn open_at_end(path: &Path) -> io::Result<File> {
    use std::io::Seek;
    let mut f = OpenOptions::new().write(true).open(path)?;
    f.seek(io::SeekFrom::End(0))?;
    Ok(f)
}

/// Opens `path` for writing, created empty (truncated if it existed).
fn create_truncated(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(path)
}

impl FileSystem for RealFs {
    fn create(&self, path: &Path) -> io::Result<Arc<dyn WriteFile>> {
        let f = create_truncated(path)?;
        Ok(Arc::new(RealWriteFile(f)))
    }
    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn WriteFile>> {
        Ok(Arc::new(RealWriteFile(open_at_end(path)?)))
    }
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn ReadFile>> {
        Ok(Arc::new(RealReadFile(File::open(path)?)))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for e in fs::read_dir(dir)? {
            names.push(e?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
}

/// What [`FaultFs`] does wrong next.
#[derive(Debug, Default)]
struct FaultPlan {
    /// Fail every write once this many more bytes have been written.
    write_budget_bytes: Option<u64>,
    /// Fail the next N fsyncs.
    fail_syncs: u32,
    /// Flip one bit in reads of this file at this offset.
    flip: Option<(PathBuf, u64)>,
    /// Per file written through this file system: what is durable and what is not yet.
    files: HashMap<PathBuf, Marks>,
}

/// How much of one file [`FaultFs`] treats as durable.
#[derive(Debug, Clone, Copy, Default)]
struct Marks {
    /// Bytes of data written before the last fsync.
    synced: u64,
    /// The file's length at the last fsync (beyond `synced` when zeros were preallocated).
    synced_len: u64,
    /// The end of the data written so far.
    written: u64,
}

impl Marks {
    fn at(len: u64) -> Marks {
        Marks {
            synced: len,
            synced_len: len,
            written: len,
        }
    }
}

/// A fault-injecting wrapper over [`RealFs`] for tests.
#[derive(Debug, Clone, Default)]
pub struct FaultFs {
    plan: Arc<Mutex<FaultPlan>>,
}

impl FaultFs {
    /// A file system that behaves like the real one until told otherwise.
    pub fn new() -> FaultFs {
        FaultFs::default()
    }

    /// Every write fails once `bytes` more bytes have been written.
    pub fn fail_writes_after(&self, bytes: u64) {
        self.plan.lock().write_budget_bytes = Some(bytes);
    }

    /// The next `n` fsyncs fail.
    pub fn fail_next_syncs(&self, n: u32) {
        self.plan.lock().fail_syncs = n;
    }

    /// Reads of `path` covering `offset` see that byte with its lowest bit flipped.
    pub fn flip_bit_on_read(&self, path: &Path, offset: u64) {
        self.plan.lock().flip = Some((path.to_path_buf(), offset));
    }

    /// Stops injecting faults.
    pub fn heal(&self) {
        let mut p = self.plan.lock();
        p.write_budget_bytes = None;
        p.fail_syncs = 0;
        p.flip = None;
    }

    /// Simulates a power loss: in every file written through this file system, the data
    /// written after the last fsync is lost but for its first `torn(unsynced_len)` bytes,
    /// and the first of those kept-but-unsynced bytes is garbled when `garble` is set. Lost
    /// data inside zeros preallocated before that fsync reads as zeros again; the file is cut
    /// back to its length at that fsync or to the kept data, whichever is longer. Open
    /// handles must be dropped before calling.
    pub fn crash(&self, torn: impl Fn(u64) -> u64, garble: bool) -> io::Result<()> {
        let mut p = self.plan.lock();
        for (path, m) in p.files.drain() {
            if !path.exists() {
                continue;
            }
            let unsynced = m.written.saturating_sub(m.synced);
            let keep = m.synced + torn(unsynced).min(unsynced);
            let len = keep.max(m.synced_len);
            let f = OpenOptions::new().write(true).open(&path)?;
            f.set_len(len)?;
            let lost = (m.written.min(len) as usize).saturating_sub(keep as usize);
            f.write_all_at(&vec![0; lost], keep)?;
            if garble && keep > m.synced {
                f.write_at(&[0xA5], m.synced)?;
            }
        }
        Ok(())
    }
}

#[derive(Debug)]
struct FaultWriteFile {
    inner: RealWriteFile,
    path: PathBuf,
    plan: Arc<Mutex<FaultPlan>>,
}

impl WriteFile for FaultWriteFile {
    fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        let mut p = self.plan.lock();
        if let Some(budget) = p.write_budget_bytes.as_mut() {
            if (buf.len() as u64) > *budget {
                // A short write: part of the buffer lands, then the error.
                let part = *budget as usize;
                *budget = 0;
                drop(p);
                self.inner.write_all(&buf[..part])?;
                self.note_written()?;
                return Err(io::Error::other("injected write failure"));
            }
            *budget -= buf.len() as u64;
        }
        drop(p);
        let r = self.inner.write_all(buf);
        self.note_written()?;
        r
    }
    fn sync(&self) -> io::Result<()> {
        let mut p = self.plan.lock();
        if p.fail_syncs > 0 {
            p.fail_syncs -= 1;
            return Err(io::Error::other("injected fsync failure"));
        }
        self.inner.sync()?;
        let len = self.inner.size_bytes()?;
        let m = p.files.entry(self.path.clone()).or_default();
        m.synced = m.written;
        m.synced_len = len;
        Ok(())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)?;
        let mut p = self.plan.lock();
        let m = p.files.entry(self.path.clone()).or_default();
        m.synced = m.synced.min(len);
        m.synced_len = m.synced_len.min(len);
        m.written = len;
        Ok(())
    }
    fn size_bytes(&self) -> io::Result<u64> {
        self.inner.size_bytes()
    }
    fn extend_zeroed(&self, len: u64) -> io::Result<()> {
        self.inner.extend_zeroed(len)
    }
}

impl FaultWriteFile {
    /// Records where the written data ends (the write position).
    fn note_written(&self) -> io::Result<()> {
        use std::io::Seek;
        let at = (&self.inner.0).stream_position()?;
        self.plan
            .lock()
            .files
            .entry(self.path.clone())
            .or_default()
            .written = at;
        Ok(())
    }
}

#[derive(Debug)]
struct FaultReadFile {
    inner: RealReadFile,
    path: PathBuf,
    plan: Arc<Mutex<FaultPlan>>,
}

impl ReadFile for FaultReadFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.inner.read_exact_at(buf, offset)?;
        if let Some((path, at)) = &self.plan.lock().flip {
            if *path == self.path && *at >= offset && *at < offset + buf.len() as u64 {
                buf[(*at - offset) as usize] ^= 1;
            }
        }
        Ok(())
    }
    fn size_bytes(&self) -> io::Result<u64> {
        self.inner.size_bytes()
    }
}

impl FileSystem for FaultFs {
    fn create(&self, path: &Path) -> io::Result<Arc<dyn WriteFile>> {
        let f = create_truncated(path)?;
        self.plan
            .lock()
            .files
            .insert(path.to_path_buf(), Marks::at(0));
        Ok(Arc::new(FaultWriteFile {
            inner: RealWriteFile(f),
            path: path.to_path_buf(),
            plan: self.plan.clone(),
        }))
    }
    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn WriteFile>> {
        let f = open_at_end(path)?;
        let len = f.metadata()?.len();
        self.plan
            .lock()
            .files
            .entry(path.to_path_buf())
            .or_insert(Marks::at(len));
        Ok(Arc::new(FaultWriteFile {
            inner: RealWriteFile(f),
            path: path.to_path_buf(),
            plan: self.plan.clone(),
        }))
    }
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn ReadFile>> {
        Ok(Arc::new(FaultReadFile {
            inner: RealReadFile(File::open(path)?),
            path: path.to_path_buf(),
            plan: self.plan.clone(),
        }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut p = self.plan.lock();
        if let Some(m) = p.files.remove(from) {
            p.files.insert(to.to_path_buf(), m);
        }
        drop(p);
        RealFs.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.plan.lock().files.remove(path);
        RealFs.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut p = self.plan.lock();
        if p.fail_syncs > 0 {
            p.fail_syncs -= 1;
            return Err(io::Error::other("injected fsync failure"));
        }
        drop(p);
        RealFs.sync_dir(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        RealFs.create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        RealFs.list(dir)
    }
    fn exists(&self, path: &Path) -> bool {
        RealFs.exists(path)
    }
}

/// Replaces `dir/name` with `bytes` atomically and durably: write a temporary file, fsync
/// it, rename it over the old one, fsync the directory.
pub fn write_file_atomic(
    fs: &dyn FileSystem,
    dir: &Path,
    name: &str,
    bytes: &[u8],
) -> crate::Result<()> {
    use crate::StorageError;
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let f = fs.create(&tmp).map_err(|e| StorageError::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| StorageError::io(&tmp, e))?;
    f.sync().map_err(|e| StorageError::io(&tmp, e))?;
    drop(f);
    fs.rename(&tmp, &path)
        .map_err(|e| StorageError::io(&path, e))?;
    fs.sync_dir(dir).map_err(|e| StorageError::io(dir, e))
}
