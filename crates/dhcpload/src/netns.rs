//! The safety rule: dhcpload sends only to loopback, or from inside a
//! network namespace other than the initial one (one a test made, where the
//! target can only be a test host).
//!
//! The namespace of this process is compared with PID 1's. Some sandboxes
//! hide PID 1 (its `/proc/1/ns/net` cannot be read even by root); then the
//! process must be in a namespace that `ip netns add` made (one bound under
//! `/run/netns`) and not the initial namespace as Linux 6.18 and later number
//! it (a fixed inode). Anything else is refused.

use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The network namespace of this process and of PID 1.
const SELF_NS: &str = "/proc/self/ns/net";
const INIT_NS: &str = "/proc/1/ns/net";
/// Where `ip netns add` binds the namespaces it makes.
const NAMED_NS_DIR: &str = "/run/netns";
/// The inode of the initial network namespace since Linux 6.18
/// (`PROC_NET_INIT_INO`); earlier kernels number it like any other.
const INIT_NET_INO: u64 = 0xEFFF_FFF9;

/// The files [`check_target`] looks at (the tests give others).
#[derive(Debug, Clone)]
pub struct NsFiles {
    pub own: PathBuf,
    pub init: PathBuf,
    pub named_dir: PathBuf,
}

impl Default for NsFiles {
    fn default() -> NsFiles {
        NsFiles {
            own: SELF_NS.into(),
            init: INIT_NS.into(),
            named_dir: NAMED_NS_DIR.into(),
        }
    }
}

/// Whether dhcpload may send to `server`; the error says why not.
pub fn check_target(server: Ipv4Addr) -> Result<(), String> {
    check_target_with(server, &NsFiles::default())
}

/// [`check_target`] with the namespace files given.
pub fn check_target_with(server: Ipv4Addr, files: &NsFiles) -> Result<(), String> {
    if server.is_unspecified() || server.is_broadcast() || server.is_multicast() {
        return Err(format!(
            "refusing to send to {server}: a relay sends to one server's unicast address"
        ));
    }
    if server.is_loopback() {
        return Ok(());
    }
    let not_loopback =
        format!("refusing to send to {server}: it is not a loopback address (127.0.0.0/8) and");
    let how = "Run dhcpload inside a network namespace made for the test \
               (ip netns exec NAME dhcpload ...), or against 127.0.0.1.";
    let own = ns_id(&files.own).map_err(|e| format!("{not_loopback} {e}. {how}"))?;
    match ns_id(&files.init) {
        Ok(init) if init != own => Ok(()),
        Ok(_) => Err(format!(
            "{not_loopback} this process is in the initial network namespace ({} is {}). {how}",
            files.own.display(),
            files.init.display()
        )),
        Err(e) => {
            // PID 1 is hidden: only a namespace `ip netns add` made will do.
            if own.1 == INIT_NET_INO {
                return Err(format!(
                    "{not_loopback} this process is in the initial network namespace \
                     (inode {INIT_NET_INO:#x}). {how}"
                ));
            }
            match named_netns(own, &files.named_dir) {
                Some(_) => Ok(()),
                None => Err(format!(
                    "{not_loopback} whether this process is in a test's network namespace \
                     cannot be told: {e}, and its namespace is none of those in {}. {how}",
                    files.named_dir.display()
                )),
            }
        }
    }
}

/// Device and inode of a namespace file (the namespace's identity).
fn ns_id(path: &Path) -> Result<(u64, u64), String> {
    std::fs::metadata(path)
        .map(|m| (m.dev(), m.ino()))
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// The name under `dir` bound to namespace `id`, if any.
fn named_netns(id: (u64, u64), dir: &Path) -> Option<String> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .find(|entry| ns_id(&entry.path()).ok() == Some(id))
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of its own for each test, removed on drop.
    struct Dir(PathBuf);

    impl Dir {
        fn new(test: &str) -> Dir {
            let d = std::env::temp_dir().join(format!("dhcpload-{}-{test}", std::process::id()));
            std::fs::create_dir_all(d.join("named")).unwrap();
            Dir(d)
        }

        fn file(&self, name: &str) -> PathBuf {
            let p = self.0.join(name);
            std::fs::write(&p, b"x").unwrap();
            p
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const SERVER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);

    #[test]
    fn loopback_is_always_allowed() {
        let files = NsFiles {
            own: "/nonexistent/a".into(),
            init: "/nonexistent/b".into(),
            named_dir: "/nonexistent".into(),
        };
        for a in [
            Ipv4Addr::new(127, 0, 0, 1),
            Ipv4Addr::new(127, 1, 2, 3),
            Ipv4Addr::new(127, 255, 255, 254),
        ] {
            assert_eq!(check_target_with(a, &files), Ok(()));
        }
    }

    #[test]
    fn other_addresses_need_another_namespace_than_pid_1() {
        let d = Dir::new("pid1");
        let a = d.file("a");
        let b = d.file("b");
        let named_dir = d.0.join("named");
        // Same namespace as PID 1: refused, with a message that says why.
        let same = NsFiles {
            own: a.clone(),
            init: a.clone(),
            named_dir: named_dir.clone(),
        };
        let err = check_target_with(SERVER, &same).unwrap_err();
        assert!(err.contains("initial network namespace"), "{err}");
        // Another namespace: allowed.
        let other = NsFiles {
            own: a.clone(),
            init: b,
            named_dir,
        };
        assert_eq!(check_target_with(SERVER, &other), Ok(()));
        // Our own namespace cannot be read: refused.
        let unreadable = NsFiles {
            own: "/nonexistent/ns".into(),
            ..other
        };
        assert!(check_target_with(SERVER, &unreadable).is_err());
    }

    #[test]
    fn a_hidden_pid_1_needs_a_named_namespace() {
        let d = Dir::new("hidden");
        let own = d.file("own");
        let named_dir = d.0.join("named");
        let files = NsFiles {
            own: own.clone(),
            init: "/nonexistent/ns".into(),
            named_dir: named_dir.clone(),
        };
        // Not among the named ones: refused.
        let err = check_target_with(SERVER, &files).unwrap_err();
        assert!(err.contains("cannot be told"), "{err}");
        // Bound under the named directory (a hard link stands for the bind
        // mount: same device and inode): allowed.
        std::fs::hard_link(&own, named_dir.join("bhdhcp-1-cli")).unwrap();
        assert_eq!(check_target_with(SERVER, &files), Ok(()));
        // No named directory at all: refused.
        let none = NsFiles {
            named_dir: "/nonexistent".into(),
            ..files
        };
        assert!(check_target_with(SERVER, &none).is_err());
    }

    #[test]
    fn broadcast_multicast_and_zero_are_refused() {
        let d = Dir::new("bcast");
        let files = NsFiles {
            own: d.file("a"),
            init: d.file("b"),
            named_dir: d.0.join("named"),
        };
        for s in [
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::BROADCAST,
            Ipv4Addr::new(224, 0, 0, 1),
        ] {
            assert!(check_target_with(s, &files).is_err(), "{s}");
        }
    }

    /// The inode a namespace link names (`net:[4026531840]`), read with
    /// `readlink` rather than `stat`: a second way to the same fact.
    fn link_inode(path: &str) -> Option<u64> {
        let link = std::fs::read_link(path).ok()?;
        let link = link.to_str()?;
        link.strip_prefix("net:[")?.strip_suffix(']')?.parse().ok()
    }

    #[test]
    fn the_real_namespace_files() {
        assert_eq!(check_target(Ipv4Addr::LOCALHOST), Ok(()));
        // `ns_id` identifies the namespace the link names.
        let own = link_inode(SELF_NS).expect("readlink /proc/self/ns/net");
        assert_eq!(ns_id(Path::new(SELF_NS)).map(|id| id.1), Ok(own));
        // The verdict on this machine's real files, worked out apart from
        // `check_target`: PID 1's namespace when it can be read, else the
        // fixed initial inode and the namespaces `ip netns add` bound.
        let allowed = match link_inode(INIT_NS) {
            Some(init) => init != own,
            None => {
                own != INIT_NET_INO
                    && std::fs::read_dir("/run/netns").is_ok_and(|dir| {
                        dir.flatten()
                            .any(|e| std::fs::metadata(e.path()).is_ok_and(|m| m.ino() == own))
                    })
            }
        };
        let verdict = check_target(SERVER);
        assert_eq!(
            verdict.is_ok(),
            allowed,
            "namespace inode {own}, PID 1's {:?}: {verdict:?}",
            link_inode(INIT_NS)
        );
        if let Err(e) = verdict {
            assert!(e.contains(&format!("refusing to send to {SERVER}")), "{e}");
        }
    }
}
