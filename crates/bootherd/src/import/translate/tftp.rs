//! `[tftp]`: dnsmasq's and tftpd-hpa's TFTP settings, and their path rewrites
//! (`tftp.rewrite`).

use bootherd_proto::tftp::transfer::{MAX_BLKSIZE, MIN_BLKSIZE};

use super::super::tftpd_remap::Remap;
use super::*;

impl Translator<'_> {
    pub(super) fn tftp(&mut self) {
        let mut keys = Vec::new();
        let enables = self.lines_where(|d| matches!(d, Directive::EnableTftp(_)));
        let tftpd = !self.inputs.tftpd.is_empty();
        let mut comments = Vec::new();
        if !enables.is_empty() {
            let cited: Vec<String> = enables.iter().map(|&i| self.cite(Line::D(i))).collect();
            keys.push(key("enabled", true, cited.join("; ")));
        } else if tftpd {
            keys.push(key("enabled", true, "tftpd-hpa served TFTP"));
        } else {
            keys.push(key(
                "enabled",
                true,
                "dnsmasq served no TFTP (no enable-tftp): bootherd serves the boot files itself",
            ));
        }
        // The root: --tftp-root, else dnsmasq's (when it served TFTP), else tftpd-hpa's.
        let roots = self.lines_where(|d| matches!(d, Directive::TftpRoot { .. }));
        let dirs: Vec<usize> = (0..self.inputs.tftpd.len())
            .filter(|&i| matches!(self.inputs.tftpd[i].item, Setting::Directory(_)))
            .collect();
        let mut candidates: Vec<(Line, String)> = Vec::new();
        let dnsmasq_roots: Vec<(Line, String)> = roots
            .iter()
            .filter_map(|&i| match &self.inputs.dnsmasq[i].item {
                Directive::TftpRoot { dir, .. } => Some((Line::D(i), dir.clone())),
                _ => None,
            })
            .collect();
        let tftpd_roots: Vec<(Line, String)> = dirs
            .iter()
            .filter_map(|&i| match &self.inputs.tftpd[i].item {
                Setting::Directory(d) => d.first().map(|d| (Line::T(i), d.clone())),
                _ => None,
            })
            .collect();
        if !enables.is_empty() || !tftpd {
            candidates.extend(dnsmasq_roots.iter().cloned());
            candidates.extend(tftpd_roots.iter().cloned());
        } else {
            candidates.extend(tftpd_roots.iter().cloned());
            candidates.extend(dnsmasq_roots.iter().cloned());
        }
        let chosen = candidates.first().cloned();
        for (line, _) in candidates.iter().skip(1) {
            let (origin, text) = match &chosen {
                Some((l, _)) => {
                    let (o, t) = self.origin(*l);
                    (o.to_string(), t.to_owned())
                }
                None => (String::new(), String::new()),
            };
            self.not_translated(
                *line,
                format!("bootherd serves one tree: the root is {text} ({origin})"),
            );
        }
        for &i in &dirs {
            if let Setting::Directory(d) = &self.inputs.tftpd[i].item {
                if d.len() > 1 {
                    self.attention.push(format!(
                        "{} ({}): bootherd serves the first directory only",
                        self.inputs.tftpd[i].text, self.inputs.tftpd[i].origin
                    ));
                }
            }
        }
        match (self.inputs.tftp_root, chosen) {
            (Some(dir), Some((line, said))) => {
                let (origin, text) = self.origin(line);
                let comment = format!("--tftp-root (the configuration said {said}: {text} ({origin}))");
                self.set(line, Fate::Used);
                keys.push(key("root", dir.display().to_string(), comment));
            }
            (Some(dir), None) => keys.push(key("root", dir.display().to_string(), "--tftp-root")),
            (None, Some((line, said))) => {
                let mut cited = self.cite(line);
                if let Line::D(i) = line {
                    if let Directive::TftpRoot { interface: Some(iface), .. } = &self.inputs.dnsmasq[i].item {
                        cited.push_str(&format!("; bootherd serves it on every interface, not only {iface}"));
                    }
                }
                keys.push(key("root", said, cited));
            }
            (None, None) => comments.push(
                "No TFTP root in the files: set root to the tree the boot files are in (default ./tftp-root).".into(),
            ),
        }
        for i in self.lines_where(|d| matches!(d, Directive::TftpMax(_))) {
            let Directive::TftpMax(n) = self.inputs.dnsmasq[i].item else {
                continue;
            };
            if n == 0 {
                self.not_translated(Line::D(i), "bootherd needs at least 1 transfer");
                continue;
            }
            let cited = self.cite(Line::D(i));
            keys.push(key("max_transfers", i64::from(n), cited));
        }
        let mut blksize: Option<(u16, String)> = None;
        for i in self.lines_where(|d| matches!(d, Directive::TftpMtu(_))) {
            let Directive::TftpMtu(mtu) = self.inputs.dnsmasq[i].item else {
                continue;
            };
            match u16::try_from(mtu.saturating_sub(32))
                .ok()
                .filter(|b| (MIN_BLKSIZE..=MAX_BLKSIZE).contains(b))
            {
                Some(b) if blksize.is_none() => {
                    let cited = self.cite(Line::D(i));
                    blksize = Some((b, format!("{cited}: the MTU less 32 bytes of headers")));
                }
                _ => self.not_translated(Line::D(i), "no block size of 8..=65464 follows from it"),
            }
        }
        for i in 0..self.inputs.tftpd.len() {
            match self.inputs.tftpd[i].item.clone() {
                Setting::Blocksize(b) if (512..=MAX_BLKSIZE).contains(&b) && blksize.is_none() => {
                    let cited = self.cite(Line::T(i));
                    blksize = Some((b, cited));
                }
                Setting::Blocksize(_) => self.not_translated(Line::T(i), "another block size applies, or it is out of 512..=65464"),
                Setting::Retransmit(usec) => {
                    let ms = (usec / 1000).clamp(10, 255_000);
                    let cited = self.cite(Line::T(i));
                    keys.push(key("timeout_ms", i64::try_from(ms).unwrap_or(1000), format!("{cited}, in milliseconds")));
                }
                Setting::Address { port: Some(port), .. } if port != 69 => {
                    let cited = self.cite(Line::T(i));
                    keys.push(key("port", i64::from(port), cited));
                }
                Setting::Address { ip: None, .. } => self.no_key(Line::T(i), "bootherd's TFTP port is 69 and it serves every address unless [net] says otherwise"),
                Setting::Address { .. } => self.no_key(Line::T(i), "69 is bootherd's TFTP port too"),
                Setting::Secure => self.no_key(
                    Line::T(i),
                    "bootherd always serves from inside its root and reads a leading / from the root, as --secure does",
                ),
                Setting::User(_) => self.not_translated(
                    Line::T(i),
                    "bootherd keeps the identity it was started with unless [service] user is set; set it \
                     there if bootherd should drop to this user (who must exist where bootherd runs and can read the tree)",
                ),
                Setting::Create => self.not_translated(Line::T(i), "bootherd is read-only: it never accepts uploads"),
                Setting::MapFile(_) | Setting::MapFileUnread(_) | Setting::MapRule(_) => {}
                Setting::Harmless(text) => {
                    let why = match text.trim_start_matches('-').chars().next() {
                        Some('4') | Some('i') => "bootherd serves IPv4 only",
                        Some('v') => "RUST_LOG sets bootherd's log level",
                        Some('l') | Some('L') | Some('f') => "bootherd always runs as a standalone server",
                        Some('P') | Some('p') => "a service manager keeps track of bootherd's process",
                        Some('t') => "for inetd only; bootherd runs standalone",
                        _ => "bootherd is started by its own service",
                    };
                    self.no_key(Line::T(i), why)
                }
                Setting::Other(_) => self.not_translated(Line::T(i), "bootherd has no equivalent of this tftpd-hpa setting"),
                Setting::Invalid(why) => self.not_translated(Line::T(i), format!("cannot read it: {why}")),
                Setting::Directory(_) => {}
            }
        }
        if let Some((b, comment)) = blksize {
            keys.push(key("max_blksize", i64::from(b), comment));
        }
        let rewrites = self.rewrites(!enables.is_empty() || !tftpd, !enables.is_empty());
        // [tftp] and its rewrites go right after [net] (or first).
        let at = self
            .tables
            .iter()
            .position(|t| t.name != "net")
            .unwrap_or(self.tables.len());
        let tftp = Table {
            name: "tftp".into(),
            array: false,
            comments,
            keys,
        };
        self.tables
            .splice(at..at, std::iter::once(tftp).chain(rewrites));
    }

    /// `[[tftp.rewrite]]`: dnsmasq's `tftp-lowercase` when bootherd serves
    /// dnsmasq's tree (`dnsmasq_tree`), else the rules of tftpd-hpa's map file,
    /// in order.
    pub(super) fn rewrites(&mut self, dnsmasq_tree: bool, dnsmasq_tftp: bool) -> Vec<Table> {
        let rewrite = |keys: Vec<Key>, comments: Vec<String>| Table {
            name: "tftp.rewrite".into(),
            array: true,
            comments,
            keys,
        };
        let mut tables = Vec::new();
        let lowercase =
            self.lines_where(|d| matches!(d, Directive::Other(name) if name == "tftp-lowercase"));
        if dnsmasq_tftp && !lowercase.is_empty() {
            let cited: Vec<String> = lowercase.iter().map(|&i| self.cite(Line::D(i))).collect();
            let comment = format!(
                "{}: ASCII letters, as dnsmasq lower-cases them in a UTF-8 or C locale",
                cited.join("; ")
            );
            tables.push(rewrite(vec![key("lowercase", true, comment)], vec![]));
        }
        for &i in lowercase.iter().filter(|_| !dnsmasq_tftp) {
            self.not_translated(
                Line::D(i),
                "dnsmasq served no TFTP (no enable-tftp), so it lower-cased no name",
            );
        }
        let tftpd = self.inputs.tftpd;
        let files: Vec<usize> = (0..tftpd.len())
            .filter(|&i| {
                matches!(
                    tftpd[i].item,
                    Setting::MapFile(_) | Setting::MapFileUnread(_)
                )
            })
            .collect();
        let rules: Vec<usize> = (0..tftpd.len())
            .filter(|&i| matches!(tftpd[i].item, Setting::MapRule(_)))
            .collect();
        let Some((&file, earlier)) = files.split_last() else {
            return tables;
        };
        for &i in earlier {
            self.not_translated(Line::T(i), "in.tftpd reads only the last --map-file");
        }
        if let (Setting::MapFileUnread(why), false) = (&tftpd[file].item, dnsmasq_tree) {
            self.not_translated(Line::T(file), why.as_str());
            let (origin, text) = self.origin(Line::T(file));
            self.attention.push(format!(
                "{text} ({origin}): {why}; its rules are not translated (tftpd-hpa does not \
                 start without it either)"
            ));
            return tables;
        }
        if dnsmasq_tree {
            for &i in std::iter::once(&file).chain(&rules) {
                self.not_translated(
                    Line::T(i),
                    "bootherd serves dnsmasq's tree, where tftpd-hpa's map file did not apply",
                );
            }
            return tables;
        }
        let (mut skipped, mut rejected) = (0, 0);
        for &i in &rules {
            let Setting::MapRule(remap) = &tftpd[i].item else {
                continue;
            };
            let line = Line::T(i);
            match remap {
                Remap::Replace { from, to, how } => {
                    let cited = self.cite(line);
                    let comment = match how {
                        Some(how) => format!("{cited}: {how}"),
                        None => cited,
                    };
                    tables.push(rewrite(
                        vec![
                            key("from", from.as_str(), comment),
                            key("to", to.as_str(), ""),
                        ],
                        vec![],
                    ));
                }
                Remap::Lowercase => {
                    let cited = self.cite(line);
                    let comment = format!("{cited}: ASCII letters, as in.tftpd lower-cases them");
                    tables.push(rewrite(vec![key("lowercase", true, comment)], vec![]));
                }
                Remap::NoEffect(why) => self.no_key(line, why.as_str()),
                Remap::NotTranslated(why) => {
                    skipped += 1;
                    self.not_translated(line, why.as_str());
                }
                Remap::Deny => {
                    skipped += 1;
                    self.not_translated(
                        line,
                        "refuses the requests it matches (a); bootherd has no rule that refuses \
                         a request",
                    );
                    let (origin, text) = self.origin(line);
                    self.attention.push(format!(
                        "{text} ({origin}): tftpd-hpa refused the requests this rule matches; \
                         bootherd serves such files if they are in the tree: keep them out of it"
                    ));
                }
                Remap::Rejected(why) => {
                    rejected += 1;
                    self.not_translated(
                        line,
                        format!(
                            "tftpd-hpa refuses this line, and with it the whole map file: {why}"
                        ),
                    );
                }
            }
        }
        let (origin, text) = self.origin(Line::T(file));
        let named = format!("{text} ({origin})");
        if rejected > 0 {
            self.attention.push(format!(
                "{named}: tftpd-hpa does not start with this map file (it refuses a line, listed \
                 at the end); check that it is the file your tftpd-hpa runs with"
            ));
        }
        if skipped > 0 {
            self.attention.push(format!(
                "{named}: {skipped} of its {} rules are not translated (listed at the end): \
                 requests they changed may not find their files, and the rules after them see \
                 other names",
                rules.len()
            ));
        }
        match tables.first_mut() {
            Some(first) => {
                let cited = self.cite(Line::T(file));
                first
                    .comments
                    .push(format!("The rules of {cited}, in order:"));
            }
            None if rules.is_empty() => self.no_key(Line::T(file), "its map file has no rules"),
            None => self.no_key(
                Line::T(file),
                "read by import: none of its rules became a rewrite (each is listed)",
            ),
        }
        tables
    }
}
