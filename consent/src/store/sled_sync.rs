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
//! | `<dir>/blobs/`     | the blob files' directory entries          | `fsync` when its entries changed |
//! | `<dir>/`           | `db`, `conf`, `blobs/`, `snap.*` entries   | `fsync` when its entries changed |
//! | `<dir>/conf`       | the storage parameters (written at create) | `fsync` at open             |
//! | `<dir>/snap.*`     | snapshots (sled `fsync`s them itself, then renames) | by the directory sync |
//!
//! `fdatasync` of the log also flushes its size when it grew. Handles are opened read-only
//! once at open and kept (a sync through any descriptor of a file syncs that file).
//!
//! A directory is synced when its entries (name and inode, so a rename over an existing
//! name counts) differ from those it had at its last sync: a file created, removed or
//! renamed since. Listing a directory costs far less than syncing it, which on most
//! devices flushes the disk's write cache whether or not anything in it changed. The
//! listing compared with is one taken before a successful sync, so a change is never
//! missed; at worst a directory is synced once more than needed.
//!
//! After a failed sync the kernel may have dropped the dirty pages and marked them clean,
//! so a later sync can succeed without having written them. A failed sync therefore
//! poisons the store: every later sync fails too, until the process reopens the store
//! (and sled recovers from its log).

use std::collections::{BTreeSet, HashMap};
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
    /// The entries of the store directory and of `blobs/` at their last sync.
    synced_entries: Mutex<(Entries, Entries)>,
    poisoned: AtomicBool,
}

/// A directory's entries: name and inode.
type Entries = BTreeSet<(OsString, u64)>;

fn entries(dir: &Path) -> Result<Entries, StoreError> {
    use std::os::unix::fs::DirEntryExt;
    let mut out = Entries::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        let entry = entry.map_err(|e| io_err(dir, e))?;
        out.insert((entry.file_name(), entry.ino()));
    }
    Ok(out)
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
        let listed = (entries(root)?, entries(&root.join("blobs"))?);
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
            synced_entries: Mutex::new(listed),
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
        let blobs_path = self.root.join("blobs");
        let (root_now, blobs_now) = (entries(&self.root)?, entries(&blobs_path)?);
        let (root_changed, blobs_changed) = {
            let last = self.synced_entries.lock().unwrap_or_else(|p| p.into_inner());
            (last.0 != root_now, last.1 != blobs_now)
        };
        if blobs_changed {
            self.blobs_dir.sync_all().map_err(|e| io_err(&blobs_path, e))?;
        }
        if root_changed {
            self.dir.sync_all().map_err(|e| io_err(&self.root, e))?;
        }
        let mut last = self.synced_entries.lock().unwrap_or_else(|p| p.into_inner());
        if blobs_changed {
            last.1 = blobs_now;
        }
        if root_changed {
            last.0 = root_now;
        }
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
    fn a_directory_is_synced_only_when_its_entries_changed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        std::fs::create_dir_all(root.join("blobs")).unwrap();
        std::fs::write(root.join("db"), b"log").unwrap();
        let s = DirSync::open(&root).unwrap();
        let listed = |s: &DirSync| s.synced_entries.lock().unwrap().clone();
        let at_open = listed(&s);
        assert_eq!(at_open.0.len(), 2, "db and blobs/: {at_open:?}");
        s.sync().unwrap();
        assert_eq!(listed(&s), at_open, "nothing changed");
        // A snapshot renamed over an existing name changes the inode: a change.
        std::fs::write(root.join("snap.1"), b"a").unwrap();
        s.sync().unwrap();
        let after_create = listed(&s);
        assert!(after_create.0.iter().any(|(n, _)| n == "snap.1"));
        std::fs::write(root.join("snap.tmp"), b"b").unwrap();
        std::fs::rename(root.join("snap.tmp"), root.join("snap.1")).unwrap();
        s.sync().unwrap();
        let after_rename = listed(&s);
        assert_ne!(after_rename.0, after_create.0, "a rename over a name is seen");
        std::fs::write(root.join("blobs/9"), b"x").unwrap();
        s.sync().unwrap();
        assert_eq!(listed(&s).1.len(), 1);
        assert_eq!(listed(&s).0, after_rename.0, "the store directory itself did not change");
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
