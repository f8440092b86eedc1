//! File reads a transfer loop may make without waiting for a disk: `preadv2` with
//! `RWF_NOWAIT` takes bytes only from the page cache and says `EAGAIN` when it would
//! have to wait for the device (or the file system cannot tell, `EOPNOTSUPP`). The
//! loop then hands the read to a blocking thread ([`super::loops`]), so one slow
//! read stalls one transfer, never the others on its loop. In a boot storm every
//! board reads the same few files, so nearly every read is served from the cache.

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

/// Fills `buf` from `offset` of `file` if that needs no wait for a device.
pub fn read_now(file: &OpenFile, offset: u64, buf: &mut [u8]) -> ReadNow {
    let Content::Disk(disk) = file.content() else {
        return match file.read_exact_at(offset, buf) {
            Ok(()) => ReadNow::Done,
            Err(err) => ReadNow::Failed(err),
        };
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
            Some(libc::EAGAIN | libc::EOPNOTSUPP | libc::ENOSYS | libc::EINVAL) => {
                return ReadNow::WouldWait
            }
            _ => return ReadNow::Failed(err),
        }
    }
    ReadNow::Done
}

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
        assert!(matches!(read_now(&file, 30_000, &mut buf), ReadNow::Done));
        assert_eq!(buf, data[30_000..70_000]);
        std::fs::OpenOptions::new()
            .write(true)
            .open(tmp.path())
            .unwrap()
            .set_len(50_000)
            .unwrap();
        match read_now(&file, 30_000, &mut buf) {
            ReadNow::Failed(err) => assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof),
            other => panic!("a shrunk file read as {other:?}"),
        }
    }

    #[test]
    fn a_file_in_memory_is_always_read_on_the_spot() {
        let file = OpenFile::memory(b"0123456789".to_vec());
        let mut buf = [0u8; 4];
        assert!(matches!(read_now(&file, 3, &mut buf), ReadNow::Done));
        assert_eq!(&buf, b"3456");
        assert!(matches!(read_now(&file, 8, &mut buf), ReadNow::Failed(_)));
    }
}
