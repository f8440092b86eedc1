//! dnsmasq's names for numbers: client system types (`pxe-service`) and
//! option names (`option:router`).

/// dnsmasq's client system types for `pxe-service`, as numbered since dnsmasq
/// 2.76 (whose changelog swapped BC_EFI and x86-64_EFI to follow RFC 4578's
/// erratum): the position in this list is the option 93 value.
pub(super) const CSA_NAMES: [&str; 12] = [
    "x86PC",
    "PC98",
    "IA64_EFI",
    "Alpha",
    "Arc_x86",
    "Intel_Lean_Client",
    "IA32_EFI",
    "x86-64_EFI",
    "Xscale_EFI",
    "BC_EFI",
    "ARM32_EFI",
    "ARM64_EFI",
];

/// The dnsmasq name of an option 93 value, for messages.
pub fn csa_name(csa: u16) -> String {
    CSA_NAMES
        .get(usize::from(csa))
        .map(|s| s.to_string())
        .unwrap_or_else(|| csa.to_string())
}

/// Option names (`option:NAME`) import reads, with their numbers (`dnsmasq --help
/// dhcp`).
const OPTION_NAMES: [(&str, u16); 12] = [
    ("netmask", 1),
    ("router", 3),
    ("dns-server", 6),
    ("domain-name", 15),
    ("root-path", 17),
    ("vendor-class", 60),
    ("tftp-server", 66),
    ("bootfile-name", 67),
    ("user-class", 77),
    ("client-arch", 93),
    ("client-interface-id", 94),
    ("client-machine-id", 97),
];

pub(super) fn option_number(text: &str) -> Option<u16> {
    match text.strip_prefix("option:") {
        Some(name) => OPTION_NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, number)| number)
            .or_else(|| name.parse().ok()),
        None => text.parse().ok(),
    }
}
