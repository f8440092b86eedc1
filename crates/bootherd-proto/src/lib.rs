//! bootherd's protocol cores: wire formats and state machines, with no I/O.
//!
//! Nothing in this crate touches a socket, a file, the clock or a source of
//! randomness. Bytes come in as slices, time comes in as [`std::time::Instant`]
//! values chosen by the caller, and every function answers with bytes to send
//! and the next instant at which it wants to be woken. The same inputs always
//! give the same outputs, so every protocol rule can be tested with scripted
//! time and captured packets.
//!
//! - [`wire`] parses and emits packets (TFTP, DHCP with PXE option 43).
//! - [`client`] tells which boot firmware sent a DHCP request.
//! - [`emulate`] plays boot firmware back: its requests and its choices.
//! - [`proxy`] builds proxyDHCP offers and ACKs.
//! - [`tftp`] holds the TFTP read-transfer state machine.

pub mod client;
pub mod dhcp;
pub mod emulate;
pub mod mac;
pub mod proxy;
pub mod tftp;
pub mod wire;

#[cfg(test)]
mod golden;
#[cfg(test)]
mod testrng;
