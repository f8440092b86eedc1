//! Which interface the probe runs on, and its address and MAC.

use std::net::Ipv4Addr;

use crate::net::{self};

use super::*;

/// The interface the probe runs on.
pub(super) struct Link {
    pub(super) name: String,
    pub(super) index: u32,
    pub(super) addr: Ipv4Addr,
    pub(super) mac: Option<[u8; 6]>,
}

pub(super) fn choose_link(wanted: Option<&str>) -> Result<Link, ProbeError> {
    let all = net::ipv4_addresses().map_err(io_err("listing interfaces"))?;
    let usable: Vec<&net::LocalAddr> = all
        .iter()
        .filter(|a| !a.addr.is_loopback() && a.interface != "lo")
        .collect();
    let chosen = match wanted {
        Some(name) => all.iter().find(|a| a.interface == name).ok_or_else(|| {
            ProbeError::Interface(match net::interface_index(name) {
                Some(_) => format!("interface {name} has no IPv4 address (or is down)"),
                None => format!("no interface named {name}"),
            })
        })?,
        None => {
            let mut names: Vec<&str> = usable.iter().map(|a| a.interface.as_str()).collect();
            names.dedup();
            match names.as_slice() {
                [_] => usable[0],
                [] => {
                    return Err(ProbeError::Interface(
                        "no interface with an IPv4 address besides loopback: choose one with \
                         --interface"
                            .into(),
                    ))
                }
                many => {
                    return Err(ProbeError::Interface(format!(
                        "several interfaces have IPv4 addresses ({}): choose one with --interface",
                        many.join(", ")
                    )))
                }
            }
        }
    };
    let index = net::interface_index(&chosen.interface)
        .ok_or_else(|| ProbeError::Interface(format!("interface {} vanished", chosen.interface)))?;
    Ok(Link {
        name: chosen.interface.clone(),
        index,
        addr: chosen.addr,
        mac: link_mac(&chosen.interface),
    })
}

/// The hardware address of interface `name`.
pub(super) fn link_mac(name: &str) -> Option<[u8; 6]> {
    nix::ifaddrs::getifaddrs()
        .ok()?
        .filter(|ifa| ifa.interface_name == name)
        .find_map(|ifa| ifa.address?.as_link_addr()?.addr())
}
