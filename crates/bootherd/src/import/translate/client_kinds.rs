//! The kinds of client bootherd's proxy tells apart, as dnsmasq's tag rules
//! would see them.

use super::*;

/// The kinds of client bootherd's proxy tells apart, with the key each one's
/// boot file goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Bios,
    UefiX64,
    UefiIa32,
    UefiArm64,
    Ipxe,
    IpxeEfi,
    HttpX64,
    HttpArm64,
}

impl Kind {
    pub(super) fn client(self) -> Client {
        match self {
            Kind::Bios => Client::pxe(0, "PXEClient:Arch:00000:UNDI:002001"),
            Kind::UefiIa32 => Client::pxe(6, "PXEClient:Arch:00006:UNDI:003016"),
            Kind::UefiX64 => Client::pxe(7, "PXEClient:Arch:00007:UNDI:003016"),
            Kind::UefiArm64 => Client::pxe(11, "PXEClient:Arch:00011:UNDI:003016"),
            Kind::Ipxe => Client {
                user_class: Some("iPXE".into()),
                ipxe_options: Some(true),
                ..Client::pxe(0, "PXEClient:Arch:00000:UNDI:002001")
            },
            Kind::IpxeEfi => Client {
                user_class: Some("iPXE".into()),
                ipxe_options: Some(true),
                ..Client::pxe(7, "PXEClient:Arch:00007:UNDI:003010")
            },
            Kind::HttpX64 => Client::pxe(16, "HTTPClient:Arch:00016:UNDI:003001"),
            Kind::HttpArm64 => Client::pxe(19, "HTTPClient:Arch:00019:UNDI:003001"),
        }
    }

    pub(super) fn what(self) -> &'static str {
        match self {
            Kind::Bios => "BIOS PXE",
            Kind::UefiX64 => "UEFI x64 PXE (option 93 = 7)",
            Kind::UefiIa32 => "UEFI IA32 PXE (option 93 = 6)",
            Kind::UefiArm64 => "UEFI ARM64 PXE (option 93 = 11)",
            Kind::Ipxe => "iPXE",
            Kind::IpxeEfi => "iPXE on UEFI",
            Kind::HttpX64 => "UEFI x64 HTTP boot (option 93 = 16)",
            Kind::HttpArm64 => "UEFI ARM64 HTTP boot (option 93 = 19)",
        }
    }

    /// HTTP boot firmware sends `HTTPClient`, not `PXEClient`: dnsmasq never
    /// offers it a PXE menu.
    pub(super) fn sees_menus(self) -> bool {
        !matches!(self, Kind::HttpX64 | Kind::HttpArm64)
    }
}
