//! The configuration file: raw serde types that refuse unknown keys, checked into [`Config`].

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A configuration that was read and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Which interfaces and addresses the services listen on.
    pub net: NetConfig,
    /// The TFTP service.
    pub tftp: TftpConfig,
    /// The HTTP service.
    pub http: HttpConfig,
}

/// Where to listen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetConfig {
    /// Interface names to serve on; empty means every interface with an IPv4 address.
    #[serde(default)]
    pub interfaces: Vec<String>,
    /// Addresses to serve on; empty means every address of the chosen interfaces.
    #[serde(default)]
    pub listen: Vec<Ipv4Addr>,
}

/// TFTP service settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TftpConfig {
    /// Serve TFTP at all.
    pub enabled: bool,
    /// The directory served.
    pub root: PathBuf,
    /// UDP port (69).
    pub port: u16,
    /// Transfers in flight at once; requests past it get a TFTP error.
    pub max_transfers: usize,
    /// Largest block size granted (RFC 2348); also clamped to the interface MTU.
    pub max_blksize: u16,
    /// Largest window granted (RFC 7440).
    pub max_windowsize: u16,
    /// Retransmission base when the client does not ask for a timeout, in milliseconds.
    pub timeout_ms: u64,
    /// Consecutive retransmissions before a transfer is dropped.
    pub retries: u32,
}

impl Default for TftpConfig {
    fn default() -> Self {
        TftpConfig {
            enabled: true,
            root: PathBuf::from("./tftp-root"),
            port: 69,
            max_transfers: 256,
            max_blksize: 65464,
            max_windowsize: 64,
            timeout_ms: 1000,
            retries: 5,
        }
    }
}

/// HTTP service settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Serve HTTP at all.
    pub enabled: bool,
    /// TCP port (80).
    pub port: u16,
    /// The directory served; defaults to the TFTP root.
    pub root: Option<PathBuf>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: true,
            port: 80,
            root: None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    net: NetConfig,
    #[serde(default)]
    tftp: TftpConfig,
    #[serde(default)]
    http: HttpConfig,
}

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
    /// A value that parses but cannot work.
    #[error("{path}: {key}: {message}")]
    Invalid {
        /// The file, or `<command line>`.
        path: PathBuf,
        /// The key, such as `tftp.max_blksize`.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// The configuration used when no file is given.
    pub fn defaults() -> Self {
        let raw = RawConfig::default();
        Config {
            net: raw.net,
            tftp: raw.tftp,
            http: raw.http,
        }
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
        Ok(config)
    }

    /// Parses TOML text; the error is toml's message with line and column.
    pub fn parse(text: &str) -> Result<Config, String> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| e.to_string().trim().to_owned())?;
        Ok(Config {
            net: raw.net,
            tftp: raw.tftp,
            http: raw.http,
        })
    }

    /// Checks values that parse but cannot work, including that the roots exist.
    /// `origin` names where the values came from, for the message.
    pub fn validate(&self, origin: &Path) -> Result<(), ConfigError> {
        let invalid = |key, message: String| ConfigError::Invalid {
            path: origin.to_path_buf(),
            key,
            message,
        };
        let t = &self.tftp;
        if !(8..=65464).contains(&t.max_blksize) {
            return Err(invalid(
                "tftp.max_blksize",
                format!("{} is outside 8..=65464 (RFC 2348)", t.max_blksize),
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
        if t.enabled {
            check_dir("tftp.root", &t.root).map_err(|m| invalid("tftp.root", m))?;
        }
        if self.http.enabled {
            check_dir("http.root", self.http_root()).map_err(|m| invalid("http.root", m))?;
        }
        Ok(())
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
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(Config::parse("").unwrap(), Config::defaults());
    }

    #[test]
    fn full_file_parses() {
        let c = Config::parse(
            r#"
[net]
interfaces = ["eth0"]
listen = ["10.0.0.1"]
[tftp]
root = "/srv/tftp"
port = 6969
max_transfers = 64
max_blksize = 1468
max_windowsize = 16
timeout_ms = 500
retries = 3
[http]
port = 8080
root = "/srv/http"
"#,
        )
        .unwrap();
        assert_eq!(c.net.interfaces, ["eth0"]);
        assert_eq!(c.net.listen, [Ipv4Addr::new(10, 0, 0, 1)]);
        assert_eq!(c.tftp.port, 6969);
        assert_eq!(c.tftp.max_blksize, 1468);
        assert_eq!(c.http.root.as_deref(), Some(Path::new("/srv/http")));
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let err = Config::parse("[tftp]\nport = 69\nrot = \"/x\"\n").unwrap_err();
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("rot"), "{err}");
    }

    #[test]
    fn wrong_type_is_an_error() {
        let err = Config::parse("[tftp]\nport = \"sixty-nine\"\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn validate_catches_bad_values() {
        let mut c = Config::defaults();
        c.tftp.root = std::env::temp_dir();
        c.tftp.max_blksize = 4;
        let err = c.validate(Path::new("x.toml")).unwrap_err().to_string();
        assert!(err.contains("tftp.max_blksize"), "{err}");
        c.tftp.max_blksize = 1468;
        c.tftp.root = PathBuf::from("/nonexistent/bootherd");
        let err = c.validate(Path::new("x.toml")).unwrap_err().to_string();
        assert!(err.contains("tftp.root"), "{err}");
    }
}
