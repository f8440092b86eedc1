//! Boot firmware played back: the exact DHCP requests each firmware sends,
//! which replies it accepts, and which files it then asks for, as pure rules
//! for `bootherd probe` (which does the I/O).
//!
//! Everything here follows PROTOCOLS.md; each rule names its source there.
//! The pieces, in the order the shell uses them:
//!
//! 1. `identity.rs`, [`Emulated`] and [`Identity`]: which firmware, with which MAC, serial
//!    and transaction ID.
//! 2. `packets.rs`, [`discover`], [`request`], [`pxe_request`]: the firmware's DHCP
//!    packets. [`dhcp_schedule`] says when it sends its DISCOVERs.
//! 3. `choice.rs`, [`Reply`] and [`choose`]: which of the replies received so far the
//!    firmware takes its address and its boot information from; when the
//!    DISCOVER phase is over without an acceptable set, [`Choice::problem`]
//!    says why in words a person can act on (`problem.rs`, [`Problem`]).
//! 4. `file_plan.rs`, [`FilePlan`]: the TFTP requests in order. The shell asks
//!    [`FilePlan::next_fetch`], performs the [`Fetch`], reports what happened with
//!    [`FilePlan::record`], and reads [`FilePlan::verdict`] at the end.
//!
//! Two things the shell changes on the wire, because it has no raw sockets
//! (both said in the `probe` help): the IP source of the DHCP packets is the
//! host's address rather than 0.0.0.0, and by default the BOOTP broadcast
//! flag is set so that offers a server would unicast to the offered address
//! still reach the host. The bytes built here are the firmware's own.

/// The text the Raspberry Pi ROM and EEPROM look for anywhere in option 43
/// (a substring search: SUSE, RN, ee#376).
pub const RPI_BOOT_MATCH: &[u8] = b"Raspberry Pi Boot";

/// What a Raspberry Pi sends in its TFTP ERROR when it stops a transfer after
/// block 1 to probe a file (raspberrypi/firmware#1700: `00 05 00 00 "Early
/// terminate"`).
pub const EARLY_TERMINATE: &str = "Early terminate";

mod choice;
mod file_plan;
mod identity;
mod packets;
mod problem;

pub use choice::*;
pub use file_plan::*;
pub use identity::*;
pub use packets::*;
pub use problem::*;

#[cfg(test)]
mod tests;
