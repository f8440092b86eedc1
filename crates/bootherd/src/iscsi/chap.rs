//! CHAP credentials from a small TOML file (`username = "…"`, `password = "…"`).
//! The password never appears in an error or a `Debug` print.

use std::fmt;
use std::path::Path;

use serde::Deserialize;

/// A CHAP user name and secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Chap {
    /// The user name the initiator sends.
    pub username: String,
    /// The secret.
    pub password: String,
}

impl fmt::Debug for Chap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chap")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChapFile {
    username: String,
    password: String,
}

/// Characters both tgt's configuration and a `targetcli` command line take as they are.
fn plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.:@+=/,%".contains(c)
}

impl Chap {
    /// Reads and checks `path`. Errors name the file and what is wrong, never a value
    /// from it (toml's own messages quote the line, so only its line number is kept).
    pub fn read(path: &Path) -> Result<Chap, String> {
        let text =
            std::fs::read_to_string(path).map_err(|err| format!("{}: {err}", path.display()))?;
        let file: ChapFile = toml::from_str(&text).map_err(|err| {
            let line = err
                .span()
                .map(|span| text[..span.start].matches('\n').count() + 1);
            format!(
                "{}{}: not a CHAP file: it needs exactly `username = \"…\"` and \
                 `password = \"…\"`",
                path.display(),
                line.map(|l| format!(":{l}")).unwrap_or_default()
            )
        })?;
        for (key, value) in [("username", &file.username), ("password", &file.password)] {
            if value.is_empty() {
                return Err(format!("{}: {key} is empty", path.display()));
            }
            if !value.chars().all(plain) {
                return Err(format!(
                    "{}: {key} has a character other than letters, digits and \
                     `-_.:@+=/,%` (tgt and targetcli take no quoting)",
                    path.display()
                ));
            }
        }
        // RFC 3720 §8.2.1: without IPsec a CHAP secret MUST be at least 96 bits.
        if file.password.len() < 12 {
            return Err(format!(
                "{}: password must be at least 12 characters long (RFC 3720 §8.2.1), it is {}",
                path.display(),
                file.password.len()
            ));
        }
        Ok(Chap {
            username: file.username,
            password: file.password,
        })
    }
}
