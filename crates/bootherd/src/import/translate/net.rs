//! `[net]`: interfaces and listen addresses.

use super::*;

impl Translator<'_> {
    pub(super) fn net(&mut self) {
        let mut keys = Vec::new();
        let mut interfaces: Vec<String> = Vec::new();
        let mut cited = Vec::new();
        for i in self.lines_where(|d| matches!(d, Directive::Interface(_))) {
            if let Directive::Interface(names) = &self.inputs.dnsmasq[i].item {
                for n in names {
                    if !interfaces.contains(n) {
                        interfaces.push(n.clone());
                    }
                }
            }
            cited.push(self.cite(Line::D(i)));
        }
        if !interfaces.is_empty() {
            keys.push(key("interfaces", strings(&interfaces), cited.join("; ")));
        }
        let mut listen: Vec<String> = Vec::new();
        let mut cited = Vec::new();
        for i in self.lines_where(|d| matches!(d, Directive::ListenAddress(_))) {
            let Directive::ListenAddress(addrs) = &self.inputs.dnsmasq[i].item else {
                continue;
            };
            if !interfaces.is_empty() {
                self.not_translated(
                    Line::D(i),
                    "bootherd serves the interfaces of net.interfaces (from interface=); \
                     it takes listen addresses instead of interfaces, not as well",
                );
                continue;
            }
            let usable: Vec<String> = addrs
                .iter()
                .filter(|a| !a.is_loopback())
                .map(|a| a.to_string())
                .collect();
            if usable.is_empty() {
                self.no_key(
                    Line::D(i),
                    "loopback: DHCP and boot firmware never come that way",
                );
                continue;
            }
            listen.extend(usable);
            cited.push(self.cite(Line::D(i)));
        }
        // tftpd-hpa's address, when dnsmasq chose none.
        for i in 0..self.inputs.tftpd.len() {
            if let Setting::Address { ip: Some(ip), .. } = &self.inputs.tftpd[i].item {
                if interfaces.is_empty() && listen.is_empty() {
                    listen.push(ip.to_string());
                    cited.push(self.cite(Line::T(i)));
                } else if !listen.contains(&ip.to_string()) {
                    self.not_translated(
                        Line::T(i),
                        "bootherd listens on the same addresses for every service: [net] comes from dnsmasq's lines",
                    );
                }
            }
        }
        if !listen.is_empty() {
            keys.push(key("listen", strings(&listen), cited.join("; ")));
        }
        if !keys.is_empty() {
            self.table("net", vec![], keys);
        }
    }
}
