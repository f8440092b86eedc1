use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bootherd_proto::client::{Client, Firmware};
use bootherd_proto::wire::dhcp::{DhcpPacket, MessageType};

use super::*;
use crate::config::Config;
use crate::net::PacketSocket;
use crate::tree::LiveTree;

const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);

#[test]
fn exists_answers_expire_after_the_ttl() {
    let mut cache = ExistsCache::default();
    let t0 = Instant::now();
    assert_eq!(cache.get(false, LOCAL, "ipxe.efi", t0), None);
    cache.put(false, LOCAL, "ipxe.efi", t0, true);
    assert_eq!(cache.get(false, LOCAL, "ipxe.efi", t0), Some(true));
    let later = t0 + EXISTS_TTL - Duration::from_millis(1);
    assert_eq!(cache.get(false, LOCAL, "ipxe.efi", later), Some(true));
    assert_eq!(cache.get(false, LOCAL, "ipxe.efi", t0 + EXISTS_TTL), None);
    // Another tree or another local address is another question.
    assert_eq!(cache.get(true, LOCAL, "ipxe.efi", t0), None);
    assert_eq!(cache.get(false, Ipv4Addr::LOCALHOST, "ipxe.efi", t0), None);
}

/// A proxy serving `root` by TFTP with `config`'s inventory.
fn proxy_over(config: &Config, root: &std::path::Path) -> Proxy {
    let origin = std::path::Path::new("<test>");
    let tree = crate::tree::BootTree::new(
        root,
        Arc::new(config.inventory(origin).unwrap()),
        Arc::new(config.renderer(origin).unwrap()),
        None,
    )
    .unwrap();
    Proxy::new(config, Some(LiveTree::new(tree)), None, None).unwrap()
}

fn client(mac: [u8; 6]) -> Client {
    Client {
        mac,
        xid: 1,
        message_type: Some(MessageType::Discover),
        firmware: Firmware::UefiPxe,
        arch: None,
        vendor_class: None,
        uuid: None,
        relay: None,
    }
}

#[test]
fn configuration_is_shared_unless_the_inventory_overrides_it() {
    let config = Config::parse(
        "[profiles.grub]\nkind = \"efi\"\nkernel = \"grubnetx64.efi\"\n\
         [profiles.pi]\nkind = \"rpi\"\n\
         [[machines]]\nname = \"pc\"\nmac = \"02:00:00:00:00:01\"\nprofile = \"grub\"\n\
         [[machines]]\nname = \"pi\"\nmac = \"02:00:00:00:00:02\"\nserial = \"1\"\nprofile = \"pi\"\n",
    )
    .unwrap();
    let root = tempfile::tempdir().unwrap();
    let proxy = proxy_over(&config, root.path());
    let configured = proxy.config.load_full();

    let (unknown, known) = proxy.view_for(&client([2, 0, 0, 0, 0, 9]));
    assert!(Arc::ptr_eq(&unknown, &configured) && !known);
    let (pi, known) = proxy.view_for(&client([2, 0, 0, 0, 0, 2]));
    assert!(Arc::ptr_eq(&pi, &configured) && known);
    let (pc, known) = proxy.view_for(&client([2, 0, 0, 0, 0, 1]));
    assert!(!Arc::ptr_eq(&pc, &configured) && known);
    assert!(pc.uefi_x64.ends_with("grubnetx64.efi"), "{}", pc.uefi_x64);
    assert_eq!(pc.bios, configured.bios);
    assert_ne!(configured.uefi_x64, pc.uefi_x64);
}

#[tokio::test]
async fn service_answers_on_loopback_and_stops_when_dropped() {
    use bootherd_proto::emulate::{pxe_request, Emulated, Identity};
    let config = Config::parse("").unwrap();
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("ipxe.efi"), b"MZ").unwrap();
    let proxy = proxy_over(&config, root.path());
    let loopback = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0);
    let dhcp = PacketSocket::bind(loopback).unwrap();
    let pxe = PacketSocket::bind(loopback).unwrap();
    let pxe_addr = pxe.local_addr().unwrap();
    let responders = Responders {
        proxy: Some(Arc::new(proxy)),
        server: None,
    };
    let service = start(dhcp, Some(pxe), responders).unwrap();

    // A UEFI PXE client's REQUEST to port 4011 is answered back to its source.
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let machine = Identity::new(Emulated::PxeEfi, [2, 0, 0, 0, 0, 1], None);
    let request = pxe_request(&machine, Ipv4Addr::LOCALHOST);
    for _ in 0..3 {
        client.send_to(&request.emit(), pxe_addr).unwrap();
    }
    let mut buf = [0u8; 1500];
    for _ in 0..3 {
        let (n, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!(from, pxe_addr);
        let ack = DhcpPacket::parse(&buf[..n]).unwrap();
        assert_eq!(ack.op, 2);
        assert_eq!(ack.xid, request.xid);
        assert_eq!(ack.message_type(), Some(MessageType::Ack));
        assert_eq!(ack.file_name(), "ipxe.efi");
    }

    // Dropped, the threads end and close the sockets: the port is free again.
    drop(service);
    let deadline = Instant::now() + STOP_CHECK * 10;
    while std::net::UdpSocket::bind(pxe_addr).is_err() {
        assert!(Instant::now() < deadline, "the dhcp thread did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn pacing_pauses_only_under_load() {
    let mut pacing = Pacing::default();
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    // Quiet: every request is handled at once.
    assert_eq!(pacing.pause_after(1, t0), None);
    assert_eq!(pacing.pause_after(1, ms(5)), None);
    // Batches close together: pause, unless the batch was full.
    let busy = ms(5) + LOAD_GAP / 2;
    assert_eq!(pacing.pause_after(1, busy), Some(LOAD_PAUSE));
    assert_eq!(pacing.pause_after(BATCH, busy + LOAD_GAP / 2), None);
    assert_eq!(pacing.pause_after(3, busy + LOAD_GAP), Some(LOAD_PAUSE));
    // Quiet again.
    assert_eq!(pacing.pause_after(1, ms(100)), None);
}

#[test]
fn exists_cache_is_bounded() {
    let mut cache = ExistsCache::default();
    let now = Instant::now();
    for i in 0..EXISTS_CACHE_MAX {
        cache.put(false, LOCAL, &format!("f{i}"), now, false);
    }
    assert_eq!(cache.entries, EXISTS_CACHE_MAX);
    cache.put(false, LOCAL, "f0", now, true);
    assert_eq!(cache.entries, 1);
    assert_eq!(cache.get(false, LOCAL, "f0", now), Some(true));
    assert_eq!(cache.get(false, LOCAL, "f1", now), None);
}
