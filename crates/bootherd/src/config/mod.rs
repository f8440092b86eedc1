//! The configuration file: serde types that refuse unknown keys, then value checks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bootherd_proto::tftp::transfer::{MAX_BLKSIZE, MIN_BLKSIZE};
use serde::Deserialize;

use crate::inventory::{Inventory, InventoryErrors, MachineConfig, ProfileConfig};
use crate::render::Renderer;

/// The whole configuration file. Every section is optional; unknown keys are errors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// How the daemon runs: the user it drops to, how it stops.
    pub service: ServiceConfig,
    /// Which interfaces and addresses the services listen on.
    pub net: NetConfig,
    /// The TFTP service.
    pub tftp: TftpConfig,
    /// The HTTP service.
    pub http: HttpConfig,
    /// proxyDHCP: boot answers for PXE firmware and Raspberry Pis, never addresses.
    pub proxy: ProxyConfig,
    /// The DHCP server for machines bootherd owns (U-Boot boards).
    pub dhcp: DhcpConfig,
    /// The admin listener: `/metrics` and the JSON API.
    pub admin: AdminConfig,
    /// Directory of templates replacing the built-in ones (`cmdline.txt.j2`, ...).
    pub templates: Option<PathBuf>,
    /// What to boot, by name.
    pub profiles: BTreeMap<String, ProfileConfig>,
    /// The fleet: one entry per machine.
    pub machines: Vec<MachineConfig>,
}

mod admin;
mod dhcp;
mod http;
mod net;
mod proxy;
mod service;
mod tftp;

pub use admin::*;
pub use dhcp::*;
pub use http::*;
pub use net::*;
pub use proxy::*;
pub use service::*;
pub use tftp::*;

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key or a value of the wrong type.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's message, which names the line and column.
        message: String,
    },
    /// Machines and profiles that do not fit together (every problem, one per line).
    #[error("{}", inventory_lines(path, errors, lines))]
    Inventory {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        errors: InventoryErrors,
        /// The line of each error in the file, when known (empty: none known).
        lines: Vec<Option<usize>>,
    },
    /// A template in the override directory that does not load.
    #[error("{path}: templates: {message}")]
    Templates {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A value that parses but cannot work.
    #[error("{}: {key}: {message}", at_line(path, *line))]
    Invalid {
        /// The file, or `<command line>`.
        path: PathBuf,
        /// The key's line in the file, when known.
        line: Option<usize>,
        /// The key, such as `tftp.max_blksize` or `dhcp.pool[0].subnet`.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// `path:line`, or `path` when the line is not known.
fn at_line(path: &Path, line: Option<usize>) -> String {
    match line {
        Some(line) => format!("{}:{line}", path.display()),
        None => path.display().to_string(),
    }
}

fn inventory_lines(path: &Path, errors: &InventoryErrors, lines: &[Option<usize>]) -> String {
    let mut out = format!("{}: inventory:", path.display());
    for (i, err) in errors.0.iter().enumerate() {
        let line = lines.get(i).copied().flatten();
        out.push_str(&format!("\n{}: {err}", at_line(path, line)));
    }
    out
}

impl Config {
    /// The configuration used when no file is given.
    pub fn defaults() -> Self {
        Config::default()
    }

    /// Reads and checks a file. Relative paths in it are taken relative to the file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.tftp.root = base.join(&config.tftp.root);
        if let Some(root) = &mut config.http.root {
            *root = base.join(&*root);
        }
        if !is_lease_db_url(&config.dhcp.lease_db) {
            config.dhcp.lease_db = base.join(&config.dhcp.lease_db);
        }
        if let Some(file) = &mut config.admin.token_file {
            *file = base.join(&*file);
        }
        if let Some(dir) = &mut config.templates {
            *dir = base.join(&*dir);
        }
        for profile in config.profiles.values_mut() {
            if let Some(dir) = &mut profile.dir {
                *dir = base.join(&*dir);
            }
        }
        for machine in &mut config.machines {
            if let Some(dir) = &mut machine.dir {
                *dir = base.join(&*dir);
            }
        }
        Ok(config)
    }

    /// Parses TOML text; the error is toml's message with line and column.
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim().to_owned())
    }

    /// Checks values that parse but cannot work, including that the roots exist.
    /// `origin` names where the values came from, for the message.
    pub fn validate(&self, origin: &Path) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: origin.to_path_buf(),
            line: None,
            key: key.to_owned(),
            message,
        };
        let t = &self.tftp;
        if !(MIN_BLKSIZE..=MAX_BLKSIZE).contains(&t.max_blksize) {
            return Err(invalid(
                "tftp.max_blksize",
                format!(
                    "{} is outside {MIN_BLKSIZE}..={MAX_BLKSIZE} (RFC 2348)",
                    t.max_blksize
                ),
            ));
        }
        if t.max_windowsize == 0 {
            return Err(invalid("tftp.max_windowsize", "must be at least 1".into()));
        }
        if t.max_transfers == 0 {
            return Err(invalid("tftp.max_transfers", "must be at least 1".into()));
        }
        if !(10..=255_000).contains(&t.timeout_ms) {
            return Err(invalid(
                "tftp.timeout_ms",
                format!("{} is outside 10..=255000", t.timeout_ms),
            ));
        }
        if t.retries == 0 || t.retries > 100 {
            return Err(invalid(
                "tftp.retries",
                format!("{} is outside 1..=100", t.retries),
            ));
        }
        if t.max_transfers_per_client == 0 {
            return Err(invalid(
                "tftp.max_transfers_per_client",
                "must be at least 1".into(),
            ));
        }
        if t.max_client_timeout_secs == 0 {
            return Err(invalid(
                "tftp.max_client_timeout_secs",
                "must be at least 1 (RFC 2349 timeouts are 1..=255 s)".into(),
            ));
        }
        crate::rewrite::Rewrites::new(&t.rewrites)
            .map_err(|(key, message)| invalid(&key, message))?;
        if !(1_000..=3_600_000).contains(&t.stall_timeout_ms) {
            return Err(invalid(
                "tftp.stall_timeout_ms",
                format!("{} is outside 1000..=3600000", t.stall_timeout_ms),
            ));
        }
        if t.busy_poll_us > 1_000 {
            return Err(invalid(
                "tftp.busy_poll_us",
                format!("{} is more than 1000 (1 ms)", t.busy_poll_us),
            ));
        }
        if self.service.shutdown_grace_ms > 600_000 {
            return Err(invalid(
                "service.shutdown_grace_ms",
                format!(
                    "{} ms is more than 600000 (10 minutes)",
                    self.service.shutdown_grace_ms
                ),
            ));
        }
        crate::privilege::Target::resolve(&self.service)
            .map_err(|(key, message)| invalid(key, message))?;
        if self.proxy.rpi_reply_delay_ms > 10_000 {
            return Err(invalid(
                "proxy.rpi_reply_delay_ms",
                format!(
                    "{} ms is longer than the 10 s a Pi waits",
                    self.proxy.rpi_reply_delay_ms
                ),
            ));
        }
        let admin = &self.admin;
        if admin.token.is_some() && admin.token_file.is_some() {
            return Err(invalid(
                "admin.token_file",
                "set admin.token or admin.token_file, not both".into(),
            ));
        }
        if admin.token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(invalid("admin.token", "must not be empty".into()));
        }
        if admin.enabled
            && !admin.address().ip().is_loopback()
            && admin.token.is_none()
            && admin.token_file.is_none()
        {
            return Err(invalid(
                "admin.listen",
                format!(
                    "{} is not a loopback address: set admin.token or admin.token_file",
                    admin.address()
                ),
            ));
        }
        self.http
            .check_limits()
            .map_err(|(key, message)| invalid(key, message))?;
        self.inventory(origin)?;
        self.renderer(origin)?;
        if t.enabled {
            check_dir("tftp.root", &t.root).map_err(|m| invalid("tftp.root", m))?;
        }
        if self.http.enabled {
            check_dir("http.root", self.http_root()).map_err(|m| invalid("http.root", m))?;
        }
        Ok(())
    }

    /// Builds the checked inventory of machines and profiles.
    pub fn inventory(&self, origin: &Path) -> Result<Inventory, ConfigError> {
        Inventory::from_parts(&self.profiles, &self.machines).map_err(|errors| {
            ConfigError::Inventory {
                path: origin.to_path_buf(),
                errors,
                lines: Vec::new(),
            }
        })
    }

    /// Loads the templates, built in or overridden.
    pub fn renderer(&self, origin: &Path) -> Result<Renderer, ConfigError> {
        Renderer::new(self.templates.as_deref()).map_err(|e| ConfigError::Templates {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// The directory HTTP serves: its own root, else the TFTP root.
    pub fn http_root(&self) -> &Path {
        self.http.root.as_deref().unwrap_or(&self.tftp.root)
    }
}

fn check_dir(key: &str, dir: &Path) -> Result<(), String> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(format!("{} is not a directory", dir.display())),
        Err(err) => Err(format!("{key} {}: {err}", dir.display())),
    }
}

#[cfg(test)]
mod tests;
