//! The DHCP server's replies, built by pure functions: OFFER, ACK (for a
//! REQUEST or an INFORM) and NAK, and where each one goes.
//!
//! Header fields follow RFC 2131 section 4.3.1, table 3: `xid`, `flags`,
//! `giaddr`, `chaddr`, `htype`, `hlen` come from the request; `ciaddr` is
//! the request's in an ACK and zero otherwise; `yiaddr` is the address (zero
//! in a NAK and in the ACK to an INFORM); `siaddr` and `file` carry the boot
//! server and file in OFFERs and ACKs.
//!
//! Options, in this order: 53, 54, then in OFFERs and lease ACKs 51, 58, 59;
//! then 1, 3, 6, 12, 15, 66, 67, 209 whenever they are configured, whatever
//! option 55 asks for: U-Boot reads 1, 3, 6, 12 and 67 from any reply but
//! asks only for what its build enables (UB `net/bootp.c`), and `pxe get`
//! uses 209 (PROTOCOLS.md section 3); a client skips what it does not use;
//! then 60 `HTTPClient` when a reserved machine's HTTP boot client gets a
//! URL ([`super::config::ReservedBoot`]); last, option 61 echoed when the
//! request had it (RFC 6842). A NAK carries 53, 54, 56 (why, as text) and 61
//! only.

use std::borrow::Cow;
use std::net::{Ipv4Addr, SocketAddrV4};

use super::config::{BootOptions, Pool};
use crate::proxy::Destination;
use crate::wire::dhcp::{code, DhcpPacket, MessageType, CLIENT_PORT, FLAG_BROADCAST, SERVER_PORT};

/// Option codes the server sends that the codec does not name (RFC 2132,
/// RFC 5071).
pub mod opt {
    /// Domain name.
    pub const DOMAIN_NAME: u8 = 15;
    /// Message, text explaining a NAK.
    pub const MESSAGE: u8 = 56;
    /// Renewal (T1) time value.
    pub const RENEWAL_TIME: u8 = 58;
    /// Rebinding (T2) time value.
    pub const REBINDING_TIME: u8 = 59;
    /// PXELINUX configuration file (RFC 5071).
    pub const PXELINUX_CONFIG: u8 = 209;
}

/// What an OFFER or ACK tells the client besides the address.
pub(super) struct Params<'a> {
    /// The server identifier: the address the request arrived on.
    pub server: Ipv4Addr,
    /// The pool of the client's subnet.
    pub pool: &'a Pool,
    /// Boot server and file names.
    pub boot: Cow<'a, BootOptions>,
    /// A UEFI HTTP boot client given a URL: the reply carries option 60
    /// `HTTPClient`, without which the firmware ignores it.
    pub http_client: bool,
    /// The reserved host name, if any.
    pub hostname: Option<&'a str>,
}

/// The OFFER of `ip`.
pub(super) fn offer(request: &DhcpPacket, ip: Ipv4Addr, params: &Params<'_>) -> DhcpPacket {
    let mut reply = DhcpPacket::new_reply(request);
    reply.yiaddr = ip;
    fill(&mut reply, request, params, MessageType::Offer, true);
    reply
}

/// The ACK binding `ip`.
pub(super) fn ack(request: &DhcpPacket, ip: Ipv4Addr, params: &Params<'_>) -> DhcpPacket {
    let mut reply = DhcpPacket::new_reply(request);
    reply.ciaddr = request.ciaddr;
    reply.yiaddr = ip;
    fill(&mut reply, request, params, MessageType::Ack, true);
    reply
}

/// The ACK to an INFORM: parameters and boot options, no address and no
/// lease times (RFC 2131 section 4.3.5).
pub(super) fn inform_ack(request: &DhcpPacket, params: &Params<'_>) -> DhcpPacket {
    let mut reply = DhcpPacket::new_reply(request);
    reply.ciaddr = request.ciaddr;
    fill(&mut reply, request, params, MessageType::Ack, false);
    reply
}

/// The NAK, with `message` in option 56. A relayed NAK has the broadcast
/// bit set, so the relay broadcasts it (RFC 2131 section 4.1).
pub(super) fn nak(request: &DhcpPacket, server: Ipv4Addr, message: &str) -> DhcpPacket {
    let mut reply = DhcpPacket::new_reply(request);
    if !request.giaddr.is_unspecified() {
        reply.flags |= FLAG_BROADCAST;
    }
    reply.set_option(code::MESSAGE_TYPE, [MessageType::Nak.code()]);
    reply.set_option(code::SERVER_ID, server.octets());
    reply.set_option(opt::MESSAGE, message.as_bytes());
    echo_client_id(&mut reply, request);
    reply
}

/// Where `reply` to `request` goes (RFC 2131 section 4.1):
/// 1. `giaddr` set: the relay agent, `giaddr`:67;
/// 2. a NAK: broadcast;
/// 3. `ciaddr` set (RENEWING, REBINDING, INFORM): unicast to `ciaddr`:68,
///    whatever the broadcast flag says;
/// 4. otherwise broadcast. The RFC also allows a unicast to `yiaddr` at
///    `chaddr` when the broadcast flag is clear, but that needs an ARP entry
///    the shell cannot add portably; broadcasting is the RFC's fallback and
///    every client accepts it (U-Boot has no address yet and takes any).
///
/// Rules 1 and 3 agree with [`crate::proxy::reply_destination`]; the proxy
/// honours the broadcast flag with `ciaddr` set, the RFC's server does not.
pub fn reply_destination(request: &DhcpPacket, reply: &DhcpPacket) -> Destination {
    if !request.giaddr.is_unspecified() {
        return Destination::Relay(SocketAddrV4::new(request.giaddr, SERVER_PORT));
    }
    if reply.message_type() == Some(MessageType::Nak) {
        return Destination::Broadcast;
    }
    if !request.ciaddr.is_unspecified() {
        return Destination::Unicast(SocketAddrV4::new(request.ciaddr, CLIENT_PORT));
    }
    Destination::Broadcast
}

fn fill(
    reply: &mut DhcpPacket,
    request: &DhcpPacket,
    params: &Params<'_>,
    kind: MessageType,
    lease: bool,
) {
    let pool = params.pool;
    let boot = &*params.boot;
    reply.siaddr = boot.siaddr.unwrap_or(params.server);
    if let Some(file) = &boot.file {
        // Checked to fit by ServerConfig::check; an unchecked name that does
        // not fit leaves the field empty rather than cut.
        let _ = reply.set_file(file);
    }
    reply.set_option(code::MESSAGE_TYPE, [kind.code()]);
    reply.set_option(code::SERVER_ID, params.server.octets());
    if lease {
        let secs = pool.lease_secs;
        reply.set_option(code::LEASE_TIME, secs.to_be_bytes());
        reply.set_option(opt::RENEWAL_TIME, (secs / 2).to_be_bytes());
        let t2 = (u64::from(secs) * 7 / 8) as u32;
        reply.set_option(opt::REBINDING_TIME, t2.to_be_bytes());
    }
    reply.set_option(code::SUBNET_MASK, pool.subnet.mask().octets());
    if let Some(router) = pool.router {
        reply.set_option(code::ROUTER, router.octets());
    }
    if !pool.dns_servers.is_empty() {
        let servers: Vec<u8> = pool.dns_servers.iter().flat_map(|s| s.octets()).collect();
        reply.set_option(code::DNS_SERVER, servers);
    }
    if let Some(hostname) = params.hostname {
        reply.set_option(code::HOST_NAME, hostname.as_bytes());
    }
    if let Some(domain) = &pool.domain_name {
        reply.set_option(opt::DOMAIN_NAME, domain.as_bytes());
    }
    let names = [
        (code::TFTP_SERVER_NAME, &boot.tftp_server_name),
        (code::BOOTFILE_NAME, &boot.bootfile),
        (opt::PXELINUX_CONFIG, &boot.pxelinux_config),
    ];
    for (code, value) in names {
        if let Some(value) = value {
            reply.set_option(code, value.as_bytes());
        }
    }
    if params.http_client {
        reply.set_option(code::VENDOR_CLASS, *b"HTTPClient");
    }
    echo_client_id(reply, request);
}

fn echo_client_id(reply: &mut DhcpPacket, request: &DhcpPacket) {
    if let Some(id) = request.option(code::CLIENT_ID) {
        reply.set_option(code::CLIENT_ID, id.into_owned());
    }
}
