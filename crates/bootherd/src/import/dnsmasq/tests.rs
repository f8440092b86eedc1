//! Tests of reading dnsmasq's configuration.

use super::*;

fn line(text: &str) -> OptionLine {
    split_line(text).expect("not blank").expect("parses")
}

fn fields(text: &str) -> Vec<String> {
    line(text)
        .fields
        .unwrap_or_default()
        .into_iter()
        .map(|f| f.text)
        .collect()
}

fn one(text: &str) -> Directive {
    let entries = parse_text(text, "t.conf");
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries.into_iter().next().unwrap().item
}

#[test]
fn comments_blanks_and_quotes() {
    assert_eq!(split_line(""), None);
    assert_eq!(split_line("   # a comment"), None);
    assert_eq!(split_line("#port=0"), None);
    let l = line("  dhcp-match=gpxe,175 # gPXE sends a 175 option");
    assert_eq!(l.name, "dhcp-match");
    assert_eq!(l.text, "dhcp-match=gpxe,175");
    assert_eq!(fields("dhcp-match=gpxe,175 # x"), ["gpxe", "175"]);
    // A `#` that does not follow a blank is text (old `net:#tag` negation).
    assert_eq!(
        fields("dhcp-boot=net:#gpxe,gpxe.kpxe"),
        ["net:#gpxe", "gpxe.kpxe"]
    );
    // Quotes: commas and # inside stay; blanks around commas go.
    assert_eq!(
        fields(r#"pxe-service=x86PC, "Boot, #1" , pxelinux"#),
        ["x86PC", "Boot, #1", "pxelinux"]
    );
    assert_eq!(
        fields(r#"pxe-prompt="Say \"hi\"\tnow",5"#),
        ["Say \"hi\"\tnow", "5"]
    );
    // Spaces around `=`, and the `--` spelling.
    let l = line("--dhcp-option = option:router, 10.0.0.1");
    assert_eq!(l.name, "dhcp-option");
    assert_eq!(
        fields("dhcp-option = option:router, 10.0.0.1"),
        ["option:router", "10.0.0.1"]
    );
    assert_eq!(line("log-dhcp").fields, None);
    assert_eq!(
        split_line(r#"pxe-prompt="open"#),
        Some(Err("a quote (\") is not closed".into()))
    );
    let l = line(r#"pxe-service=0,"Raspberry Pi Boot"   "#);
    assert_eq!(l.text, r#"pxe-service=0,"Raspberry Pi Boot""#);
}

#[test]
fn dhcp_range() {
    let proxy = one("dhcp-range=10.99.0.255,proxy");
    let Directive::DhcpRange(r) = proxy else {
        panic!("{proxy:?}")
    };
    assert_eq!(r.mode, RangeMode::Proxy);
    assert_eq!(r.start, Ipv4Addr::new(10, 99, 0, 255));
    let Directive::DhcpRange(r) = one("dhcp-range=192.168.0.0,proxy,255.255.255.0") else {
        panic!()
    };
    assert_eq!(r.netmask, Some(Ipv4Addr::new(255, 255, 255, 0)));
    let Directive::DhcpRange(r) =
        one("dhcp-range=set:lab,10.0.0.150,10.0.0.100,255.255.255.0,10.0.0.255,12h")
    else {
        panic!()
    };
    assert_eq!(r.set.as_deref(), Some("lab"));
    assert_eq!(r.start, Ipv4Addr::new(10, 0, 0, 100));
    assert_eq!(r.mode, RangeMode::Dynamic(Ipv4Addr::new(10, 0, 0, 150)));
    assert_eq!(r.lease, Some(Some(43_200)));
    let Directive::DhcpRange(r) = one("dhcp-range=tag:eth1,10.0.0.5,static,infinite") else {
        panic!()
    };
    assert_eq!(
        r.tags,
        [TagCond {
            tag: "eth1".into(),
            negated: false
        }]
    );
    assert_eq!((r.mode, r.lease), (RangeMode::Static, Some(None)));
    assert_eq!(
        one("dhcp-range=::1,::400,constructor:eth0"),
        Directive::Invalid("an IPv6 range".into())
    );
    assert!(matches!(
        one("dhcp-range=10.0.0.1,10.0.0.9,5x"),
        Directive::Invalid(_)
    ));
}

#[test]
fn dhcp_host() {
    let Directive::DhcpHost(h) =
        one("dhcp-host=02:AB:cd:00:00:01,set:rock,10.0.0.210,rock64-a,infinite")
    else {
        panic!()
    };
    assert_eq!(h.macs, [[2, 0xab, 0xcd, 0, 0, 1]]);
    assert_eq!(h.set, ["rock"]);
    assert_eq!(h.ip, Some(Ipv4Addr::new(10, 0, 0, 210)));
    assert_eq!(h.hostname.as_deref(), Some("rock64-a"));
    assert_eq!(h.lease, Some(None));
    let Directive::DhcpHost(h) = one("dhcp-host=00:20:e0:3b:13:*,ignore") else {
        panic!()
    };
    assert!(h.ignore && h.macs.is_empty());
    assert_eq!(h.mac_patterns, ["00:20:e0:3b:13:*"]);
    let Directive::DhcpHost(h) = one("dhcp-host=id:01:02:03:04,lap,45m") else {
        panic!()
    };
    assert_eq!((h.client_ids.len(), h.lease), (1, Some(Some(2700))));
    let Directive::DhcpHost(h) = one("dhcp-host=11:22:33:44:55:66,12:34:56:78:90:12,192.168.0.2")
    else {
        panic!()
    };
    assert_eq!(h.macs.len(), 2);
}

#[test]
fn dhcp_boot_and_tags() {
    let Directive::DhcpBoot(b) =
        one("dhcp-boot=tag:!ipxe,tag:efi-x86_64,ipxe.efi,boothost,10.0.0.5")
    else {
        panic!()
    };
    assert_eq!(
        b.tags,
        [
            TagCond {
                tag: "ipxe".into(),
                negated: true
            },
            TagCond {
                tag: "efi-x86_64".into(),
                negated: false
            }
        ]
    );
    assert_eq!(b.file, "ipxe.efi");
    assert_eq!(b.server_name.as_deref(), Some("boothost"));
    assert_eq!(b.server.as_deref(), Some("10.0.0.5"));
    let Directive::DhcpBoot(b) = one("dhcp-boot=net:#gpxe,gpxe.kpxe") else {
        panic!()
    };
    assert!(b.tags[0].negated);
    let Directive::DhcpBoot(b) = one("dhcp-boot=pxelinux.0,,10.0.0.1") else {
        panic!()
    };
    assert_eq!(
        (b.server_name, b.server.as_deref()),
        (None, Some("10.0.0.1"))
    );
    assert!(matches!(one("dhcp-boot=tag:x"), Directive::Invalid(_)));
}

#[test]
fn pxe_service() {
    let Directive::PxeService(s) = one(r#"pxe-service=0,"Raspberry Pi Boot""#) else {
        panic!()
    };
    assert_eq!(
        (s.csa, s.menu.as_str(), &s.boot),
        (0, "Raspberry Pi Boot", &PxeBoot::Local)
    );
    let Directive::PxeService(s) = one(r#"pxe-service=x86PC,"Network boot",undionly"#) else {
        panic!()
    };
    assert_eq!(s.boot.file().as_deref(), Some("undionly.0"));
    let Directive::PxeService(s) =
        one(r#"pxe-service=tag:!ipxe,X86-64_EFI,"UEFI",ipxe.efi,10.0.0.9"#)
    else {
        panic!()
    };
    assert_eq!((s.csa, s.boot.file().as_deref()), (7, Some("ipxe.efi")));
    assert_eq!(s.server.as_deref(), Some("10.0.0.9"));
    let Directive::PxeService(s) = one("pxe-service=BC_EFI,x,y.efi") else {
        panic!()
    };
    assert_eq!(s.csa, 9);
    let Directive::PxeService(s) = one("pxe-service=ARM64_EFI,x,grubaa64.efi") else {
        panic!()
    };
    assert_eq!(s.csa, 11);
    let Directive::PxeService(s) = one(r#"pxe-service=x86PC,"Local disk",0"#) else {
        panic!()
    };
    assert_eq!(s.boot, PxeBoot::Local);
    let Directive::PxeService(s) = one("pxe-service=x86PC,Install,1,10.0.0.5") else {
        panic!()
    };
    assert_eq!(s.boot, PxeBoot::ServiceType(1));
    assert!(matches!(
        one("pxe-service=Amiga,x,y"),
        Directive::Invalid(_)
    ));
    assert_eq!(one(r#"pxe-prompt="Press F8",5"#), Directive::PxePrompt);
}

#[test]
fn matches_and_classes() {
    assert_eq!(
        one("dhcp-match=set:efi-x86_64,option:client-arch,7"),
        Directive::DhcpMatch(DhcpMatch {
            tag: "efi-x86_64".into(),
            option: Some(93),
            value: Some("7".into())
        })
    );
    assert_eq!(
        one("dhcp-match=gpxe,175"),
        Directive::DhcpMatch(DhcpMatch {
            tag: "gpxe".into(),
            option: Some(175),
            value: None
        })
    );
    assert_eq!(
        one("dhcp-match=set:x,vi-encap:4413,1"),
        Directive::DhcpMatch(DhcpMatch {
            tag: "x".into(),
            option: None,
            value: Some("1".into())
        })
    );
    assert_eq!(
        one("dhcp-userclass=set:ipxe,iPXE"),
        Directive::UserClass {
            tag: "ipxe".into(),
            class: "iPXE".into()
        }
    );
    assert_eq!(
        one("dhcp-vendorclass=pxe,PXEClient"),
        Directive::VendorClass {
            tag: "pxe".into(),
            class: "PXEClient".into()
        }
    );
    assert_eq!(
        one("dhcp-mac=set:rpi,b8:27:eb:*:*:*"),
        Directive::DhcpMac {
            tag: "rpi".into(),
            pattern: [Some(0xb8), Some(0x27), Some(0xeb), None, None, None]
        }
    );
    let Directive::DhcpOption(o) = one("dhcp-option=option:router,10.0.0.1") else {
        panic!()
    };
    assert_eq!(
        (o.option, o.values.as_slice()),
        (Some(3), &["10.0.0.1".to_string()][..])
    );
    let Directive::DhcpOption(o) = one("dhcp-option=vendor:PXEClient,6,2b") else {
        panic!()
    };
    assert!(o.encapsulated);
    let Directive::DhcpOption(o) = one("dhcp-option=tag:lab,209,pxelinux.cfg/lab") else {
        panic!()
    };
    assert_eq!((o.option, o.tags.len()), (Some(209), 1));
}

#[test]
fn tftp_and_includes() {
    assert_eq!(one("enable-tftp"), Directive::EnableTftp(vec![]));
    assert_eq!(
        one("enable-tftp=eth1,eth2"),
        Directive::EnableTftp(vec!["eth1".into(), "eth2".into()])
    );
    assert_eq!(
        one("tftp-root=/srv/tftp,eth1"),
        Directive::TftpRoot {
            dir: "/srv/tftp".into(),
            interface: Some("eth1".into())
        }
    );
    assert_eq!(
        one("tftp-unique-root=mac"),
        Directive::Other("tftp-unique-root".into())
    );
    assert_eq!(one("tftp-max=100"), Directive::TftpMax(100));
    assert_eq!(
        one("conf-file=extra.conf"),
        Directive::ConfFile("extra.conf".into())
    );
    assert_eq!(
        one("conf-dir=/etc/dnsmasq.d/,*.conf"),
        Directive::ConfDir {
            dir: "/etc/dnsmasq.d/".into(),
            filters: vec!["*.conf".into()]
        }
    );
    assert_eq!(one("port=0"), Directive::Port(0));
    assert_eq!(one("no-ping"), Directive::NoPing);
    assert_eq!(
        one("interface=eth0"),
        Directive::Interface(vec!["eth0".into()])
    );
}

#[test]
fn debian_defaults_file() {
    let entries = parse_text(
        "ENABLED=1\nDNSMASQ_OPTS=\"-p0 --conf-file=/etc/dnsmasq.alt --dhcp-range 10.0.0.0,proxy -kz -Q\"\n\
         CONFIG_DIR=/etc/dnsmasq.d,.dpkg-dist,.dpkg-old\nDOMAIN_SUFFIX=`dnsdomainname`\n",
        "default",
    );
    let got: Vec<(usize, &str, &Directive)> = entries
        .iter()
        .map(|e| (e.origin.line, e.text.as_str(), &e.item))
        .collect();
    assert_eq!(
        got[0],
        (1, "ENABLED=1", &Directive::Other("$ENABLED".into()))
    );
    assert_eq!(got[1], (2, "-p0", &Directive::Port(0)));
    assert_eq!(
        got[2],
        (
            2,
            "--conf-file=/etc/dnsmasq.alt",
            &Directive::ConfFile("/etc/dnsmasq.alt".into())
        )
    );
    assert_eq!(got[3].1, "--dhcp-range 10.0.0.0,proxy");
    assert!(matches!(got[3].2, Directive::DhcpRange(r) if r.mode == RangeMode::Proxy));
    assert_eq!(
        got[4],
        (2, "-kz", &Directive::Other("keep-in-foreground".into()))
    );
    assert_eq!(
        got[5],
        (2, "-kz", &Directive::Other("bind-interfaces".into()))
    );
    assert!(matches!(got[6], (2, "-Q", Directive::Invalid(_))));
    assert!(
        matches!(got[7].2, Directive::ConfDir { dir, filters } if dir == "/etc/dnsmasq.d" && filters.len() == 2)
    );
    assert!(matches!(got[8].2, Directive::Invalid(why) if why.contains("not a plain value")));
    assert_eq!(entries.len(), 9);
}

#[test]
fn lease_times() {
    assert_eq!(parse_lease("3600"), Some(Some(3600)));
    assert_eq!(parse_lease("45m"), Some(Some(2700)));
    assert_eq!(parse_lease("1h"), Some(Some(3600)));
    assert_eq!(parse_lease("2d"), Some(Some(172_800)));
    assert_eq!(parse_lease("1w"), Some(Some(604_800)));
    assert_eq!(parse_lease("infinite"), Some(None));
    assert_eq!(parse_lease("soon"), None);
    assert_eq!(parse_lease(""), None);
    assert_eq!(parse_lease("99999999999999999999w"), None);
}
