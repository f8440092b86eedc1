//! `[[machines]]`: hosts given their own UEFI boot file become `efi` machines.

use super::*;

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl Translator<'_> {
    /// A host given its own UEFI boot file becomes an `efi` machine.
    pub(super) fn machines(&mut self, owned: &[usize]) {
        let general = self.given(Kind::UefiX64, &Kind::UefiX64.client());
        let mut profiles: BTreeMap<String, (String, String)> = BTreeMap::new();
        let mut machines = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for i in self.lines_where(|d| matches!(d, Directive::DhcpHost(_))) {
            if owned.contains(&i) {
                continue;
            }
            let Directive::DhcpHost(host) = &self.inputs.dnsmasq[i].item else {
                continue;
            };
            let host = host.clone();
            if host.ignore || host.macs.is_empty() {
                continue;
            }
            let client = Client {
                mac: Some(host.macs[0]),
                host_tags: host.set.clone(),
                known: Some(true),
                ..Kind::UefiX64.client()
            };
            let mine = self.given(Kind::UefiX64, &client);
            let (Some(file), Some(from)) = (&mine.file, mine.from) else {
                continue;
            };
            if mine.file == general.file || !file.to_ascii_lowercase().ends_with(".efi") {
                continue;
            }
            let kernel = file.trim_start_matches('/').to_owned();
            if kernel.contains(['\\', ' ', '#'])
                || kernel.split('/').any(|p| p.is_empty() || p == "..")
            {
                self.not_translated(
                    from,
                    "the file name is not one bootherd serves as a machine's EFI binary",
                );
                continue;
            }
            let stem: String = kernel
                .rsplit('/')
                .next()
                .unwrap_or(&kernel)
                .trim_end_matches(".efi")
                .trim_end_matches(".EFI")
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c.to_ascii_lowercase()
                    } else {
                        '-'
                    }
                })
                .collect();
            let profile = format!("efi-{stem}");
            let cited_from = self.cite(from);
            profiles
                .entry(profile.clone())
                .or_insert((kernel, cited_from));
            let mac = mac_text(&host.macs[0]);
            let name = host
                .hostname
                .clone()
                .filter(|n| valid_name(n) && !names.contains(n))
                .unwrap_or_else(|| format!("host-{}", mac.replace(':', "")));
            names.push(name.clone());
            self.claim(Line::D(i));
            let cited = self.cite(Line::D(i));
            machines.push(Table {
                name: "machines".into(),
                array: true,
                comments: vec![],
                keys: vec![
                    key("name", name, String::new()),
                    key("mac", mac, cited),
                    key("profile", profile, String::new()),
                ],
            });
        }
        for (name, (kernel, cited)) in profiles {
            self.tables.push(Table {
                name: format!("profiles.{name}"),
                array: false,
                comments: vec![
                    "UEFI firmware of the machines below gets this file (at m/<mac>/ in bootherd's"
                        .into(),
                    "tree, which falls back to the root) instead of proxy.uefi_x64.".into(),
                ],
                keys: vec![
                    key("kind", "efi", String::new()),
                    key("kernel", kernel, cited),
                ],
            });
        }
        self.tables.extend(machines);
        // The other hosts, in proxy mode.
        for i in self.lines_where(|d| matches!(d, Directive::DhcpHost(_))) {
            let Directive::DhcpHost(host) = &self.inputs.dnsmasq[i].item else {
                continue;
            };
            if host.ignore {
                self.no_key(
                    Line::D(i),
                    "bootherd answers only the clients it owns, and does not own this one",
                );
            } else {
                self.not_translated(
                    Line::D(i),
                    "in proxy mode dnsmasq uses a host line for its tags only, and they give this host \
                     no boot file of its own that bootherd can give (only a UEFI binary can be one)",
                );
            }
        }
    }
}
