use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use super::*;
use crate::packet::mac_at;

#[test]
fn histogram_quantiles() {
    let mut h = Hist::new(1000);
    for us in 1..=100 {
        h.add(us);
    }
    let s = h.stats();
    assert_eq!(s.p50, 50);
    assert_eq!(s.p99, 99);
    assert_eq!(s.max, 100);
    assert!((s.avg - 50.5).abs() < 1e-9);
    assert_eq!(Hist::new(10).stats(), Stats::default());
    // Beyond the limit: counted in the last bucket, max kept.
    let mut h = Hist::new(10);
    h.add(50);
    assert_eq!(h.stats().p99, 10);
    assert_eq!(h.stats().max, 50);
}

fn state(dora: bool, n: usize) -> State {
    let cfg = Config {
        server: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 6767),
        relay: Ipv4Addr::LOCALHOST,
        local_port: 0,
        rate: 1000,
        seconds: 1.0,
        wait_ms: 300,
        timeout_ms: 1000,
        mac_base: 0x000c_0300_0000,
        xid_base: 0xffff_fff0,
        dora,
        vendor_class: crate::packet::PXE_BIOS_CLASS.as_bytes().to_vec(),
        rcvbuf: 1 << 20,
        tick_ns: 1_000_000,
        max_sent: 1000,
    };
    State {
        timeout_us: 1_000_000,
        start_real: 0,
        sent_us: vec![100; n],
        req_us: vec![0; n],
        flags: vec![0; n],
        rtt: Hist::new(1_000_000),
        offer_rtt: Hist::new(1_000_000),
        offered_to: HashMap::new(),
        s: Summary {
            dora,
            ..Summary::default()
        },
        cfg,
    }
}

fn answer(st: &State, seq: u64, kind: u8, yiaddr: [u8; 4]) -> Vec<u8> {
    use bootherd_proto::wire::dhcp::{code, DhcpPacket};
    let mac = mac_at(st.cfg.mac_base, seq);
    let req = crate::packet::pxe_request(
        st.cfg.relay,
        &st.cfg.vendor_class,
        mac,
        st.cfg.xid_base.wrapping_add(seq as u32),
        None,
    );
    let mut r = DhcpPacket::new_reply(&req);
    r.yiaddr = Ipv4Addr::from(yiaddr);
    r.set_option(code::MESSAGE_TYPE, [kind]);
    r.set_option(code::SERVER_ID, [127, 0, 0, 1]);
    r.emit()
}

#[test]
fn proxy_answers_are_matched_by_xid_and_mac() {
    let mut st = state(false, 4);
    // xids wrap around: client 0 has xid 0xfffffff0, client 3 0xfffffff3.
    assert!(st
        .on_datagram(&answer(&st, 0, 2, [0; 4]), 300, [127, 0, 0, 1])
        .is_none());
    assert_eq!(st.s.answered, 1);
    // An ACK answers too; a second answer is a duplicate, not counted.
    st.on_datagram(&answer(&st, 1, 5, [0; 4]), 400, [0; 4]);
    st.on_datagram(&answer(&st, 1, 2, [0; 4]), 500, [0; 4]);
    assert_eq!((st.s.answered, st.s.dup_answers), (2, 1));
    // Late: more than the timeout after the DISCOVER.
    st.on_datagram(&answer(&st, 2, 2, [0; 4]), 100 + 1_000_001, [0; 4]);
    assert_eq!((st.s.answered, st.s.late), (2, 1));
    // Unknown client (xid beyond what was sent), wrong MAC, not DHCP.
    st.on_datagram(&answer(&st, 9, 2, [0; 4]), 300, [0; 4]);
    let mut wrong = answer(&st, 3, 2, [0; 4]);
    wrong[33] ^= 1;
    st.on_datagram(&wrong, 300, [0; 4]);
    st.on_datagram(b"hello", 300, [0; 4]);
    assert_eq!(st.s.stray, 3);
    assert_eq!(st.s.answered, 2);
    // Round trips: 200 and 300 µs.
    let s = st.rtt.stats();
    assert_eq!((s.avg, s.max), (250.0, 300));
}

#[test]
fn dora_requests_acks_and_duplicate_addresses() {
    let mut st = state(true, 3);
    let r = st.on_datagram(&answer(&st, 0, 2, [10, 0, 0, 5]), 200, [9, 9, 9, 9]);
    assert_eq!(r, Some((0, [10, 0, 0, 5], [127, 0, 0, 1])));
    assert_eq!(
        (st.s.offers, st.s.answered),
        (1, 0),
        "an offer is not the answer counted"
    );
    // An offer without an address is counted, no REQUEST.
    assert_eq!(
        st.on_datagram(&answer(&st, 1, 2, [0; 4]), 200, [0; 4]),
        None
    );
    // The same address to another client: a duplicate.
    assert!(st
        .on_datagram(&answer(&st, 2, 2, [10, 0, 0, 5]), 200, [0; 4])
        .is_some());
    assert_eq!(st.s.dup_addr, 1);
    // An ACK without a REQUEST sent is stray; after it, it counts.
    st.on_datagram(&answer(&st, 0, 5, [10, 0, 0, 5]), 300, [0; 4]);
    assert_eq!((st.s.acks, st.s.stray), (0, 1));
    st.flags[0] |= F_REQ;
    st.req_us[0] = 250;
    st.on_datagram(&answer(&st, 0, 5, [10, 0, 0, 5]), 300, [0; 4]);
    st.on_datagram(&answer(&st, 0, 5, [10, 0, 0, 5]), 310, [0; 4]);
    assert_eq!((st.s.acks, st.s.answered, st.s.dup_answers), (1, 1, 1));
    assert_eq!(st.rtt.stats().max, 50);
    st.on_datagram(&answer(&st, 2, 6, [0; 4]), 300, [0; 4]);
    assert_eq!(st.s.naks, 1);
}

#[test]
fn summary_line_has_every_key() {
    let s = Summary {
        rate: 1000,
        seconds: 2.0,
        sent: 2000,
        answered: 1800,
        send_secs: 2.0,
        ..Summary::default()
    };
    let line = s.to_string();
    for key in [
        "mode=proxy",
        "sent=2000",
        "answered=1800",
        "lost=200",
        "lost_pct=10.000",
        "answers_per_s=900",
        "rtt_avg_us=",
        "rtt_p99_us=",
        "late=0",
        "dup_addr=0",
        "cpu_user_s=",
        "cpu_sys_s=",
        "sock_drops=0",
    ] {
        assert!(line.contains(key), "{key} missing in {line}");
    }
    assert!(!line.contains('\n'));
    let d = Summary { dora: true, ..s };
    assert!(d.to_string().contains("mode=dora"));
    assert!(d.to_string().contains("acks=0"));
}
