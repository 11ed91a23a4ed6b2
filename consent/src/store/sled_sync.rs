//! Making sled's writes durable on power loss.
//!
//! sled 0.34 ends a flush with `sync_file_range`, which writes the file's dirty pages to
//! the device but neither flushes the device's write cache nor the file's metadata (its
//! size after the log grew), and it never syncs a directory (sled issue #1452). An
//! acknowledged write would survive a killed process but not a power cut. So after each
//! flush the store syncs, itself, the files that hold its data:
//!
//! | path               | what it holds                              | synced                      |
//! |--------------------|--------------------------------------------|-----------------------------|
//! | `<dir>/db`         | the log (every tree, every page)           | `fdatasync` on every commit |
//! | `<dir>/blobs/<n>`  | pages too large for the log, one per file  | `fdatasync` once when new   |
//! | `<dir>/blobs/`     | the blob files' directory entries          | `fsync` on every commit     |
//! | `<dir>/`           | `db`, `conf`, `blobs/`, `snap.*` entries   | `fsync` on every commit     |
//! | `<dir>/conf`       | the storage parameters (written at create) | `fsync` at open             |
//! | `<dir>/snap.*`     | snapshots (sled `fsync`s them itself, then renames) | by the directory sync |
//!
//! `fdatasync` of the log also flushes its size when it grew. Handles are opened read-only
//! once at open and kept (a sync through any descriptor of a file syncs that file).
//!
//! After a failed sync the kernel may have dropped the dirty pages and marked them clean,
//! so a later sync can succeed without having written them. A failed sync therefore
//! poisons the store: every later sync fails too, until the process reopens the store
//! (and sled recovers from its log).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::StoreError;

/// The open handles of one sled directory, synced after every acknowledged write.
pub(super) struct DirSync {
    root: PathBuf,
    dir: File,
    log: File,
    blobs_dir: File,
    /// Blob files synced so far, with the length they had then (a blob is written once
    /// and never changed; a different length means it was still being written).
    blobs: Mutex<HashMap<OsString, u64>>,
    poisoned: AtomicBool,
}

fn io_err(what: &Path, e: io::Error) -> StoreError {
    StoreError::Io(format!("sync {}: {e}", what.display()))
}

fn open_read(path: &Path) -> Result<File, StoreError> {
    File::open(path).map_err(|e| io_err(path, e))
}

impl DirSync {
    /// Opens the handles of sled's files in `root` (sled has created them) and syncs what
    /// opening may have created: the configuration file, the log, the blob directory, the
    /// directory itself and its parent's entry for it.
    pub(super) fn open(root: &Path) -> Result<Self, StoreError> {
        let dir = open_read(root)?;
        let log = open_read(&root.join("db"))?;
        let blobs_dir = open_read(&root.join("blobs"))?;
        let conf = root.join("conf");
        if conf.exists() {
            open_read(&conf)?.sync_all().map_err(|e| io_err(&conf, e))?;
        }
        log.sync_all().map_err(|e| io_err(&root.join("db"), e))?;
        blobs_dir.sync_all().map_err(|e| io_err(&root.join("blobs"), e))?;
        dir.sync_all().map_err(|e| io_err(root, e))?;
        if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
            open_read(parent)?.sync_all().map_err(|e| io_err(parent, e))?;
        }
        let s = Self {
            root: root.to_path_buf(),
            dir,
            log,
            blobs_dir,
            blobs: Mutex::default(),
            poisoned: AtomicBool::new(false),
        };
        s.sync_new_blobs()?;
        Ok(s)
    }

    /// Makes everything sled has written so far durable: call after `flush`. Blocks.
    pub(super) fn sync(&self) -> Result<(), StoreError> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(StoreError::Io(format!(
                "an earlier sync of {} failed; reopen the store before writing again",
                self.root.display()
            )));
        }
        let r = self.sync_once();
        if r.is_err() {
            self.poisoned.store(true, Ordering::Release);
        }
        r
    }

    fn sync_once(&self) -> Result<(), StoreError> {
        self.log.sync_data().map_err(|e| io_err(&self.root.join("db"), e))?;
        self.sync_new_blobs()?;
        self.blobs_dir.sync_all().map_err(|e| io_err(&self.root.join("blobs"), e))?;
        self.dir.sync_all().map_err(|e| io_err(&self.root, e))?;
        Ok(())
    }

    /// Syncs the blob files not synced before (or grown since).
    fn sync_new_blobs(&self) -> Result<(), StoreError> {
        let path = self.root.join("blobs");
        let mut synced = self.blobs.lock().unwrap_or_else(|p| p.into_inner());
        let mut present = Vec::new();
        for entry in std::fs::read_dir(&path).map_err(|e| io_err(&path, e))? {
            let entry = entry.map_err(|e| io_err(&path, e))?;
            let name = entry.file_name();
            let file = entry.path();
            // A blob that sled removed meanwhile (garbage collection) needs no sync.
            let len = match entry.metadata() {
                Ok(m) => m.len(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(&file, e)),
            };
            if synced.get(&name) != Some(&len) {
                match File::open(&file) {
                    Ok(f) => f.sync_data().map_err(|e| io_err(&file, e))?,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_err(&file, e)),
                }
                synced.insert(name.clone(), len);
            }
            present.push(name);
        }
        // Forget removed blobs, so the map stays as small as the directory.
        if synced.len() > present.len() {
            let present: std::collections::HashSet<_> = present.into_iter().collect();
            synced.retain(|k, _| present.contains(k));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syncs_new_blobs_once_and_again_when_they_grew() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        std::fs::create_dir_all(root.join("blobs")).unwrap();
        std::fs::write(root.join("db"), b"log").unwrap();
        let s = DirSync::open(&root).unwrap();
        assert!(s.blobs.lock().unwrap().is_empty());

        std::fs::write(root.join("blobs/17"), b"ab").unwrap();
        s.sync().unwrap();
        assert_eq!(s.blobs.lock().unwrap().get(&OsString::from("17")), Some(&2));
        std::fs::write(root.join("blobs/17"), b"abcd").unwrap();
        s.sync().unwrap();
        assert_eq!(s.blobs.lock().unwrap().get(&OsString::from("17")), Some(&4), "a grown blob is synced again");

        std::fs::remove_file(root.join("blobs/17")).unwrap();
        s.sync().unwrap();
        assert!(s.blobs.lock().unwrap().is_empty(), "removed blobs are forgotten");
    }

    #[test]
    fn a_failed_sync_poisons_every_later_one() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        std::fs::create_dir_all(root.join("blobs")).unwrap();
        std::fs::write(root.join("db"), b"log").unwrap();
        let s = DirSync::open(&root).unwrap();
        s.sync().unwrap();
        // The blob directory vanishing makes listing it fail: a sync error.
        std::fs::remove_dir_all(root.join("blobs")).unwrap();
        let e = s.sync().unwrap_err();
        assert!(e.to_string().contains("blobs"), "{e}");
        std::fs::create_dir_all(root.join("blobs")).unwrap();
        let e = s.sync().unwrap_err();
        assert!(e.to_string().contains("reopen the store"), "a sync after a failed one must fail: {e}");
    }
}
