//! Packet formats: each submodule parses and emits one protocol's datagrams.

pub mod dhcp;
pub mod tftp;
