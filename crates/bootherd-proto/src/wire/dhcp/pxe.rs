//! PXE vendor options: the sub-options carried in DHCP option 43 when option
//! 60 says `PXEClient` (PXE specification 2.1, section 2.4; the names follow
//! iPXE `include/ipxe/dhcp.h`).
//!
//! Sub-options are encoded like DHCP options: code, length, data; 0 pads and
//! 255 ends. [`PxeVendorOptions::parse`] is tolerant like the DHCP option
//! parser: a sub-option cut short ends parsing and keeps what came before; a
//! known sub-option whose data does not have the documented shape, or a
//! second copy of one, is kept raw in [`PxeVendorOptions::other`] rather than
//! dropped. [`PxeVendorOptions::emit`] writes sub-options in ascending code
//! order and ends with 255.

use std::net::Ipv4Addr;

use super::RawOption;

/// Sub-option codes (PXE spec 2.1, table 2-1).
pub mod code {
    /// `PXE_DISCOVERY_CONTROL`: one byte of [`super::discovery`] bits.
    pub const DISCOVERY_CONTROL: u8 = 6;
    /// `PXE_DISCOVERY_MCAST_ADDR`: multicast address for boot server discovery.
    pub const DISCOVERY_MCAST_ADDR: u8 = 7;
    /// `PXE_BOOT_SERVERS`: list of (type u16, count u8, addresses).
    pub const BOOT_SERVERS: u8 = 8;
    /// `PXE_BOOT_MENU`: list of (type u16, length u8, description).
    pub const BOOT_MENU: u8 = 9;
    /// `PXE_MENU_PROMPT`: timeout u8, then the prompt text.
    pub const MENU_PROMPT: u8 = 10;
    /// `PXE_BOOT_ITEM`: type u16, layer u16.
    pub const BOOT_ITEM: u8 = 71;
    /// Padding, no length byte.
    pub const PAD: u8 = 0;
    /// End of the sub-options, no length byte.
    pub const END: u8 = 255;
}

/// Bits of `PXE_DISCOVERY_CONTROL` (PXE spec 2.1, table 2-1).
pub mod discovery {
    /// Do not broadcast to discover boot servers.
    pub const NO_BROADCAST: u8 = 1;
    /// Do not multicast to discover boot servers.
    pub const NO_MULTICAST: u8 = 2;
    /// Only use and accept servers listed in `PXE_BOOT_SERVERS`.
    pub const SERVER_LIST_ONLY: u8 = 4;
    /// A boot file is present: download it, no prompt, menu or discovery.
    /// pixiecore sends this alone to BIOS clients (PROTOCOLS.md section 4).
    pub const BOOT_FILE_DIRECT: u8 = 8;
}

/// One entry of `PXE_BOOT_SERVERS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootServer {
    /// Boot server type (0 is the PXE bootstrap server).
    pub server_type: u16,
    /// Addresses of servers of that type.
    pub addresses: Vec<Ipv4Addr>,
}

/// The PXE sub-options of option 43, decoded where their shape is known.
///
/// Empty vectors and `None` mean the sub-option is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PxeVendorOptions {
    /// `PXE_DISCOVERY_CONTROL` (6), see [`discovery`].
    pub discovery_control: Option<u8>,
    /// `PXE_BOOT_SERVERS` (8).
    pub boot_servers: Vec<BootServer>,
    /// `PXE_BOOT_MENU` (9): (server type, description) per item.
    pub boot_menu: Vec<(u16, Vec<u8>)>,
    /// `PXE_MENU_PROMPT` (10): (timeout in seconds, prompt text).
    pub menu_prompt: Option<(u8, Vec<u8>)>,
    /// `PXE_BOOT_ITEM` (71): (server type, layer).
    pub boot_item: Option<(u16, u16)>,
    /// Every other sub-option in wire order, and known ones that were
    /// malformed or repeated, kept raw.
    pub other: Vec<RawOption>,
}

impl PxeVendorOptions {
    /// Decodes option 43 data; never fails and never panics.
    pub fn parse(data: &[u8]) -> PxeVendorOptions {
        let mut out = PxeVendorOptions::default();
        let mut at = 0;
        while let Some(&sub) = data.get(at) {
            match sub {
                code::PAD => {
                    at += 1;
                    continue;
                }
                code::END => break,
                _ => {}
            }
            let Some(&len) = data.get(at + 1) else { break };
            let Some(body) = data.get(at + 2..at + 2 + usize::from(len)) else {
                break;
            };
            at += 2 + usize::from(len);
            if !out.take_known(sub, body) {
                out.other.push(RawOption::new(sub, body));
            }
        }
        out
    }

    /// Whether no sub-option is present.
    pub fn is_empty(&self) -> bool {
        *self == PxeVendorOptions::default()
    }

    /// Option 43 data: every sub-option in ascending code order (a decoded
    /// one before raw ones of the same code), then 255.
    ///
    /// A sub-option holds at most 255 bytes: menu items and boot servers that
    /// would not fit are left out, prompt and raw data are cut.
    pub fn emit(&self) -> Vec<u8> {
        let mut subs: Vec<(u8, Vec<u8>)> = Vec::new();
        if let Some(control) = self.discovery_control {
            subs.push((code::DISCOVERY_CONTROL, vec![control]));
        }
        if !self.boot_servers.is_empty() {
            subs.push((code::BOOT_SERVERS, encode_boot_servers(&self.boot_servers)));
        }
        if !self.boot_menu.is_empty() {
            subs.push((code::BOOT_MENU, encode_boot_menu(&self.boot_menu)));
        }
        if let Some((timeout, prompt)) = &self.menu_prompt {
            let mut body = vec![*timeout];
            body.extend_from_slice(&prompt[..prompt.len().min(254)]);
            subs.push((code::MENU_PROMPT, body));
        }
        if let Some((server_type, layer)) = self.boot_item {
            let mut body = server_type.to_be_bytes().to_vec();
            body.extend_from_slice(&layer.to_be_bytes());
            subs.push((code::BOOT_ITEM, body));
        }
        for raw in &self.other {
            if raw.code != code::PAD && raw.code != code::END {
                subs.push((raw.code, raw.data[..raw.data.len().min(255)].to_vec()));
            }
        }
        // Stable: decoded sub-options were pushed before raw ones.
        subs.sort_by_key(|(sub, _)| *sub);

        let mut out = Vec::new();
        for (sub, body) in subs {
            out.push(sub);
            out.push(body.len() as u8);
            out.extend_from_slice(&body);
        }
        out.push(code::END);
        out
    }

    /// Stores a known sub-option when its shape is right and it is the first
    /// of its code; returns false to keep it raw instead.
    fn take_known(&mut self, sub: u8, body: &[u8]) -> bool {
        match sub {
            code::DISCOVERY_CONTROL if self.discovery_control.is_none() => match body {
                [control] => {
                    self.discovery_control = Some(*control);
                    true
                }
                _ => false,
            },
            code::BOOT_SERVERS if self.boot_servers.is_empty() => match decode_boot_servers(body) {
                Some(servers) => {
                    self.boot_servers = servers;
                    true
                }
                None => false,
            },
            code::BOOT_MENU if self.boot_menu.is_empty() => match decode_boot_menu(body) {
                Some(menu) => {
                    self.boot_menu = menu;
                    true
                }
                None => false,
            },
            code::MENU_PROMPT if self.menu_prompt.is_none() => match body {
                [timeout, prompt @ ..] => {
                    self.menu_prompt = Some((*timeout, prompt.to_vec()));
                    true
                }
                [] => false,
            },
            code::BOOT_ITEM if self.boot_item.is_none() => match body {
                [t0, t1, l0, l1] => {
                    self.boot_item = Some((
                        u16::from_be_bytes([*t0, *t1]),
                        u16::from_be_bytes([*l0, *l1]),
                    ));
                    true
                }
                _ => false,
            },
            _ => false,
        }
    }
}

/// Decodes `PXE_BOOT_SERVERS`; `None` unless the body is a non-empty list of
/// whole entries.
fn decode_boot_servers(mut body: &[u8]) -> Option<Vec<BootServer>> {
    let mut servers = Vec::new();
    while !body.is_empty() {
        let [t0, t1, count, rest @ ..] = body else {
            return None;
        };
        let len = 4 * usize::from(*count);
        let addresses = rest.get(..len)?;
        servers.push(BootServer {
            server_type: u16::from_be_bytes([*t0, *t1]),
            addresses: addresses
                .chunks_exact(4)
                .map(|a| Ipv4Addr::new(a[0], a[1], a[2], a[3]))
                .collect(),
        });
        body = &rest[len..];
    }
    (!servers.is_empty()).then_some(servers)
}

/// Decodes `PXE_BOOT_MENU`; `None` unless the body is a non-empty list of
/// whole items.
fn decode_boot_menu(mut body: &[u8]) -> Option<Vec<(u16, Vec<u8>)>> {
    let mut menu = Vec::new();
    while !body.is_empty() {
        let [t0, t1, len, rest @ ..] = body else {
            return None;
        };
        let text = rest.get(..usize::from(*len))?;
        menu.push((u16::from_be_bytes([*t0, *t1]), text.to_vec()));
        body = &rest[usize::from(*len)..];
    }
    (!menu.is_empty()).then_some(menu)
}

/// Encodes whole boot server entries while they fit in 255 bytes.
fn encode_boot_servers(servers: &[BootServer]) -> Vec<u8> {
    let mut body = Vec::new();
    for server in servers {
        let addresses = &server.addresses[..server.addresses.len().min(63)];
        let mut entry = server.server_type.to_be_bytes().to_vec();
        entry.push(addresses.len() as u8);
        for address in addresses {
            entry.extend_from_slice(&address.octets());
        }
        if body.len() + entry.len() > 255 {
            break;
        }
        body.extend_from_slice(&entry);
    }
    body
}

/// Encodes whole menu items while they fit in 255 bytes.
fn encode_boot_menu(menu: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (server_type, text) in menu {
        let text = &text[..text.len().min(252)];
        if body.len() + 3 + text.len() > 255 {
            break;
        }
        body.extend_from_slice(&server_type.to_be_bytes());
        body.push(text.len() as u8);
        body.extend_from_slice(text);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testrng::XorShift;

    /// What dnsmasq sends for `pxe-service=0,"Raspberry Pi Boot"`
    /// (PROTOCOLS.md section 1, DNSMASQ `pxe_opts`), in dnsmasq's order:
    /// 6, 10, 9, end.
    const DNSMASQ_RPI: &[u8] =
        b"\x06\x01\x03\x0a\x04\x00PXE\x09\x14\x00\x00\x11Raspberry Pi Boot\xff";

    #[test]
    fn parses_dnsmasq_raspberry_pi_options() {
        assert_eq!(
            PxeVendorOptions::parse(DNSMASQ_RPI),
            PxeVendorOptions {
                discovery_control: Some(3),
                boot_menu: vec![(0, b"Raspberry Pi Boot".to_vec())],
                menu_prompt: Some((0, b"PXE".to_vec())),
                ..PxeVendorOptions::default()
            }
        );
    }

    #[test]
    fn emits_in_ascending_code_order() {
        let options = PxeVendorOptions::parse(DNSMASQ_RPI);
        // Same sub-options as dnsmasq's, but 9 before 10.
        assert_eq!(
            options.emit(),
            b"\x06\x01\x03\x09\x14\x00\x00\x11Raspberry Pi Boot\x0a\x04\x00PXE\xff"
        );
    }

    /// pixiecore's BIOS answer: discovery control 8 only (PROTOCOLS.md 4).
    #[test]
    fn direct_download_control() {
        let options = PxeVendorOptions {
            discovery_control: Some(discovery::BOOT_FILE_DIRECT),
            ..PxeVendorOptions::default()
        };
        assert_eq!(options.emit(), [6, 1, 8, 255]);
        assert_eq!(PxeVendorOptions::parse(&[6, 1, 8, 255]), options);
    }

    /// iPXE's ProxyDHCPREQUEST to port 4011 carries option 43 `71.4.128.0.0.0.255`
    /// (ipxe/ipxe#1374, tcpdump decode).
    #[test]
    fn boot_item_from_ipxe_proxy_request() {
        let options = PxeVendorOptions::parse(&[71, 4, 128, 0, 0, 0, 255]);
        assert_eq!(options.boot_item, Some((0x8000, 0)));
        assert_eq!(options.emit(), [71, 4, 128, 0, 0, 0, 255]);
    }

    /// dnsmasq's proxy offer to iPXE in ipxe/ipxe#1374 (hex dump): boot
    /// servers and a menu item of type 0x8000.
    #[test]
    fn boot_servers_and_menu_from_dnsmasq_offer() {
        let mut data = b"\x06\x01\x03\x0a\x04\x00PXE\x08\x07\x80\x00\x01\xc0\xa8\x01\x99".to_vec();
        data.extend_from_slice(b"\x09\x16\x80\x00\x13'Start ipxe (bios)'\xff");
        let options = PxeVendorOptions::parse(&data);
        assert_eq!(
            options,
            PxeVendorOptions {
                discovery_control: Some(3),
                boot_servers: vec![BootServer {
                    server_type: 0x8000,
                    addresses: vec![Ipv4Addr::new(192, 168, 1, 153)],
                }],
                boot_menu: vec![(0x8000, b"'Start ipxe (bios)'".to_vec())],
                menu_prompt: Some((0, b"PXE".to_vec())),
                ..PxeVendorOptions::default()
            }
        );
    }

    #[test]
    fn malformed_and_repeated_known_options_stay_raw() {
        let data = [
            6, 2, 1, 2, // discovery control with 2 bytes
            6, 1, 8, // the first well-formed copy
            6, 1, 3, // a repeat
            9, 4, 0, 0, 5, b'x', // menu item longer than its sub-option
            71, 3, 0, 0, 0, // boot item of 3 bytes
            200, 0, // unknown and empty
            255,
        ];
        let options = PxeVendorOptions::parse(&data);
        assert_eq!(options.discovery_control, Some(8));
        assert!(options.boot_menu.is_empty());
        assert_eq!(options.boot_item, None);
        assert_eq!(
            options.other,
            vec![
                RawOption::new(6, [1, 2]),
                RawOption::new(6, [3]),
                RawOption::new(9, [0, 0, 5, b'x']),
                RawOption::new(71, [0, 0, 0]),
                RawOption::new(200, []),
            ]
        );
        assert_eq!(PxeVendorOptions::parse(&options.emit()), options);
    }

    #[test]
    fn cut_sub_option_ends_parsing() {
        let options = PxeVendorOptions::parse(&[0, 6, 1, 8, 10, 9, 0, b'a']);
        assert_eq!(options.discovery_control, Some(8));
        assert_eq!(options.menu_prompt, None);
        assert!(options.other.is_empty());
        assert!(PxeVendorOptions::parse(&[]).is_empty());
        assert!(PxeVendorOptions::parse(&[6]).is_empty());
    }

    #[test]
    fn oversized_fields_are_bounded() {
        let options = PxeVendorOptions {
            boot_menu: (0..100).map(|i| (i, b"item".to_vec())).collect(),
            menu_prompt: Some((5, vec![b'p'; 400])),
            other: vec![RawOption::new(200, vec![1; 300])],
            ..PxeVendorOptions::default()
        };
        let data = options.emit();
        let parsed = PxeVendorOptions::parse(&data);
        assert_eq!(parsed.boot_menu.len(), 255 / 7);
        assert_eq!(parsed.menu_prompt.map(|(_, p)| p.len()), Some(254));
        assert_eq!(parsed.other[0].data.len(), 255);
    }

    /// The generator's byte helpers for these tests.
    trait AnyBytes {
        fn bytes(&mut self, max_len: u64) -> Vec<u8>;
    }

    impl AnyBytes for XorShift {
        fn bytes(&mut self, max_len: u64) -> Vec<u8> {
            (0..self.below(max_len + 1))
                .map(|_| self.next() as u8)
                .collect()
        }
    }

    fn random_options(rng: &mut XorShift) -> PxeVendorOptions {
        let mut options = PxeVendorOptions::default();
        if rng.below(2) == 0 {
            options.discovery_control = Some(rng.next() as u8);
        }
        for _ in 0..rng.below(3) {
            options.boot_servers.push(BootServer {
                server_type: rng.next() as u16,
                addresses: (0..rng.below(4))
                    .map(|_| Ipv4Addr::from(rng.next() as u32))
                    .collect(),
            });
        }
        for _ in 0..rng.below(4) {
            options.boot_menu.push((rng.next() as u16, rng.bytes(20)));
        }
        if rng.below(2) == 0 {
            options.menu_prompt = Some((rng.next() as u8, rng.bytes(30)));
        }
        if rng.below(2) == 0 {
            options.boot_item = Some((rng.next() as u16, rng.next() as u16));
        }
        let mut other: Vec<RawOption> = (0..rng.below(4))
            .map(|_| {
                let sub = [1, 2, 3, 4, 5, 7, 11, 12, 100, 254][rng.below(10) as usize];
                RawOption::new(sub, rng.bytes(20))
            })
            .collect();
        other.sort_by_key(|o| o.code);
        options.other = other;
        options
    }

    /// Parsing never panics; canonical options survive emit and parse; the
    /// emitted form of any parse result is a fixed point.
    #[test]
    fn parse_never_panics_and_round_trips() {
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        for _ in 0..20_000 {
            let options = random_options(&mut rng);
            let bytes = options.emit();
            assert_eq!(PxeVendorOptions::parse(&bytes), options, "{bytes:?}");
            for end in 0..bytes.len() {
                check_reparse(&bytes[..end]);
            }
            let mut mutated = bytes.clone();
            let at = rng.below(mutated.len() as u64) as usize;
            mutated[at] = rng.next() as u8;
            check_reparse(&mutated);
            check_reparse(&rng.bytes(60));
        }
    }

    /// `other` keeps wire order while emit sorts by code, so compare the
    /// canonical emitted bytes.
    fn check_reparse(bytes: &[u8]) {
        let emitted = PxeVendorOptions::parse(bytes).emit();
        assert_eq!(
            PxeVendorOptions::parse(&emitted).emit(),
            emitted,
            "{bytes:?}"
        );
    }
}
