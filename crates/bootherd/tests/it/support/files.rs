//! Test files: the repository root, temporary directories, golden-file
//! blessing, deterministic contents, and comparing a received file.

use std::path::{Path, PathBuf};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether to rewrite golden files and fixtures: `BOOTHERD_BLESS=1` does; unset,
/// empty or `0` compares; any other value stops the test, so that a typo neither
/// blesses nor quietly compares. The one rule of every golden file in the project
/// (`render.rs`'s unit tests follow it too).
pub fn bless_requested() -> bool {
    match std::env::var("BOOTHERD_BLESS").as_deref() {
        Err(std::env::VarError::NotPresent) | Ok("" | "0") => false,
        Ok("1") => true,
        Ok(other) => panic!(
            "BOOTHERD_BLESS={other:?}: set it to 1 to rewrite the expected files, or to 0 (or \
             unset it) to compare"
        ),
        Err(err) => panic!("BOOTHERD_BLESS: {err}"),
    }
}

/// Deterministic pseudo-random bytes (splitmix64), different for each seed.
pub fn pseudo_random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes `contents` to `path`, creating parent directories.
pub fn write_file(path: &Path, contents: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create parent directory");
    }
    std::fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Asserts the file at `got` holds exactly `want`, reporting the first difference
/// instead of dumping megabytes.
pub fn assert_file_eq(got: &Path, want: &[u8], what: &str) {
    let data = std::fs::read(got)
        .unwrap_or_else(|e| panic!("{what}: cannot read received file {}: {e}", got.display()));
    if data == want {
        return;
    }
    let first = data.iter().zip(want).position(|(a, b)| a != b);
    panic!(
        "{what}: received {} bytes, expected {}; first difference at byte {}",
        data.len(),
        want.len(),
        first.map_or_else(
            || "(one is a prefix of the other)".into(),
            |p| p.to_string()
        )
    );
}

/// A temporary directory, removed on drop. The name carries this process's id
/// so `lab/lab.sh sweep` can remove what a killed run left.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("bootherd-it-{}-", std::process::id()))
        .tempdir()
        .expect("create temp dir")
}

#[test]
fn pseudo_random_bytes_are_deterministic() {
    assert_eq!(pseudo_random_bytes(7, 1000), pseudo_random_bytes(7, 1000));
    assert_ne!(pseudo_random_bytes(7, 64), pseudo_random_bytes(8, 64));
    assert_eq!(pseudo_random_bytes(7, 13).len(), 13);
}

/// A `newc` cpio archive (an initramfs Linux unpacks without compression).
pub fn newc_cpio(files: &[(&str, &[u8])]) -> Vec<u8> {
    fn pad4(out: &mut Vec<u8>) {
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
    }
    let mut out = Vec::new();
    let entry = |out: &mut Vec<u8>, ino: u32, name: &str, mode: u32, data: &[u8]| {
        let fields = [
            ino,
            mode,
            0,
            0,
            1,
            0,
            data.len() as u32,
            0,
            0,
            0,
            0,
            name.len() as u32 + 1,
            0,
        ];
        out.extend_from_slice(b"070701");
        for f in fields {
            out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        pad4(out);
        out.extend_from_slice(data);
        pad4(out);
    };
    for (i, (name, data)) in files.iter().enumerate() {
        entry(&mut out, i as u32 + 1, name, 0o100644, data);
    }
    entry(&mut out, 0, "TRAILER!!!", 0, &[]);
    out
}
