//! The account of every input line (used for a key, needing no key, or not
//! translated, with why) and the draft built from it at the end.

use super::*;

#[derive(Debug, Clone)]
pub(super) enum Fate {
    Used,
    NoKey(String),
    NotTranslated(String),
}

/// A line: a dnsmasq entry or a tftpd-hpa one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Line {
    D(usize),
    T(usize),
}

pub(super) fn line_index(line: Line) -> usize {
    match line {
        Line::D(i) | Line::T(i) => i,
    }
}

impl Translator<'_> {
    pub(super) fn origin(&self, line: Line) -> (&Origin, &str) {
        match line {
            Line::D(i) => (&self.inputs.dnsmasq[i].origin, &self.inputs.dnsmasq[i].text),
            Line::T(i) => (&self.inputs.tftpd[i].origin, &self.inputs.tftpd[i].text),
        }
    }

    /// `TEXT (file:line)`, and the line counts as used.
    pub(super) fn cite(&mut self, line: Line) -> String {
        self.set(line, Fate::Used);
        let (origin, text) = self.origin(line);
        format!("{text} ({origin})")
    }

    /// Records what becomes of `line`: used for a key, and/or one note (the
    /// first one said). A line used for one key can still carry a note saying
    /// what of it is not translated for another.
    pub(super) fn set(&mut self, line: Line, fate: Fate) {
        let slot = match line {
            Line::D(i) => &mut self.fates_d[i],
            Line::T(i) => &mut self.fates_t[i],
        };
        match fate {
            Fate::Used => slot.0 = true,
            note if slot.1.is_none() => slot.1 = Some(note),
            _ => {}
        }
    }

    /// `line` is used, and what was noted about it before no longer holds.
    pub(super) fn claim(&mut self, line: Line) {
        let slot = match line {
            Line::D(i) => &mut self.fates_d[i],
            Line::T(i) => &mut self.fates_t[i],
        };
        *slot = (true, None);
    }

    pub(super) fn not_translated(&mut self, line: Line, why: impl Into<String>) {
        self.set(line, Fate::NotTranslated(why.into()));
    }

    pub(super) fn no_key(&mut self, line: Line, why: impl Into<String>) {
        self.set(line, Fate::NoKey(why.into()));
    }

    pub(super) fn lines_where(&self, f: impl Fn(&Directive) -> bool) -> Vec<usize> {
        (0..self.inputs.dnsmasq.len())
            .filter(|&i| f(&self.inputs.dnsmasq[i].item))
            .collect()
    }

    pub(super) fn table(&mut self, name: &str, comments: Vec<String>, keys: Vec<Key>) {
        self.tables.push(Table {
            name: name.to_owned(),
            array: false,
            comments,
            keys,
        });
    }

    pub(super) fn finish(self) -> Draft {
        let mut header =
            vec!["bootherd configuration written by `bootherd import` from:".to_owned()];
        header.extend(self.inputs.sources.iter().map(|s| format!("  {s}")));
        header.extend([
            "Each key says which line it comes from. Lines that need no key and lines not"
                .to_owned(),
            "translated are listed at the end; docs/IMPORT.md explains each mapping.".to_owned(),
            "Check it with `bootherd check --config FILE` before serving.".to_owned(),
        ]);
        if !self.attention.is_empty() {
            header.push(String::new());
            header.push("Needs your attention:".to_owned());
            header.extend(self.attention.iter().map(|a| format!("- {a}")));
        }
        let mut no_key = Vec::new();
        let mut not_translated = Vec::new();
        let lines = (0..self.inputs.dnsmasq.len())
            .map(Line::D)
            .chain((0..self.inputs.tftpd.len()).map(Line::T));
        for line in lines {
            let fate = match line {
                Line::D(i) => self.fates_d[i].clone(),
                Line::T(i) => self.fates_t[i].clone(),
            };
            let (origin, text) = self.origin(line);
            let note = |why: String| Note {
                text: text.to_owned(),
                origin: origin.clone(),
                why,
            };
            match fate {
                (_, Some(Fate::NotTranslated(why))) => not_translated.push(note(why)),
                (false, Some(Fate::NoKey(why))) => no_key.push(note(why)),
                (false, _) => {
                    not_translated.push(note("bootherd has no equivalent of this line".into()))
                }
                (true, _) => {}
            }
        }
        Draft {
            header,
            tables: self.tables,
            no_key,
            not_translated,
        }
    }
}
