//! Part 4: the first thing that stops the firmware, in words a person can act on.

use std::fmt;
use std::net::Ipv4Addr;

use super::*;

/// The first thing that stops the firmware, in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Nobody answered the DISCOVERs.
    NoReply {
        /// The firmware.
        kind: Emulated,
    },
    /// Replies came, none with `Raspberry Pi Boot` in option 43.
    NoRpiBoot {
        /// Who replied.
        servers: Vec<Ipv4Addr>,
    },
    /// Boot information came, but nobody offered an address.
    NoAddress {
        /// The firmware.
        kind: Emulated,
        /// Who replied.
        servers: Vec<Ipv4Addr>,
    },
    /// PXE: no reply named a boot file or pointed to a PXE server.
    NoBootFile {
        /// Who replied.
        servers: Vec<Ipv4Addr>,
    },
    /// U-Boot: only offers without an address came.
    UBootProxyOnly {
        /// Who sent them.
        servers: Vec<Ipv4Addr>,
    },
    /// U-Boot: the DHCP server gave no `siaddr`.
    NoNextServer {
        /// The DHCP server.
        server: Ipv4Addr,
    },
    /// The DHCP server did not ACK the REQUEST.
    NoAck {
        /// The DHCP server asked.
        server: Ipv4Addr,
        /// It answered with a NAK.
        nak: bool,
    },
    /// No ACK from the proxy on port 4011, or one without a boot file.
    NoPxeAck {
        /// The proxy asked.
        server: Ipv4Addr,
    },
    /// A file the firmware cannot do without was not found.
    Missing {
        /// TFTP server.
        server: Ipv4Addr,
        /// File name, without the directory.
        file: String,
        /// The directory it was looked for in (`e1ffda08/`), empty for the
        /// root.
        dir: String,
        /// Also looked for at the root after the serial directory failed.
        fell_back: Option<String>,
        /// What would have named another file (`config.txt` has no
        /// `kernel=`, ...).
        hint: Option<String>,
    },
    /// U-Boot's `pxe get` found no configuration file.
    NoPxeConfig {
        /// TFTP server.
        server: Ipv4Addr,
        /// Every name tried, in order.
        tried: Vec<String>,
    },
    /// A transfer failed in a way other than "not found".
    Transfer {
        /// TFTP server.
        server: Ipv4Addr,
        /// Path asked for.
        path: String,
        /// What went wrong.
        error: String,
    },
}

pub(super) fn list(servers: &[Ipv4Addr]) -> String {
    servers
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NoReply { kind } => write!(
                f,
                "no DHCP server answered the {kind}'s DISCOVER: check that this interface is on the \
                 boot network and that a DHCP server (and bootherd --proxy) serves it"
            ),
            Problem::NoRpiBoot { servers } => write!(
                f,
                "offer had no \"Raspberry Pi Boot\" in option 43 (offers from {}): run bootherd \
                 serve --proxy on this network, or make the DHCP server send that PXE menu text",
                list(servers)
            ),
            Problem::NoAddress { kind, servers } => {
                let what = match kind {
                    Emulated::Rpi3 => "the Pi 3 ROM",
                    Emulated::Rpi4 | Emulated::Rpi5 => "the Pi",
                    _ => "the PXE client",
                };
                write!(
                    f,
                    "no DHCP server offered an address (only proxy offers with yiaddr 0 arrived, \
                     from {}): {what} needs the LAN's DHCP server to offer it one",
                    list(servers)
                )
            }
            Problem::NoBootFile { servers } => write!(
                f,
                "no offer named a boot file or came from a PXE server (offers from {}): run \
                 bootherd serve --proxy on this network, or set next-server and filename on the \
                 DHCP server",
                list(servers)
            ),
            Problem::UBootProxyOnly { servers } => write!(
                f,
                "U-Boot drops offers without an address: only proxy offers (yiaddr 0) arrived \
                 (from {}); use the DHCP-server mode or a U-Boot with a fixed serverip",
                list(servers)
            ),
            Problem::NoNextServer { server } => write!(
                f,
                "the DHCP server {server} gave no next-server (siaddr 0), so U-Boot has no TFTP \
                 server: set next-server on it"
            ),
            Problem::NoAck { server, nak } => {
                let how = if *nak { "refused (NAK)" } else { "did not answer" };
                write!(f, "the DHCP server {server} {how} the REQUEST for the address it offered")
            }
            Problem::NoPxeAck { server } => write!(
                f,
                "the PXE server {server} did not answer the boot-file REQUEST on port 4011 with a \
                 boot file"
            ),
            Problem::Missing {
                server,
                file,
                dir,
                fell_back,
                hint,
            } => {
                match (dir.is_empty(), fell_back) {
                    (true, Some(serial)) => write!(
                        f,
                        "{file} not found under {serial} nor at the TFTP root of {server}"
                    )?,
                    (true, None) => write!(f, "{file} not found at the TFTP root of {server}")?,
                    (false, _) => write!(
                        f,
                        "{file} not found under {dir} on {server} (the firmware found its start \
                         file there, so it looks for every file in that directory)"
                    )?,
                }
                if let Some(hint) = hint {
                    write!(f, "; {hint}")?;
                }
                Ok(())
            }
            Problem::NoPxeConfig { server, tried } => write!(
                f,
                "pxe get found no configuration file on {server} (tried {}): add \
                 pxelinux.cfg/default",
                tried.join(", ")
            ),
            Problem::Transfer {
                server,
                path,
                error,
            } => write!(f, "TFTP transfer of {path} from {server} failed: {error}"),
        }
    }
}
