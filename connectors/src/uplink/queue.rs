//! A bounded on-disk queue of batches: one file per batch, named by sequence number, written
//! to a temporary name and renamed, so a crash leaves whole batches only. Survives restarts;
//! oldest batches are dropped (counted and logged) when the next one would pass the bound.

use std::{
    collections::VecDeque,
    path::{Path, PathBuf},
};

use tracing::info;

use crate::{Error, Result};

/// One stored batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Sequence number (order of arrival).
    pub seq: u64,
    /// Samples in it.
    pub samples: usize,
    /// Bytes on disk.
    pub bytes: u64,
}

/// What one push dropped to stay within the bound (policy drop-oldest).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Batches dropped.
    pub batches: u64,
    /// Samples in them.
    pub samples: u64,
}

/// The queue.
#[derive(Debug)]
pub struct DiskQueue {
    dir: PathBuf,
    max_bytes: u64,
    entries: VecDeque<Entry>,
    bytes: u64,
    next_seq: u64,
    dropped_batches: u64,
    dropped_samples: u64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Queue {
        path: path.to_path_buf(),
        source,
    }
}

impl DiskQueue {
    /// Opens (or creates) the queue in `dir`, finding the batches a previous run left.
    pub fn open(dir: impl Into<PathBuf>, max_bytes: u64) -> Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let mut entries = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let e = e.map_err(io(&dir))?;
            let name = e.file_name().to_string_lossy().to_string();
            if name.ends_with(".tmp") {
                let _ = std::fs::remove_file(e.path());
                continue;
            }
            let Some((seq, samples)) = parse_name(&name) else {
                // Other files (the durable mode's journal) live beside the batches.
                continue;
            };
            let bytes = e.metadata().map_err(io(&dir))?.len();
            entries.push(Entry {
                seq,
                samples,
                bytes,
            });
        }
        entries.sort_by_key(|e| e.seq);
        let bytes = entries.iter().map(|e| e.bytes).sum();
        let next_seq = entries.last().map_or(0, |e| e.seq + 1);
        if !entries.is_empty() {
            info!(dir = %dir.display(), batches = entries.len(), bytes, "Found batches queued by a previous run; replaying them.");
        }
        Ok(DiskQueue {
            dir,
            max_bytes,
            entries: entries.into(),
            bytes,
            next_seq,
            dropped_batches: 0,
            dropped_samples: 0,
        })
    }

    fn path(&self, e: &Entry) -> PathBuf {
        self.dir.join(format!("{:020}-{}.json", e.seq, e.samples))
    }

    /// Appends a batch (its request body), dropping the oldest batches if needed to stay
    /// within the bound. A batch larger than the whole bound is dropped itself. Returns what
    /// was dropped (the caller logs it, once per burst of drops).
    pub fn push(&mut self, body: &[u8], samples: usize) -> Result<Dropped> {
        let len = body.len() as u64;
        let mut dropped = Dropped::default();
        if len > self.max_bytes {
            self.count_drop(samples);
            dropped.batches += 1;
            dropped.samples += samples as u64;
            return Ok(dropped);
        }
        while self.bytes + len > self.max_bytes {
            let Some(old) = self.entries.pop_front() else {
                break;
            };
            let _ = std::fs::remove_file(self.path(&old));
            self.bytes -= old.bytes;
            self.count_drop(old.samples);
            dropped.batches += 1;
            dropped.samples += old.samples as u64;
        }
        let entry = Entry {
            seq: self.next_seq,
            samples,
            bytes: len,
        };
        let path = self.path(&entry);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, body).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        self.next_seq += 1;
        self.bytes += len;
        self.entries.push_back(entry);
        Ok(dropped)
    }

    /// The bound in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn count_drop(&mut self, samples: usize) {
        self.dropped_batches += 1;
        self.dropped_samples += samples as u64;
    }

    /// The oldest batch and its body.
    pub fn peek(&self) -> Result<Option<(Entry, Vec<u8>)>> {
        let Some(e) = self.entries.front() else {
            return Ok(None);
        };
        let p = self.path(e);
        let body = std::fs::read(&p).map_err(io(&p))?;
        Ok(Some((e.clone(), body)))
    }

    /// Removes the batch `seq` once it is delivered (a no-op if it was dropped meanwhile).
    pub fn remove(&mut self, seq: u64) -> Result<()> {
        if let Some(i) = self.entries.iter().position(|e| e.seq == seq) {
            let e = self.entries.remove(i).expect("index valid");
            let p = self.path(&e);
            std::fs::remove_file(&p).map_err(io(&p))?;
            self.bytes -= e.bytes;
        }
        Ok(())
    }

    /// Batches queued.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Samples dropped by the drop-oldest policy since open.
    pub fn dropped_samples(&self) -> u64 {
        self.dropped_samples
    }
}

fn parse_name(name: &str) -> Option<(u64, usize)> {
    let stem = name.strip_suffix(".json")?;
    let (seq, n) = stem.split_once('-')?;
    Some((seq.parse().ok()?, n.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_reopen_keeps_order_and_bound() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = DiskQueue::open(dir.path(), 100).unwrap();
        let mut dropped = Dropped::default();
        for i in 0..5u8 {
            let d = q.push(&[b'a' + i; 30], 1).unwrap();
            dropped.batches += d.batches;
            dropped.samples += d.samples;
        }
        assert_eq!(
            dropped,
            Dropped {
                batches: 2,
                samples: 2
            }
        );
        // 5 × 30 bytes in 100: the two oldest were dropped.
        assert_eq!(q.len(), 3);
        assert!(q.bytes() <= 100);
        assert_eq!(q.dropped_samples(), 2);
        let q = DiskQueue::open(dir.path(), 100).unwrap();
        assert_eq!(q.len(), 3);
        let (e, body) = q.peek().unwrap().unwrap();
        assert_eq!(body, vec![b'c'; 30]);
        let mut q = q;
        q.remove(e.seq).unwrap();
        q.push(b"x", 1).unwrap();
        let (_, body) = q.peek().unwrap().unwrap();
        assert_eq!(body, vec![b'd'; 30]);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    }
}
