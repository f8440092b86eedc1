//! The DHCP service on UDP 67 and 4011: receive, then hand owned clients to the DHCP
//! server and everyone else to proxyDHCP, which classifies, asks the policy, builds
//! the reply with a pure function and sends it from the address the request came to.
//!
//! Each socket has its own OS thread that takes up to [`BATCH`] requests with one
//! `recvmmsg` and sends the batch's immediate proxy replies with one `sendmmsg`; no
//! tokio worker is woken per packet. Under load the thread pauses briefly between
//! batches ([`LOAD_PAUSE`]) so that a wake-up serves many requests. Delayed replies
//! (the Raspberry Pi 3 ROM's) wait on a tokio timer.
//!
//! The parts: `socket.rs` (the receive threads), `proxy.rs` (proxyDHCP's shell),
//! `policy.rs` (which firmware gets which answer, pure), `server/` (the DHCP server
//! for owned clients).

pub mod policy;
mod proxy;
pub mod server;
mod socket;

pub use proxy::*;
pub use socket::*;

#[cfg(test)]
mod tests;
