//! The boot decision: which answer a classified client gets, or why it gets none.
//! Pure: the caller passes in what it knows about the server and the boot tree.

use std::borrow::Cow;
use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

use bootherd_proto::client::{rpi_mac_folder, rpi_serial_folder, Arch, Client, Firmware};
use bootherd_proto::proxy::ProxyAnswer;

use crate::config::ProxyConfig;

/// What to do with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Answer, after `delay`.
    Answer {
        /// The reply's boot content.
        answer: ProxyAnswer,
        /// How long to wait before sending (the Pi 3 ROM needs this).
        delay: Duration,
    },
    /// Stay silent, for this reason (said in the log line). Borrowed when fixed, so
    /// that ignoring an ordinary DHCP client allocates nothing.
    Ignore(Cow<'static, str>),
}

/// What `answer` tells the client, for the log line: a `Display` so that nothing is
/// formatted when the line is filtered out.
pub struct Summary<'a> {
    /// The answer.
    pub answer: &'a ProxyAnswer,
    /// The address the reply leaves from.
    pub server: Ipv4Addr,
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.answer {
            ProxyAnswer::RaspberryPi => write!(f, "Raspberry Pi Boot, TFTP from {}", self.server),
            ProxyAnswer::Ipxe { url } => write!(f, "iPXE script {url}"),
            ProxyAnswer::PxeDirect { file } => write!(f, "TFTP {file}"),
            ProxyAnswer::PxeVia4011 { file } => write!(f, "TFTP {file} (via port 4011)"),
            ProxyAnswer::HttpBoot { uri } => write!(f, "HTTP boot {uri}"),
        }
    }
}

/// Facts about the serving side that the decision needs.
pub struct ServerView<'a> {
    /// The address the reply leaves from, which also serves TFTP and HTTP.
    pub addr: Ipv4Addr,
    /// HTTP port, for URLs; `None` when HTTP is off.
    pub http_port: Option<u16>,
    /// Whether a path exists in the boot tree.
    pub exists: &'a dyn Fn(&str) -> bool,
    /// Whether the inventory lists this client.
    pub known: bool,
}

impl ServerView<'_> {
    fn url(&self, path: &str) -> Option<String> {
        let port = self.http_port?;
        let path = path.trim_start_matches('/');
        Some(match port {
            80 => format!("http://{}/{path}", self.addr),
            _ => format!("http://{}:{port}/{path}", self.addr),
        })
    }
}

/// The BIOS boot file of a classic syslinux tree, tried when `proxy.bios` is left
/// at its default and that file is missing.
const SYSLINUX_BIOS: &str = "pxelinux.0";

/// Where a Pi 4/5 looks for its files, each ending in `/` (the root is ""): the
/// root, its serial folder when option 97 carries the serial, and its MAC
/// folder in the lowercase and uppercase spellings the bootloader docs show.
fn pi_folders(client: &Client) -> Vec<String> {
    let mut folders = vec![String::new()];
    if let Some(serial) = client.rpi_serial() {
        folders.push(format!("{}/", rpi_serial_folder(serial)));
    }
    let mac = rpi_mac_folder(&client.mac);
    folders.push(format!("{mac}/"));
    folders.push(format!("{}/", mac.to_ascii_uppercase()));
    folders
}

/// Decides the proxyDHCP answer for `client`.
pub fn plan(client: &Client, config: &ProxyConfig, server: &ServerView<'_>) -> Plan {
    let no_delay = Duration::ZERO;
    match &client.firmware {
        Firmware::NotBoot => Plan::Ignore("not a boot client".into()),
        Firmware::UBoot => {
            Plan::Ignore("U-Boot drops offers without an address; proxyDHCP cannot boot it".into())
        }
        Firmware::RpiRom | Firmware::RpiEeprom(_) => {
            if !config.rpi {
                return Plan::Ignore("Raspberry Pi answers are off (proxy.rpi = false)".into());
            }
            let rom = client.firmware == Firmware::RpiRom;
            if rom && !(server.exists)("bootcode.bin") {
                return Plan::Ignore("no bootcode.bin in the TFTP root".into());
            }
            // A Pi 4/5 that is told to boot tries for a while before its next boot
            // mode: answer it only when there is something for it, in the root or
            // in the folder it will look in (its serial with TFTP_PREFIX=0, its
            // MAC with TFTP_PREFIX=2), as the guides lay trees out.
            if !rom && !server.known {
                let folders = pi_folders(client);
                let has_files = folders.iter().any(|folder| {
                    ["start4.elf", "config.txt"]
                        .iter()
                        .any(|file| (server.exists)(&format!("{folder}{file}")))
                });
                if !has_files {
                    // The uppercase MAC folder, last, goes without saying.
                    let places = folders[..folders.len() - 1]
                        .iter()
                        .map(|f| {
                            if f.is_empty() {
                                "the TFTP root"
                            } else {
                                f.as_str()
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    return Plan::Ignore(
                        format!(
                            "not in the inventory, and no start4.elf or config.txt in {places}"
                        )
                        .into(),
                    );
                }
            }
            let delay = if rom {
                Duration::from_millis(config.rpi_reply_delay_ms)
            } else {
                no_delay
            };
            Plan::Answer {
                answer: ProxyAnswer::RaspberryPi,
                delay,
            }
        }
        Firmware::Ipxe => {
            let Some(script) = non_empty(&config.ipxe_script) else {
                return Plan::Ignore("no iPXE script configured (proxy.ipxe_script)".into());
            };
            let Some(url) = server.url(script) else {
                return Plan::Ignore("iPXE needs HTTP, which is off".into());
            };
            if !(server.exists)(script) {
                return Plan::Ignore(
                    format!("iPXE script {script} is not in the boot tree").into(),
                );
            }
            Plan::Answer {
                answer: ProxyAnswer::Ipxe { url },
                delay: no_delay,
            }
        }
        Firmware::BiosPxe => match tftp_file(&config.bios, "bios", server) {
            Ok(file) => Plan::Answer {
                answer: ProxyAnswer::PxeDirect { file },
                delay: no_delay,
            },
            // Left at its default, `bios` also finds a classic syslinux tree's
            // pxelinux.0, so `serve --root <that tree> --proxy` boots it as is.
            Err(_)
                if config.bios == ProxyConfig::default().bios && (server.exists)(SYSLINUX_BIOS) =>
            {
                Plan::Answer {
                    answer: ProxyAnswer::PxeDirect {
                        file: SYSLINUX_BIOS.into(),
                    },
                    delay: no_delay,
                }
            }
            Err(why) => Plan::Ignore(why.into()),
        },
        Firmware::UefiPxe => {
            let (setting, key) = match client.arch {
                Some(Arch::UefiX64) => (&config.uefi_x64, "uefi_x64"),
                Some(Arch::UefiIa32) => (&config.uefi_ia32, "uefi_ia32"),
                Some(Arch::UefiArm64) => (&config.uefi_arm64, "uefi_arm64"),
                other => {
                    return Plan::Ignore(
                        format!("no boot file for UEFI architecture {other:?}").into(),
                    )
                }
            };
            match tftp_file(setting, key, server) {
                Ok(file) => Plan::Answer {
                    answer: ProxyAnswer::PxeVia4011 { file },
                    delay: no_delay,
                },
                Err(why) => Plan::Ignore(why.into()),
            }
        }
        Firmware::UefiHttp => {
            let (setting, key) = match client.arch {
                Some(Arch::UefiX64Http) => (&config.http_x64, "http_x64"),
                Some(Arch::UefiArm64Http) => (&config.http_arm64, "http_arm64"),
                other => {
                    return Plan::Ignore(
                        format!("no HTTP boot file for UEFI architecture {other:?}").into(),
                    )
                }
            };
            let Some(path) = non_empty(setting) else {
                return Plan::Ignore(format!("no boot file configured (proxy.{key})").into());
            };
            let Some(uri) = server.url(path) else {
                return Plan::Ignore("UEFI HTTP boot needs HTTP, which is off".into());
            };
            if !(server.exists)(path) {
                return Plan::Ignore(format!("boot file {path} is not in the boot tree").into());
            }
            Plan::Answer {
                answer: ProxyAnswer::HttpBoot { uri },
                delay: no_delay,
            }
        }
    }
}

fn non_empty(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty()).then_some(s)
}

fn tftp_file(setting: &str, key: &str, server: &ServerView<'_>) -> Result<String, String> {
    let Some(file) = non_empty(setting) else {
        return Err(format!("no boot file configured (proxy.{key})"));
    };
    if !(server.exists)(file) {
        return Err(format!("boot file {file} is not in the TFTP root"));
    }
    Ok(file.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bootherd_proto::client::RpiModel;

    const SERVER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);

    fn client(firmware: Firmware, arch: Option<Arch>) -> Client {
        Client {
            mac: [0x52, 0x54, 0, 0x12, 0x34, 0x56],
            xid: 1,
            message_type: None,
            firmware,
            arch,
            vendor_class: None,
            uuid: None,
            relay: None,
        }
    }

    fn decide(c: &Client, config: &ProxyConfig, files: &[&str], http: Option<u16>) -> Plan {
        let exists = |p: &str| files.contains(&p);
        let server = ServerView {
            addr: SERVER,
            http_port: http,
            exists: &exists,
            known: false,
        };
        plan(c, config, &server)
    }

    fn answer(plan: Plan) -> (ProxyAnswer, Duration) {
        match plan {
            Plan::Answer { answer, delay, .. } => (answer, delay),
            Plan::Ignore(why) => panic!("ignored: {why}"),
        }
    }

    fn ignored(plan: Plan) -> String {
        match plan {
            Plan::Ignore(why) => why.into_owned(),
            other => panic!("answered: {other:?}"),
        }
    }

    #[test]
    fn an_unknown_pi4_is_answered_when_its_serial_or_mac_folder_has_files() {
        let mut pi = client(
            Firmware::RpiEeprom(Some(RpiModel::Pi4)),
            Some(Arch::BiosX86),
        );
        pi.mac = [0xdc, 0xa6, 0x32, 0x01, 0x36, 0xc2];
        let mut uuid = vec![0];
        for word in [0x3469_5052_u32, 0x00c0_3111, 0x3201_36c2, 0x9ffe_fdef] {
            uuid.extend_from_slice(&word.to_le_bytes());
        }
        pi.uuid = Some(uuid);
        let config = ProxyConfig::default();
        for files in [
            &["9ffefdef/start4.elf"][..],
            &["9ffefdef/config.txt"],
            &["dc-a6-32-01-36-c2/start4.elf"],
            &["DC-A6-32-01-36-C2/config.txt"],
            &["config.txt"],
        ] {
            let (answer, _) = answer(decide(&pi, &config, files, None));
            assert_eq!(answer, ProxyAnswer::RaspberryPi, "{files:?}");
        }
        let why = ignored(decide(
            &pi,
            &config,
            &["other/start4.elf", "9ffefdef/cmdline.txt"],
            None,
        ));
        assert_eq!(
            why,
            "not in the inventory, and no start4.elf or config.txt in the TFTP root, \
             9ffefdef/, dc-a6-32-01-36-c2/"
        );
        // Without a serial in option 97, the MAC folder still counts.
        pi.uuid = None;
        let (answer, _) = answer(decide(
            &pi,
            &config,
            &["dc-a6-32-01-36-c2/config.txt"],
            None,
        ));
        assert_eq!(answer, ProxyAnswer::RaspberryPi);
        assert!(matches!(
            decide(&pi, &config, &["9ffefdef/config.txt"], None),
            Plan::Ignore(_)
        ));
    }

    #[test]
    fn bios_left_at_its_default_falls_back_to_pxelinux_0() {
        let bios = client(Firmware::BiosPxe, Some(Arch::BiosX86));
        let file = |plan| match answer(plan).0 {
            ProxyAnswer::PxeDirect { file } => file,
            other => panic!("{other:?}"),
        };
        let config = ProxyConfig::default();
        assert_eq!(
            file(decide(
                &bios,
                &config,
                &["undionly.kpxe", "pxelinux.0"],
                None
            )),
            "undionly.kpxe"
        );
        assert_eq!(
            file(decide(&bios, &config, &["pxelinux.0"], None)),
            "pxelinux.0"
        );
        assert_eq!(
            ignored(decide(&bios, &config, &[], None)),
            "boot file undionly.kpxe is not in the TFTP root"
        );
        // A file the user chose is not second-guessed.
        let chosen = ProxyConfig {
            bios: "lpxelinux.0".into(),
            ..ProxyConfig::default()
        };
        assert_eq!(
            ignored(decide(&bios, &chosen, &["pxelinux.0"], None)),
            "boot file lpxelinux.0 is not in the TFTP root"
        );
    }

    #[test]
    fn summaries_read_as_before() {
        let say = |answer: ProxyAnswer| {
            Summary {
                answer: &answer,
                server: SERVER,
            }
            .to_string()
        };
        assert_eq!(
            say(ProxyAnswer::RaspberryPi),
            "Raspberry Pi Boot, TFTP from 10.99.0.1"
        );
        let file = "ipxe.efi".to_string();
        assert_eq!(
            say(ProxyAnswer::PxeDirect { file: file.clone() }),
            "TFTP ipxe.efi"
        );
        assert_eq!(
            say(ProxyAnswer::PxeVia4011 { file }),
            "TFTP ipxe.efi (via port 4011)"
        );
        let url = "http://10.99.0.1/boot.ipxe".to_string();
        assert_eq!(
            say(ProxyAnswer::Ipxe { url: url.clone() }),
            "iPXE script http://10.99.0.1/boot.ipxe"
        );
        assert_eq!(
            say(ProxyAnswer::HttpBoot { uri: url }),
            "HTTP boot http://10.99.0.1/boot.ipxe"
        );
    }

    #[test]
    fn table_of_default_answers() {
        let cfg = ProxyConfig::default();
        let all = [
            "bootcode.bin",
            "start4.elf",
            "undionly.kpxe",
            "ipxe.efi",
            "boot.ipxe",
        ];
        let cases = [
            (
                client(Firmware::RpiRom, Some(Arch::BiosX86)),
                ProxyAnswer::RaspberryPi,
                Duration::from_secs(1),
            ),
            (
                client(
                    Firmware::RpiEeprom(Some(RpiModel::Pi4)),
                    Some(Arch::BiosX86),
                ),
                ProxyAnswer::RaspberryPi,
                Duration::ZERO,
            ),
            (
                client(Firmware::BiosPxe, Some(Arch::BiosX86)),
                ProxyAnswer::PxeDirect {
                    file: "undionly.kpxe".into(),
                },
                Duration::ZERO,
            ),
            (
                client(Firmware::UefiPxe, Some(Arch::UefiX64)),
                ProxyAnswer::PxeVia4011 {
                    file: "ipxe.efi".into(),
                },
                Duration::ZERO,
            ),
            (
                client(Firmware::Ipxe, Some(Arch::BiosX86)),
                ProxyAnswer::Ipxe {
                    url: "http://10.99.0.1/boot.ipxe".into(),
                },
                Duration::ZERO,
            ),
            (
                client(Firmware::UefiHttp, Some(Arch::UefiX64Http)),
                ProxyAnswer::HttpBoot {
                    uri: "http://10.99.0.1/ipxe.efi".into(),
                },
                Duration::ZERO,
            ),
        ];
        for (c, want, delay) in cases {
            assert_eq!(
                answer(decide(&c, &cfg, &all, Some(80))),
                (want, delay),
                "{c:?}"
            );
        }
    }

    #[test]
    fn non_boot_clients_and_uboot_are_ignored() {
        let cfg = ProxyConfig::default();
        let all = ["bootcode.bin", "undionly.kpxe", "ipxe.efi", "boot.ipxe"];
        let why = ignored(decide(
            &client(Firmware::NotBoot, None),
            &cfg,
            &all,
            Some(80),
        ));
        assert!(why.contains("not a boot client"));
        let why = ignored(decide(
            &client(Firmware::UBoot, Some(Arch::UBootArm64)),
            &cfg,
            &all,
            Some(80),
        ));
        assert!(why.contains("U-Boot"), "{why}");
    }

    #[test]
    fn missing_or_unset_boot_files_are_said() {
        let mut cfg = ProxyConfig::default();
        let why = ignored(decide(
            &client(Firmware::BiosPxe, Some(Arch::BiosX86)),
            &cfg,
            &[],
            Some(80),
        ));
        assert_eq!(why, "boot file undionly.kpxe is not in the TFTP root");
        let why = ignored(decide(&client(Firmware::RpiRom, None), &cfg, &[], Some(80)));
        assert_eq!(why, "no bootcode.bin in the TFTP root");
        let pi4 = client(Firmware::RpiEeprom(Some(RpiModel::Pi4)), None);
        let why = ignored(decide(&pi4, &cfg, &["bootcode.bin"], Some(80)));
        assert!(why.contains("start4.elf"), "{why}");
        assert!(matches!(
            decide(&pi4, &cfg, &["config.txt"], Some(80)),
            Plan::Answer { .. }
        ));
        cfg.bios = String::new();
        let why = ignored(decide(
            &client(Firmware::BiosPxe, Some(Arch::BiosX86)),
            &cfg,
            &["undionly.kpxe"],
            Some(80),
        ));
        assert_eq!(why, "no boot file configured (proxy.bios)");
        let why = ignored(decide(
            &client(Firmware::UefiPxe, Some(Arch::UefiArm32)),
            &cfg,
            &["ipxe.efi"],
            Some(80),
        ));
        assert!(why.contains("UefiArm32"), "{why}");
        cfg.rpi = false;
        let why = ignored(decide(
            &client(Firmware::RpiEeprom(Some(RpiModel::Pi5)), None),
            &cfg,
            &["bootcode.bin"],
            Some(80),
        ));
        assert!(why.contains("proxy.rpi"), "{why}");
    }

    #[test]
    fn ipxe_urls_follow_the_http_port_and_need_http() {
        let cfg = ProxyConfig::default();
        let c = client(Firmware::Ipxe, Some(Arch::UefiX64));
        let (a, _) = answer(decide(&c, &cfg, &["boot.ipxe"], Some(8080)));
        assert_eq!(
            a,
            ProxyAnswer::Ipxe {
                url: "http://10.99.0.1:8080/boot.ipxe".into()
            }
        );
        let why = ignored(decide(&c, &cfg, &["boot.ipxe"], None));
        assert!(why.contains("HTTP"), "{why}");
    }
}
