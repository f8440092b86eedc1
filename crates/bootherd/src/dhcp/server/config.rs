//! The `[dhcp]` section and the inventory turned into the core's configuration,
//! checked, naming the key of each refusal.

use std::net::Ipv4Addr;

use bootherd_proto::client::parse_mac;
use bootherd_proto::dhcp::{
    BootOptions, Field, Ownership, Pool, Reservation, ReservedBoot, ServerConfig, Subnet,
};

use crate::config::DhcpConfig;
use crate::inventory::{Inventory, Kind, Scope};

pub(super) fn parse_subnet(text: &str) -> Option<Subnet> {
    let (net, len) = text.split_once('/')?;
    let network: Ipv4Addr = net.trim().parse().ok()?;
    let prefix_len: u8 = len.trim().parse().ok()?;
    (prefix_len <= 32).then_some(Subnet::new(network, prefix_len))
}

/// A `[dhcp]` value the server cannot work with, and the key it came from
/// (`dhcp.pool[0].subnet`, or `machines[2].ip` for a machine's reservation).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct Refused {
    /// The key, as written in the file.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

pub(super) fn refused(key: impl Into<String>, message: impl Into<String>) -> Refused {
    Refused {
        key: key.into(),
        message: message.into(),
    }
}

/// Turns the `[dhcp]` section and the inventory into the core's configuration,
/// checked. A pxelinux (U-Boot) or grub (Secure Boot) machine with an `ip` becomes
/// a reservation, which also makes bootherd its DHCP server; a grub machine's
/// reservation carries its own boot file, the shim (over HTTP at `http_port` for a
/// UEFI HTTP boot client, when HTTP is on). Other kinds boot through the proxy, so
/// their `ip` is left to the LAN's server. `inventory` must come from the same
/// file's `machines`, in order: a refusal names `machines[i]` by that order.
pub fn server_config(
    cfg: &DhcpConfig,
    inventory: &Inventory,
    http_port: Option<u16>,
) -> Result<ServerConfig, Refused> {
    let mut pools = Vec::new();
    for (i, p) in cfg.pools.iter().enumerate() {
        let subnet = parse_subnet(&p.subnet).ok_or_else(|| {
            refused(
                format!("dhcp.pool[{i}].subnet"),
                format!(
                    "{:?} is not an IPv4 subnet (a.b.c.d/prefix, prefix 0-32)",
                    p.subnet
                ),
            )
        })?;
        let lease_secs = u32::try_from(p.lease_secs).map_err(|_| {
            refused(
                format!("dhcp.pool[{i}].lease_secs"),
                format!("{} is too long (at most {})", p.lease_secs, u32::MAX),
            )
        })?;
        pools.push(Pool {
            subnet,
            first: p.range[0],
            last: p.range[1],
            router: p.router,
            dns_servers: p.dns.clone(),
            lease_secs,
            domain_name: p.domain.clone(),
        });
    }
    let mut reservations = Vec::new();
    for (i, r) in cfg.reservations.iter().enumerate() {
        let mac = parse_mac(&r.mac).ok_or_else(|| {
            refused(
                format!("dhcp.reservation[{i}].mac"),
                format!("{:?} is not a MAC address (aa:bb:cc:dd:ee:ff)", r.mac),
            )
        })?;
        reservations.push(Reservation {
            mac,
            ip: r.ip,
            hostname: r.hostname.clone(),
            boot: None,
        });
    }
    // The index in `machines` of each reservation made from a machine.
    let mut from_machines = Vec::new();
    for (m, machine) in inventory.machines().iter().enumerate() {
        let (Some(ip), Some(mac)) = (machine.ip, machine.mac) else {
            continue;
        };
        let profile = inventory.profile_of(machine);
        let boot = match (profile.kind, &profile.shim) {
            (Kind::Pxelinux, _) => None,
            (Kind::Grub, Some(shim)) => {
                let path = inventory.request_path(machine, Scope::Machine, shim);
                Some(ReservedBoot {
                    tftp_file: path.clone(),
                    http: http_port.map(|port| (port, path)),
                })
            }
            _ => continue,
        };
        let mac = mac.octets();
        if let Some(r) = reservations.iter().position(|r: &Reservation| r.mac == mac) {
            return Err(refused(
                format!("machines[{m}].mac"),
                format!(
                    "machine {} has an ip, and its MAC also has a [[dhcp.reservation]] \
                     (dhcp.reservation[{r}]): keep one",
                    machine.name
                ),
            ));
        }
        from_machines.push(m);
        reservations.push(Reservation {
            mac,
            ip,
            hostname: Some(machine.name.clone()),
            boot,
        });
    }
    let mut macs = Vec::new();
    for (i, m) in cfg.own_macs.iter().enumerate() {
        macs.push(parse_mac(m).ok_or_else(|| {
            refused(
                format!("dhcp.own_macs[{i}]"),
                format!("{m:?} is not a MAC address (aa:bb:cc:dd:ee:ff)"),
            )
        })?);
    }
    let config = ServerConfig {
        pools,
        reservations,
        owned: Ownership {
            macs,
            vendor_classes: cfg.own_vendor_classes.clone(),
        },
        boot: BootOptions {
            siaddr: cfg.boot.next_server,
            file: cfg.boot.file.clone(),
            tftp_server_name: cfg.boot.tftp_server_name.clone(),
            bootfile: cfg.boot.file.clone(),
            pxelinux_config: cfg.boot.pxelinux_config.clone(),
        },
        offer_hold_secs: cfg.offer_hold_secs,
        decline_hold_secs: cfg.decline_hold_secs,
        probe_new_addresses: cfg.ping_check,
    };
    if let Err((field, error)) = config.check_fields() {
        let listed = cfg.reservations.len();
        let reservation = |i: usize, key: &str, machine_key: &str| match i.checked_sub(listed) {
            None => format!("dhcp.reservation[{i}].{key}"),
            Some(j) => format!("machines[{}].{machine_key}", from_machines[j]),
        };
        let key = match field {
            Field::PoolSubnet(i) => format!("dhcp.pool[{i}].subnet"),
            Field::PoolRange(i) => format!("dhcp.pool[{i}].range"),
            Field::PoolLease(i) => format!("dhcp.pool[{i}].lease_secs"),
            Field::PoolDomain(i) => format!("dhcp.pool[{i}].domain"),
            Field::ReservationIp(i) => reservation(i, "ip", "ip"),
            Field::ReservationMac(i) => reservation(i, "mac", "mac"),
            Field::ReservationHostname(i) => reservation(i, "hostname", "name"),
            Field::ReservationBoot(i) => reservation(i, "boot", "profile"),
            Field::VendorClass(i) => format!("dhcp.own_vendor_classes[{i}]"),
            Field::File | Field::Bootfile => "dhcp.boot.file".into(),
            Field::TftpServerName => "dhcp.boot.tftp_server_name".into(),
            Field::PxelinuxConfig => "dhcp.boot.pxelinux_config".into(),
            Field::OfferHold => "dhcp.offer_hold_secs".into(),
        };
        return Err(refused(key, error.to_string()));
    }
    Ok(config)
}
