//! Finds the line of a key in a TOML file, so a value that parses but cannot work
//! is reported at its line like a syntax error is.

use toml_edit::{ImDocument, Item};

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `name` in `a.name`.
    Key(String),
    /// `3` in `a[3]`.
    Index(usize),
}

/// Splits a key as bootherd names it in messages (`dhcp.pool[0].subnet`,
/// `net.interfaces[1]`) into steps. Names hold no `.` or `[` here; keys with
/// user-chosen names (profiles) are built from steps instead.
pub fn steps(key: &str) -> Vec<Step> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let (name, mut rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
        if !name.is_empty() {
            out.push(Step::Key(name.to_owned()));
        }
        while let Some((index, after)) = rest.split_once(']') {
            if let Ok(i) = index.parse() {
                out.push(Step::Index(i));
            }
            rest = after.strip_prefix('[').unwrap_or(after);
        }
    }
    out
}

/// The 1-based line of the value at `path` in the TOML `text`; for a key that is
/// not written there (a default), the line of the deepest table on its path that
/// is. `None` when the text does not parse or nothing on the path is written.
pub fn line_of(text: &str, path: &[Step]) -> Option<usize> {
    let doc = ImDocument::parse(text).ok()?;
    let mut item: &Item = doc.as_item();
    let mut span = None;
    for step in path {
        let next = match step {
            Step::Key(name) => item.get(name.as_str()),
            Step::Index(i) => item.get(*i),
        };
        let Some(next) = next else { break };
        span = next.span().or(span);
        item = next;
    }
    let start = span?.start;
    Some(text.get(..start)?.matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
[tftp]
root = \"/srv\"

[dhcp]
enabled = true
own_macs = [
  \"52:54:00:00:00:01\",
  \"not-a-mac\",
]

[[dhcp.pool]]
subnet = \"10.0.0.0/24\"
range = [\"10.0.0.9\", \"10.0.0.2\"]

[[dhcp.pool]]
subnet = \"10.0.0.0/99\"

[profiles.\"pi.4\"]
kind = \"rpi\"
root = { type = \"iscsi\" }
";

    fn line(key: &str) -> Option<usize> {
        line_of(TEXT, &steps(key))
    }

    #[test]
    fn keys_split_into_steps() {
        assert_eq!(
            steps("dhcp.pool[10].subnet"),
            [
                Step::Key("dhcp".into()),
                Step::Key("pool".into()),
                Step::Index(10),
                Step::Key("subnet".into())
            ]
        );
        assert_eq!(
            steps("a[1][2]"),
            [Step::Key("a".into()), Step::Index(1), Step::Index(2)]
        );
    }

    #[test]
    fn values_tables_and_array_items_have_their_lines() {
        assert_eq!(line("tftp.root"), Some(2));
        assert_eq!(line("dhcp.enabled"), Some(5));
        assert_eq!(line("dhcp.own_macs[1]"), Some(8));
        assert_eq!(line("dhcp.pool[0].range"), Some(13));
        assert_eq!(line("dhcp.pool[1].subnet"), Some(16));
        let profile = [
            Step::Key("profiles".into()),
            Step::Key("pi.4".into()),
            Step::Key("kind".into()),
        ];
        assert_eq!(line_of(TEXT, &profile), Some(19));
    }

    #[test]
    fn an_unwritten_key_gets_its_table_or_nothing() {
        // A default inside a written table: the table's header.
        assert_eq!(line("dhcp.pool[1].lease_secs"), Some(15));
        assert_eq!(line("http.root"), None);
        assert_eq!(line_of("not toml [", &steps("tftp.root")), None);
    }
}
