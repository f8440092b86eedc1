use std::net::Ipv4Addr;

use bootherd_proto::dhcp::{self as core};

use super::*;
use crate::config::DhcpConfig;
use crate::inventory::Inventory;

#[test]
fn leases_render_as_table_and_json() {
    let lease = core::Lease {
        ip: Ipv4Addr::new(10, 99, 0, 200),
        mac: [0x52, 0x54, 0, 0x99, 0, 0xa1],
        client_id: None,
        hostname: Some("rock64".into()),
        state: core::LeaseState::Bound,
        starts: 1000,
        ends: 4600,
    };
    let table = format_leases(&[&lease], 1600, false);
    assert!(table.starts_with("IP "), "{table}");
    assert!(
        table.contains("10.99.0.200      52:54:00:99:00:a1  bound          3000s  rock64"),
        "{table}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&format_leases(&[&lease], 1600, true)).unwrap();
    assert_eq!(json[0]["ip"], "10.99.0.200");
    assert_eq!(json[0]["state"], "bound");
    assert_eq!(json[0]["live"], true);
}

#[test]
fn config_converts_and_is_checked() {
    let mut cfg = DhcpConfig {
        own_vendor_classes: vec!["U-Boot*".into()],
        ..DhcpConfig::default()
    };
    cfg.pools.push(crate::config::PoolConfig {
        subnet: "10.99.0.0/24".into(),
        range: [Ipv4Addr::new(10, 99, 0, 200), Ipv4Addr::new(10, 99, 0, 210)],
        router: None,
        dns: vec![],
        lease_secs: 600,
        domain: None,
    });
    let none = Inventory::default();
    let sc = server_config(&cfg, &none, None).unwrap();
    assert_eq!(sc.pools[0].subnet.to_string(), "10.99.0.0/24");
    cfg.pools[0].subnet = "10.99.0.0".into();
    assert_eq!(
        server_config(&cfg, &none, None).unwrap_err().key,
        "dhcp.pool[0].subnet"
    );
    cfg.pools[0].subnet = "10.98.0.0/24".into();
    // The range is outside the subnet: the core's check says so, and which key.
    let err = server_config(&cfg, &none, None).unwrap_err();
    assert_eq!(err.key, "dhcp.pool[0].range", "{err}");
    assert!(err.message.contains("inside the subnet"), "{err}");
    cfg.pools[0].subnet = "10.99.0.0/24".into();
    cfg.own_macs = vec!["52:54:00:00:00:01".into(), "not-a-mac".into()];
    let err = server_config(&cfg, &none, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"dhcp.own_macs[1]: "not-a-mac" is not a MAC address (aa:bb:cc:dd:ee:ff)"#
    );
}

#[test]
fn grub_machines_with_an_ip_are_reserved_with_their_shim() {
    let mut cfg = DhcpConfig::default();
    cfg.pools.push(crate::config::PoolConfig {
        subnet: "10.0.0.0/24".into(),
        range: [Ipv4Addr::new(10, 0, 0, 200), Ipv4Addr::new(10, 0, 0, 210)],
        router: None,
        dns: vec![],
        lease_secs: 600,
        domain: None,
    });
    // The fixture: desk-sb (grub, ip) is reserved with its shim; office-pc (ipxe,
    // ip) and kitchen-pi (rpi, ip) are left to the proxy.
    let inventory = crate::inventory::tests::fixture();
    let shim = "m/52-54-00-5b-00-01/debian-installer/amd64/bootnetx64.efi";
    let sc = server_config(&cfg, &inventory, Some(8080)).unwrap();
    assert_eq!(
        sc.reservations,
        [core::Reservation {
            mac: [0x52, 0x54, 0, 0x5b, 0, 0x01],
            ip: Ipv4Addr::new(10, 0, 0, 70),
            hostname: Some("desk-sb".into()),
            boot: Some(core::ReservedBoot {
                tftp_file: shim.into(),
                http: Some((8080, shim.into())),
            }),
        }]
    );
    // HTTP off: TFTP only.
    let sc = server_config(&cfg, &inventory, None).unwrap();
    assert_eq!(sc.reservations[0].boot.as_ref().unwrap().http, None);
}
