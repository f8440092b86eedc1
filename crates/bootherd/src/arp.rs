//! ARP probes (RFC 5227): whether any host on a link holds an IPv4 address,
//! asked at the link layer, so a host that ignores ICMP echo (a firewalled PC)
//! is found too. The probe's sender address is 0.0.0.0, so it teaches no
//! neighbour table a wrong entry. Needs `CAP_NET_RAW` (a DHCP server has it).

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

const ETH_P_ARP: u16 = 0x0806;
const ARP_REQUEST: u16 = 1;
const ARP_REPLY: u16 = 2;

/// An ARP probe for `target` from `sender_mac`: Ethernet, IPv4, sender
/// address 0.0.0.0, target hardware address zero.
pub fn probe_packet(sender_mac: [u8; 6], target: Ipv4Addr) -> [u8; 28] {
    let mut p = [0u8; 28];
    p[0..2].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
    p[2..4].copy_from_slice(&0x0800u16.to_be_bytes()); // IPv4
    p[4] = 6;
    p[5] = 4;
    p[6..8].copy_from_slice(&ARP_REQUEST.to_be_bytes());
    p[8..14].copy_from_slice(&sender_mac);
    // 14..18: sender IPv4 0.0.0.0; 18..24: target MAC unknown.
    p[24..28].copy_from_slice(&target.octets());
    p
}

/// The hardware address of the host that answers for `target` in `packet`, if
/// it is an Ethernet/IPv4 ARP reply, or a request from `target` itself (a host
/// probing for or announcing the same address).
pub fn answer_from(packet: &[u8], target: Ipv4Addr) -> Option<[u8; 6]> {
    if packet.len() < 28 || packet[0..6] != [0, 1, 8, 0, 6, 4] {
        return None;
    }
    let op = u16::from_be_bytes([packet[6], packet[7]]);
    let sender_ip = Ipv4Addr::new(packet[14], packet[15], packet[16], packet[17]);
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&packet[8..14]);
    ((op == ARP_REPLY || op == ARP_REQUEST) && sender_ip == target).then_some(mac)
}

/// The hardware address of interface `ifindex`.
fn interface_mac(ifindex: u32) -> io::Result<[u8; 6]> {
    for ifa in nix::ifaddrs::getifaddrs().map_err(io::Error::from)? {
        let Some(link) = ifa.address.as_ref().and_then(|a| a.as_link_addr()) else {
            continue;
        };
        if link.ifindex() == ifindex as usize {
            if let Some(mac) = link.addr() {
                return Ok(mac);
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!("no hardware address for interface {ifindex}"),
    ))
}

/// Asks, on interface `ifindex`, whether a host holds `target`: sends one ARP
/// probe (and a second halfway through `wait`) and returns the first answering
/// hardware address, or `None` after `wait`. Blocking; bounded by `wait`.
pub fn probe(ifindex: u32, target: Ipv4Addr, wait: Duration) -> io::Result<Option<[u8; 6]>> {
    let mac = interface_mac(ifindex)?;
    let protocol = ETH_P_ARP.to_be();
    // SAFETY: plain socket(2) call; the descriptor is owned below.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            i32::from(protocol),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor nobody else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: all zeroes is a valid sockaddr_ll (a plain C struct).
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = protocol;
    addr.sll_ifindex = ifindex as i32;
    addr.sll_halen = 6;
    addr.sll_addr[..6].copy_from_slice(&[0xff; 6]);
    let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `addr` is a valid sockaddr_ll of `len` bytes.
    if unsafe {
        libc::bind(
            socket.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast(),
            len,
        )
    } < 0
    {
        return Err(io::Error::last_os_error());
    }
    let request = probe_packet(mac, target);
    let send = || {
        // SAFETY: `request` and `addr` outlive the call; lengths are theirs.
        let rc = unsafe {
            libc::sendto(
                socket.as_raw_fd(),
                request.as_ptr().cast(),
                request.len(),
                0,
                (&addr as *const libc::sockaddr_ll).cast(),
                len,
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    send()?;
    let start = Instant::now();
    let mut resent = false;
    let mut buf = [0u8; 256];
    loop {
        let elapsed = start.elapsed();
        if elapsed >= wait {
            return Ok(None);
        }
        if !resent && elapsed >= wait / 2 {
            resent = true;
            send()?;
        }
        let until = if resent { wait } else { wait / 2 };
        let left = until.saturating_sub(elapsed).max(Duration::from_millis(1));
        let mut fds = libc::pollfd {
            fd: socket.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut fds, 1, ms) } <= 0 {
            continue;
        }
        // SAFETY: `buf` is writable for its length.
        let n = unsafe {
            libc::recv(
                socket.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            continue;
        }
        if let Some(answer) = answer_from(&buf[..n as usize], target) {
            if answer != mac {
                return Ok(Some(answer));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_and_answers_have_the_rfc_5227_layout() {
        let mac = [2, 0, 0, 0, 0, 1];
        let p = probe_packet(mac, Ipv4Addr::new(10, 99, 0, 200));
        assert_eq!(&p[..8], &[0, 1, 8, 0, 6, 4, 0, 1]);
        assert_eq!(&p[8..14], &mac);
        assert_eq!(&p[14..24], &[0; 10]);
        assert_eq!(&p[24..], &[10, 99, 0, 200]);

        let holder = [2, 0, 0, 0, 0, 9];
        let mut reply = p;
        reply[7] = 2;
        reply[8..14].copy_from_slice(&holder);
        reply[14..18].copy_from_slice(&[10, 99, 0, 200]);
        assert_eq!(
            answer_from(&reply, Ipv4Addr::new(10, 99, 0, 200)),
            Some(holder)
        );
        // Someone else's address, a truncated packet, our own probe: no answer.
        assert_eq!(answer_from(&reply, Ipv4Addr::new(10, 99, 0, 201)), None);
        assert_eq!(
            answer_from(&reply[..27], Ipv4Addr::new(10, 99, 0, 200)),
            None
        );
        assert_eq!(answer_from(&p, Ipv4Addr::new(10, 99, 0, 200)), None);
    }
}
