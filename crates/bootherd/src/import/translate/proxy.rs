//! `[proxy]`: the boot file dnsmasq would give each kind of client, from
//! `pxe-service` and `dhcp-boot`, and the Raspberry Pi answer.

use super::*;

/// What dnsmasq gives one kind of client.
#[derive(Debug, Clone, Default)]
pub(super) struct Given {
    /// The boot file, if any.
    pub(super) file: Option<String>,
    /// The line it comes from.
    pub(super) from: Option<Line>,
    /// Decided by a PXE-specific line (a `pxe-service`, or a tagged `dhcp-boot`).
    pub(super) specific: bool,
    /// Why there is no file, when a line was involved.
    pub(super) why_none: Option<String>,
    /// A line that would have applied but cannot be followed, with why.
    pub(super) unusable: Option<(Line, String)>,
}

/// Boot programs, which bootherd never hands to iPXE.
const BINARY_SUFFIXES: [&str; 7] = [".kpxe", ".pxe", ".0", ".efi", ".kkpxe", ".lkrn", ".com"];

impl Translator<'_> {
    /// What dnsmasq gives `client` of `kind`.
    pub(super) fn given(&self, kind: Kind, client: &Client) -> Given {
        let mut given = Given::default();
        if kind.sees_menus() {
            match choose_service(&self.rules, &self.services, client) {
                Choice::Chosen(entry) => {
                    let line = Line::D(self.service_line(entry));
                    given.specific = true;
                    given.from = Some(line);
                    let s = &entry.item;
                    match (&s.boot, &s.server) {
                        (PxeBoot::File(_), Some(server)) => {
                            given.unusable = Some((
                                line,
                                format!(
                                    "its file comes from another boot server ({server}); bootherd \
                                     answers with files from its own tree: copy the file there"
                                ),
                            ));
                            given.why_none =
                                Some("the first menu entry names another server".into());
                        }
                        (PxeBoot::File(_), None) => given.file = s.boot.file(),
                        (PxeBoot::Local, _) => {
                            given.why_none = Some(format!(
                                "the first menu entry, {:?}, boots from local disk",
                                s.menu
                            ))
                        }
                        (PxeBoot::ServiceType(t), _) => {
                            given.unusable = Some((
                                line,
                                format!("a boot server search (service type {t}): bootherd answers with a file only"),
                            ));
                            given.why_none = Some(
                                "the first menu entry searches for another boot server".into(),
                            );
                        }
                    }
                    return given;
                }
                Choice::Depends(entry, tag) => {
                    let line = Line::D(self.service_line(entry));
                    given.unusable = Some((line, depends(&tag)));
                    given.why_none = Some(format!("which menu entry it gets depends on tag {tag}"));
                    return given;
                }
                Choice::Nothing => {}
            }
        }
        match choose_boot(&self.rules, &self.boots, client) {
            Choice::Chosen(entry) => {
                given.from = Some(Line::D(self.boot_line(entry)));
                given.specific = !entry.item.tags.is_empty();
                given.file = Some(entry.item.file.clone());
            }
            Choice::Depends(entry, tag) => {
                let line = Line::D(self.boot_line(entry));
                given.unusable = Some((line, depends(&tag)));
                given.why_none = Some(format!("which file it gets depends on tag {tag}"));
            }
            Choice::Nothing => {}
        }
        given
    }

    pub(super) fn boot_line(&self, entry: &Entry<DhcpBoot>) -> usize {
        let at = self
            .boots
            .iter()
            .position(|b| std::ptr::eq(b, entry))
            .unwrap_or_default();
        self.boot_lines[at]
    }

    fn service_line(&self, entry: &Entry<PxeService>) -> usize {
        let at = self
            .services
            .iter()
            .position(|s| std::ptr::eq(s, entry))
            .unwrap_or_default();
        self.service_lines[at]
    }

    /// Returns whether the proxy is on, and whether it needs HTTP.
    pub(super) fn proxy(&mut self) -> (bool, bool) {
        let proxy_ranges = self
            .lines_where(|d| matches!(d, Directive::DhcpRange(r) if r.mode == RangeMode::Proxy));
        let kinds = [
            Kind::Bios,
            Kind::UefiX64,
            Kind::UefiIa32,
            Kind::UefiArm64,
            Kind::Ipxe,
            Kind::IpxeEfi,
            Kind::HttpX64,
            Kind::HttpArm64,
        ];
        let given: Vec<(Kind, Given)> = kinds
            .iter()
            .map(|&k| (k, self.given(k, &k.client())))
            .collect();
        let pi = self.raspberry_pi();
        let specific =
            pi.0 == Tri::Yes || given.iter().any(|(_, g)| g.specific && g.file.is_some());
        let on = !proxy_ranges.is_empty() || specific;
        if !on {
            // Only an untagged dhcp-boot: dnsmasq gave every DHCP client that file.
            if let Some((_, g)) = given.iter().find(|(_, g)| g.file.is_some()) {
                if let Some(line) = g.from {
                    let (origin, text) = self.origin(line);
                    self.attention.push(format!(
                        "dnsmasq, as this LAN's DHCP server, also gave {text} ({origin}) to any PXE \
                         firmware that asked. bootherd boots PCs with proxyDHCP only when told to: \
                         set [proxy] enabled = true and bios = \"{}\" if it should.",
                        g.file.clone().unwrap_or_default()
                    ));
                }
            }
            return (false, false);
        }
        let mut keys = Vec::new();
        let enabled_comment = if proxy_ranges.is_empty() {
            "dnsmasq answered boot firmware as the LAN's DHCP server; bootherd gives boot answers only \
             (proxyDHCP) and leaves addresses to the LAN's DHCP server"
                .to_owned()
        } else {
            let cited: Vec<String> = proxy_ranges
                .iter()
                .map(|&i| self.cite(Line::D(i)))
                .collect();
            cited.join("; ")
        };
        keys.push(key("enabled", true, enabled_comment));
        // The Pi.
        let (pi_state, pi_line, pi_why) = pi;
        let comment = match (pi_state, pi_line) {
            (Tri::Yes, Some(line)) => self.cite(line),
            (Tri::Maybe, Some(line)) => {
                self.not_translated(line, pi_why.unwrap_or_default());
                format!("not answered: see the note on {}", self.origin(line).0)
            }
            _ => "dnsmasq sends no \"Raspberry Pi Boot\" menu entry".to_owned(),
        };
        keys.push(key("rpi", pi_state == Tri::Yes, comment));
        let mut wants_http = false;
        let get = |k: Kind| {
            given
                .iter()
                .find(|(kind, _)| *kind == k)
                .map(|(_, g)| g.clone())
                .unwrap_or_default()
        };
        for (name, kind) in [
            ("bios", Kind::Bios),
            ("uefi_x64", Kind::UefiX64),
            ("uefi_ia32", Kind::UefiIa32),
            ("uefi_arm64", Kind::UefiArm64),
        ] {
            let g = get(kind);
            let (value, comment) = self.tftp_file(kind, &g);
            keys.push(key(name, value, comment));
        }
        // iPXE: a script, from the BIOS build's answer (the UEFI build's must agree).
        let (ipxe, ipxe_efi) = (get(Kind::Ipxe), get(Kind::IpxeEfi));
        let (value, comment) = self.ipxe_script(&ipxe);
        if ipxe_efi.file != ipxe.file {
            if let Some(line) = ipxe_efi.from {
                self.not_translated(
                    line,
                    format!(
                        "iPXE on UEFI gets {} from dnsmasq, iPXE on BIOS {}: bootherd gives every iPXE \
                         the one proxy.ipxe_script",
                        ipxe_efi.file.clone().unwrap_or_else(|| "nothing".into()),
                        ipxe.file.clone().unwrap_or_else(|| "nothing".into())
                    ),
                );
            }
        }
        wants_http |= !value.is_empty();
        keys.push(key("ipxe_script", value, comment));
        for (name, kind) in [("http_x64", Kind::HttpX64), ("http_arm64", Kind::HttpArm64)] {
            let g = get(kind);
            let (value, comment) = self.http_file(kind, &g);
            wants_http |= !value.is_empty();
            keys.push(key(name, value, comment));
        }
        for (_, g) in &given {
            if let Some((line, why)) = &g.unusable {
                self.not_translated(*line, why.clone());
            }
        }
        self.table("proxy", vec![], keys);
        (true, wants_http)
    }

    /// Whether dnsmasq sends a Pi "Raspberry Pi Boot": the state, the line, and
    /// why it is uncertain.
    fn raspberry_pi(&self) -> (Tri, Option<Line>, Option<String>) {
        let pi = Client {
            raspberry_pi: true,
            ..Kind::Bios.client()
        };
        let mut maybe = None;
        for (at, s) in self.services.iter().enumerate() {
            if s.item.csa != 0 || !s.item.menu.contains("Raspberry Pi Boot") {
                continue;
            }
            let line = Line::D(self.service_lines[at]);
            match self.rules.matches(&s.item.tags, &pi) {
                (Tri::Yes, _) => return (Tri::Yes, Some(line), None),
                (Tri::Maybe, tag) if maybe.is_none() => {
                    maybe = Some((line, depends(&tag.unwrap_or_default())));
                }
                _ => {}
            }
        }
        match maybe {
            Some((line, why)) => (Tri::Maybe, Some(line), Some(why)),
            None => (Tri::No, None, None),
        }
    }

    /// A PXE boot file key: the file, or "" with why.
    fn tftp_file(&mut self, kind: Kind, g: &Given) -> (String, String) {
        match (&g.file, g.from) {
            (Some(file), Some(line)) if file.contains('\\') => {
                self.not_translated(
                    line,
                    "bootherd refuses names with backslashes (dnsmasq turns them into /): \
                     write the file name with /",
                );
                (
                    String::new(),
                    format!("{}: see the note on {}", kind.what(), self.origin(line).0),
                )
            }
            (Some(file), Some(line)) if url_path(file).is_some() => {
                self.not_translated(
                    line,
                    format!(
                        "{} gets a URL, which PXE firmware cannot fetch by TFTP",
                        kind.what()
                    ),
                );
                (
                    String::new(),
                    format!("{}: see the note on {}", kind.what(), self.origin(line).0),
                )
            }
            (Some(file), Some(line)) => (file.clone(), self.cite(line)),
            _ => (
                String::new(),
                format!(
                    "dnsmasq gives {} no boot file{}",
                    kind.what(),
                    g.why_none
                        .as_deref()
                        .map(|w| format!(" ({w})"))
                        .unwrap_or_default()
                ),
            ),
        }
    }

    pub(super) fn ipxe_script(&mut self, g: &Given) -> (String, String) {
        let (Some(file), Some(line)) = (&g.file, g.from) else {
            return (
                String::new(),
                format!(
                    "dnsmasq gives iPXE no file of its own{}: bootherd answers iPXE only with a script",
                    g.why_none.as_deref().map(|w| format!(" ({w})")).unwrap_or_default()
                ),
            );
        };
        if let Some((host, path)) = url_path(file) {
            let cited = self.cite(line);
            return (
                path.to_owned(),
                format!("{cited}; bootherd serves it from its own HTTP root, not from {host}"),
            );
        }
        if file.contains('\\') {
            self.not_translated(
                line,
                "bootherd refuses names with backslashes (dnsmasq turns them into /): \
                 write the file name with /",
            );
            return (
                String::new(),
                format!("see the note on {}", self.origin(line).0),
            );
        }
        if BINARY_SUFFIXES
            .iter()
            .any(|s| file.to_ascii_lowercase().ends_with(s))
        {
            self.not_translated(
                line,
                format!(
                    "dnsmasq hands iPXE the boot program {file} again; bootherd hands iPXE a script \
                     over HTTP, never a binary: set proxy.ipxe_script to boot it further"
                ),
            );
            return (
                String::new(),
                format!("see the note on {}", self.origin(line).0),
            );
        }
        let cited = self.cite(line);
        (
            file.trim_start_matches('/').to_owned(),
            format!("{cited}; bootherd hands it to iPXE over HTTP"),
        )
    }

    fn http_file(&mut self, kind: Kind, g: &Given) -> (String, String) {
        match (&g.file, g.from) {
            (Some(file), Some(line)) if g.specific => match url_path(file) {
                Some((host, path)) => {
                    let cited = self.cite(line);
                    (
                        path.to_owned(),
                        format!("{cited}; served from bootherd's HTTP root, not from {host}"),
                    )
                }
                None => (
                    String::new(),
                    format!("dnsmasq gives {} no http:// URL", kind.what()),
                ),
            },
            _ => (
                String::new(),
                format!("dnsmasq gives {} no http:// URL", kind.what()),
            ),
        }
    }
}
