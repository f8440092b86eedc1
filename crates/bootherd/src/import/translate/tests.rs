//! Tests of the translation: each mapping of docs/IMPORT.md, and (`garbage`)
//! any input giving a configuration bootherd takes.

use super::super::{dnsmasq, tftpd_hpa, tftpd_remap};
use super::*;

fn draft_of(conf: &str, tftpd: &str, root: Option<&str>) -> Draft {
    let d = dnsmasq::parse_text(conf, "t.conf");
    let t = tftpd_hpa::parse_text(tftpd, "tftpd");
    translate(&Inputs {
        dnsmasq: &d,
        tftpd: &t,
        sources: &[],
        tftp_root: root.map(Path::new),
    })
}

fn draft(conf: &str) -> Draft {
    draft_of(conf, "", None)
}

/// The value of `table.key` (the first table of that name).
fn get(d: &Draft, table: &str, name: &str) -> Option<Value> {
    d.tables
        .iter()
        .find(|t| t.name == table)?
        .keys
        .iter()
        .find(|k| k.name == name)
        .map(|k| k.value.clone())
}

fn s(v: &str) -> Option<Value> {
    Some(Value::String(v.into()))
}

fn note(d: &Draft, text: &str) -> Option<String> {
    d.not_translated
        .iter()
        .find(|n| n.text == text)
        .map(|n| n.why.clone())
}

fn no_key(d: &Draft, text: &str) -> Option<String> {
    d.no_key
        .iter()
        .find(|n| n.text == text)
        .map(|n| n.why.clone())
}

#[test]
fn every_line_is_accounted_for_once() {
    let conf = "port=0\ndhcp-range=10.0.0.0,proxy\nbogus-option=1\ntftp-root=/a\ntftp-root=/b\n\
                pxe-service=x86PC,\"x\",pxelinux\ndhcp-boot=tag:nowhere,x.0\nserver=1.1.1.1\n";
    let d = draft(conf);
    let cited: Vec<&Key> = d.tables.iter().flat_map(|t| &t.keys).collect();
    for (n, line) in conf.lines().enumerate() {
        let at = format!("(t.conf:{})", n + 1);
        let in_keys = cited.iter().filter(|k| k.comment.contains(&at)).count();
        let notes = d
            .no_key
            .iter()
            .chain(&d.not_translated)
            .filter(|x| x.origin.line == n + 1)
            .count();
        assert!(
            in_keys > 0 || notes == 1,
            "{line}: dropped: cited {in_keys} times, {notes} notes"
        );
        assert!(notes <= 1, "{line}: {notes} notes");
    }
    assert!(note(&d, "bogus-option=1").is_some());
    assert!(note(&d, "tftp-root=/b").unwrap().contains("one tree"));
    assert!(note(&d, "server=1.1.1.1").unwrap().contains("DNS"));
    assert_eq!(
        note(&d, "dhcp-boot=tag:nowhere,x.0").unwrap(),
        "no kind of client bootherd answers gets this file from dnsmasq"
    );
}

#[test]
fn raspberry_pi_proxy() {
    let d = draft(
        "dhcp-range=10.99.0.255,proxy\nenable-tftp\ntftp-root=/srv/tftp\npxe-service=0,\"Raspberry Pi Boot\"\n",
    );
    assert_eq!(get(&d, "proxy", "enabled"), Some(Value::Boolean(true)));
    assert_eq!(get(&d, "proxy", "rpi"), Some(Value::Boolean(true)));
    // The Pi's entry is a local-boot entry for a BIOS PC: nothing for PCs.
    for kind in [
        "bios",
        "uefi_x64",
        "uefi_ia32",
        "uefi_arm64",
        "ipxe_script",
        "http_x64",
        "http_arm64",
    ] {
        assert_eq!(get(&d, "proxy", kind), s(""), "{kind}");
    }
    assert_eq!(get(&d, "tftp", "root"), s("/srv/tftp"));
    assert_eq!(get(&d, "tftp", "enabled"), Some(Value::Boolean(true)));
    assert_eq!(get(&d, "http", "enabled"), Some(Value::Boolean(false)));
    // Without the entry, no Pi answers.
    let d = draft("dhcp-range=10.0.0.0,proxy\npxe-service=x86PC,\"PC\",pxelinux\n");
    assert_eq!(get(&d, "proxy", "rpi"), Some(Value::Boolean(false)));
    assert_eq!(get(&d, "proxy", "bios"), s("pxelinux.0"));
    // A Pi entry behind a MAC rule for Pi OUIs still answers Pis.
    let d = draft(
        "dhcp-range=10.0.0.0,proxy\ndhcp-mac=set:pi,dc:a6:32:*:*:*\npxe-service=tag:pi,0,\"Raspberry Pi Boot\"\n",
    );
    assert_eq!(get(&d, "proxy", "rpi"), Some(Value::Boolean(true)));
    // Behind a rule import cannot evaluate: not answered, with a note.
    let d = draft(
        "dhcp-range=10.0.0.0,proxy\ntag-if=set:pi,tag:x\npxe-service=tag:pi,0,\"Raspberry Pi Boot\"\n",
    );
    assert_eq!(get(&d, "proxy", "rpi"), Some(Value::Boolean(false)));
    assert!(note(&d, "pxe-service=tag:pi,0,\"Raspberry Pi Boot\"")
        .unwrap()
        .contains("depends on tag pi"));
}

#[test]
fn pxe_services_per_client_system_type() {
    let d = draft(
        "dhcp-range=10.0.0.0,proxy\npxe-service=x86PC,\"iPXE\",undionly\npxe-service=x86PC,\"Disk\",0\n\
         pxe-service=X86-64_EFI,\"UEFI\",ipxe.efi\npxe-service=BC_EFI,\"UEFI\",ipxe.efi\n\
         pxe-service=IA32_EFI,\"UEFI32\",ipxe32.efi\npxe-service=ARM64_EFI,\"Arm\",grubaa64.efi\n\
         pxe-service=x86PC,\"Far\",remote,10.0.0.9\npxe-prompt=\"F8\",5\n",
    );
    assert_eq!(get(&d, "proxy", "bios"), s("undionly.0"));
    assert_eq!(get(&d, "proxy", "uefi_x64"), s("ipxe.efi"));
    assert_eq!(get(&d, "proxy", "uefi_ia32"), s("ipxe32.efi"));
    assert_eq!(get(&d, "proxy", "uefi_arm64"), s("grubaa64.efi"));
    assert!(note(&d, "pxe-service=BC_EFI,\"UEFI\",ipxe.efi")
        .unwrap()
        .contains("option 93 = 9"));
    assert!(note(&d, "pxe-service=x86PC,\"Disk\",0")
        .unwrap()
        .contains("no PXE menu"));
    assert!(note(&d, "pxe-prompt=\"F8\",5")
        .unwrap()
        .contains("no PXE menu or prompt"));
    // A first entry on another server cannot be followed.
    let d = draft("dhcp-range=10.0.0.0,proxy\npxe-service=x86PC,\"Far\",remote,10.0.0.9\n");
    assert_eq!(get(&d, "proxy", "bios"), s(""));
    assert!(note(&d, "pxe-service=x86PC,\"Far\",remote,10.0.0.9")
        .unwrap()
        .contains("another boot server"));
}

#[test]
fn dhcp_boot_and_ipxe() {
    let d = draft(
        "dhcp-range=10.0.0.0,proxy\ndhcp-match=set:ipxe,175\ndhcp-match=set:efi64,option:client-arch,7\n\
         dhcp-boot=tag:!ipxe,undionly.kpxe\ndhcp-boot=tag:!ipxe,tag:efi64,ipxe.efi\ndhcp-boot=tag:ipxe,menu.ipxe\n",
    );
    assert_eq!(get(&d, "proxy", "bios"), s("undionly.kpxe"));
    assert_eq!(get(&d, "proxy", "uefi_x64"), s("ipxe.efi"));
    assert_eq!(get(&d, "proxy", "ipxe_script"), s("menu.ipxe"));
    assert_eq!(get(&d, "http", "enabled"), Some(Value::Boolean(true)));
    assert_eq!(
        no_key(&d, "dhcp-match=set:ipxe,175")
            .unwrap()
            .split(':')
            .next(),
        Some("a tag rule")
    );
    // iPXE handed the binary again: no script, with a note.
    let d = draft("dhcp-range=10.0.0.0,proxy\ndhcp-boot=undionly.kpxe\n");
    assert_eq!(get(&d, "proxy", "bios"), s("undionly.kpxe"));
    assert_eq!(get(&d, "proxy", "ipxe_script"), s(""));
    assert_eq!(get(&d, "http", "enabled"), Some(Value::Boolean(false)));
    // A URL for iPXE: its path, served by bootherd.
    let d = draft("dhcp-range=10.0.0.0,proxy\ndhcp-userclass=set:ipxe,iPXE\ndhcp-boot=tag:ipxe,http://10.0.0.5/x/boot.ipxe\n");
    assert_eq!(get(&d, "proxy", "ipxe_script"), s("x/boot.ipxe"));
    // Windows-style names are refused by bootherd.
    let d = draft("dhcp-range=10.0.0.0,proxy\ndhcp-boot=\\Boot\\pxeboot.n12\n");
    assert_eq!(get(&d, "proxy", "bios"), s(""));
    assert!(note(&d, "dhcp-boot=\\Boot\\pxeboot.n12")
        .unwrap()
        .contains("backslashes"));
    // An HTTP boot URL selected for option 93 = 16.
    let d = draft(
        "dhcp-range=10.0.0.0,proxy\ndhcp-match=set:http,option:client-arch,16\n\
         dhcp-boot=tag:http,http://10.0.0.5/efi/ipxe.efi\n",
    );
    assert_eq!(get(&d, "proxy", "http_x64"), s("efi/ipxe.efi"));
    assert_eq!(get(&d, "proxy", "bios"), s(""));
}

#[test]
fn a_full_dhcp_server_for_boards() {
    let d = draft(
        "dhcp-range=10.0.0.100,10.0.0.150,255.255.255.0,2h\ndhcp-option=3,10.0.0.1\n\
         dhcp-option=option:dns-server,10.0.0.1,10.0.0.2\ndhcp-host=02:00:00:00:00:01,set:board,10.0.0.210,b1\n\
         dhcp-host=02:00:00:00:00:02,set:board\ndhcp-host=02:00:00:00:00:09,10.0.0.20,nas\n\
         dhcp-host=02:00:00:00:00:0a,ignore\ndhcp-boot=tag:board,pxelinux.0,,10.0.0.5\n\
         dhcp-option=209,pxelinux.cfg/boards\nno-ping\n",
    );
    assert_eq!(get(&d, "dhcp", "enabled"), Some(Value::Boolean(true)));
    assert_eq!(
        get(&d, "dhcp", "own_macs"),
        Some(Value::Array(vec![
            Value::String("02:00:00:00:00:01".into()),
            Value::String("02:00:00:00:00:02".into())
        ]))
    );
    assert_eq!(get(&d, "dhcp", "ping_check"), Some(Value::Boolean(false)));
    assert_eq!(get(&d, "dhcp.boot", "file"), s("pxelinux.0"));
    assert_eq!(get(&d, "dhcp.boot", "next_server"), s("10.0.0.5"));
    assert_eq!(
        get(&d, "dhcp.boot", "pxelinux_config"),
        s("pxelinux.cfg/boards")
    );
    assert_eq!(get(&d, "dhcp.pool", "subnet"), s("10.0.0.0/24"));
    assert_eq!(
        get(&d, "dhcp.pool", "lease_secs"),
        Some(Value::Integer(7200))
    );
    assert_eq!(get(&d, "dhcp.pool", "router"), s("10.0.0.1"));
    assert_eq!(get(&d, "dhcp.reservation", "mac"), s("02:00:00:00:00:01"));
    assert_eq!(get(&d, "dhcp.reservation", "hostname"), s("b1"));
    assert_eq!(
        d.tables
            .iter()
            .filter(|t| t.name == "dhcp.reservation")
            .count(),
        1
    );
    assert!(note(&d, "dhcp-host=02:00:00:00:00:09,10.0.0.20,nas")
        .unwrap()
        .contains("no boot file"));
    assert!(no_key(&d, "dhcp-host=02:00:00:00:00:0a,ignore").is_some());
    // No proxy: a board-only boot file does not turn it on.
    assert!(get(&d, "proxy", "enabled").is_none());
}

#[test]
fn uboot_vendor_class_is_owned() {
    let d = draft(
        "dhcp-range=10.0.0.100,10.0.0.150\ndhcp-vendorclass=set:uboot,U-Boot\ndhcp-boot=tag:uboot,boot.scr.uimg\n",
    );
    assert_eq!(
        get(&d, "dhcp", "own_vendor_classes"),
        Some(Value::Array(vec![Value::String("*U-Boot*".into())]))
    );
    assert_eq!(get(&d, "dhcp.boot", "file"), s("boot.scr.uimg"));
    let pool = d.tables.iter().find(|t| t.name == "dhcp.pool").unwrap();
    assert!(
        pool.comments.iter().any(|c| c.contains("/24 is assumed")),
        "{:?}",
        pool.comments
    );
    assert!(pool.comments.iter().any(|c| c.contains("router and DNS")));
    // A range nobody bootable uses is the LAN's.
    let d = draft("dhcp-range=10.0.0.100,10.0.0.150\ndhcp-host=02:00:00:00:00:09,10.0.0.20\n");
    assert!(get(&d, "dhcp", "enabled").is_none());
    assert!(note(&d, "dhcp-range=10.0.0.100,10.0.0.150")
        .unwrap()
        .contains("LAN's DHCP server"));
}

#[test]
fn a_host_with_its_own_uefi_binary_is_an_efi_machine() {
    let d = draft(
        "dhcp-range=10.0.0.0,proxy\ndhcp-host=52:54:00:12:34:56,set:grub,lab pc\n\
         dhcp-match=set:efi64,option:client-arch,7\ndhcp-boot=tag:efi64,ipxe.efi\n\
         dhcp-boot=tag:grub,tag:efi64,EFI/grubx64.efi\ndhcp-host=52:54:00:00:00:01,set:other\n",
    );
    assert_eq!(get(&d, "proxy", "uefi_x64"), s("ipxe.efi"));
    assert_eq!(get(&d, "profiles.efi-grubx64", "kind"), s("efi"));
    assert_eq!(
        get(&d, "profiles.efi-grubx64", "kernel"),
        s("EFI/grubx64.efi")
    );
    // `lab pc` is no machine name: the MAC names it.
    assert_eq!(get(&d, "machines", "name"), s("host-525400123456"));
    assert_eq!(get(&d, "machines", "profile"), s("efi-grubx64"));
    assert!(note(&d, "dhcp-host=52:54:00:00:00:01,set:other")
        .unwrap()
        .contains("proxy mode"));
}

#[test]
fn tftp_settings() {
    let d = draft_of(
        "enable-tftp\ntftp-root=/srv/tftp,eth1\ntftp-max=64\ntftp-mtu=1500\ntftp-unique-root=mac\n\
         tftp-secure\ntftp-lowercase\ntftp-no-blocksize\n",
        "",
        Some("/tmp/tree"),
    );
    assert_eq!(get(&d, "tftp", "root"), s("/tmp/tree"));
    let root = d.tables[0].keys.iter().find(|k| k.name == "root").unwrap();
    assert!(
        root.comment
            .contains("--tftp-root (the configuration said /srv/tftp"),
        "{}",
        root.comment
    );
    assert_eq!(get(&d, "tftp", "max_transfers"), Some(Value::Integer(64)));
    assert_eq!(get(&d, "tftp", "max_blksize"), Some(Value::Integer(1468)));
    for line in ["tftp-unique-root=mac", "tftp-secure", "tftp-no-blocksize"] {
        assert!(note(&d, line).is_some(), "{line}");
    }
    assert_eq!(
        get(&d, "tftp.rewrite", "lowercase"),
        Some(Value::Boolean(true))
    );
    // tftpd-hpa alone.
    let d = draft_of(
        "",
        "TFTP_DIRECTORY=\"/srv/tftp /srv/more\"\nTFTP_ADDRESS=\"10.0.0.5:6969\"\n\
         TFTP_OPTIONS=\"-s -B 1200 -T 250000 -c\"\n",
        None,
    );
    assert_eq!(get(&d, "tftp", "root"), s("/srv/tftp"));
    assert_eq!(get(&d, "tftp", "port"), Some(Value::Integer(6969)));
    assert_eq!(get(&d, "tftp", "max_blksize"), Some(Value::Integer(1200)));
    assert_eq!(get(&d, "tftp", "timeout_ms"), Some(Value::Integer(250)));
    assert_eq!(
        get(&d, "net", "listen"),
        Some(Value::Array(vec![Value::String("10.0.0.5".into())]))
    );
    assert!(note(&d, "-c").unwrap().contains("read-only"));
    assert!(no_key(&d, "-s").is_some());
    assert!(d.header.iter().any(|h| h.contains("first directory only")));
    // dnsmasq without enable-tftp next to tftpd-hpa: tftpd-hpa's root.
    let d = draft_of("tftp-root=/other\n", "TFTP_DIRECTORY=/srv/tftp\n", None);
    assert_eq!(get(&d, "tftp", "root"), s("/srv/tftp"));
    assert!(note(&d, "tftp-root=/other").unwrap().contains("one tree"));
}

/// A tftpd-hpa defaults file whose `--map-file` holds `map`, spliced in
/// as the reader in `super` does.
fn draft_with_map(conf: &str, tftpd: &str, map: &str) -> Draft {
    let d = dnsmasq::parse_text(conf, "t.conf");
    let mut t = tftpd_hpa::parse_text(tftpd, "tftpd");
    let last = t
        .iter()
        .rposition(|e| matches!(e.item, Setting::MapFile(_)))
        .expect("a --map-file");
    let rules = tftpd_remap::parse_text(map, "remap")
        .into_iter()
        .map(|r| r.with(Setting::MapRule(r.item.clone())));
    t.splice(last + 1..last + 1, rules);
    translate(&Inputs {
        dnsmasq: &d,
        tftpd: &t,
        sources: &[],
        tftp_root: None,
    })
}

fn rewrite_tables(d: &Draft) -> Vec<Vec<(String, Value, String)>> {
    d.tables
        .iter()
        .filter(|t| t.name == "tftp.rewrite")
        .map(|t| {
            t.keys
                .iter()
                .map(|k| (k.name.clone(), k.value.clone(), k.comment.clone()))
                .collect()
        })
        .collect()
}

#[test]
fn rewrites() {
    // dnsmasq's tftp-lowercase, when dnsmasq served TFTP.
    let d = draft("enable-tftp\ntftp-root=/srv/tftp\ntftp-lowercase\n");
    let names: Vec<&str> = d.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["tftp", "tftp.rewrite", "http"]);
    assert_eq!(
        rewrite_tables(&d),
        [[(
            "lowercase".to_string(),
            Value::Boolean(true),
            "tftp-lowercase (t.conf:3): ASCII letters, as dnsmasq lower-cases them in a \
             UTF-8 or C locale"
                .to_string()
        )]]
    );
    assert!(note(&d, "tftp-lowercase").is_none());
    let d = draft("tftp-root=/srv/tftp\ntftp-lowercase\n");
    assert!(rewrite_tables(&d).is_empty());
    assert!(note(&d, "tftp-lowercase")
        .unwrap()
        .contains("no enable-tftp"));

    // tftpd-hpa's map file, rule by rule.
    let defaults = "TFTP_DIRECTORY=/srv/tftp\nTFTP_OPTIONS=\"-s -m old.map -m tftpd.remap\"\n";
    let map = "# Windows\nr ^(.*)$ \\L\\1\nrg \\\\ /\nr current/ 6.1/\nrP ^in/ up/\n\
               a \\.pvt$\nrs ^a b\n";
    let d = draft_with_map("", defaults, map);
    let names: Vec<&str> = d.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "tftp",
            "tftp.rewrite",
            "tftp.rewrite",
            "tftp.rewrite",
            "http"
        ]
    );
    let tables = rewrite_tables(&d);
    assert_eq!(tables[0][0].0, "lowercase");
    assert_eq!(
        tables[0][0].2,
        "r ^(.*)$ \\L\\1 (remap:2): ASCII letters, as in.tftpd lower-cases them"
    );
    assert_eq!(
        (tables[1][0].1.clone(), tables[1][1].1.clone()),
        (Value::String(r"\\".into()), Value::String("/".into()))
    );
    assert_eq!(tables[1][0].2, r"rg \\ / (remap:3)");
    assert_eq!(
        tables[2][0].1,
        Value::String("^(?s-u:(.*?))(current/)".into())
    );
    assert!(tables[2][0].2.contains("first match only"), "{tables:?}");
    let first = d.tables.iter().find(|t| t.name == "tftp.rewrite").unwrap();
    assert_eq!(
        first.comments,
        ["The rules of -m tftpd.remap (tftpd:2), in order:"]
    );
    assert!(note(&d, "-m old.map").unwrap().contains("only the last"));
    assert!(no_key(&d, "rP ^in/ up/").unwrap().contains("uploads"));
    assert!(note(&d, r"a \.pvt$").unwrap().contains("(a)"));
    assert!(note(&d, "rs ^a b")
        .unwrap()
        .contains("starts the rules over"));
    let attention = d.header.join("\n");
    assert!(
        attention.contains(r"a \.pvt$ (remap:6): tftpd-hpa refused"),
        "{attention}"
    );
    assert!(
        attention.contains("2 of its 6 rules are not translated"),
        "{attention}"
    );
    // What is written is a configuration bootherd takes, rewrites included.
    let text = super::super::emit::emit(&d);
    let config = crate::config::Config::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let rewrites = crate::rewrite::Rewrites::new(&config.tftp.rewrites).unwrap();
    assert_eq!(
        &*rewrites.apply(br"Current\Current\VMLINUZ"),
        b"6.1/current/vmlinuz"
    );

    // A file tftpd-hpa refuses, one without rules, and dnsmasq's tree.
    let d = draft_with_map("", defaults, "rx ^a b\n");
    assert!(note(&d, "rx ^a b").unwrap().contains("refuses this line"));
    assert!(d
        .header
        .join(" ")
        .contains("does not start with this map file"));
    assert!(no_key(&d, "-m tftpd.remap")
        .unwrap()
        .contains("none of its rules"));
    let d = draft_with_map("", defaults, "# nothing\n");
    assert!(no_key(&d, "-m tftpd.remap").unwrap().contains("no rules"));
    let mut unread = tftpd_hpa::parse_text(defaults, "tftpd");
    let at = unread
        .iter()
        .position(|e| e.text == "-m tftpd.remap")
        .unwrap();
    unread[at].item = Setting::MapFileUnread("cannot read /x: gone".into());
    let d = translate(&Inputs {
        dnsmasq: &[],
        tftpd: &unread,
        sources: &[],
        tftp_root: None,
    });
    assert_eq!(note(&d, "-m tftpd.remap").unwrap(), "cannot read /x: gone");
    assert!(note(&d, "-m old.map").unwrap().contains("only the last"));
    assert!(d
        .header
        .join(" ")
        .contains("cannot read /x: gone; its rules"));
    let d = draft_with_map("enable-tftp\ntftp-root=/d\n", defaults, "rg \\\\ /\n");
    assert!(rewrite_tables(&d).is_empty());
    for line in ["-m tftpd.remap", r"rg \\ /"] {
        assert!(note(&d, line).unwrap().contains("dnsmasq's tree"), "{line}");
    }
}

#[test]
fn net_settings() {
    let d = draft("interface=eth0,eth1\ninterface=eth0\nlisten-address=10.0.0.1\n");
    assert_eq!(
        get(&d, "net", "interfaces"),
        Some(Value::Array(vec![
            Value::String("eth0".into()),
            Value::String("eth1".into())
        ]))
    );
    assert!(note(&d, "listen-address=10.0.0.1").is_some());
    let d = draft("listen-address=127.0.0.1,10.0.0.1\n");
    assert_eq!(
        get(&d, "net", "listen"),
        Some(Value::Array(vec![Value::String("10.0.0.1".into())]))
    );
    let d = draft("listen-address=127.0.0.1\n");
    assert!(no_key(&d, "listen-address=127.0.0.1")
        .unwrap()
        .contains("loopback"));
}

mod garbage {
    use super::*;
    use crate::import::{dnsmasq, emit, tftpd_hpa, tftpd_remap};

    /// Lines made of dnsmasq's words, tags, addresses and junk, in any order:
    /// whatever they say, the output is a configuration bootherd parses (valid
    /// TOML, known keys), and nothing panics.
    #[test]
    fn any_input_gives_a_parsable_configuration() {
        let names = [
            "dhcp-range",
            "dhcp-host",
            "dhcp-boot",
            "pxe-service",
            "dhcp-match",
            "dhcp-vendorclass",
            "dhcp-userclass",
            "dhcp-mac",
            "dhcp-option",
            "enable-tftp",
            "tftp-root",
            "tftp-max",
            "tftp-mtu",
            "interface",
            "listen-address",
            "domain",
            "no-ping",
            "port",
            "conf-file",
            "pxe-prompt",
            "--tag-if",
            "tftp-lowercase",
            "TFTP_OPTIONS",
            "DNSMASQ_OPTS",
            "x",
        ];
        let fields = [
            "tag:a",
            "tag:!a",
            "set:a",
            "net:#b",
            "proxy",
            "static",
            "10.0.0.1",
            "10.0.0.200",
            "255.255.255.0",
            "0.0.0.0",
            "12h",
            "infinite",
            "02:00:00:00:00:01",
            "b8:27:eb:*:*:*",
            "x86PC",
            "X86-64_EFI",
            "ARM64_EFI",
            "BC_EFI",
            "0",
            "7",
            "175",
            "option:client-arch",
            "\"Raspberry Pi Boot\"",
            "undionly",
            "ipxe.efi",
            "http://h/x.ipxe",
            "\\a\\b",
            "/srv",
            "iPXE",
            "U-Boot",
            "ignore",
            "id:01",
            "\"unclosed",
            "#c",
            "é",
            "\u{7}",
            "name with blank",
            "[::1]",
            "-B",
            "1468",
            "--secure",
            "$(x)",
            "'q'",
            "",
        ];
        let mut seed: u64 = 0x1234_5678;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as usize % n
        };
        for round in 0..300 {
            let mut text = String::new();
            for _ in 0..(1 + next(12)) {
                let name = names[next(names.len())];
                let count = next(6);
                let value: Vec<&str> = (0..count).map(|_| fields[next(fields.len())]).collect();
                let sep = if next(4) == 0 { " = " } else { "=" };
                if count == 0 {
                    text.push_str(&format!("{name}\n"));
                } else {
                    text.push_str(&format!("{name}{sep}{}\n", value.join(",")));
                }
            }
            let d = dnsmasq::parse_text(&text, "g.conf");
            let t = tftpd_hpa::parse_text(&text, "g-tftpd");
            let draft = translate(&Inputs {
                dnsmasq: &d,
                tftpd: &t,
                sources: &["g.conf (dnsmasq)".to_owned()],
                tftp_root: None,
            });
            let out = emit::emit(&draft);
            if let Err(err) = crate::config::Config::parse(&out) {
                panic!("round {round}: {err}\n--- input\n{text}--- output\n{out}");
            }
            // Every line is named.
            for (n, line) in text.lines().enumerate() {
                if dnsmasq::split_line(line).is_some() {
                    assert!(
                        out.contains(&format!("(g.conf:{})", n + 1)),
                        "round {round}: line {} `{line}` dropped:\n{out}",
                        n + 1
                    );
                }
            }
        }
    }

    /// Map files made of operation letters, pattern pieces, replacements and
    /// junk: whatever they say, the output is a configuration bootherd takes,
    /// every rewrite compiles, and every rule is named.
    #[test]
    fn any_map_file_gives_rewrites_bootherd_takes() {
        let ops = [
            "r", "rg", "ri", "rgi", "re", "e", "a", "s", "rP", "rG", "r6", "x", "r~", "~e",
        ];
        let pieces = [
            "a",
            "/",
            ".",
            "*",
            "+",
            "?",
            "{2}",
            "{1,300}",
            "(",
            ")",
            "^",
            "$",
            "|",
            "[^/]",
            "[a-",
            "]",
            r"\\",
            r"\.",
            r"\1",
            r"\w",
            "é",
            "[[:alpha:]]",
            "{",
        ];
        let replacements = [
            "", "x", r"\0", r"\1", r"\9", r"\L", r"\i", "$", "${1}", r"\ ", "#c",
        ];
        let mut seed: u64 = 0x8765_4321;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as usize % n
        };
        let defaults = tftpd_hpa::parse_text("TFTP_OPTIONS=\"-s -m g.remap\"\n", "g-tftpd");
        for round in 0..300 {
            let mut map = String::new();
            for _ in 0..(1 + next(8)) {
                let pattern: String = (0..1 + next(5))
                    .map(|_| pieces[next(pieces.len())])
                    .collect();
                let replacement: String = (0..next(3))
                    .map(|_| replacements[next(replacements.len())])
                    .collect();
                let sep = if next(3) == 0 { "\t" } else { " " };
                map.push_str(&format!(
                    "{}{sep}{pattern}{sep}{replacement}\n",
                    ops[next(ops.len())]
                ));
                if next(5) == 0 {
                    map.push_str("# a comment\n\n");
                }
            }
            let mut t = defaults.clone();
            t.extend(
                tftpd_remap::parse_text(&map, "g.remap")
                    .into_iter()
                    .map(|r| r.with(Setting::MapRule(r.item.clone()))),
            );
            let draft = translate(&Inputs {
                dnsmasq: &[],
                tftpd: &t,
                sources: &[],
                tftp_root: None,
            });
            let out = emit::emit(&draft);
            let config = crate::config::Config::parse(&out).unwrap_or_else(|err| {
                panic!("round {round}: {err}\n--- map\n{map}--- output\n{out}")
            });
            if let Err(err) = crate::rewrite::Rewrites::new(&config.tftp.rewrites) {
                panic!("round {round}: {err:?}\n--- map\n{map}--- output\n{out}");
            }
            for (n, line) in map.lines().enumerate() {
                if !line.is_empty() && !line.starts_with('#') {
                    assert!(
                        out.contains(&format!("(g.remap:{})", n + 1)),
                        "round {round}: line {} `{line}` dropped:\n{out}",
                        n + 1
                    );
                }
            }
        }
    }
}
