//! What every file should be: the SHA-256 and size of each regular file under the
//! served directory, taken before the storm starts, looked up by the path a board
//! asked for (`e1ffda08//config.txt` is `e1ffda08/config.txt`).

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

pub struct Expected {
    files: HashMap<String, (u64, [u8; 32])>,
}

/// Directories deeper than this are not walked.
const MAX_DEPTH: usize = 8;

impl Expected {
    pub fn load(root: &Path) -> std::io::Result<Expected> {
        let mut files = HashMap::new();
        walk(root, "", 0, &mut files)?;
        Ok(Expected { files })
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether `size` bytes with `sum` are the file `path`; the error says how not.
    pub fn check(&self, path: &str, size: u64, sum: &[u8; 32]) -> Result<(), String> {
        let key = normal(path);
        match self.files.get(&key) {
            None => Err(format!("{path}: served, but no such file under the root")),
            Some((want, _)) if *want != size => {
                Err(format!("{path}: {size} bytes came, the file has {want}"))
            }
            Some((_, want)) if want != sum => Err(format!("{path}: checksum mismatch")),
            Some(_) => Ok(()),
        }
    }
}

fn normal(path: &str) -> String {
    path.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect::<Vec<_>>()
        .join("/")
}

fn walk(
    dir: &Path,
    prefix: &str,
    depth: usize,
    files: &mut HashMap<String, (u64, [u8; 32])>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let key = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let kind = entry.file_type()?;
        if kind.is_dir() && depth < MAX_DEPTH {
            walk(&entry.path(), &key, depth + 1, files)?;
        } else if kind.is_file() {
            let mut file = std::fs::File::open(entry.path())?;
            let mut hash = Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            let mut size = 0u64;
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hash.update(&buf[..n]);
                size += n as u64;
            }
            files.insert(key, (size, hash.finalize().into()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised() {
        assert_eq!(normal("e1ffda08//config.txt"), "e1ffda08/config.txt");
        assert_eq!(normal("/./a/b"), "a/b");
    }
}
