use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use super::*;
use serde::Deserialize;

/// The two sections as they sit in the config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sections {
    #[serde(default)]
    profiles: BTreeMap<String, ProfileConfig>,
    #[serde(default)]
    machines: Vec<MachineConfig>,
}

pub(crate) fn parse(text: &str) -> Result<Inventory, InventoryErrors> {
    let sections: Sections = toml::from_str(text).expect("fixture parses");
    Inventory::from_parts(&sections.profiles, &sections.machines)
}

pub(crate) fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inventory")
}

pub(crate) fn fixture() -> Inventory {
    let text = std::fs::read_to_string(fixture_dir().join("inventory.toml")).unwrap();
    parse(&text).unwrap_or_else(|e| panic!("fixture inventory:\n{e}"))
}

/// The messages a broken inventory produces, one line each.
fn errors(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

fn assert_error(text: &str, expected: &str) {
    let errors = errors(text);
    assert!(
        errors.iter().any(|e| e.contains(expected)),
        "expected an error containing {expected:?}, got {errors:#?}"
    );
}

const PI4: &str = "[profiles.pi4]\nkind = \"rpi\"\nkernel = \"kernel8.img\"\n";

#[test]
fn mac_forms() {
    let want = Mac([0xdc, 0xa6, 0x32, 0x01, 0x36, 0xc2]);
    for text in [
        "dc:a6:32:01:36:c2",
        "DC:A6:32:01:36:C2",
        "dc-a6-32-01-36-c2",
        "dca6320136c2",
        " dc:a6:32:01:36:c2 ",
    ] {
        assert_eq!(Mac::parse(text), Some(want), "{text}");
    }
    assert_eq!(want.to_string(), "dc:a6:32:01:36:c2");
    assert_eq!(want.dashes(), "dc-a6-32-01-36-c2");
    assert_eq!(want.hex(), "dca6320136c2");
    for bad in [
        "",
        "dc:a6:32:01:36",
        "dc:a6:32:01:36:c2:00",
        "dc:a6:32:01:36:g2",
        "dc:a6-32:01:36:c2",
        "d:ca6:32:01:36:c2",
        "dca6320136c",
        "dca6320136c2a",
        "+c:a6:32:01:36:c2",
    ] {
        assert_eq!(Mac::parse(bad), None, "{bad}");
    }
}

#[test]
fn serial_forms() {
    assert_eq!(normalize_serial("9ffefdef").as_deref(), Some("9ffefdef"));
    assert_eq!(normalize_serial("9FFEFDEF").as_deref(), Some("9ffefdef"));
    assert_eq!(
        normalize_serial("100000009ffefdef").as_deref(),
        Some("9ffefdef")
    );
    assert_eq!(normalize_serial("0x9ffefdef").as_deref(), Some("9ffefdef"));
    assert_eq!(normalize_serial("abcd").as_deref(), Some("0000abcd"));
    for bad in ["", "0x", "9ffefdeg", "1000000009ffefdef", "9ffe fdef"] {
        assert_eq!(normalize_serial(bad), None, "{bad}");
    }
}

#[test]
fn fixture_lookups() {
    let inv = fixture();
    assert_eq!(inv.machines().len(), 8);
    let kitchen = inv.by_name("kitchen-pi").unwrap();
    assert_eq!(
        inv.by_mac(&[0xdc, 0xa6, 0x32, 0x01, 0x36, 0xc2])
            .unwrap()
            .name,
        "kitchen-pi"
    );
    assert_eq!(inv.by_serial("9ffefdef").unwrap().name, "kitchen-pi");
    assert_eq!(
        inv.by_serial("100000009FFEFDEF").unwrap().name,
        "kitchen-pi"
    );
    assert_eq!(inv.profile_of(kitchen).name, "pi4-iscsi");
    assert_eq!(kitchen.ip, Some(Ipv4Addr::new(10, 0, 0, 50)));
    assert_eq!(
        kitchen.dir.as_deref(),
        Some(std::path::Path::new("machines/kitchen-pi"))
    );
    // The 16-digit serial keeps its last 8 digits, lowercase.
    assert_eq!(
        inv.by_name("garage-pi3").unwrap().serial.as_deref(),
        Some("e1ffda08")
    );
    assert_eq!(
        inv.by_name("hall-pi").unwrap().serial.as_deref(),
        Some("1a2b3c4d")
    );
    assert!(inv.by_name("nobody").is_none());
    assert!(inv.by_serial("00000000").is_none());
    assert!(inv.by_serial("not hex").is_none());
    assert!(inv.by_mac(&[0; 6]).is_none());
    assert_eq!(
        inv.profile("rock64").unwrap().folder.as_deref(),
        Some("rock64")
    );
    assert_eq!(
        inv.profile("rock64-fdt").unwrap().folder.as_deref(),
        Some("rock64")
    );
    assert_eq!(inv.profile("pi4-iscsi").unwrap().model, Some(RpiModel::Pi4));
    assert_eq!(inv.profile("pi3-nfs").unwrap().model, Some(RpiModel::Pi3));
    assert_eq!(inv.profile("rock64").unwrap().model, None);
}

#[test]
fn prefixes() {
    let inv = fixture();
    let name = |c: &str| inv.machine_for_prefix(c).map(|m| m.name.as_str());
    assert_eq!(name("9ffefdef"), Some("kitchen-pi"));
    assert_eq!(name("dc-a6-32-01-36-c2"), Some("kitchen-pi"));
    assert_eq!(name("dca6320136c2"), Some("kitchen-pi"));
    assert_eq!(name("e1ffda08"), Some("garage-pi3"));
    assert_eq!(name("e4-5f-01-aa-bb-cc"), Some("hall-pi"));
    assert_eq!(name("02abcd000001"), Some("rock64-a"));
    assert_eq!(name("dc:a6:32:01:36:c2"), None);
    assert_eq!(name("00000000"), None);
    assert_eq!(name("overlays"), None);
    assert_eq!(name("rock64"), None);
}

#[test]
fn locate_paths() {
    let inv = fixture();
    let at = |path: &'static str| {
        inv.locate(path)
            .map(|l| (l.machine.name.as_str(), l.scope, l.path))
    };
    use Scope::{Machine as M, Root as R};
    assert_eq!(
        at("9ffefdef/start4.elf"),
        Some(("kitchen-pi", M, "start4.elf"))
    );
    assert_eq!(
        at("dc-a6-32-01-36-c2/overlays/vc4-kms-v3d.dtbo"),
        Some(("kitchen-pi", M, "overlays/vc4-kms-v3d.dtbo"))
    );
    assert_eq!(
        at("rock64/02abcd000001/Image"),
        Some(("rock64-a", M, "Image"))
    );
    assert_eq!(
        at("rock64/02abcd000002/rockchip/rk3328-rock64.dtb"),
        Some(("rock64-b", M, "rockchip/rk3328-rock64.dtb"))
    );
    assert_eq!(at("02abcd000001/Image"), Some(("rock64-a", M, "Image")));
    assert_eq!(
        at("pxelinux.cfg/01-02-ab-cd-00-00-01"),
        Some(("rock64-a", R, "pxelinux.cfg/01-02-ab-cd-00-00-01"))
    );
    assert_eq!(
        at("m/52-54-00-12-34-56/boot.ipxe"),
        Some(("office-pc", M, "boot.ipxe"))
    );
    assert_eq!(
        at("m/52:54:00:12:34:56/vmlinuz"),
        Some(("office-pc", M, "vmlinuz"))
    );
    assert_eq!(
        at("m/525400123456/initrd.img"),
        Some(("office-pc", M, "initrd.img"))
    );
    // Not a machine's: served from the root as before.
    for path in [
        "bootcode.bin",
        "9ffefdef",
        "00000000/start.elf",
        "pxelinux.cfg/default",
        "pxelinux.cfg/01-dc-a6-32-01-36-c2", // a Pi, not a pxelinux machine
        "pxelinux.cfg/01-00-00-00-00-00-00",
        "pxelinux.cfg/0A000032",
        "other/02abcd000001/Image", // not rock64-a's folder
        "rock64/02abcd000009/Image",
        "rock64/02abcd000001",
        "m/52-54-00-12-34-56",
        "m/52-54-00-00-00-00/boot.ipxe",
        "m/nonsense/boot.ipxe",
    ] {
        assert_eq!(at(path), None, "{path}");
    }
}

#[test]
fn request_paths_locate_back() {
    let inv = fixture();
    let ns = |name| inv.namespace(inv.by_name(name).unwrap());
    assert_eq!(ns("kitchen-pi"), "9ffefdef");
    assert_eq!(ns("rock64-b"), "rock64/02abcd000002");
    assert_eq!(ns("office-pc"), "m/52-54-00-12-34-56");
    assert_eq!(ns("lab-efi"), "m/52-54-00-ab-cd-ef");
    for machine in inv.machines() {
        let profile = inv.profile_of(machine);
        for file in expected_files(machine, profile) {
            let path = inv.request_path(machine, file.scope, &file.path);
            match file.scope {
                Scope::Root => assert_eq!(path, file.path),
                Scope::Machine => {
                    let located = inv.locate(&path).unwrap_or_else(|| panic!("{path}"));
                    assert_eq!(located.machine.name, machine.name, "{path}");
                    assert_eq!(located.path, file.path, "{path}");
                }
            }
        }
    }
}

#[test]
fn kernel_command_lines() {
    let inv = fixture();
    let line = |name| inv.by_name(name).unwrap().args.full();
    assert_eq!(
        line("garage-pi3"),
        "console=serial0,115200 console=tty1 root=/dev/nfs \
         nfsroot=10.0.0.5:/srv/nfs/garage-pi3,vers=4.1,proto=tcp rw ip=dhcp rootwait"
    );
    assert_eq!(
        line("kitchen-pi"),
        "console=serial0,115200 console=tty1 ip=dhcp \
         ISCSI_INITIATOR=iqn.2004-04.com.example:kitchen-pi \
         ISCSI_TARGET_NAME=iqn.2004-04.com.example:pi4-9ffefdef ISCSI_TARGET_IP=10.0.0.5 \
         ISCSI_TARGET_PORT=3260 \
         root=/dev/disk/by-path/ip-10.0.0.5:3260-iscsi-iqn.2004-04.com.example:pi4-9ffefdef-lun-1-part2 \
         rw rootwait modprobe.blacklist=bcm2835_v4l2"
    );
    assert_eq!(
        line("rock64-a"),
        "console=ttyS2,1500000 earlycon root=/dev/nfs \
         nfsroot=10.0.0.5:/srv/nfs/rock64/02-ab-cd-00-00-01 rw ip=dhcp rootwait"
    );
    assert_eq!(
        line("rock64-b"),
        "console=ttyS2,1500000 ip=dhcp ISCSI_TARGET_NAME=iqn.2004-04.com.example:rock64 \
         ISCSI_TARGET_IP=10.0.0.5 ISCSI_TARGET_PORT=3260 root=PARTUUID=6c586e13-02 rw \
         rootwait loglevel=7"
    );
    // The profile's own ip= wins: no second one.
    assert_eq!(
        line("office-pc"),
        "console=tty0 console=ttyS0,115200n8 ip=::::office-pc:eth0:dhcp root=/dev/nfs \
         nfsroot=10.0.0.5:/srv/nfs/pc,ro rw rootwait"
    );
    assert_eq!(line("lab-efi"), "");
}

#[test]
fn iscsi_by_path_forms() {
    let ip = Ipv4Addr::new(10, 0, 0, 5);
    assert_eq!(
        iscsi_by_path(ip, 3260, "iqn.x:y", 0, None),
        "/dev/disk/by-path/ip-10.0.0.5:3260-iscsi-iqn.x:y-lun-0"
    );
    assert_eq!(
        iscsi_by_path(ip, 3261, "iqn.x:y", 255, Some(1)),
        "/dev/disk/by-path/ip-10.0.0.5:3261-iscsi-iqn.x:y-lun-255-part1"
    );
    assert_eq!(
        iscsi_by_path(ip, 3260, "iqn.x:y", 0x0001_4001, None),
        "/dev/disk/by-path/ip-10.0.0.5:3260-iscsi-iqn.x:y-lun-0x4001000100000000"
    );
}

#[test]
fn placeholders() {
    let vars = Vars {
        name: "n1",
        mac: Mac::parse("dc:a6:32:01:36:c2"),
        serial: Some("9ffefdef"),
    };
    let fill = |text| substitute(text, |p| vars.get(p));
    assert_eq!(
        fill("a={name} b={mac} c={serial}").unwrap(),
        "a=n1 b=dc-a6-32-01-36-c2 c=9ffefdef"
    );
    assert_eq!(fill("{{name}} {{{name}}}").unwrap(), "{name} {n1}");
    assert_eq!(fill("no placeholders").unwrap(), "no placeholders");
    assert!(fill("{nope}")
        .unwrap_err()
        .contains("unknown placeholder {nope}"));
    assert!(fill("x{name").unwrap_err().contains("without its `}`"));
    assert!(fill("x}y").unwrap_err().contains("lone `}`"));
    let bare = Vars {
        name: "n2",
        mac: None,
        serial: None,
    };
    assert!(substitute("{mac}", |p| bare.get(p))
        .unwrap_err()
        .contains("no mac"));
    assert!(substitute("{serial}", |p| bare.get(p))
        .unwrap_err()
        .contains("no serial"));
}

#[test]
fn placeholder_errors_name_the_key() {
    assert_error(
        "[profiles.p]\nkind = \"rpi\"\ncmdline = \"x={host}\"\n",
        "profile p: cmdline: unknown placeholder {host}",
    );
    assert_error(
        "[profiles.p]\nkind = \"rpi\"\nroot = { type = \"nfs\", server = \"s\", path = \"/x/{nme}\" }\n",
        "profile p: root.path: unknown placeholder {nme}",
    );
    // {serial} in a profile used by a Pi listed by MAC only.
    assert_error(
        &format!(
            "{PI4}root = {{ type = \"iscsi\", portal = \"10.0.0.5\", target = \"iqn.x:{{serial}}\" }}\n\
             [[machines]]\nname = \"a\"\nmac = \"dc:a6:32:01:36:c2\"\nprofile = \"pi4\"\n"
        ),
        "machine a: profiles.pi4.root.target: uses {serial}, but the machine has no serial",
    );
    assert_error(
        "[profiles.r]\nkind = \"pxelinux\"\nkernel = \"Image\"\ncmdline = \"{serial}\"\n\
         [[machines]]\nname = \"b\"\nmac = \"02:00:00:00:00:01\"\nprofile = \"r\"\n",
        "machine b: profiles.r.cmdline: uses {serial}, but the machine has no serial",
    );
}

#[test]
fn machine_errors() {
    let m = |body: &str| format!("{PI4}[[machines]]\n{body}");
    let cases: &[(&str, &str)] = &[
        (
            "name = \"a\"\nmac = \"dc:a6:32:01:36\"\nprofile = \"pi4\"\n",
            "machine a: mac: `dc:a6:32:01:36` is not a MAC address",
        ),
        (
            "name = \"a\"\nserial = \"xyz\"\nprofile = \"pi4\"\n",
            "machine a: serial: `xyz` is not a serial",
        ),
        (
            "name = \"a\"\nserial = \"9ffefdef\"\nprofile = \"pi5\"\n",
            "machine a: profile: no profile named `pi5`",
        ),
        (
            "name = \"a\"\nprofile = \"pi4\"\n",
            "machine a: serial: a Raspberry Pi needs `serial`",
        ),
        (
            "name = \"\"\nserial = \"1\"\nprofile = \"pi4\"\n",
            "machines[0]: name: missing",
        ),
        (
            "name = \"a b\"\nserial = \"1\"\nprofile = \"pi4\"\n",
            "machine a b: name: `a b` may hold only",
        ),
        (
            "name = \"a\"\nserial = \"1\"\nprofile = \"pi4\"\ndir = \"\"\n",
            "machine a: dir: empty path",
        ),
    ];
    for (body, expected) in cases {
        assert_error(&m(body), expected);
    }
}

#[test]
fn duplicate_errors() {
    let text = format!(
        "{PI4}\
         [[machines]]\nname = \"a\"\nmac = \"dc:a6:32:01:36:c2\"\nserial = \"9ffefdef\"\n\
         profile = \"pi4\"\nip = \"10.0.0.9\"\n\
         [[machines]]\nname = \"b\"\nmac = \"DC-A6-32-01-36-C2\"\nserial = \"100000009FFEFDEF\"\n\
         profile = \"pi4\"\nip = \"10.0.0.9\"\n\
         [[machines]]\nname = \"a\"\nserial = \"1\"\nprofile = \"pi4\"\n"
    );
    let errors = errors(&text);
    assert_eq!(
        errors,
        [
            "machine b: mac: dc:a6:32:01:36:c2 is also machine a's",
            "machine b: serial: 9ffefdef is also machine a's",
            "machine b: ip: 10.0.0.9 is also machine a's",
            "machine a: name: also the name of machines[0]",
        ]
    );
}

#[test]
fn kind_specific_machine_errors() {
    let pi3 = "[profiles.pi3]\nkind = \"rpi\"\nmodel = \"pi3\"\n\
               [[machines]]\nname = \"a\"\nmac = \"b8:27:eb:00:00:01\"\nprofile = \"pi3\"\n";
    assert_error(pi3, "machine a: serial: a Pi 3 needs its serial");
    let uboot = "[profiles.r]\nkind = \"pxelinux\"\nkernel = \"Image\"\n\
                 [[machines]]\nname = \"r1\"\nserial = \"12345678\"\nprofile = \"r\"\n";
    let errors = errors(uboot);
    assert!(errors.contains(&"machine r1: mac: a pxelinux machine needs its MAC".to_owned()));
    assert!(
        errors.contains(&"machine r1: serial: only Raspberry Pis are found by serial".to_owned())
    );
    // A Pi 4 by MAC alone (TFTP_PREFIX=2) is fine.
    let ok = format!(
        "{PI4}[[machines]]\nname = \"a\"\nmac = \"dc:a6:32:01:36:c2\"\nprofile = \"pi4\"\n"
    );
    let inv = parse(&ok).unwrap();
    assert_eq!(inv.namespace(&inv.machines()[0]), "dc-a6-32-01-36-c2");
}

#[test]
fn profile_errors() {
    let cases: &[(&str, &str)] = &[
        (
            "kind = \"rpi\"\nroot = { type = \"iscsi\", portal = \"10.0.0.5\" }",
            "profile p: root.target: missing: an iscsi root needs the target's IQN",
        ),
        (
            "kind = \"rpi\"\nroot = { type = \"iscsi\", target = \"iqn.x:y\" }",
            "profile p: root.portal: missing: an iscsi root needs the target's IPv4 address",
        ),
        (
            "kind = \"rpi\"\nroot = { type = \"iscsi\", portal = \"nas.lan\", target = \"t\" }",
            "profile p: root.portal: `nas.lan` is not an IPv4 address",
        ),
        (
            "kind = \"rpi\"\nroot = { type = \"iscsi\", portal = \"10.0.0.5\", target = \"t\", port = 0 }",
            "profile p: root.port: 0 is not a TCP port",
        ),
        (
            "kind = \"rpi\"\nroot = { type = \"iscsi\", portal = \"10.0.0.5\", target = \"t\", partition = 0 }",
            "profile p: root.partition: partitions count from 1",
        ),
        (
            "kind = \"rpi\"\nroot = { type = \"iscsi\", portal = \"10.0.0.5\", target = \"t\", partition = 2, root_device = \"/dev/sda2\" }",
            "profile p: root.partition: has no effect when root_device is set",
        ),
        (
            "kind = \"rpi\"\nroot = { type = \"iscsi\", portal = \"10.0.0.5\", target = \"a b\" }",
            "profile p: root.target: `a b` must be one word",
        ),
        (
            "kind = \"rpi\"\nroot = { type = \"nfs\", path = \"/srv\" }",
            "profile p: root.server: missing",
        ),
        (
            "kind = \"rpi\"\nroot = { type = \"nfs\", server = \"s\" }",
            "profile p: root.path: missing",
        ),
        (
            "kind = \"rpi\"\nroot = { type = \"nfs\", server = \"s\", path = \"srv\" }",
            "profile p: root.path: `srv` is not an absolute path",
        ),
        (
            "kind = \"pxelinux\"\nkernel = \"Image\"\nconfig_txt = \"x=1\"",
            "profile p: config_txt: only rpi profiles use it, this one is pxelinux",
        ),
        (
            "kind = \"ipxe\"\nkernel = \"vmlinuz\"\nmodel = \"pi4\"",
            "profile p: model: only rpi profiles use it, this one is ipxe",
        ),
        (
            "kind = \"pxelinux\"",
            "profile p: kernel: missing: the generated pxelinux.cfg names the kernel",
        ),
        (
            "kind = \"ipxe\"",
            "profile p: kernel: missing: the generated boot.ipxe names the kernel",
        ),
        (
            "kind = \"rpi\"\nfdtdir = \"dtbs\"",
            "profile p: fdtdir: only pxelinux profiles use it, this one is rpi",
        ),
        (
            "kind = \"rpi\"\nfolder = \"x\"",
            "profile p: folder: only pxelinux profiles use it",
        ),
        (
            "kind = \"ipxe\"\nkernel = \"k\"\ndtb = \"x.dtb\"",
            "profile p: dtb: only rpi and pxelinux profiles use it, this one is ipxe",
        ),
        (
            "kind = \"efi\"\nkernel = \"grubx64.efi\"\ncmdline = \"quiet\"",
            "profile p: cmdline: only rpi, pxelinux, ipxe and grub profiles use it, this one is efi",
        ),
        (
            "kind = \"pxelinux\"\nkernel = \"Image\"\ndtb = \"a.dtb\"\nfdtdir = \"dtbs\"",
            "profile p: fdtdir: set either dtb",
        ),
        (
            "kind = \"pxelinux\"\nkernel = \"/boot/Image\"",
            "profile p: kernel: `/boot/Image` is not in clean form; write `boot/Image`",
        ),
        (
            "kind = \"pxelinux\"\nkernel = \"../Image\"",
            "profile p: kernel: `../Image`: refused name",
        ),
        (
            "kind = \"pxelinux\"\nkernel = \"a//Image\"",
            "profile p: kernel: `a//Image` is not in clean form; write `a/Image`",
        ),
        (
            "kind = \"pxelinux\"\nkernel = \"my Image\"",
            "profile p: kernel: `my Image` contains a blank",
        ),
        (
            "kind = \"pxelinux\"\nkernel = \"image.itb#conf\"",
            "profile p: kernel: `image.itb#conf` contains `#`",
        ),
        (
            "kind = \"pxelinux\"\nkernel = \"Image\"\noverlays = [\"a,b=1\"]",
            "profile p: overlays[0]: `a,b=1`: pxelinux fdtoverlays takes files",
        ),
        (
            "kind = \"rpi\"\noverlays = [\"overlays/x\"]",
            "profile p: overlays[0]: `overlays/x`: an overlay name, not a path",
        ),
        (
            "kind = \"pxelinux\"\nkernel = \"Image\"\nfolder = \"m\"",
            "profile p: folder: `m` is reserved",
        ),
        (
            "kind = \"pxelinux\"\nkernel = \"Image\"\nfolder = \"a/b\"",
            "profile p: folder: `a/b` may hold only",
        ),
    ];
    for (body, expected) in cases {
        assert_error(&format!("[profiles.p]\n{body}\n"), expected);
    }
    assert_error(
        "[profiles.\"bad name\"]\nkind = \"rpi\"\n",
        "profile bad name: name: `bad name` may hold only",
    );
    // rpi overlay parameters are fine: dtoverlay=vc4-kms-v3d,cma-512.
    parse("[profiles.p]\nkind = \"rpi\"\noverlays = [\"vc4-kms-v3d,cma-512\"]\n").unwrap();
}

#[test]
fn machine_of_a_broken_profile_is_not_reported_twice() {
    let errors = errors(
        "[profiles.r]\nkind = \"pxelinux\"\n\
         [[machines]]\nname = \"a\"\nmac = \"02:00:00:00:00:01\"\nprofile = \"r\"\n",
    );
    assert_eq!(
        errors,
        ["profile r: kernel: missing: the generated pxelinux.cfg names the kernel"]
    );
}

#[test]
fn unknown_keys_are_refused() {
    for (text, key) in [
        ("[profiles.p]\nkind = \"rpi\"\nkernal = \"k\"\n", "kernal"),
        (
            "[profiles.p]\nkind = \"rpi\"\nroot = { type = \"nfs\", server = \"s\", path = \"/x\", port = 1 }\n",
            "port",
        ),
        (
            "[profiles.p]\nkind = \"rpi\"\nroot = { type = \"iscsi\", portal = \"10.0.0.5\", target = \"t\", lun_id = 1 }\n",
            "lun_id",
        ),
        ("[profiles.p]\nkind = \"rpi\"\nroot = { type = \"smb\" }\n", "smb"),
        ("[profiles.p]\nkind = \"uboot\"\n", "uboot"),
        ("[profiles.p]\nkind = \"rpi\"\nmodel = \"pi6\"\n", "pi6"),
        ("[[machines]]\nname = \"a\"\nprofile = \"p\"\nmack = \"x\"\n", "mack"),
    ] {
        let err = toml::from_str::<Sections>(text).unwrap_err().to_string();
        assert!(err.contains(key), "{key}: {err}");
    }
}

#[test]
fn errors_come_all_at_once() {
    let errors = errors(
        "[profiles.a]\nkind = \"pxelinux\"\n\
         [profiles.b]\nkind = \"rpi\"\nconfig_txt = \"x\"\nroot = { type = \"iscsi\" }\n\
         [[machines]]\nname = \"m1\"\nmac = \"zz\"\nprofile = \"b\"\n\
         [[machines]]\nname = \"m2\"\nprofile = \"c\"\n",
    );
    assert_eq!(
        errors,
        [
            "profile a: kernel: missing: the generated pxelinux.cfg names the kernel",
            "profile b: root.portal: missing: an iscsi root needs the target's IPv4 address",
            "profile b: root.target: missing: an iscsi root needs the target's IQN",
            "machine m1: mac: `zz` is not a MAC address (aa:bb:cc:dd:ee:ff)",
            "machine m2: profile: no profile named `c`",
        ]
    );
    let joined = InventoryErrors(vec![
        InventoryError {
            subject: "machine a".into(),
            entry: Entry::Machine(0),
            key: "mac".into(),
            message: "x".into(),
        };
        2
    ])
    .to_string();
    assert_eq!(joined, "machine a: mac: x\nmachine a: mac: x");
}

fn expected(inv: &Inventory, name: &str) -> Vec<(Scope, String, bool)> {
    let machine = inv.by_name(name).unwrap();
    expected_files(machine, inv.profile_of(machine))
        .into_iter()
        .map(|f| (f.scope, f.path, f.required))
        .collect()
}

#[test]
fn expected_files_per_kind() {
    use Scope::{Machine as M, Root as R};
    let s = |x: &str| x.to_owned();
    let inv = fixture();
    assert_eq!(
        expected(&inv, "garage-pi3"),
        [
            (R, s("bootcode.bin"), true),
            (M, s("start.elf"), true),
            (M, s("fixup.dat"), true),
            (M, s("kernel8.img"), true),
            (M, s("bcm2710-rpi-3-b.dtb"), true),
        ]
    );
    assert_eq!(
        expected(&inv, "kitchen-pi"),
        [
            (M, s("start4.elf"), true),
            (M, s("fixup4.dat"), true),
            (M, s("kernel8.img"), true),
            (M, s("initramfs8"), true),
            (M, s("bcm2711-rpi-4-b.dtb"), true),
            (M, s("overlays/vc4-kms-v3d.dtbo"), true),
        ]
    );
    assert_eq!(
        expected(&inv, "rock64-a"),
        [(M, s("Image"), true), (M, s("initrd.img"), true)]
    );
    assert_eq!(
        expected(&inv, "rock64-b"),
        [
            (M, s("Image"), true),
            (M, s("rockchip/rk3328-rock64.dtb"), true),
            (M, s("overlays/rk3328-uart1.dtbo"), true),
        ]
    );
    assert_eq!(
        expected(&inv, "office-pc"),
        [(M, s("vmlinuz"), true), (M, s("initrd.img"), true)]
    );
    assert_eq!(expected(&inv, "lab-efi"), [(M, s("grubnetx64.efi"), true)]);

    // A Pi 5 needs no start*.elf; without config_txt, config.txt must name the
    // initramfs itself, and cmdline.txt is optional when nothing generates it.
    let pi5 = parse(
        "[profiles.p5]\nkind = \"rpi\"\nmodel = \"pi5\"\nkernel = \"kernel_2712.img\"\n\
         initrd = \"initramfs_2712\"\n\
         [[machines]]\nname = \"five\"\nserial = \"12345678\"\nprofile = \"p5\"\n",
    )
    .unwrap();
    let files = expected_files(&pi5.machines()[0], &pi5.profiles()[0]);
    let paths: Vec<(&str, bool)> = files
        .iter()
        .map(|f| (f.path.as_str(), f.required))
        .collect();
    assert_eq!(
        paths,
        [
            ("kernel_2712.img", true),
            ("initramfs_2712", true),
            ("config.txt", true),
            ("cmdline.txt", false),
        ]
    );
    assert!(
        files[2].why.contains("kernel_2712.img, initramfs_2712"),
        "{}",
        files[2].why
    );
}

#[test]
fn grub_machines_files_and_lookups() {
    use Scope::{Machine as M, Root as R};
    let s = |x: &str| x.to_owned();
    let inv = fixture();
    assert_eq!(
        expected(&inv, "desk-sb"),
        [
            (M, s("debian-installer/amd64/bootnetx64.efi"), true),
            (M, s("debian-installer/amd64/grubx64.efi"), true),
            (M, s("debian-installer/amd64/linux"), true),
            (M, s("debian-installer/amd64/initrd.gz"), true),
        ]
    );
    let m = inv.by_name("desk-sb").unwrap();
    assert_eq!(inv.namespace(m), "m/52-54-00-5b-00-01");
    // The generated file, by the name GRUB's probe asks first.
    let at = |path: &'static str| {
        inv.locate(path)
            .map(|l| (l.machine.name.as_str(), l.scope, l.path))
    };
    assert_eq!(
        at("debian-installer/amd64/grub/grub.cfg-01-52-54-00-5b-00-01"),
        Some((
            "desk-sb",
            R,
            "debian-installer/amd64/grub/grub.cfg-01-52-54-00-5b-00-01"
        ))
    );
    assert_eq!(
        at("m/52-54-00-5b-00-01/debian-installer/amd64/linux"),
        Some(("desk-sb", M, "debian-installer/amd64/linux"))
    );
    for path in [
        // Another prefix, a MAC form GRUB does not write, another machine's MAC,
        // a machine that is not grub's.
        "grub/grub.cfg-01-52-54-00-5b-00-01",
        "debian-installer/amd64/grub/grub.cfg-01-52:54:00:5b:00:01",
        "debian-installer/amd64/grub/grub.cfg-01-52-54-00-5b-00-02",
        "debian-installer/amd64/grub/grub.cfg-01-52-54-00-12-34-56",
        "debian-installer/amd64/grub/grub.cfg",
    ] {
        assert_eq!(at(path), None, "{path}");
    }
    // `<prefix>/grub.cfg` by the asking address: only the machine's own ip.
    let by = |path, ip: [u8; 4]| {
        inv.grub_cfg_by_address(path, Ipv4Addr::from(ip))
            .map(|m| m.name.as_str())
    };
    assert_eq!(
        by("debian-installer/amd64/grub/grub.cfg", [10, 0, 0, 70]),
        Some("desk-sb")
    );
    assert_eq!(
        by("debian-installer/amd64/grub/grub.cfg", [10, 0, 0, 71]),
        None
    );
    // office-pc has an ip but is not a grub machine.
    assert_eq!(
        by("debian-installer/amd64/grub/grub.cfg", [10, 0, 0, 60]),
        None
    );
    assert_eq!(by("grub/grub.cfg", [10, 0, 0, 70]), None);
    assert_eq!(
        by("debian-installer/amd64/grubgrub.cfg", [10, 0, 0, 70]),
        None
    );
    assert_eq!(by("grub.cfg", [10, 0, 0, 70]), None);
    assert_eq!(
        by(
            "debian-installer/amd64/grub/x86_64-efi/grub.cfg",
            [10, 0, 0, 70]
        ),
        None
    );
}

#[test]
fn grub_profile_errors() {
    let machine = "[[machines]]\nname = \"a\"\nmac = \"02:00:00:00:00:01\"\nprofile = \"p\"\n";
    let errors = errors(&format!("[profiles.p]\nkind = \"grub\"\n{machine}"));
    assert_eq!(
        errors,
        [
            "profile p: shim: missing: the signed shim is the boot file a Secure Boot machine loads",
            "profile p: grub_prefix: missing: the prefix GRUB was built with, where it reads \
             grub.cfg (Debian's signed netboot GRUB: debian-installer/amd64/grub)",
            "profile p: kernel: missing: the generated grub.cfg names the kernel",
        ]
    );
    let ok = "kind = \"grub\"\nshim = \"s.efi\"\ngrub_prefix = \"g\"\nkernel = \"k\"\n";
    assert_error(
        &format!("[profiles.p]\n{ok}{machine}"),
        "machine a: ip: a grub machine needs its ip: bootherd's DHCP server owns it \
         (GRUB 2.06 cannot boot from a proxy answer) and answers GRUB's \
         <grub_prefix>/grub.cfg by the address asking",
    );
    assert_error(
        &format!("[profiles.p]\n{ok}grub = \"x/grubx64.efi\"\n{machine}ip = \"10.0.0.9\"\n"),
        "profile p: grub: `x/grubx64.efi`: a file name in the shim's folder, not a path",
    );
    assert_error(
        &format!("[profiles.p]\n{ok}\n[profiles.q]\nkind = \"efi\"\nshim = \"s.efi\"\n{machine}"),
        "profile q: shim: only grub profiles use it, this one is efi",
    );
    assert_error(
        &format!("[profiles.p]\nkind = \"grub\"\nshim = \"../s.efi\"\ngrub_prefix = \"g\"\nkernel = \"k\"\n{machine}"),
        "profile p: shim: `../s.efi`",
    );
    // Complete: parses, the default GRUB name is grubx64.efi.
    let inv = parse(&format!("[profiles.p]\n{ok}{machine}ip = \"10.0.0.9\"\n")).unwrap();
    assert_eq!(inv.profiles()[0].grub.as_deref(), Some("grubx64.efi"));
}

#[test]
fn grub_command_lines_refuse_what_grub_would_interpret() {
    let profile = |cmdline: &str| {
        format!(
            "[profiles.p]\nkind = \"grub\"\nshim = \"s.efi\"\ngrub_prefix = \"g\"\n\
             kernel = \"k\"\ncmdline = {cmdline:?}\n"
        )
    };
    let machine = |extra: &str| {
        format!(
            "[[machines]]\nname = \"a\"\nmac = \"02:00:00:00:00:01\"\nip = \"10.0.0.9\"\n\
             profile = \"p\"\nextra_args = {extra:?}\n"
        )
    };
    // Placeholders are fine; what they become is a name, a MAC or a serial.
    let inv = parse(&format!(
        "{}{}",
        profile("console=ttyS0,115200n8 hostname={name}"),
        machine("quiet")
    ))
    .unwrap();
    assert_eq!(
        inv.machines()[0].args.full(),
        "console=ttyS0,115200n8 hostname=a quiet"
    );
    for bad in ["a=$x", "a='b c'", "a=\"b\"", "x;reboot", "{{x}}"] {
        assert_error(
            &format!("{}{}", profile(bad), machine("quiet")),
            "profile p: cmdline: `",
        );
    }
    assert_error(
        &format!("{}{}", profile("ro"), machine("init=/bin/sh;x")),
        "machine a: extra_args: `;` has a meaning in GRUB's grub.cfg",
    );
    assert_error(
        &format!("{}{}", profile("ro"), machine("x={name}")),
        "machine a: extra_args: `{` has a meaning in GRUB's grub.cfg",
    );
    // Other kinds keep their command lines as they were.
    parse(
        "[profiles.p]\nkind = \"ipxe\"\nkernel = \"k\"\ncmdline = \"a=$x\"\n\
         [[machines]]\nname = \"a\"\nmac = \"02:00:00:00:00:01\"\nprofile = \"p\"\n",
    )
    .unwrap();
}

const ISCSI_PI: &str =
    "[profiles.pi]\nkind = \"rpi\"\nroot = { type = \"iscsi\", portal = \"10.0.0.5\", \
    target = \"iqn.2004-04.com.example:{name}\", initiator = \"INITIATOR\", lun = 1, \
    backing_store = \"/srv/iscsi/{name}.img\", chap_file = \"/etc/bootherd/chap/{name}\" }\n\
    [[machines]]\nname = \"a\"\nserial = \"1\"\nprofile = \"pi\"\n\
    [[machines]]\nname = \"b\"\nserial = \"2\"\nprofile = \"pi\"\n";

#[test]
fn iscsi_luns_fill_placeholders_per_machine() {
    let text = ISCSI_PI.replace("INITIATOR", "iqn.2004-04.com.example:{name}-{serial}");
    let inv = parse(&text).unwrap();
    let lun = inv.by_name("b").unwrap().iscsi.clone().unwrap();
    assert_eq!(
        lun,
        IscsiLun {
            portal: Ipv4Addr::new(10, 0, 0, 5),
            port: 3260,
            target: "iqn.2004-04.com.example:b".into(),
            initiator: Some("iqn.2004-04.com.example:b-00000002".into()),
            lun: 1,
            backing_store: Some("/srv/iscsi/b.img".into()),
            chap_file: Some("/etc/bootherd/chap/b".into()),
        }
    );
}

#[test]
fn a_shared_initiator_is_refused() {
    let text = ISCSI_PI.replace("INITIATOR", "iqn.2004-04.com.example:pis");
    assert_eq!(
        errors(&text),
        [
            "machine b: profiles.pi.root.initiator: iqn.2004-04.com.example:pis is also machine \
          a's: each machine needs its own initiator IQN, or it may log in to the other's LUN"
        ]
    );
}

#[test]
fn storage_paths_are_absolute_single_words() {
    let text = ISCSI_PI
        .replace("INITIATOR", "iqn.x:{name}")
        .replace("/srv/iscsi/{name}.img", "disks/{name}.img")
        .replace("/etc/bootherd/chap/{name}", "/etc/{nome}");
    assert_eq!(
        errors(&text),
        [
            "profile pi: root.backing_store: `disks/{name}.img` is not an absolute path",
            "profile pi: root.chap_file: unknown placeholder {nome}; known: {name}, {mac}, \
             {serial} (`{{` for a brace)",
        ]
    );
    let text = ISCSI_PI
        .replace("INITIATOR", "iqn.x:{name}")
        .replace("/srv/iscsi/{name}.img", "/srv/my disks/{name}.img");
    assert_eq!(
        errors(&text),
        ["profile pi: root.backing_store: `/srv/my disks/{name}.img` must be one word, without blanks"]
    );
}
