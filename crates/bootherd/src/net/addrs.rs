//! Which IPv4 addresses this host has, which to listen on, interface indexes and
//! path MTUs.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;

use crate::config::NetConfig;

/// One IPv4 address of a local interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAddr {
    /// Interface name, such as `eth0`.
    pub interface: String,
    /// The address.
    pub addr: Ipv4Addr,
}

/// Every IPv4 address of every interface that is up, in the kernel's order.
pub fn ipv4_addresses() -> io::Result<Vec<LocalAddr>> {
    let mut out = Vec::new();
    for ifa in nix::ifaddrs::getifaddrs().map_err(io::Error::from)? {
        if !ifa.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP) {
            continue;
        }
        let Some(sin) = ifa.address.as_ref().and_then(|a| a.as_sockaddr_in()) else {
            continue;
        };
        let local = LocalAddr {
            interface: ifa.interface_name.clone(),
            addr: sin.ip(),
        };
        if !out.contains(&local) {
            out.push(local);
        }
    }
    Ok(out)
}

/// (interface index, IPv4 address) of every interface that is up.
pub fn ipv4_networks() -> io::Result<Vec<(u32, Ipv4Addr)>> {
    Ok(ipv4_addresses()?
        .into_iter()
        .filter_map(|a| Some((interface_index(&a.interface)?, a.addr)))
        .collect())
}

/// The addresses to serve on, from the `[net]` settings and the host's interfaces.
///
/// Explicit `listen` addresses are used as given (binding fails later if one is not
/// local); otherwise every address of the chosen interfaces (all, by default).
pub fn listen_addresses(net: &NetConfig) -> io::Result<Vec<Ipv4Addr>> {
    if !net.listen.is_empty() {
        return Ok(net.listen.clone());
    }
    let all = ipv4_addresses()?;
    let chosen: Vec<Ipv4Addr> = all
        .iter()
        .filter(|a| net.interfaces.is_empty() || net.interfaces.contains(&a.interface))
        .map(|a| a.addr)
        .collect();
    if chosen.is_empty() {
        let what = if net.interfaces.is_empty() {
            "this host has no interface with an IPv4 address".to_string()
        } else {
            format!(
                "no IPv4 address on interface(s) {}",
                net.interfaces.join(", ")
            )
        };
        return Err(io::Error::new(io::ErrorKind::NotFound, what));
    }
    Ok(chosen)
}

/// The MTU of the route a connected socket uses (`IP_MTU`), if the kernel tells.
pub fn path_mtu(socket: &impl AsRawFd) -> Option<u32> {
    let mut mtu: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `mtu` and `len` are valid for writes of the sizes passed; the fd is open
    // for the duration of the borrow.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MTU,
            (&mut mtu as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (rc == 0 && mtu > 0).then_some(mtu as u32)
}

/// The index of interface `name`, if it exists.
pub fn interface_index(name: &str) -> Option<u32> {
    nix::net::if_::if_nametoindex(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_listed() {
        let addrs = ipv4_addresses().unwrap();
        assert!(addrs.iter().any(|a| a.addr == Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn explicit_listen_wins() {
        let net = NetConfig {
            interfaces: vec!["does-not-exist".into()],
            listen: vec![Ipv4Addr::LOCALHOST],
        };
        assert_eq!(listen_addresses(&net).unwrap(), [Ipv4Addr::LOCALHOST]);
    }

    #[test]
    fn unknown_interface_is_an_error() {
        let net = NetConfig {
            interfaces: vec!["does-not-exist0".into()],
            listen: vec![],
        };
        assert!(listen_addresses(&net).is_err());
    }

    #[test]
    fn loopback_mtu_is_known() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.connect("127.0.0.1:9").unwrap();
        assert!(path_mtu(&s).unwrap() >= 1500);
    }
}
