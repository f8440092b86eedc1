//! The command line as a user meets it: help, version, and `check` on good and bad configs.

use std::ffi::OsStr;
use std::path::Path;

use crate::support::{run_bootherd, temp_dir, write_file, RunOutput};

fn check(config: &Path) -> RunOutput {
    run_bootherd([
        OsStr::new("check"),
        OsStr::new("--config"),
        config.as_os_str(),
    ])
}

fn good_config(root: &Path) -> String {
    format!(
        "[tftp]\nroot = \"{}\"\nport = 69\nmax_transfers = 64\n[http]\nport = 80\n",
        root.display()
    )
}

#[test]
fn help_lists_the_subcommands() {
    let out = run_bootherd(["--help"]);
    assert!(out.success(), "bootherd --help: {}", out.describe());
    for sub in ["serve", "check"] {
        assert!(
            out.stdout.contains(sub),
            "--help does not mention `{sub}`: {}",
            out.describe()
        );
    }
}

#[test]
fn version_prints_the_package_version() {
    let out = run_bootherd(["--version"]);
    assert!(out.success(), "bootherd --version: {}", out.describe());
    assert!(
        out.stdout.contains(env!("CARGO_PKG_VERSION")),
        "--version does not print {}: {}",
        env!("CARGO_PKG_VERSION"),
        out.describe()
    );
}

#[test]
fn check_accepts_a_good_config() {
    let dir = temp_dir();
    let root = dir.path().join("tftp-root");
    std::fs::create_dir(&root).unwrap();
    let config = dir.path().join("bootherd.toml");
    write_file(&config, good_config(&root).as_bytes());
    let out = check(&config);
    assert!(out.success(), "check on a good config: {}", out.describe());
}

/// `check` on `text` fails, naming the file and the line.
fn assert_check_rejects(text: &str, line: usize, also: &str) {
    let dir = temp_dir();
    let config = dir.path().join("bad.toml");
    write_file(&config, text.as_bytes());
    let out = check(&config);
    assert!(
        !out.status.success() && !out.timed_out,
        "check accepted a bad config:\n{text}\n{}",
        out.describe()
    );
    assert!(
        out.stderr.contains(config.to_str().unwrap()),
        "the error does not name the file {}: {}",
        config.display(),
        out.describe()
    );
    assert!(
        out.stderr.contains("line"),
        "the error does not name a line: {}",
        out.describe()
    );
    assert!(
        out.stderr.contains(&format!("line {line}")) || out.stderr.contains(&format!(":{line}:")),
        "the error does not give line {line}: {}",
        out.describe()
    );
    assert!(
        out.stderr.contains(also),
        "the error does not mention `{also}`: {}",
        out.describe()
    );
}

#[test]
fn check_rejects_an_unknown_key_naming_file_and_line() {
    let dir = temp_dir();
    let mut text = good_config(dir.path());
    // Line 7, inside [http].
    text.push_str("listen_backlog = 5\n");
    assert_check_rejects(&text, 7, "listen_backlog");
}

#[test]
fn check_rejects_a_toml_syntax_error_naming_file_and_line() {
    let text = "[tftp]\nroot = \"/srv/tftp\"\nport = = 69\n";
    assert_check_rejects(text, 3, "");
}

#[test]
fn check_rejects_a_missing_config_file() {
    let dir = temp_dir();
    let config = dir.path().join("does-not-exist.toml");
    let out = check(&config);
    assert!(
        !out.status.success() && !out.timed_out,
        "check accepted a missing file: {}",
        out.describe()
    );
    assert!(
        out.stderr.contains("does-not-exist.toml"),
        "the error does not name the file: {}",
        out.describe()
    );
}
