//! File reads a transfer loop may make without waiting for a disk: `preadv2` with
//! `RWF_NOWAIT` takes bytes only from the page cache and says `EAGAIN` when it would
//! have to wait for the device. The loop then hands the read to a blocking thread
//! ([`super::loops`]), so one slow read stalls one transfer, never the others on
//! its loop. In a boot storm every board reads the same few files, so nearly every
//! read is served from the cache.
//!
//! Some file systems cannot say (`EOPNOTSUPP`: tmpfs, and network file systems):
//! a file in memory (tmpfs, ramfs) is then read on the spot, any other always on a
//! blocking thread. Each transfer learns which [`Way`] its file takes once.

use std::io;
use std::os::fd::AsRawFd;

use crate::vfs::{Content, OpenFile};

/// What became of a read tried on the loop.
#[derive(Debug)]
pub enum ReadNow {
    /// `buf` is filled.
    Done,
    /// The bytes are not all in memory: read them on a thread that may wait.
    WouldWait,
    /// The read failed (the file shrank, say); the transfer ends with this.
    Failed(io::Error),
}

/// How a transfer's reads are made on its loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// The bytes are in memory (a generated file, a file on tmpfs): read them.
    OnTheSpot,
    /// Ask the page cache first (`RWF_NOWAIT`).
    CacheFirst,
    /// The file system cannot say whether a read would wait: never on the loop.
    OffLoop,
}

/// Fills `buf` from `offset` of `file` if that needs no wait for a device. `way`
/// starts as [`Way::CacheFirst`] and is updated with what the file system allows.
pub fn read_now(file: &OpenFile, way: &mut Way, offset: u64, buf: &mut [u8]) -> ReadNow {
    let disk = match (file.content(), *way) {
        (Content::Disk(disk), Way::CacheFirst) => disk,
        (Content::Disk(_), Way::OffLoop) => return ReadNow::WouldWait,
        _ => {
            return match file.read_exact_at(offset, buf) {
                Ok(()) => ReadNow::Done,
                Err(err) => ReadNow::Failed(err),
            }
        }
    };
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        let iov = libc::iovec {
            iov_base: rest.as_mut_ptr().cast(),
            iov_len: rest.len(),
        };
        let Ok(at) = libc::off_t::try_from(offset + done as u64) else {
            return ReadNow::Failed(io::Error::from(io::ErrorKind::InvalidInput));
        };
        // SAFETY: one iovec describing `rest`, which is valid for writes of its
        // length for the whole call; the descriptor is the open file's.
        let n = unsafe { libc::preadv2(disk.as_raw_fd(), &iov, 1, at, libc::RWF_NOWAIT) };
        if n > 0 {
            done += n as usize;
            continue;
        }
        if n == 0 {
            // The file shrank since it was opened: never send a truncated file.
            return ReadNow::Failed(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return ReadNow::WouldWait,
            Some(libc::EOPNOTSUPP | libc::ENOSYS | libc::EINVAL) => {
                *way = if in_memory(disk) {
                    Way::OnTheSpot
                } else {
                    Way::OffLoop
                };
                return read_now(file, way, offset, buf);
            }
            _ => return ReadNow::Failed(err),
        }
    }
    ReadNow::Done
}

/// Whether `file` lives on a file system kept in memory (tmpfs, ramfs).
#[allow(clippy::unnecessary_cast)] // the types of f_type and the magics differ between targets
fn in_memory(file: &std::fs::File) -> bool {
    // SAFETY: fstatfs fills the zeroed struct; the descriptor is the open file's.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatfs(file.as_raw_fd(), &mut fs) } != 0 {
        return false;
    }
    let kind = fs.f_type as i64;
    kind == libc::TMPFS_MAGIC as i64 || kind == RAMFS_MAGIC
}

/// ramfs's `f_type` (linux/magic.h; libc does not name it).
const RAMFS_MAGIC: i64 = 0x8584_58f6;

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn disk_file(data: &[u8]) -> (tempfile::NamedTempFile, OpenFile) {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        tmp.write_all(data).unwrap();
        tmp.flush().unwrap();
        let file = std::fs::File::open(tmp.path()).unwrap();
        (tmp, OpenFile::disk(file, data.len() as u64))
    }

    #[test]
    fn a_cached_file_is_read_on_the_spot_and_a_shrunk_one_fails() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        let (tmp, file) = disk_file(&data);
        // Just written: in the page cache.
        let mut buf = vec![0u8; 40_000];
        let mut way = Way::CacheFirst;
        assert!(matches!(
            read_now(&file, &mut way, 30_000, &mut buf),
            ReadNow::Done
        ));
        assert_eq!(buf, data[30_000..70_000]);
        std::fs::OpenOptions::new()
            .write(true)
            .open(tmp.path())
            .unwrap()
            .set_len(50_000)
            .unwrap();
        match read_now(&file, &mut way, 30_000, &mut buf) {
            ReadNow::Failed(err) => assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof),
            other => panic!("a shrunk file read as {other:?}"),
        }
    }

    #[test]
    fn a_file_in_memory_is_always_read_on_the_spot() {
        let file = OpenFile::memory(b"0123456789".to_vec());
        let mut buf = [0u8; 4];
        let mut way = Way::CacheFirst;
        assert!(matches!(
            read_now(&file, &mut way, 3, &mut buf),
            ReadNow::Done
        ));
        assert_eq!(&buf, b"3456");
        assert!(matches!(
            read_now(&file, &mut way, 8, &mut buf),
            ReadNow::Failed(_)
        ));
    }

    #[test]
    fn a_file_on_tmpfs_is_read_on_the_spot() {
        // tmpfs cannot answer RWF_NOWAIT (EOPNOTSUPP); its bytes are in memory.
        let dir = std::path::Path::new("/dev/shm");
        if !dir.is_dir() || !in_memory(&std::fs::File::open(dir).unwrap()) {
            assert!(std::env::var_os("CI").is_none(), "no tmpfs at /dev/shm");
            return;
        }
        let data = vec![7u8; 10_000];
        let mut tmp = tempfile::NamedTempFile::new_in(dir).unwrap();
        tmp.write_all(&data).unwrap();
        let file = OpenFile::disk(std::fs::File::open(tmp.path()).unwrap(), 10_000);
        let mut way = Way::CacheFirst;
        let mut buf = vec![0u8; 5_000];
        assert!(matches!(
            read_now(&file, &mut way, 1_000, &mut buf),
            ReadNow::Done
        ));
        assert_eq!(way, Way::OnTheSpot);
        assert_eq!(buf, data[1_000..6_000]);
    }
}
