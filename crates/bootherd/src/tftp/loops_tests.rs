//! The loops against a plain TFTP client on loopback: many transfers on one loop,
//! reads that go off the loop, and a shutdown that ends every transfer.

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bootherd_proto::tftp::transfer::{Outcome, Transfer, TransferConfig};

use super::*;

fn config() -> TransferConfig {
    TransferConfig {
        max_blksize: 1468,
        max_windowsize: 64,
        default_timeout: Duration::from_millis(200),
        max_retries: 5,
        max_client_timeout: 255,
        stall_limit: Duration::from_secs(10),
    }
}

fn file_bytes(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(seed) % 251) as u8)
        .collect()
}

/// A transfer of `data` to a fresh client socket: the job, and the client's end.
fn job(data: &[u8], options: &[(&str, &str)]) -> (Job, UdpSocket) {
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server.connect(client.local_addr().unwrap()).unwrap();
    client.connect(server.local_addr().unwrap()).unwrap();
    let options: Vec<(String, String)> = options
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let transfer = Transfer::new(&options, data.len() as u64, &config(), Instant::now());
    let blksize = transfer.negotiated().blksize;
    let job = Job {
        socket: server,
        transfer,
        file: Arc::new(OpenFile::memory(data.to_vec())),
        blksize,
    };
    (job, client)
}

/// A TFTP client: ACKs the OACK if there is one, then each DATA (each window's
/// last block when `window` > 1); returns the file.
fn fetch(client: &UdpSocket, blksize: usize, window: u16, oack: bool) -> Vec<u8> {
    let mut buf = vec![0u8; blksize + 4];
    let mut file = Vec::new();
    if oack {
        let n = client.recv(&mut buf).unwrap();
        assert_eq!(&buf[..2], &[0, 6], "OACK first: {:?}", &buf[..n]);
        client.send(&[0, 4, 0, 0]).unwrap();
    }
    let mut expected: u16 = 1;
    loop {
        let n = client.recv(&mut buf).unwrap();
        assert_eq!(&buf[..2], &[0, 3], "DATA: {:?}", &buf[..n.min(40)]);
        let block = u16::from_be_bytes([buf[2], buf[3]]);
        assert_eq!(block, expected, "blocks in order on loopback");
        file.extend_from_slice(&buf[4..n]);
        let last = n - 4 < blksize;
        if last || block.is_multiple_of(window) {
            client.send(&[0, 4, buf[2], buf[3]]).unwrap();
        }
        if last {
            return file;
        }
        expected = expected.wrapping_add(1);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The default `tftp.busy_poll_us`.
const BUSY_POLL: Duration = Duration::from_micros(50);

/// One loop with `reader` and `busy_poll`.
fn loops(
    reader: Reader,
    busy_poll: Duration,
    rt: &tokio::runtime::Runtime,
    shutdown: Shutdown,
) -> Loops {
    Loops::with_reader(1, reader, busy_poll, rt.handle().clone(), shutdown).unwrap()
}

fn completed(finished: Option<Finished>) -> u64 {
    match finished {
        Some((transfer, Ok(()))) => match transfer.outcome() {
            Some(Outcome::Completed { bytes, .. }) => *bytes,
            other => panic!("transfer ended as {other:?}"),
        },
        Some((_, Err(err))) => panic!("transfer failed: {err}"),
        None => panic!("the loop died"),
    }
}

#[test]
fn one_loop_serves_many_lock_step_and_windowed_transfers_at_once() {
    let rt = runtime();
    let loops = Arc::new(loops(read_now, BUSY_POLL, &rt, Shutdown::new()));
    let mut clients = Vec::new();
    let mut servers = Vec::new();
    for i in 0..24u32 {
        let data = file_bytes(300_000 + i as usize * 977, i + 3);
        let (job, client) = if i % 2 == 0 {
            job(&data, &[])
        } else {
            job(&data, &[("blksize", "1468"), ("windowsize", "16")])
        };
        let loops = loops.clone();
        servers.push(rt.spawn(async move { completed(loops.run(job).await) }));
        clients.push(std::thread::spawn(move || {
            let got = if i % 2 == 0 {
                fetch(&client, 512, 1, false)
            } else {
                fetch(&client, 1468, 16, true)
            };
            assert!(got == data, "client {i}: the file arrived changed");
            data.len() as u64
        }));
    }
    for (client, server) in clients.into_iter().zip(servers) {
        let len = client.join().unwrap();
        assert_eq!(rt.block_on(server).unwrap(), len);
    }
}

#[test]
fn a_read_that_would_wait_is_made_off_the_loop() {
    // Every read "would wait": each goes to the blocking pool and back.
    fn never_now(_: &OpenFile, _: &mut Way, _: u64, _: &mut [u8]) -> ReadNow {
        ReadNow::WouldWait
    }
    let rt = runtime();
    let loops = Arc::new(loops(never_now, Duration::ZERO, &rt, Shutdown::new()));
    let data = file_bytes(200_000, 7);
    let (lock_step, c1) = job(&data, &[]);
    let (windowed, c2) = job(&data, &[("blksize", "1024"), ("windowsize", "8")]);
    let l1 = loops.clone();
    let s1 = rt.spawn(async move { completed(l1.run(lock_step).await) });
    let s2 = rt.spawn(async move { completed(loops.run(windowed).await) });
    let a = std::thread::spawn(move || fetch(&c1, 512, 1, false));
    let b = std::thread::spawn(move || fetch(&c2, 1024, 8, true));
    assert!(a.join().unwrap() == data);
    assert!(b.join().unwrap() == data);
    assert_eq!(rt.block_on(s1).unwrap(), 200_000);
    assert_eq!(rt.block_on(s2).unwrap(), 200_000);
}

#[test]
fn an_abort_ends_every_transfer_and_tells_its_client() {
    let rt = runtime();
    let shutdown = Shutdown::new();
    let loops = Arc::new(loops(read_now, BUSY_POLL, &rt, shutdown.clone()));
    let data = file_bytes(100_000, 5);
    let mut pending = Vec::new();
    for _ in 0..3 {
        let (job, client) = job(&data, &[]);
        let loops = loops.clone();
        pending.push((rt.spawn(async move { loops.run(job).await }), client));
    }
    let mut buf = [0u8; 600];
    for (_, client) in &pending {
        // Block 1 arrives; the client never ACKs it.
        client.recv(&mut buf).unwrap();
    }
    shutdown.abort();
    for (task, client) in pending {
        match rt.block_on(task).unwrap() {
            Some((_, Err(err))) => assert_eq!(err.kind(), io::ErrorKind::Interrupted),
            other => panic!(
                "expected an interrupted transfer, got {:?}",
                other.map(|f| f.1)
            ),
        }
        // Retransmissions of block 1 may come first; then the ERROR.
        let error = loop {
            let n = client.recv(&mut buf).unwrap();
            if buf[1] == 5 {
                break String::from_utf8_lossy(&buf[4..n - 1]).into_owned();
            }
        };
        assert_eq!(error, "server shutting down");
    }
}

#[test]
fn a_busy_polling_loop_goes_to_sleep_between_transfers_and_wakes_for_the_next() {
    // After its last transfer ends the loop stops polling and sleeps; a new one
    // must still wake it (a loop that kept looking at the last round's events
    // would never see it).
    let rt = runtime();
    let loops = Arc::new(loops(
        read_now,
        Duration::from_micros(500),
        &rt,
        Shutdown::new(),
    ));
    let data = file_bytes(150_000, 11);
    for round in 0..3 {
        let (job, client) = job(&data, &[("blksize", "1468"), ("windowsize", "8")]);
        let l = loops.clone();
        let server = rt.spawn(async move { completed(l.run(job).await) });
        let got = fetch(&client, 1468, 8, true);
        assert!(got == data, "round {round}: the file arrived changed");
        assert_eq!(rt.block_on(server).unwrap(), 150_000);
        std::thread::sleep(Duration::from_millis(50));
    }
}
