//! dnsmasq's configuration, read the way dnsmasq reads it (dnsmasq(8), "CONFIG
//! FILE", and `one_file()` in its `option.c`): one option per line, the long
//! option names without `--` (a leading `--` is accepted too), `#` starting a
//! comment at the start of a line or after a blank, `"` quoting a stretch in
//! which `,` and `#` lose their meaning and `\\ \" \t \e \b \r \n` are escapes, and
//! comma-separated fields with the blanks around each comma dropped.
//!
//! Pure: text in, [`Directive`]s out. Reading the files named by `conf-file` and
//! `conf-dir` is the caller's business ([`super::read`]).
//!
//! The parts: [`parse_text`] here reads a whole file; `syntax.rs` splits one
//! line into a name and fields; `options.rs` reads one option's fields into a
//! [`Directive`] (`directive.rs`, the types); `names.rs` holds dnsmasq's names
//! for client system types and option numbers; `defaults_file.rs` reads
//! Debian's `/etc/default/dnsmasq` (`DNSMASQ_OPTS`, `CONFIG_DIR`).

use std::net::Ipv4Addr;

use super::{Entry, Origin};

mod defaults_file;
mod directive;
mod names;
mod options;
mod syntax;
#[cfg(test)]
mod tests;

pub use defaults_file::{option_words, shell_value};
use defaults_file::{parse_defaults_line, shell_assignment};
pub use directive::*;
pub use names::csa_name;
pub use options::{parse_lease, parse_option};
pub use syntax::split_line;

/// Parses a whole file: one entry per option line. A line of Debian's
/// `/etc/default/dnsmasq` (`DNSMASQ_OPTS="--opt=value ..."`, `CONFIG_DIR=...`)
/// gives one entry per option in it.
pub fn parse_text(text: &str, file: &str) -> Vec<Entry<Directive>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let origin = Origin {
            file: file.to_owned(),
            line: i + 1,
        };
        if let Some((var, value)) = shell_assignment(line) {
            out.extend(parse_defaults_line(&origin, line, var, value));
            continue;
        }
        let Some(split) = split_line(line) else {
            continue;
        };
        let entry = match split {
            Ok(option) => Entry {
                origin,
                text: option.text.clone(),
                item: parse_option(&option.name, option.fields.as_deref()),
            },
            Err(why) => Entry {
                origin,
                text: line.trim().to_owned(),
                item: Directive::Invalid(why),
            },
        };
        out.push(entry);
    }
    out
}
