//! A MAC address: one type for the proto and the shell, in the spellings boot
//! firmware and its files use (`dc:a6:32:01:36:c2`, `dc-a6-32-01-36-c2`,
//! `dca6320136c2`).

use std::fmt;

/// A MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// Parses `aa:bb:cc:dd:ee:ff`, `aa-bb-cc-dd-ee-ff` or `aabbccddeeff`, any case.
    pub fn parse(text: &str) -> Option<Mac> {
        let text = text.trim();
        let digits: String = if text.len() == 12 {
            text.to_owned()
        } else {
            // One separator throughout: `aa:bb-cc...` is a typo, not a MAC.
            let sep = if text.contains(':') { ':' } else { '-' };
            let parts: Vec<&str> = text.split(sep).collect();
            if parts.len() != 6 || parts.iter().any(|p| p.len() != 2) {
                return None;
            }
            parts.concat()
        };
        if digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut mac = [0u8; 6];
        for (i, byte) in mac.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Mac(mac))
    }

    /// The six bytes.
    pub fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// `dc-a6-32-01-36-c2`: the Pi's `TFTP_PREFIX=2` folder, pxelinux and `/m/<mac>/`.
    pub fn dashes(&self) -> String {
        self.join("-")
    }

    /// `dca6320136c2`: the pxelinux machine folder.
    pub fn hex(&self) -> String {
        self.join("")
    }

    fn join(&self, sep: &str) -> String {
        self.0
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(sep)
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.join(":"))
    }
}
