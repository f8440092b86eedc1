//! Files served to boot clients: a small trait so later work can serve generated,
//! per-client content, and the directory-backed implementation confined to its root.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt};

/// Longest request path accepted, in bytes.
pub const MAX_PATH_LEN: usize = 1024;

/// Who is asking: passed to every lookup so a source can answer per client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client's address and port as the request arrived.
    pub addr: SocketAddr,
    /// The local address the request arrived at: the server address the client
    /// knows, for URLs and names in generated files.
    pub local: SocketAddr,
}

/// Why a path could not be served.
#[derive(Debug, thiserror::Error)]
pub enum VfsError {
    /// The name breaks the rules for request paths (`..`, absolute, backslash, ...).
    #[error("refused name: {0}")]
    BadName(&'static str),
    /// Nothing by that name.
    #[error("file not found")]
    NotFound,
    /// The name resolves to something that is not served (a directory, a device,
    /// a symlink out of the root).
    #[error("access violation: {0}")]
    Forbidden(&'static str),
    /// Any other I/O failure.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

/// A file opened for serving: its length is fixed when it is opened.
pub struct OpenFile {
    content: Content,
    len: u64,
}

/// Where an open file's bytes are.
pub enum Content {
    /// A regular file on disk.
    Disk(std::fs::File),
    /// Bytes in memory.
    Memory(Bytes),
}

impl fmt::Debug for OpenFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.content {
            Content::Disk(_) => "disk",
            Content::Memory(_) => "memory",
        };
        f.debug_struct("OpenFile")
            .field("kind", &kind)
            .field("len", &self.len)
            .finish()
    }
}

impl OpenFile {
    /// A file held in memory (generated content, or a converted copy).
    pub fn memory(data: impl Into<Bytes>) -> Self {
        let data = data.into();
        OpenFile {
            len: data.len() as u64,
            content: Content::Memory(data),
        }
    }

    /// A regular file on disk; `len` is its size when opened.
    pub fn disk(file: std::fs::File, len: u64) -> Self {
        OpenFile {
            content: Content::Disk(file),
            len,
        }
    }

    /// Gives up the handle, for callers that stream the bytes themselves.
    pub fn into_content(self) -> Content {
        self.content
    }

    /// Size in bytes.
    /// Where the bytes are.
    pub fn content(&self) -> &Content {
        &self.content
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty file.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Fills `buf` from `offset`. A file that shrank since it was opened is an error,
    /// so a client never gets a silently truncated file.
    pub fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        match &self.content {
            Content::Disk(file) => file.read_exact_at(buf, offset),
            Content::Memory(data) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX);
                let src = start
                    .checked_add(buf.len())
                    .and_then(|end| data.get(start..end))
                    .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
                buf.copy_from_slice(src);
                Ok(())
            }
        }
    }

    /// Reads the whole file into memory (for small files that need conversion).
    pub fn read_all(&self, limit: u64) -> io::Result<Vec<u8>> {
        if self.len > limit {
            return Err(io::Error::other(format!(
                "file of {} bytes is over the {limit}-byte limit",
                self.len
            )));
        }
        let mut buf = vec![0; self.len as usize];
        self.read_exact_at(0, &mut buf)?;
        Ok(buf)
    }
}

/// Where served files come from. Asked on every request: boot protocols are stateless.
pub trait FileSource: Send + Sync + 'static {
    /// Opens `path` (already cleaned by [`clean_path`]) for `client`.
    fn open(&self, client: &ClientInfo, path: &str) -> Result<OpenFile, VfsError>;
}

impl<T: FileSource + ?Sized> FileSource for Arc<T> {
    fn open(&self, client: &ClientInfo, path: &str) -> Result<OpenFile, VfsError> {
        (**self).open(client, path)
    }
}

/// Checks a requested name and turns it into a relative path inside a root.
///
/// Refused: names that are not UTF-8, contain NUL, control characters or backslashes,
/// have a `..` component, are empty, or are longer than [`MAX_PATH_LEN`]. Doubled
/// slashes and `.` components are tolerated (the Raspberry Pi 5 asks for
/// `<serial>//config.txt`), and leading slashes name the root (`/Image` is
/// `Image`), as tftpd-hpa and dnsmasq read them.
pub fn clean_path(raw: &[u8]) -> Result<String, VfsError> {
    if raw.len() > MAX_PATH_LEN {
        return Err(VfsError::BadName("name too long"));
    }
    let name = std::str::from_utf8(raw).map_err(|_| VfsError::BadName("name is not UTF-8"))?;
    if name.chars().any(|c| c.is_control()) {
        return Err(VfsError::BadName("control character in name"));
    }
    if name.contains('\\') {
        return Err(VfsError::BadName("backslash in name"));
    }
    // A leading `/` means "from the root", as with tftpd-hpa `-s` and dnsmasq's
    // `tftp-root`: PXELINUX configs written for them say `kernel /rock64/Image`.
    let mut parts = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => continue,
            ".." => return Err(VfsError::BadName("`..` in name")),
            _ => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Err(VfsError::BadName("empty name"));
    }
    Ok(parts.join("/"))
}

/// Serves regular files from one directory. Symlinks are followed only while they
/// stay inside the directory; directories, devices and FIFOs are refused.
pub struct DirSource {
    root: Dir,
    path: PathBuf,
}

impl fmt::Debug for DirSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirSource")
            .field("path", &self.path)
            .finish()
    }
}

impl DirSource {
    /// Opens the root directory once; later lookups are relative to this handle.
    pub fn open(path: &Path) -> io::Result<Self> {
        let root = Dir::open_ambient_dir(path, cap_std::ambient_authority())?;
        Ok(DirSource {
            root,
            path: path.to_path_buf(),
        })
    }

    /// The directory this source serves.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl FileSource for DirSource {
    fn open(&self, _client: &ClientInfo, path: &str) -> Result<OpenFile, VfsError> {
        let mut options = OpenOptions::new();
        // O_NONBLOCK: opening a FIFO must not wait for a writer.
        options.read(true).custom_flags(libc::O_NONBLOCK);
        let file = self.root.open_with(path, &options).map_err(|err| {
            match err.kind() {
                io::ErrorKind::NotFound => VfsError::NotFound,
                // cap-std reports a path that would leave the root as PermissionDenied.
                io::ErrorKind::PermissionDenied => VfsError::Forbidden("path leaves the root"),
                _ if err.raw_os_error() == Some(libc::ELOOP) => {
                    VfsError::Forbidden("too many symlinks")
                }
                _ if err.raw_os_error() == Some(libc::ENOTDIR) => VfsError::NotFound,
                _ => VfsError::Io(err),
            }
        })?;
        let file = file.into_std();
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Err(VfsError::Forbidden("is a directory"));
        }
        if !meta.is_file() {
            return Err(VfsError::Forbidden("not a regular file"));
        }
        Ok(OpenFile::disk(file, meta.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_path_accepts_ordinary_names() {
        assert_eq!(clean_path(b"pxelinux.0").unwrap(), "pxelinux.0");
        assert_eq!(
            clean_path(b"e1ffda08//config.txt").unwrap(),
            "e1ffda08/config.txt"
        );
        assert_eq!(clean_path(b"./a/./b").unwrap(), "a/b");
        assert_eq!(clean_path(b"/rock64/Image").unwrap(), "rock64/Image");
        assert_eq!(clean_path(b"//etc/passwd").unwrap(), "etc/passwd");
    }

    #[test]
    fn clean_path_refuses_escapes() {
        for bad in [
            &b"../x"[..],
            b"a/../../x",
            b"/../x",
            b"//../x",
            b"/./../x",
            b"..",
            b"a\\b",
            b"a\0b",
            b"",
            b"/",
            b"./",
            b"\xff\xfe",
            b"a\nb",
        ] {
            assert!(clean_path(bad).is_err(), "{:?} accepted", bad);
        }
        assert!(clean_path(&[b'a'; MAX_PATH_LEN + 1]).is_err());
    }
}
