//! bootherd's protocol cores: wire formats and state machines, with no I/O.
//!
//! Nothing in this crate touches a socket, a file, the clock or a source of
//! randomness. Bytes come in as slices, time comes in as [`std::time::Instant`]
//! values chosen by the caller, and every function answers with bytes to send
//! and the next instant at which it wants to be woken. The same inputs always
//! give the same outputs, so every protocol rule can be tested with scripted
//! time and captured packets.
//!
//! - [`wire`] parses and emits packets.
//! - [`tftp`] holds the TFTP read-transfer state machine.

pub mod tftp;
pub mod wire;
