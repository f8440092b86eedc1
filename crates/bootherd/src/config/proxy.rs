//! `[proxy]`: which firmware gets which boot file.

use serde::Deserialize;

/// proxyDHCP settings: which firmware gets which boot file. An empty string turns
/// a client kind off; such clients get no answer and one log line saying why.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// Run proxyDHCP on UDP 67 and 4011. Off unless asked for (`--proxy`): answering
    /// DHCP is something to choose, never a surprise on someone's LAN.
    pub enabled: bool,
    /// Answer Raspberry Pi boot ROMs and EEPROM bootloaders.
    pub rpi: bool,
    /// Delay before answering a Raspberry Pi 3 boot ROM, in milliseconds. The ROM acts
    /// on a reply only after a later packet or timer; Raspberry Pi staff advise 1-2 s.
    pub rpi_reply_delay_ms: u64,
    /// BIOS PXE boot file, fetched by TFTP.
    pub bios: String,
    /// UEFI x64 PXE boot file (option 93 = 7), fetched by TFTP.
    pub uefi_x64: String,
    /// UEFI IA32 PXE boot file (option 93 = 6).
    pub uefi_ia32: String,
    /// UEFI ARM64 PXE boot file (option 93 = 11).
    pub uefi_arm64: String,
    /// iPXE script path, handed to iPXE as an HTTP URL on this server.
    pub ipxe_script: String,
    /// UEFI HTTP boot file for x64 (option 93 = 16), as a path on this server's HTTP.
    pub http_x64: String,
    /// UEFI HTTP boot file for ARM64 (option 93 = 19).
    pub http_arm64: String,
    /// UDP port for DHCP requests (67). For tests; real firmware only uses 67.
    pub port: u16,
    /// UDP port for PXE boot-server requests (4011).
    pub pxe_port: u16,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            enabled: false,
            rpi: true,
            rpi_reply_delay_ms: 1000,
            bios: "undionly.kpxe".into(),
            uefi_x64: "ipxe.efi".into(),
            uefi_ia32: String::new(),
            uefi_arm64: String::new(),
            ipxe_script: "boot.ipxe".into(),
            http_x64: "ipxe.efi".into(),
            http_arm64: String::new(),
            port: 67,
            pxe_port: 4011,
        }
    }
}
