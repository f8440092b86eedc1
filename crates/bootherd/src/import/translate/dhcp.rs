//! `[dhcp]`: dnsmasq as a DHCP server becomes bootherd's server for the
//! clients dnsmasq gave a boot file to: owned MACs, vendor classes, pools.

use super::*;

fn host_client(host: &DhcpHost) -> Client {
    Client {
        mac: host.macs.first().copied(),
        host_tags: host.set.clone(),
        known: Some(true),
        ..Client::default()
    }
}

fn mask_prefix(mask: Ipv4Addr) -> Option<u8> {
    let bits = u32::from(mask);
    let prefix = bits.leading_ones();
    (bits.checked_shl(prefix).unwrap_or(0) == 0).then_some(prefix as u8)
}

fn prefix_mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

impl Translator<'_> {
    /// The DHCP server for owned hosts. Returns the host lines it owns.
    pub(super) fn dhcp(&mut self) -> Vec<usize> {
        let ranges: Vec<usize> = self
            .lines_where(|d| matches!(d, Directive::DhcpRange(r) if r.mode != RangeMode::Proxy));
        let hosts: Vec<usize> = self.lines_where(|d| matches!(d, Directive::DhcpHost(_)));
        if ranges.is_empty() {
            return Vec::new();
        }
        // Which hosts dnsmasq gave a boot file: bootherd owns those.
        let mut owned: Vec<(usize, Line)> = Vec::new();
        for &i in &hosts {
            let Directive::DhcpHost(host) = &self.inputs.dnsmasq[i].item else {
                continue;
            };
            let host = host.clone();
            if host.ignore {
                self.no_key(
                    Line::D(i),
                    "bootherd answers only the clients it owns, and does not own this one",
                );
                continue;
            }
            if host.macs.is_empty() {
                self.not_translated(
                    Line::D(i),
                    "bootherd owns clients by MAC; this line names none it can use",
                );
                continue;
            }
            let client = host_client(&host);
            match choose_boot(&self.rules, &self.boots, &client) {
                Choice::Chosen(entry) => {
                    let line = Line::D(self.boot_line(entry));
                    owned.push((i, line));
                }
                Choice::Depends(_, tag) => self.not_translated(
                    Line::D(i),
                    format!(
                        "whether dnsmasq gave it a boot file depends on tag {tag} (its firmware): add \
                         its MAC to dhcp.own_macs if bootherd should boot it"
                    ),
                ),
                Choice::Nothing => self.not_translated(
                    Line::D(i),
                    "dnsmasq gives it no boot file: its address stays with the LAN's DHCP server",
                ),
            }
        }
        // Vendor classes selected for a boot file of their own (U-Boot's).
        let mut classes: Vec<(usize, String, Line)> = Vec::new();
        for i in self.lines_where(|d| matches!(d, Directive::VendorClass { .. })) {
            let Directive::VendorClass { tag, class } = &self.inputs.dnsmasq[i].item else {
                continue;
            };
            if class.contains("PXEClient") || class.contains("HTTPClient") {
                continue;
            }
            let client = Client {
                vendor_class: Some(class.clone()),
                ..Client::default()
            };
            if let Choice::Chosen(entry) = choose_boot(&self.rules, &self.boots, &client) {
                if entry.item.tags.iter().any(|t| !t.negated && t.tag == *tag) {
                    let line = Line::D(self.boot_line(entry));
                    classes.push((i, class.clone(), line));
                }
            }
        }
        if owned.is_empty() && classes.is_empty() {
            for &i in &ranges {
                self.not_translated(
                    Line::D(i),
                    "dnsmasq hands out these addresses to every client, and none of them gets a boot \
                     file bootherd could own: bootherd leaves addresses to the LAN's DHCP server",
                );
            }
            return Vec::new();
        }
        // The boot file: the one most owned clients get.
        let mut counts: BTreeMap<String, (usize, Line)> = BTreeMap::new();
        let chosen: Vec<Line> = owned
            .iter()
            .map(|&(_, l)| l)
            .chain(classes.iter().map(|(_, _, l)| *l))
            .collect();
        for line in chosen {
            let Line::D(b) = line else { continue };
            let Directive::DhcpBoot(boot) = &self.inputs.dnsmasq[b].item else {
                continue;
            };
            let slot = counts.entry(boot.file.clone()).or_insert((0, line));
            slot.0 += 1;
        }
        let (file, &(_, file_line)) = counts
            .iter()
            .max_by_key(|(_, (n, line))| (*n, std::cmp::Reverse(line_index(*line))))
            .expect("an owned client");
        let file = file.clone();
        let mut dhcp_keys = vec![key(
            "enabled",
            true,
            "dnsmasq gave the clients below an address and a boot file; bootherd does the same for them only",
        )];
        let mut macs = Vec::new();
        let mut mac_cites = Vec::new();
        for (h, line) in owned.clone() {
            let Directive::DhcpHost(host) = &self.inputs.dnsmasq[h].item else {
                continue;
            };
            let host = host.clone();
            if line != file_line {
                let Line::D(b) = line else { continue };
                let other = match &self.inputs.dnsmasq[b].item {
                    Directive::DhcpBoot(b) => b.file.clone(),
                    _ => String::new(),
                };
                self.not_translated(
                    Line::D(h),
                    format!(
                        "dnsmasq gives it {other}, and bootherd gives every owned client the same \
                         dhcp.boot.file ({file})"
                    ),
                );
                continue;
            }
            for mac in &host.macs {
                macs.push(mac_text(mac));
            }
            if !host.mac_patterns.is_empty() {
                self.attention.push(format!(
                    "{} ({}): the MAC patterns {} cannot be owned by bootherd, which owns exact MACs",
                    self.inputs.dnsmasq[h].text,
                    self.inputs.dnsmasq[h].origin,
                    host.mac_patterns.join(", ")
                ));
            }
            mac_cites.push(self.inputs.dnsmasq[h].origin.to_string());
        }
        let owned_hosts: Vec<usize> = owned
            .iter()
            .filter(|(_, line)| *line == file_line)
            .map(|(h, _)| *h)
            .collect();
        dhcp_keys.push(key(
            "own_macs",
            strings(&macs),
            if mac_cites.is_empty() {
                String::new()
            } else {
                format!("dhcp-host lines at {}", mac_cites.join(", "))
            },
        ));
        let mut class_patterns = Vec::new();
        let mut class_cites = Vec::new();
        for (c, class, line) in classes {
            if line != file_line {
                self.not_translated(
                    Line::D(c),
                    format!("bootherd gives every owned client the same dhcp.boot.file ({file})"),
                );
                continue;
            }
            class_patterns.push(format!("*{class}*"));
            class_cites.push(self.cite(Line::D(c)));
        }
        if !class_patterns.is_empty() {
            dhcp_keys.push(key(
                "own_vendor_classes",
                strings(&class_patterns),
                class_cites.join("; "),
            ));
        }
        for i in self.lines_where(|d| matches!(d, Directive::NoPing)) {
            let cited = self.cite(Line::D(i));
            dhcp_keys.push(key("ping_check", false, cited));
        }
        self.tables.push(Table {
            name: "dhcp".into(),
            array: false,
            comments: vec![
                "bootherd's DHCP server answers only the clients it owns (own_macs,".into(),
                "own_vendor_classes, reservations) and leaves every other client to the LAN's"
                    .into(),
                "DHCP server: keep one for the rest of the LAN (dnsmasq without these clients,"
                    .into(),
                "or with dhcp-host=MAC,ignore for each). Its leases go to leases.sqlite next"
                    .into(),
                "to this file (dhcp.lease_db); dnsmasq's lease file is not carried over.".into(),
            ],
            keys: dhcp_keys,
        });
        self.dhcp_boot(&file, file_line);
        self.pools(&ranges, &owned_hosts);
        owned_hosts
    }

    fn dhcp_boot(&mut self, file: &str, line: Line) {
        let Line::D(b) = line else { return };
        let Directive::DhcpBoot(boot) = &self.inputs.dnsmasq[b].item else {
            return;
        };
        let boot = boot.clone();
        let cited = self.cite(line);
        let mut keys = vec![key("file", file, cited.clone())];
        match (&boot.server, &boot.server_name) {
            (Some(server), _) => match server.parse::<Ipv4Addr>() {
                Ok(ip) => keys.push(key("next_server", ip.to_string(), format!("{cited}; default: the answering address"))),
                Err(_) => self.attention.push(format!(
                    "{cited}: the TFTP server {server} is a name; bootherd's next_server is an address"
                )),
            },
            (None, Some(name)) => keys.push(key("tftp_server_name", name.as_str(), cited.clone())),
            (None, None) => {}
        }
        if let (Some(_), Some(name)) = (&boot.server, &boot.server_name) {
            self.attention.push(format!(
                "{cited}: the server name {name} is not sent (dhcp.boot.tftp_server_name sends option 66 if a board needs it)"
            ));
        }
        // Options 66, 67 and 209 from dhcp-option.
        for i in self.lines_where(|d| matches!(d, Directive::DhcpOption(o) if o.tags.is_empty() && !o.encapsulated && matches!(o.option, Some(66 | 209)))) {
            let Directive::DhcpOption(o) = &self.inputs.dnsmasq[i].item else { continue };
            let (name, value) = match (o.option, o.values.first()) {
                (Some(66), Some(v)) => ("tftp_server_name", v.clone()),
                (Some(209), Some(v)) => ("pxelinux_config", v.clone()),
                _ => continue,
            };
            if keys.iter().any(|k| k.name == name) {
                continue;
            }
            let cited = self.cite(Line::D(i));
            keys.push(key(name, value, cited));
        }
        self.table("dhcp.boot", vec![], keys);
    }

    pub(super) fn pools(&mut self, ranges: &[usize], owned_hosts: &[usize]) {
        // Untagged options for the pools.
        let option = |this: &Self, number: u16| -> Vec<usize> {
            this.lines_where(|d| {
                matches!(d, Directive::DhcpOption(o) if o.tags.is_empty() && !o.encapsulated && o.option == Some(number))
            })
        };
        let netmask_lines = option(self, 1);
        let router_lines = option(self, 3);
        let dns_lines = option(self, 6);
        let domain_lines = option(self, 15);
        let domain_directives = self.lines_where(|d| matches!(d, Directive::Domain(_)));
        let mut subnets: Vec<(Ipv4Addr, u8)> = Vec::new();
        let mut pool_tables = Vec::new();
        let mut reserved: Vec<(usize, Ipv4Addr)> = Vec::new();
        for &h in owned_hosts {
            if let Directive::DhcpHost(host) = &self.inputs.dnsmasq[h].item {
                if let Some(ip) = host.ip {
                    reserved.push((h, ip));
                }
            }
        }
        for &r in ranges {
            let Directive::DhcpRange(range) = &self.inputs.dnsmasq[r].item else {
                continue;
            };
            let range = range.clone();
            if !range.tags.is_empty() {
                self.not_translated(
                    Line::D(r),
                    "a range for tagged clients: bootherd's pools have no tags",
                );
                continue;
            }
            let mut comments = Vec::new();
            let mask = range.netmask.or_else(|| {
                netmask_lines
                    .first()
                    .and_then(|&i| match &self.inputs.dnsmasq[i].item {
                        Directive::DhcpOption(o) => o.values.first().and_then(|v| v.parse().ok()),
                        _ => None,
                    })
            });
            let prefix = match mask {
                Some(mask) => match mask_prefix(mask) {
                    Some(p) => p,
                    None => {
                        self.not_translated(Line::D(r), format!("{mask} is not a netmask"));
                        continue;
                    }
                },
                None => {
                    comments.push("dnsmasq takes the netmask from the interface: /24 is assumed here, check it".into());
                    24
                }
            };
            let network = Ipv4Addr::from(u32::from(range.start) & prefix_mask(prefix));
            if subnets.iter().any(|&(n, p)| n == network && p == prefix) {
                self.not_translated(
                    Line::D(r),
                    "bootherd has one range per subnet: the first range of this subnet is used",
                );
                continue;
            }
            let in_subnet =
                |ip: Ipv4Addr| u32::from(ip) & prefix_mask(prefix) == u32::from(network);
            let (first, last) = match range.mode {
                RangeMode::Dynamic(end) => (range.start, end),
                RangeMode::Static => {
                    let ips: Vec<u32> = reserved
                        .iter()
                        .filter(|(_, ip)| in_subnet(*ip))
                        .map(|(_, ip)| u32::from(*ip))
                        .collect();
                    match (ips.iter().min(), ips.iter().max()) {
                        (Some(&a), Some(&b)) => {
                            comments.push("a static range in dnsmasq: this range spans the reserved addresses only".into());
                            (Ipv4Addr::from(a), Ipv4Addr::from(b))
                        }
                        _ => {
                            self.not_translated(
                                Line::D(r),
                                "a static range without reserved addresses of owned clients",
                            );
                            continue;
                        }
                    }
                }
                RangeMode::Proxy => continue,
            };
            subnets.push((network, prefix));
            let cited = self.cite(Line::D(r));
            let mut keys = vec![
                key("subnet", format!("{network}/{prefix}"), cited.clone()),
                key(
                    "range",
                    strings(&[first.to_string(), last.to_string()]),
                    String::new(),
                ),
            ];
            let mut routers = false;
            for &i in &router_lines {
                let Directive::DhcpOption(o) = &self.inputs.dnsmasq[i].item else {
                    continue;
                };
                if let Some(ip) = o
                    .values
                    .first()
                    .and_then(|v| v.parse::<Ipv4Addr>().ok())
                    .filter(|ip| in_subnet(*ip))
                {
                    let cited = self.cite(Line::D(i));
                    keys.push(key("router", ip.to_string(), cited));
                    routers = true;
                    break;
                }
            }
            let mut dns = false;
            for &i in &dns_lines {
                let Directive::DhcpOption(o) = &self.inputs.dnsmasq[i].item else {
                    continue;
                };
                let servers: Vec<String> = o
                    .values
                    .iter()
                    .filter_map(|v| v.parse::<Ipv4Addr>().ok())
                    .filter(|ip| !ip.is_unspecified())
                    .map(|ip| ip.to_string())
                    .collect();
                if !servers.is_empty() && servers.len() == o.values.len() {
                    let cited = self.cite(Line::D(i));
                    keys.push(key("dns", strings(&servers), cited));
                    dns = true;
                    break;
                }
            }
            if !routers || !dns {
                comments.push(
                    "dnsmasq names itself as router and DNS server unless told otherwise; bootherd sends neither unless set".into(),
                );
            }
            match range.lease {
                Some(Some(secs)) => keys.push(key("lease_secs", i64::try_from(secs).unwrap_or(i64::MAX), String::new())),
                Some(None) => comments.push("dnsmasq's lease time is infinite here: bootherd's is lease_secs (default 3600)".into()),
                None => {}
            }
            let domain = domain_lines
                .iter()
                .find_map(|&i| match &self.inputs.dnsmasq[i].item {
                    Directive::DhcpOption(o) => o.values.first().map(|v| (i, v.clone())),
                    _ => None,
                })
                .or_else(|| {
                    domain_directives
                        .iter()
                        .find_map(|&i| match &self.inputs.dnsmasq[i].item {
                            Directive::Domain(d) => Some((i, d.clone())),
                            _ => None,
                        })
                });
            if let Some((i, name)) = domain {
                let cited = self.cite(Line::D(i));
                keys.push(key("domain", name, cited));
            }
            if pool_tables.is_empty() {
                comments.insert(
                    0,
                    "dnsmasq handed these addresses to every client; bootherd hands them only to the".into(),
                );
                comments.insert(
                    1,
                    "clients it owns ([dhcp] above) and leaves the rest of the LAN alone.".into(),
                );
            }
            pool_tables.push(Table {
                name: "dhcp.pool".into(),
                array: true,
                comments,
                keys,
            });
        }
        self.tables.extend(pool_tables);
        // Reservations, each in a pool's subnet, one per address.
        let mut taken: Vec<Ipv4Addr> = Vec::new();
        for (h, ip) in reserved {
            let Directive::DhcpHost(host) = &self.inputs.dnsmasq[h].item else {
                continue;
            };
            let host = host.clone();
            let in_pool = subnets
                .iter()
                .any(|&(n, p)| u32::from(ip) & prefix_mask(p) == u32::from(n));
            let line = Line::D(h);
            if !in_pool {
                self.not_translated(line, format!("{ip} is in none of the pools above (bootherd reserves addresses inside a pool's subnet); its MAC is still owned"));
                continue;
            }
            if taken.contains(&ip) {
                self.not_translated(
                    line,
                    format!(
                        "{ip} is reserved for another MAC above; bootherd reserves an address once"
                    ),
                );
                continue;
            }
            taken.push(ip);
            let cited = self.cite(line);
            let mut keys = vec![
                key("mac", mac_text(&host.macs[0]), cited),
                key("ip", ip.to_string(), String::new()),
            ];
            if let Some(name) = &host.hostname {
                keys.push(key("hostname", name.as_str(), String::new()));
            }
            let mut comments = Vec::new();
            if host.macs.len() > 1 {
                comments.push(format!(
                    "dnsmasq shares this address between {}; bootherd reserves it for the first (the others are owned)",
                    host.macs.iter().map(mac_text).collect::<Vec<_>>().join(", ")
                ));
            }
            if let Some(lease) = host.lease {
                comments.push(format!(
                    "dnsmasq's lease time for it ({}) is not carried over: bootherd uses the pool's",
                    lease.map_or("infinite".into(), |s| format!("{s} s"))
                ));
            }
            self.tables.push(Table {
                name: "dhcp.reservation".into(),
                array: true,
                comments,
                keys,
            });
        }
        for &h in owned_hosts {
            // Owned without a reservation: cited by own_macs.
            self.set(Line::D(h), Fate::Used);
        }
    }
}
