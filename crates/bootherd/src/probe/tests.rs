use std::net::Ipv4Addr;
use std::time::Duration;

use bootherd_proto::emulate::{Fetch, Fetched, Need, Read, EARLY_TERMINATE};
use bootherd_proto::wire::tftp::{self, Packet};

use super::*;

#[test]
fn saved_paths_stay_inside_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    save_file(dir.path(), "e1ffda08//config.txt", b"a").unwrap();
    save_file(dir.path(), "../../escape.txt", b"b").unwrap();
    save_file(dir.path(), "/abs/x", b"c").unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("e1ffda08/config.txt")).unwrap(),
        b"a"
    );
    assert_eq!(std::fs::read(dir.path().join("escape.txt")).unwrap(), b"b");
    assert_eq!(std::fs::read(dir.path().join("abs/x")).unwrap(), b"c");
    save_file(dir.path(), "..", b"d").unwrap();
}

/// A loopback TFTP exchange with a scripted server: OACK, two blocks,
/// the client's ACKs; and a probe that stops after block 1.
#[tokio::test]
async fn lock_step_read_and_probe() {
    let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    run_scripted(server).await;
}

async fn run_scripted(server: std::net::UdpSocket) {
    let port = server.local_addr().unwrap().port();
    server
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let body: Vec<u8> = (0..700u32).map(|i| i as u8).collect();
    let expected = body.clone();
    let script = std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        // Whole read.
        let (len, client) = server.recv_from(&mut buf).unwrap();
        assert!(matches!(Packet::parse(&buf[..len]), Ok(Packet::Rrq(_))));
        server
            .send_to(
                &tftp::oack_packet(&[("tsize".into(), "700".into())]),
                client,
            )
            .unwrap();
        let (len, _) = server.recv_from(&mut buf).unwrap();
        assert_eq!(Packet::parse(&buf[..len]), Ok(Packet::Ack { block: 0 }));
        for (i, chunk) in body.chunks(512).enumerate() {
            let mut data = tftp::data_header(i as u16 + 1).to_vec();
            data.extend_from_slice(chunk);
            server.send_to(&data, client).unwrap();
            let (len, _) = server.recv_from(&mut buf).unwrap();
            assert_eq!(
                Packet::parse(&buf[..len]),
                Ok(Packet::Ack {
                    block: i as u16 + 1
                })
            );
        }
        // Probe.
        let (_, client) = server.recv_from(&mut buf).unwrap();
        let mut data = tftp::data_header(1).to_vec();
        data.extend_from_slice(&body[..512]);
        server.send_to(&data, client).unwrap();
        let (len, _) = server.recv_from(&mut buf).unwrap();
        match Packet::parse(&buf[..len]) {
            Ok(Packet::Error { message, .. }) => assert_eq!(message, EARLY_TERMINATE),
            other => panic!("{other:?}"),
        }
    });
    let mut fetch = Fetch {
        server: Ipv4Addr::LOCALHOST,
        path: "f".into(),
        options: vec![("tsize".into(), "0".into())],
        read: Read::Whole,
        need: Need::Required,
    };
    let got = tftp_get(&fetch, Ipv4Addr::LOCALHOST, port).await.unwrap();
    assert_eq!(
        got,
        Fetched::Found {
            size: Some(700),
            data: Some(expected)
        }
    );
    fetch.read = Read::Probe;
    fetch.options.clear();
    let got = tftp_get(&fetch, Ipv4Addr::LOCALHOST, port).await.unwrap();
    assert_eq!(
        got,
        Fetched::Found {
            size: None,
            data: None
        }
    );
    script.join().unwrap();
}
