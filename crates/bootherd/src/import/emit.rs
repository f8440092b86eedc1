//! Writes a [`Draft`] as a bootherd configuration file: TOML tables whose keys
//! each say, in a comment, which line they come from; then the lines that need
//! no key and the lines not translated, as comments.

use std::fmt::Write as _;

use super::translate::{Draft, Note};

/// The configuration file's text.
pub fn emit(draft: &Draft) -> String {
    let mut out = String::new();
    for line in &draft.header {
        for part in wrap(&comment_text(line), 78) {
            if part.is_empty() {
                out.push_str("#\n");
            } else {
                let _ = writeln!(out, "# {part}");
            }
        }
    }
    for table in &draft.tables {
        out.push('\n');
        for line in &table.comments {
            let _ = writeln!(out, "# {}", comment_text(line));
        }
        if table.array {
            let _ = writeln!(out, "[[{}]]", table.name);
        } else {
            let _ = writeln!(out, "[{}]", table.name);
        }
        for key in &table.keys {
            let _ = write!(out, "{} = {}", key.name, key.value);
            if !key.comment.is_empty() {
                let _ = write!(out, "  # {}", comment_text(&key.comment));
            }
            out.push('\n');
        }
    }
    notes(&mut out, "Needs no key in bootherd:", &draft.no_key, |n| {
        format!("#   {} ({}): {}", n.text, n.origin, n.why)
    });
    notes(&mut out, "", &draft.not_translated, |n| {
        format!("# not translated: {} ({}): {}", n.text, n.origin, n.why)
    });
    out
}

fn notes(out: &mut String, title: &str, notes: &[Note], line: impl Fn(&Note) -> String) {
    if notes.is_empty() {
        return;
    }
    out.push('\n');
    if !title.is_empty() {
        let _ = writeln!(out, "# {title}");
    }
    for note in notes {
        let text = line(note);
        let _ = writeln!(out, "# {}", comment_text(text.trim_start_matches("# ")));
    }
}

/// Breaks `text` into lines of at most `width` characters at blanks (a longer
/// word stays whole); a line starting with `- ` continues indented by two.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let lead = &text[..text.len() - text.trim_start_matches(' ').len()];
    let text = &text[lead.len()..];
    let indent = if text.starts_with("- ") {
        format!("{lead}  ")
    } else {
        lead.to_owned()
    };
    let mut lines = vec![lead.to_owned()];
    // Whether the last line holds a word yet.
    let mut started = false;
    for word in text.split(' ') {
        let last = lines.last_mut().expect("one line");
        if started && last.chars().count() + 1 + word.chars().count() > width {
            lines.push(format!("{indent}{word}"));
        } else {
            if started {
                last.push(' ');
            }
            last.push_str(word);
        }
        started = true;
    }
    lines
}

/// Text safe in a TOML comment: no line breaks or other control characters
/// (TOML allows tabs only).
pub fn comment_text(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() && c != '\t' { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::translate::{Key, Table};
    use super::super::Origin;
    use super::*;

    #[test]
    fn header_lines_wrap() {
        assert_eq!(wrap("", 10), [""]);
        assert_eq!(wrap("one two three four", 9), ["one two", "three", "four"]);
        assert_eq!(wrap("- one two three", 9), ["- one two", "  three"]);
        assert_eq!(wrap("unbreakable-word x", 5), ["unbreakable-word", "x"]);
        assert_eq!(wrap("  a.conf (dnsmasq)", 12), ["  a.conf", "  (dnsmasq)"]);
    }

    #[test]
    fn tables_keys_and_notes() {
        let draft = Draft {
            header: vec!["imported".into()],
            tables: vec![
                Table {
                    name: "tftp".into(),
                    array: false,
                    comments: vec![],
                    keys: vec![Key {
                        name: "root".into(),
                        value: toml::Value::String("/srv/tftp \"x\"".into()),
                        comment: "tftp-root=/srv/tftp (a.conf:3)".into(),
                    }],
                },
                Table {
                    name: "dhcp.pool".into(),
                    array: true,
                    comments: vec!["line\nbreak".into()],
                    keys: vec![Key {
                        name: "dns".into(),
                        value: toml::Value::Array(vec![toml::Value::String("10.0.0.1".into())]),
                        comment: String::new(),
                    }],
                },
            ],
            no_key: vec![Note {
                text: "port=0".into(),
                origin: Origin {
                    file: "a.conf".into(),
                    line: 1,
                },
                why: "no DNS".into(),
            }],
            not_translated: vec![Note {
                text: "tftp-secure\u{1b}".into(),
                origin: Origin {
                    file: "a.conf".into(),
                    line: 2,
                },
                why: "owners".into(),
            }],
        };
        let text = emit(&draft);
        assert_eq!(
            text,
            "# imported\n\n[tftp]\nroot = '/srv/tftp \"x\"'  # tftp-root=/srv/tftp (a.conf:3)\n\n\
             # line?break\n[[dhcp.pool]]\ndns = [\"10.0.0.1\"]\n\n# Needs no key in bootherd:\n\
             #   port=0 (a.conf:1): no DNS\n\n# not translated: tftp-secure? (a.conf:2): owners\n"
        );
        let parsed: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(parsed["tftp"]["root"].as_str(), Some("/srv/tftp \"x\""));
    }
}
