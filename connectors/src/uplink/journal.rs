//! The durable mode's journal (`uplink.durable = true`): every sample the uplink receives is
//! appended to `journal.jsonl` in the queue folder and synced to disk (`fdatasync`) as soon as
//! it arrives, before the uplink takes the next samples; when the batch is cut, it moves to
//! the disk queue and the journal is emptied. A connector killed at any moment finds the
//! samples of its last flush interval there on the next start, and queues them. A line torn
//! by a crash is skipped (it was never acknowledged to anyone).

use std::{
    fs::{File, OpenOptions},
    io::{Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

use crate::{Error, Result};

/// File name of the journal inside the queue folder.
pub const JOURNAL_FILE: &str = "journal.jsonl";

/// An open journal.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    lines: usize,
    /// `fdatasync` calls made (the durable mode's cost).
    pub syncs: u64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Queue {
        path: path.to_path_buf(),
        source,
    }
}

impl Journal {
    /// Opens the journal in `dir`, returning the whole sample lines a previous run left. The
    /// caller queues them, then calls [`Journal::clear`] (a crash in between sends them twice,
    /// which ingest counts as duplicates, rather than losing them).
    pub fn open(dir: &Path) -> Result<(Self, Vec<String>)> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join(JOURNAL_FILE);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        let mut text = String::new();
        let mut raw = Vec::new();
        file.read_to_end(&mut raw).map_err(io(&path))?;
        text.push_str(&String::from_utf8_lossy(&raw));
        let left = recover_lines(&text);
        let j = Journal {
            path,
            file,
            lines: left.len(),
            syncs: 0,
        };
        Ok((j, left))
    }

    /// Appends lines (one sample each, without newline) and syncs them to disk.
    pub fn append<'a>(&mut self, lines: impl IntoIterator<Item = &'a [u8]>) -> Result<()> {
        let mut buf = Vec::new();
        for l in lines {
            buf.extend_from_slice(l);
            buf.push(b'\n');
            self.lines += 1;
        }
        if buf.is_empty() {
            return Ok(());
        }
        self.file.write_all(&buf).map_err(io(&self.path))?;
        self.file.sync_data().map_err(io(&self.path))?;
        self.syncs += 1;
        Ok(())
    }

    /// Empties the journal (its samples are in the disk queue now).
    pub fn clear(&mut self) -> Result<()> {
        self.file.set_len(0).map_err(io(&self.path))?;
        self.file.seek(SeekFrom::Start(0)).map_err(io(&self.path))?;
        self.file.sync_data().map_err(io(&self.path))?;
        self.lines = 0;
        Ok(())
    }

    /// Samples in the journal.
    pub fn len(&self) -> usize {
        self.lines
    }

    /// True when the journal is empty.
    pub fn is_empty(&self) -> bool {
        self.lines == 0
    }
}

/// The whole lines of a journal's text that are JSON objects; a torn last line is skipped.
pub fn recover_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v.is_object()))
        .map(str::to_string)
        .collect()
}

/// An ingest request body made of journal lines.
pub fn body_of(lines: &[String]) -> Vec<u8> {
    let mut body = b"{\"samples\":[".to_vec();
    for (i, l) in lines.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(l.as_bytes());
    }
    body.extend_from_slice(b"]}");
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_survives_reopen_and_skips_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, left) = Journal::open(dir.path()).unwrap();
        assert!(left.is_empty());
        j.append([br#"{"tag":"a","time":"t1","quality":"good","value":1}"#.as_slice()])
            .unwrap();
        j.append([br#"{"tag":"b","time":"t1","quality":"bad"}"#.as_slice()])
            .unwrap();
        assert_eq!(j.len(), 2);
        drop(j);
        // A crash in the middle of a write leaves half a line.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join(JOURNAL_FILE))
            .unwrap();
        f.write_all(br#"{"tag":"c","ti"#).unwrap();
        drop(f);
        let (mut j, left) = Journal::open(dir.path()).unwrap();
        assert_eq!(left.len(), 2);
        j.clear().unwrap();
        assert!(j.is_empty());
        let body: serde_json::Value = serde_json::from_slice(&body_of(&left)).unwrap();
        assert_eq!(body["samples"][1]["tag"], "b");
        // Reopening again finds nothing: what was recovered is the caller's now.
        let (_, left) = Journal::open(dir.path()).unwrap();
        assert!(left.is_empty());
    }
}
