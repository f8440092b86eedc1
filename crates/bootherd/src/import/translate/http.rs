//! `[http]`: on when iPXE or UEFI HTTP boot fetch from bootherd.

use super::*;

impl Translator<'_> {
    pub(super) fn http(&mut self, wants_http: bool, proxy_on: bool) {
        let comment = if wants_http {
            "iPXE and UEFI HTTP boot fetch from bootherd's HTTP server (port 80, the TFTP root)"
        } else if proxy_on {
            "dnsmasq serves no HTTP, and nothing above needs it"
        } else {
            "nothing imported needs HTTP"
        };
        let table = Table {
            name: "http".into(),
            array: false,
            comments: vec![],
            keys: vec![key("enabled", wants_http, comment)],
        };
        let at = self
            .tables
            .iter()
            .rposition(|t| t.name == "tftp" || t.name.starts_with("tftp."))
            .map_or(0, |i| i + 1);
        self.tables.insert(at, table);
    }
}
