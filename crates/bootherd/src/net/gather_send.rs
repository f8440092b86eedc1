//! Many datagrams to a connected UDP socket in one system call (`sendmmsg`; a lone
//! one with `sendmsg`), each
//! gathered from two slices (a header and a payload), so that a TFTP window goes
//! out without a copy of its file data into per-packet buffers.

use std::io;
use std::os::fd::AsRawFd;

/// The most datagrams one `sendmmsg` call takes (the kernel's `UIO_MAXIOV`).
const MAX_BATCH: usize = 1024;

/// Sends one datagram per `(header, payload)` pair, in order, on the connected
/// `socket`, with as few `sendmmsg` calls as the kernel allows. Returns once every
/// datagram is sent, or with the error that stopped the rest.
pub fn send_gathered(socket: &std::net::UdpSocket, datagrams: &[(&[u8], &[u8])]) -> io::Result<()> {
    if let [(header, payload)] = datagrams {
        return send_one(socket, header, payload);
    }
    let mut iovecs: Vec<libc::iovec> = Vec::with_capacity(2 * datagrams.len().min(MAX_BATCH));
    let mut headers: Vec<libc::mmsghdr> = Vec::with_capacity(datagrams.len().min(MAX_BATCH));
    for chunk in datagrams.chunks(MAX_BATCH) {
        iovecs.clear();
        headers.clear();
        for (header, payload) in chunk {
            iovecs.push(libc::iovec {
                iov_base: header.as_ptr() as *mut libc::c_void,
                iov_len: header.len(),
            });
            iovecs.push(libc::iovec {
                iov_base: payload.as_ptr() as *mut libc::c_void,
                iov_len: payload.len(),
            });
        }
        for i in 0..chunk.len() {
            // SAFETY: an all-zero msghdr is valid (no name, no control data).
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            // iovecs is not touched again until the sendmmsg below returns, so the
            // pointer stays valid for the call.
            msg.msg_iov = iovecs[2 * i..].as_mut_ptr();
            msg.msg_iovlen = 2;
            headers.push(libc::mmsghdr {
                msg_hdr: msg,
                msg_len: 0,
            });
        }
        let mut sent = 0;
        while sent < headers.len() {
            let rest = &mut headers[sent..];
            // SAFETY: every mmsghdr points at two iovecs of `iovecs`, which point at
            // the caller's slices; all outlive the call. The socket is connected, so
            // no address is needed.
            let rc = unsafe {
                libc::sendmmsg(
                    socket.as_raw_fd(),
                    rest.as_mut_ptr(),
                    rest.len() as libc::c_uint,
                    0,
                )
            };
            if rc < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            sent += rc as usize;
        }
    }
    Ok(())
}

/// One datagram with `sendmsg`, its two parts described on the stack: the
/// lock-step path, which sends a datagram per block, allocates nothing.
fn send_one(socket: &std::net::UdpSocket, header: &[u8], payload: &[u8]) -> io::Result<()> {
    let mut iovecs = [
        libc::iovec {
            iov_base: header.as_ptr() as *mut libc::c_void,
            iov_len: header.len(),
        },
        libc::iovec {
            iov_base: payload.as_ptr() as *mut libc::c_void,
            iov_len: payload.len(),
        },
    ];
    // SAFETY: an all-zero msghdr is valid (no name, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iovecs.as_mut_ptr();
    msg.msg_iovlen = 2;
    loop {
        // SAFETY: msg points at two iovecs on this stack frame, which point at the
        // caller's slices; the socket is connected, so no address is needed.
        let rc = unsafe { libc::sendmsg(socket.as_raw_fd(), &msg, 0) };
        if rc >= 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_datagram_arrives_whole_and_in_order() {
        let (rx, tx) = crate::net::loopback_pair();
        let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        let heads: Vec<[u8; 4]> = (0..3u8).map(|i| [0, 3, 0, i + 1]).collect();
        let datagrams: Vec<(&[u8], &[u8])> = vec![
            (&heads[0], &data[..1000]),
            (&heads[1], &data[1000..2500]),
            (&heads[2], &data[2500..2500]),
        ];
        send_gathered(&tx, &datagrams).unwrap();
        // A lone datagram takes the sendmsg path.
        send_gathered(&tx, &datagrams[1..2]).unwrap();
        let mut buf = [0u8; 2048];
        for (head, payload) in datagrams.iter().chain(&datagrams[1..2]) {
            let n = rx.recv(&mut buf).unwrap();
            assert_eq!(&buf[..4], *head);
            assert_eq!(&buf[4..n], *payload);
        }
    }
}
