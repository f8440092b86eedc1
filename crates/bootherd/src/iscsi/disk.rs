//! `bootherd iscsi create-disk`: a machine's backing file, sparse, of a given size
//! or holding a copy of an image; never over an existing file.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// What goes into the new file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskSource {
    /// Zeros of this many bytes (a sparse file).
    Size(u64),
    /// A copy of an image (zero blocks left as holes), grown to `size` when given.
    Image {
        /// The image.
        path: std::path::PathBuf,
        /// The size of the new file, at least the image's.
        size: Option<u64>,
    },
}

/// Parses `8G`, `512M`, `100k`, `4096` (binary units: K = 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let shift = match unit
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(format!("`{text}`: not a size (such as 8G, 512M, 4096)")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}`: not a size (such as 8G, 512M, 4096)"))?;
    let size = n
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("`{text}`: too large"))?;
    if size == 0 {
        return Err(format!("`{text}`: a disk needs at least one byte"));
    }
    Ok(size)
}

const BLOCK: usize = 64 * 1024;

/// Creates `target` from `source`. Refuses an existing `target` (whatever it is); a
/// file left half-written by an error is removed.
pub fn create_disk(target: &Path, source: &DiskSource) -> Result<u64, String> {
    if target.starts_with("/dev") {
        return Err(format!(
            "{}: a device, not a file; create-disk makes backing files",
            target.display()
        ));
    }
    let mut image = match source {
        DiskSource::Size(_) => None,
        DiskSource::Image { path, size } => {
            let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let len = file
                .metadata()
                .map_err(|e| format!("{}: {e}", path.display()))?
                .len();
            if let Some(size) = size {
                if *size < len {
                    return Err(format!(
                        "--size {size} is smaller than {} ({len} bytes)",
                        path.display()
                    ));
                }
            }
            Some((file, len))
        }
    };
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(target)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => format!(
                "{}: already exists; create-disk never overwrites a disk (remove it first)",
                target.display()
            ),
            _ => format!("{}: {e}", target.display()),
        })?;
    let result = (|| -> std::io::Result<u64> {
        let size = match (&mut image, source) {
            (None, DiskSource::Size(size)) => *size,
            (Some((file, len)), DiskSource::Image { size, .. }) => {
                copy_sparse(file, &mut out)?;
                size.unwrap_or(*len)
            }
            _ => unreachable!("image is Some exactly for DiskSource::Image"),
        };
        out.set_len(size)?;
        out.sync_all()?;
        Ok(size)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(target);
        format!("{}: {e}", target.display())
    })
}

/// Copies `from` into `to`, seeking over blocks of zeros so they stay holes.
fn copy_sparse(from: &mut File, to: &mut File) -> std::io::Result<()> {
    let mut buf = vec![0u8; BLOCK];
    loop {
        let mut filled = 0;
        while filled < BLOCK {
            match from.read(&mut buf[filled..])? {
                0 => break,
                n => filled += n,
            }
        }
        if filled == 0 {
            return Ok(());
        }
        let chunk = &buf[..filled];
        if chunk.iter().all(|&b| b == 0) {
            to.seek(SeekFrom::Current(filled as i64))?;
        } else {
            to.write_all(chunk)?;
        }
        if filled < BLOCK {
            return Ok(());
        }
    }
}
