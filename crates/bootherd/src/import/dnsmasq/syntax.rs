//! One line as dnsmasq splits it (`one_file()` in its `option.c`): the option
//! name, `#` comments, `"` quoting and escapes, comma-separated fields.

use super::*;

/// Splits one line as dnsmasq does. `None` for a blank or comment line;
/// `Err` for an unterminated quote.
pub fn split_line(line: &str) -> Option<Result<OptionLine, String>> {
    // Characters with whether they were quoted, quotes and comment removed.
    let mut chars: Vec<(char, bool)> = Vec::new();
    let mut text_end = 0;
    let mut white = true;
    let mut iter = line.char_indices().peekable();
    while let Some((at, c)) = iter.next() {
        if c == '"' {
            let mut closed = false;
            while let Some((_, q)) = iter.next() {
                match q {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match iter.peek().map(|&(_, n)| n) {
                        Some(n @ ('"' | '\\' | 't' | 'e' | 'b' | 'r' | 'n')) => {
                            iter.next();
                            let real = match n {
                                't' => '\t',
                                'e' => '\u{1b}',
                                'b' => '\u{8}',
                                'r' => '\r',
                                'n' => '\n',
                                other => other,
                            };
                            chars.push((real, true));
                        }
                        _ => chars.push(('\\', true)),
                    },
                    other => chars.push((other, true)),
                }
            }
            if !closed {
                return Some(Err("a quote (\") is not closed".into()));
            }
            white = false;
            text_end = iter.peek().map_or(line.len(), |&(i, _)| i);
            continue;
        }
        if white && c == '#' {
            break;
        }
        white = c.is_whitespace();
        chars.push((c, false));
        text_end = at + c.len_utf8();
    }
    // The blanks around the line go (quoted ones at the end stay).
    while chars.last().is_some_and(|&(c, q)| !q && c.is_whitespace()) {
        chars.pop();
    }
    let start = chars
        .iter()
        .position(|&(c, q)| q || !c.is_whitespace())
        .unwrap_or(chars.len());
    let chars = &chars[start..];
    if chars.is_empty() {
        return None;
    }
    let text = line[..text_end].trim().to_owned();
    // The first `=`, quoted or not, as dnsmasq's strchr finds it.
    let (name_part, value_part) = match chars.iter().position(|&(c, _)| c == '=') {
        Some(eq) => (&chars[..eq], Some(&chars[eq + 1..])),
        None => (chars, None),
    };
    let name: String = name_part.iter().map(|&(c, _)| c).collect();
    let name = name.trim();
    let name = name.strip_prefix("--").unwrap_or(name).to_owned();
    let fields = value_part.map(split_fields);
    Some(Ok(OptionLine { name, fields, text }))
}

/// Splits a value at unquoted commas, dropping unquoted blanks around each field.
pub(super) fn split_fields(value: &[(char, bool)]) -> Vec<Field> {
    let mut fields = Vec::new();
    for part in value.split(|&(c, q)| c == ',' && !q) {
        let start = part
            .iter()
            .position(|&(c, q)| q || !c.is_whitespace())
            .unwrap_or(part.len());
        let end = part
            .iter()
            .rposition(|&(c, q)| q || !c.is_whitespace())
            .map_or(start, |i| i + 1);
        let part = &part[start..end.max(start)];
        fields.push(Field {
            text: part.iter().map(|&(c, _)| c).collect(),
            quoted: part.iter().any(|&(_, q)| q),
        });
    }
    fields
}
