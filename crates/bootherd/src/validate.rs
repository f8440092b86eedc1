//! Everything `bootherd serve` refuses because of its configuration, in one place:
//! `bootherd check`, serve's start and every reload go through [`check`], so a
//! file `check` passes is one `serve` starts with. What depends on the host rather
//! than on the file ([`host_problems`]) serve's start refuses, while `check` and a
//! reload (which does not apply `[net]`) only warn. Serve runs all of it before it
//! binds any socket.

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;

use bootherd_proto::dhcp::ServerConfig;

use crate::config::{Config, ConfigError};
use crate::inventory::{Entry, Inventory, InventoryError};
use crate::keyline::{self, Step};
use crate::render::Renderer;
use crate::vfs::DirSource;

/// A configuration that passed every check `serve` makes, with what the checks
/// built, for `serve` to use as it is.
#[derive(Debug)]
pub struct Checked {
    /// The configuration.
    pub config: Config,
    /// Its machines and profiles.
    pub inventory: Arc<Inventory>,
    /// Its templates.
    pub renderer: Arc<Renderer>,
    /// The DHCP server's configuration, when `dhcp.enabled`.
    pub dhcp: Option<ServerConfig>,
}

/// Checks everything in `config` that `serve` or a reload would refuse, apart from
/// [`host_problems`]. `origin` names where it came from (the file, or
/// `<command line>`); an error names it, the key, and the key's line when `origin`
/// is a file that holds it.
pub fn check(config: Config, origin: &Path) -> Result<Checked, ConfigError> {
    checked(config, origin).map_err(|err| with_lines(err, origin))
}

/// What in `config` does not fit this host: an interface in `net.interfaces` that
/// does not exist, interfaces without an IPv4 address to listen on, an address in
/// `net.listen` this host does not have. Serve's start refuses them (it could not
/// bind); `check` only warns, since a file is often checked on another machine
/// than the one that serves it, and so does a reload, which leaves `[net]` as it is.
pub fn host_problems(config: &Config, origin: &Path) -> Vec<ConfigError> {
    let net = &config.net;
    let mut problems = Vec::new();
    for (i, name) in net.interfaces.iter().enumerate() {
        if crate::net::interface_index(name).is_none() {
            let message = format!("no interface named {name:?} on this host");
            problems.push(invalid(origin, &format!("net.interfaces[{i}]"), message));
        }
    }
    match crate::net::ipv4_addresses() {
        Ok(host) => {
            for (i, &ip) in net.listen.iter().enumerate() {
                if ip != Ipv4Addr::UNSPECIFIED
                    && !host.iter().any(|a| a.addr == ip)
                    && !nonlocal_bind()
                {
                    let message = format!("{ip} is not an address of this host");
                    problems.push(invalid(origin, &format!("net.listen[{i}]"), message));
                }
            }
        }
        Err(err) => {
            let message = format!("cannot list this host's addresses: {err}");
            problems.push(invalid(origin, "net", message));
        }
    }
    if problems.is_empty() && net.listen.is_empty() {
        if let Err(err) = crate::net::listen_addresses(net) {
            problems.push(invalid(origin, "net.interfaces", err.to_string()));
        }
    }
    problems
        .into_iter()
        .map(|p| with_lines(p, origin))
        .collect()
}

/// Whether the kernel lets a socket bind an address the host does not have.
fn nonlocal_bind() -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_nonlocal_bind").is_ok_and(|v| v.trim() == "1")
}

fn invalid(origin: &Path, key: &str, message: String) -> ConfigError {
    ConfigError::Invalid {
        path: origin.to_path_buf(),
        line: None,
        key: key.to_owned(),
        message,
    }
}

fn checked(config: Config, origin: &Path) -> Result<Checked, ConfigError> {
    config.validate(origin)?;
    let inventory = Arc::new(config.inventory(origin)?);
    let renderer = Arc::new(config.renderer(origin)?);
    let services = [
        config.tftp.enabled,
        config.http.enabled,
        config.proxy.enabled,
        config.dhcp.enabled,
    ];
    if !services.contains(&true) {
        let message = "nothing to serve: TFTP, HTTP, proxyDHCP and the DHCP server are all \
                       disabled";
        return Err(invalid(origin, "tftp.enabled", message.into()));
    }
    // The roots, opened as the boot trees open them (a directory this user may not
    // open passes a look at its metadata).
    let roots = [
        ("tftp.root", config.tftp.enabled, config.tftp.root.as_path()),
        ("http.root", config.http.enabled, config.http_root()),
    ];
    for (key, enabled, root) in roots {
        if enabled {
            DirSource::open(root)
                .map_err(|e| invalid(origin, key, format!("{}: {e}", root.display())))?;
        }
    }
    let proxy = &config.proxy;
    if proxy.enabled && proxy.port == proxy.pxe_port && proxy.port != 0 {
        let message = format!(
            "{} is proxy.port too: DHCP and PXE boot-server requests need a port each",
            proxy.pxe_port
        );
        return Err(invalid(origin, "proxy.pxe_port", message));
    }
    let dhcp = match config.dhcp.enabled {
        true => {
            // The configured port, for HTTP boot URLs: the bound one differs only
            // for port 0, which gets no URL.
            let http_port =
                (config.http.enabled && config.http.port != 0).then_some(config.http.port);
            let server = crate::dhcp::server::server_config(&config.dhcp, &inventory, http_port)
                .map_err(|r| invalid(origin, &r.key, r.message))?;
            check_lease_db(&config.dhcp.lease_db)
                .map_err(|m| invalid(origin, "dhcp.lease_db", m))?;
            Some(server)
        }
        false => None,
    };
    Ok(Checked {
        config,
        inventory,
        renderer,
        dhcp,
    })
}

/// The lease database can be created or opened: not a directory, in a directory
/// that exists. (Whether an existing file is a good database, opening it says.)
fn check_lease_db(db: &Path) -> Result<(), String> {
    if crate::config::is_lease_db_url(db) {
        return Ok(());
    }
    if db.is_dir() {
        return Err(format!("{} is a directory", db.display()));
    }
    let dir = match db.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(format!(
            "{}: {} is not a directory",
            db.display(),
            dir.display()
        )),
        Err(err) => Err(format!(
            "{}: directory {}: {err}",
            db.display(),
            dir.display()
        )),
    }
}

/// Adds the line of each key `err` names, when `origin` is a file that holds it.
fn with_lines(err: ConfigError, origin: &Path) -> ConfigError {
    let Ok(text) = std::fs::read_to_string(origin) else {
        return err;
    };
    match err {
        ConfigError::Invalid {
            path,
            line: None,
            key,
            message,
        } => ConfigError::Invalid {
            line: keyline::line_of(&text, &keyline::steps(&key)),
            path,
            key,
            message,
        },
        ConfigError::Inventory { path, errors, .. } => ConfigError::Inventory {
            lines: errors
                .0
                .iter()
                .map(|e| keyline::line_of(&text, &inventory_key(e)))
                .collect(),
            path,
            errors,
        },
        other => other,
    }
}

/// The key an inventory error is about: `profiles.NAME.KEY` or `machines[I].KEY`.
fn inventory_key(err: &InventoryError) -> Vec<Step> {
    let mut path = match &err.entry {
        Entry::Profile(name) => vec![Step::Key("profiles".into()), Step::Key(name.clone())],
        Entry::Machine(i) => vec![Step::Key("machines".into()), Step::Index(*i)],
    };
    path.extend(keyline::steps(&err.key));
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        let path = dir.path().join("bootherd.toml");
        std::fs::write(&path, format!("[tftp]\nroot = \"root\"\n{text}")).unwrap();
        (dir, path)
    }

    fn refusal(text: &str) -> String {
        let (_dir, path) = file(text);
        let config = Config::load(&path).unwrap();
        let err = check(config, &path).unwrap_err().to_string();
        let prefix = format!("{}:", path.display());
        assert!(err.starts_with(&prefix), "{err}");
        err[prefix.len()..].to_owned()
    }

    const DHCP: &str = "[dhcp]\nenabled = true\nping_check = false\n";

    #[test]
    fn dhcp_refusals_name_key_and_line() {
        let pool =
            "[[dhcp.pool]]\nsubnet = \"10.0.0.0/24\"\nrange = [\"10.0.0.10\", \"10.0.0.20\"]\n";
        assert_eq!(
            refusal(&format!("{DHCP}own_macs = [\"not-a-mac\"]\n{pool}")),
            r#"6: dhcp.own_macs[0]: "not-a-mac" is not a MAC address (aa:bb:cc:dd:ee:ff)"#
        );
        assert_eq!(
            refusal(&format!("{DHCP}[[dhcp.pool]]\nsubnet = \"10.0.0.0/99\"\nrange = [\"10.0.0.10\", \"10.0.0.20\"]\n")),
            r#"7: dhcp.pool[0].subnet: "10.0.0.0/99" is not an IPv4 subnet (a.b.c.d/prefix, prefix 0-32)"#
        );
        let reversed = pool.replace(
            "\"10.0.0.10\", \"10.0.0.20\"",
            "\"10.0.0.20\", \"10.0.0.10\"",
        );
        let err = refusal(&format!("{DHCP}{reversed}"));
        assert!(err.starts_with("8: dhcp.pool[0].range: "), "{err}");
        let outside = pool.replace(
            "\"10.0.0.10\", \"10.0.0.20\"",
            "\"10.0.1.10\", \"10.0.1.20\"",
        );
        let err = refusal(&format!("{DHCP}{outside}"));
        assert!(err.starts_with("8: dhcp.pool[0].range: "), "{err}");
    }

    #[test]
    fn a_disabled_dhcp_section_is_not_the_servers() {
        let (_dir, path) = file("[dhcp]\nown_macs = [\"not-a-mac\"]\n");
        let checked = check(Config::load(&path).unwrap(), &path).unwrap();
        assert!(checked.dhcp.is_none());
    }

    #[test]
    fn a_good_dhcp_section_is_built_once_for_the_server() {
        let (_dir, path) = file(&format!(
            "{DHCP}own_macs = [\"52:54:00:00:00:01\"]\n[[dhcp.pool]]\nsubnet = \"10.0.0.0/24\"\n\
             range = [\"10.0.0.10\", \"10.0.0.20\"]\n"
        ));
        let checked = check(Config::load(&path).unwrap(), &path).unwrap();
        let server = checked.dhcp.expect("dhcp enabled");
        assert_eq!(server.pools[0].subnet.to_string(), "10.0.0.0/24");
    }

    #[test]
    fn inventory_errors_get_their_lines() {
        let err = refusal(
            "[profiles.pc]\nkind = \"ipxe\"\n[[machines]]\nname = \"a\"\nprofile = \"pc\"\n\
             [[machines]]\nname = \"b\"\nmac = \"zz\"\nprofile = \"pc\"\n",
        );
        assert!(err.contains(":10: machine b: mac: "), "{err}");
    }

    #[test]
    fn nothing_to_serve_and_port_clashes_are_refused() {
        let err = refusal("enabled = false\n[http]\nenabled = false\n");
        assert!(
            err.starts_with("3: tftp.enabled: nothing to serve"),
            "{err}"
        );
        let err = refusal("[proxy]\nenabled = true\nport = 6767\npxe_port = 6767\n");
        assert!(err.starts_with("6: proxy.pxe_port: "), "{err}");
    }

    #[test]
    fn lease_db_needs_its_directory() {
        let err = refusal(&format!("{DHCP}lease_db = \"no/such/dir/leases.sqlite\"\n"));
        assert!(err.starts_with("6: dhcp.lease_db: "), "{err}");
    }

    #[test]
    fn host_problems_name_the_interface() {
        let (_dir, path) = file("[net]\ninterfaces = [\"lo\", \"bh-no-such0\"]\n");
        let checked = check(Config::load(&path).unwrap(), &path).unwrap();
        let problems: Vec<String> = host_problems(&checked.config, &path)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].ends_with(
                ":4: net.interfaces[1]: no interface named \"bh-no-such0\" on this host"
            ),
            "{problems:?}"
        );
    }
}
