//! TFTP server logic above the wire format: one read transfer as a state machine.
//!
//! The packet codec lives in [`crate::wire::tftp`]; this module decides what
//! to send and when, given the client's datagrams and the time.

pub mod transfer;

pub use transfer::{Negotiated, Outcome, Transfer, TransferConfig, Transmit};
