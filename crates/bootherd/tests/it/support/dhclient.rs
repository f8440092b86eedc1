//! ISC dhclient's command line with private files, for tests that run it.

use std::path::{Path, PathBuf};

/// ISC dhclient's arguments for `iface`, `more` flags first, with private files
/// in `dir`: an empty `dhclient.conf`, script `script`, the lease file
/// [`dhclient_leases`] and a pid file.
pub fn dhclient_args(dir: &Path, script: &Path, iface: &str, more: &[&str]) -> Vec<String> {
    let conf = dir.join("dhclient.conf");
    std::fs::write(&conf, "").unwrap_or_else(|e| panic!("write {}: {e}", conf.display()));
    let mut args: Vec<String> = vec!["dhclient".into()];
    args.extend(more.iter().map(|s| s.to_string()));
    for (flag, path) in [
        ("-cf", conf),
        ("-sf", script.to_path_buf()),
        ("-lf", dhclient_leases(dir, iface)),
        ("-pf", dir.join(format!("dhclient-{iface}.pid"))),
    ] {
        args.push(flag.into());
        args.push(path.display().to_string());
    }
    args.push(iface.into());
    args
}

/// The lease file of [`dhclient_args`].
pub fn dhclient_leases(dir: &Path, iface: &str) -> PathBuf {
    dir.join(format!("dhclient-{iface}.leases"))
}
