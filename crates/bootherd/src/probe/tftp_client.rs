//! A lock-step TFTP client (RFC 1350, options RFC 2347-2349) that reads as far as
//! the firmware would.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use bootherd_proto::emulate::{Fetch, Fetched, Read, EARLY_TERMINATE};
use bootherd_proto::wire::tftp::{self, ErrorCode, Packet};
use tokio::net::UdpSocket;

use super::*;

/// One lock-step TFTP read (RFC 1350, options RFC 2347-2349), as far as
/// `fetch.read` says. Errors of the exchange are results, not `Err`; `Err`
/// is a local socket failure.
pub(super) async fn tftp_get(
    fetch: &Fetch,
    local: Ipv4Addr,
    port: u16,
) -> Result<Fetched, ProbeError> {
    let socket = UdpSocket::bind(SocketAddrV4::new(local, 0))
        .await
        .map_err(io_err("binding a TFTP socket"))?;
    let server = SocketAddr::V4(SocketAddrV4::new(fetch.server, port));
    let rrq = fetch.request();
    let asked_blksize: Option<usize> = fetch
        .options
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("blksize"))
        .and_then(|(_, v)| v.parse().ok());

    let mut peer: Option<SocketAddr> = None;
    let mut last = rrq;
    let mut blksize = 512usize;
    let mut tsize: Option<u64> = None;
    let mut expected: u16 = 1;
    let mut data: Vec<u8> = Vec::new();
    let mut tries = 0;
    let mut buf = vec![0u8; 65536];
    socket
        .send_to(&last, server)
        .await
        .map_err(io_err("sending a TFTP request"))?;
    loop {
        let (len, from) =
            match tokio::time::timeout(TFTP_PACKET_TIMEOUT, socket.recv_from(&mut buf)).await {
                Err(_) => {
                    tries += 1;
                    if tries > TFTP_RETRIES {
                        let what = if peer.is_none() {
                            "no answer to the request"
                        } else {
                            "the server stopped sending"
                        };
                        return Ok(Fetched::Failed(format!(
                            "{what} ({} tries, {} s apart)",
                            TFTP_RETRIES + 1,
                            TFTP_PACKET_TIMEOUT.as_secs()
                        )));
                    }
                    let to = peer.unwrap_or(server);
                    socket
                        .send_to(&last, to)
                        .await
                        .map_err(io_err("resending a TFTP packet"))?;
                    continue;
                }
                Ok(Err(err)) if err.kind() == io::ErrorKind::ConnectionRefused => {
                    return Ok(Fetched::Failed(format!(
                        "nothing listens on {server} (ICMP port unreachable)"
                    )))
                }
                Ok(Err(err)) => return Err(io_err("receiving TFTP")(err)),
                Ok(Ok(got)) => got,
            };
        if from.ip() != server.ip() {
            continue;
        }
        match peer {
            None => peer = Some(from),
            Some(p) if p != from => {
                // RFC 1350: a packet from another port gets ERROR 5.
                let error = tftp::error_packet(ErrorCode::UnknownTid, "unknown transfer ID");
                let _ = socket.send_to(&error, from).await;
                continue;
            }
            Some(_) => {}
        }
        let Ok(packet) = Packet::parse(&buf[..len]) else {
            continue;
        };
        match packet {
            Packet::Error { code, message } => {
                if expected == 1 && data.is_empty() && code == ErrorCode::FileNotFound {
                    return Ok(Fetched::NotFound);
                }
                return Ok(Fetched::Failed(format!(
                    "server sent ERROR {} \"{message}\"",
                    code.code()
                )));
            }
            Packet::Oack { options } if expected == 1 && data.is_empty() => {
                for (name, value) in &options {
                    match name.to_ascii_lowercase().as_str() {
                        "tsize" => tsize = value.parse().ok(),
                        "blksize" => {
                            let Ok(size) = value.parse::<usize>() else {
                                return Ok(Fetched::Failed(format!("OACK blksize {value:?}")));
                            };
                            if asked_blksize.is_none_or(|asked| size > asked) || size < 8 {
                                let _ = socket
                                    .send_to(
                                        &tftp::error_packet(
                                            ErrorCode::OptionRejected,
                                            "blksize not asked for",
                                        ),
                                        from,
                                    )
                                    .await;
                                return Ok(Fetched::Failed(format!(
                                    "OACK blksize {size} was not what was asked ({asked_blksize:?}); RFC 2348 forbids more"
                                )));
                            }
                            blksize = size;
                        }
                        _ => {}
                    }
                }
                tries = 0;
                last = ack(0);
                socket
                    .send_to(&last, from)
                    .await
                    .map_err(io_err("sending a TFTP ACK"))?;
            }
            Packet::Data { block, payload } if block == expected => {
                tries = 0;
                if payload.len() > blksize {
                    return Ok(Fetched::Failed(format!(
                        "DATA block {block} carries {} bytes, more than the block size {blksize}",
                        payload.len()
                    )));
                }
                if fetch.read == Read::Probe {
                    let error = tftp::error_packet(ErrorCode::NotDefined, EARLY_TERMINATE);
                    let _ = socket.send_to(&error, from).await;
                    let size = tsize.or((payload.len() < blksize).then_some(payload.len() as u64));
                    return Ok(Fetched::Found { size, data: None });
                }
                data.extend_from_slice(payload);
                if data.len() > TFTP_MAX_FILE {
                    let error = tftp::error_packet(ErrorCode::DiskFull, "too large for the probe");
                    let _ = socket.send_to(&error, from).await;
                    return Ok(Fetched::Failed("file larger than 1 GiB".into()));
                }
                last = ack(block);
                socket
                    .send_to(&last, from)
                    .await
                    .map_err(io_err("sending a TFTP ACK"))?;
                if payload.len() < blksize {
                    if let Some(t) = tsize {
                        if t != data.len() as u64 {
                            return Ok(Fetched::Failed(format!(
                                "OACK said tsize {t} but {} bytes came",
                                data.len()
                            )));
                        }
                    }
                    return Ok(Fetched::Found {
                        size: Some(data.len() as u64),
                        data: Some(data),
                    });
                }
                expected = expected.wrapping_add(1);
            }
            Packet::Data { block, .. } if block == expected.wrapping_sub(1) => {
                // Our ACK was lost: acknowledge again (never resend on
                // duplicates beyond that, RFC 1123 4.2.3.1).
                socket
                    .send_to(&last, from)
                    .await
                    .map_err(io_err("sending a TFTP ACK"))?;
            }
            _ => {}
        }
    }
}

pub(super) fn ack(block: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(4);
    Packet::Ack { block }.emit(&mut out);
    out
}
