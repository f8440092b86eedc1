//! Whether a test can run here ([`need_root`], [`need_lab`], [`need_tools`],
//! ...): a test that cannot prints `SKIP`, and fails under `CI=true`.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::lab::lab_script;
use super::*;

fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Effective uid from /proc, so the tests need no libc binding.
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn namespaces_unusable() -> Option<String> {
    if effective_uid() != Some(0) {
        return Some("not running as root".into());
    }
    if !lab_script().is_file() {
        return Some(format!("{} is missing", lab_script().display()));
    }
    match run_bounded(
        Command::new("ip").args(["netns", "list"]),
        Duration::from_secs(10),
    ) {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!("`ip netns list` failed: {}", out.stderr.trim())),
        Err(err) => Some(format!("cannot run `ip netns list`: {err}")),
    }
}

/// Says a test did not run, on the real stderr: the test harness captures
/// `eprintln!` of passing tests, and a skip must stay visible.
fn skip(test: &str, reason: &str) {
    let _ = writeln!(std::io::stderr(), "SKIP {test}: {reason}");
}

/// Whether `test` can run: true without a `reason` against it; else prints
/// `SKIP <test>: <reason>` and returns false, except under `CI=true`, where a
/// test that cannot run is a failure.
fn can_run(test: &str, reason: Option<String>) -> bool {
    let Some(reason) = reason else {
        return true;
    };
    if is_ci() {
        panic!("{test}: CI=true, but {reason}");
    }
    skip(test, &reason);
    false
}

/// The reason against a test when any of `items` is `absent`: `what: a, b (hint)`.
fn any_absent(
    items: &[&str],
    absent: impl Fn(&str) -> bool,
    what: &str,
    hint: &str,
) -> Option<String> {
    let missing: Vec<&str> = items.iter().copied().filter(|i| absent(i)).collect();
    (!missing.is_empty()).then(|| format!("{what}: {} ({hint})", missing.join(", ")))
}

/// Whether a test that needs root and network namespaces can run here.
///
/// Prints `SKIP <test>: <reason>` and returns false when it cannot, except under
/// `CI=true`, where a test that cannot run is a failure.
pub fn need_root(test: &str) -> bool {
    can_run(
        test,
        namespaces_unusable().map(|r| format!("it needs root and network namespaces, and {r}")),
    )
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

/// Whether every program in `tools` is installed, for a test that needs no
/// root. Prints `SKIP` and returns false when not, except under `CI=true`.
pub fn need_tools(test: &str, tools: &[&str]) -> bool {
    can_run(
        test,
        any_absent(
            tools,
            |t| !on_path(t),
            "not installed",
            "scripts/test installs them",
        ),
    )
}

/// Whether every program in `tools` is installed and every file in `files`
/// exists (such as the packages `scripts/package` builds), for a test that
/// needs no root. Prints `SKIP` and returns false when not, except under
/// `CI=true`.
pub fn need_files(test: &str, tools: &[&str], files: &[&Path]) -> bool {
    let missing_files = || {
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        any_absent(
            &names,
            |f| !Path::new(f).is_file(),
            "missing",
            "scripts/test builds them with scripts/package",
        )
    };
    need_tools(test, tools) && can_run(test, missing_files())
}

/// [`need_root`], and every client program in `tools` installed (`scripts/test`
/// installs them). Prints `SKIP` and returns false when not, except under `CI=true`.
pub fn need_lab(test: &str, tools: &[&str]) -> bool {
    need_lab_files(test, tools, &[])
}

/// [`need_lab`], and every file in `files` present (firmware images and boot
/// programs from Debian packages that `scripts/test` installs). Prints `SKIP` and
/// returns false when not, except under `CI=true`.
pub fn need_lab_files(test: &str, tools: &[&str], files: &[&str]) -> bool {
    let missing_tools = || {
        any_absent(
            tools,
            |t| !on_path(t),
            "not installed",
            "scripts/test installs them",
        )
    };
    let missing_files = || {
        any_absent(
            files,
            |f| !Path::new(f).is_file(),
            "missing",
            "scripts/test installs the packages",
        )
    };
    need_root(test) && can_run(test, missing_tools().or_else(missing_files))
}
