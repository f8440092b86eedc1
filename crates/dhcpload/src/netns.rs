//! The safety rule: dhcpload sends only to loopback, or from inside a
//! network namespace other than the initial one (one a test made, where the
//! target can only be a test host).

use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The network namespace of this process and of PID 1.
const SELF_NS: &str = "/proc/self/ns/net";
const INIT_NS: &str = "/proc/1/ns/net";

/// Whether dhcpload may send to `server`; the error says why not.
pub fn check_target(server: Ipv4Addr) -> Result<(), String> {
    check_target_with(server, Path::new(SELF_NS), Path::new(INIT_NS))
}

/// [`check_target`] with the two namespace files given (for the tests).
pub fn check_target_with(server: Ipv4Addr, own: &Path, init: &Path) -> Result<(), String> {
    if server.is_unspecified() || server.is_broadcast() || server.is_multicast() {
        return Err(format!(
            "refusing to send to {server}: a relay sends to one server's unicast address"
        ));
    }
    if server.is_loopback() {
        return Ok(());
    }
    match in_other_netns(own, init) {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!(
            "refusing to send to {server}: it is not a loopback address (127.0.0.0/8) and this \
             process is in the initial network namespace ({} is {}). Run dhcpload inside a \
             network namespace made for the test (ip netns exec NAME dhcpload ...), or \
             against 127.0.0.1.",
            own.display(),
            init.display()
        )),
        Err(e) => Err(format!(
            "refusing to send to {server}: it is not a loopback address (127.0.0.0/8) and \
             whether this process is in a test's network namespace cannot be told: {e}"
        )),
    }
}

/// True when the namespace files `own` and `init` name different
/// namespaces (device and inode differ); an error when either cannot be read.
pub fn in_other_netns(own: &Path, init: &Path) -> Result<bool, String> {
    let id = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| (m.dev(), m.ino()))
            .map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    let own = id(own)?;
    let init = id(init)?;
    Ok(own != init)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("dhcpload-test-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, b"x").unwrap();
        p
    }

    #[test]
    fn loopback_is_always_allowed() {
        let missing = Path::new("/nonexistent/ns");
        for a in [
            Ipv4Addr::new(127, 0, 0, 1),
            Ipv4Addr::new(127, 1, 2, 3),
            Ipv4Addr::new(127, 255, 255, 254),
        ] {
            assert_eq!(check_target_with(a, missing, missing), Ok(()));
        }
    }

    #[test]
    fn other_addresses_need_another_namespace() {
        let a = temp_file("a");
        let b = temp_file("b");
        let server = Ipv4Addr::new(10, 99, 0, 1);
        // Same namespace (same file): refused, with a message that says why.
        let err = check_target_with(server, &a, &a).unwrap_err();
        assert!(err.contains("initial network namespace"), "{err}");
        // Different namespaces: allowed.
        assert_eq!(check_target_with(server, &a, &b), Ok(()));
        // PID 1's namespace cannot be read: refused.
        let err = check_target_with(server, &a, Path::new("/nonexistent/ns")).unwrap_err();
        assert!(err.contains("cannot be told"), "{err}");
        for p in [a, b] {
            std::fs::remove_dir_all(p.parent().unwrap()).unwrap();
        }
    }

    #[test]
    fn broadcast_multicast_and_zero_are_refused() {
        let a = temp_file("c");
        let b = temp_file("d");
        for s in [
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::BROADCAST,
            Ipv4Addr::new(224, 0, 0, 1),
        ] {
            assert!(check_target_with(s, &a, &b).is_err(), "{s}");
        }
        for p in [a, b] {
            std::fs::remove_dir_all(p.parent().unwrap()).unwrap();
        }
    }

    #[test]
    fn the_real_namespace_files_compare() {
        // This process and PID 1: either readable (then the answer is a
        // bool) or not (then an error): never a panic.
        let _ = in_other_netns(Path::new(SELF_NS), Path::new(INIT_NS));
        // A namespace is the same as itself.
        if Path::new(SELF_NS).exists() {
            assert_eq!(
                in_other_netns(Path::new(SELF_NS), Path::new(SELF_NS)),
                Ok(false)
            );
        }
    }
}
