//! Request-name rewrites for firmware that asks in its own dialect (backslashes,
//! a fixed prefix, upper case), like tftpd-hpa's `--map-file` rules but as ordered
//! `[[tftp.rewrite]]` entries. They run before `clean_path`, so whatever they
//! produce is confined exactly like a name the client sent.

use std::borrow::Cow;

use regex::bytes::Regex;

use crate::config::RewriteConfig;

/// One compiled rule.
#[derive(Debug, Clone)]
enum Rule {
    /// Replace every match of the pattern (`$1`, `${name}` refer to groups).
    Replace { from: Regex, to: Vec<u8> },
    /// ASCII lower-casing of the whole name.
    Lowercase,
}

/// The rules of `[[tftp.rewrite]]`, in order; empty by default.
#[derive(Debug, Clone, Default)]
pub struct Rewrites(Vec<Rule>);

impl Rewrites {
    /// Compiles `rules`; the error names the entry (`tftp.rewrite[i]`) and why.
    pub fn new(rules: &[RewriteConfig]) -> Result<Rewrites, (String, String)> {
        rules
            .iter()
            .enumerate()
            .map(|(i, rule)| {
                let key = format!("tftp.rewrite[{i}]");
                match (&rule.from, &rule.to, rule.lowercase) {
                    (Some(from), Some(to), false) => Regex::new(from)
                        .map(|from| Rule::Replace {
                            from,
                            to: to.as_bytes().to_vec(),
                        })
                        .map_err(|e| (format!("{key}.from"), format!("{from:?}: {e}"))),
                    (None, None, true) => Ok(Rule::Lowercase),
                    _ => Err((
                        key,
                        "set either `from` and `to` (a regular expression and its \
                         replacement) or `lowercase = true`"
                            .into(),
                    )),
                }
            })
            .collect::<Result<_, _>>()
            .map(Rewrites)
    }

    /// Whether there is no rule.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `name` after every rule, in order.
    pub fn apply<'a>(&self, name: &'a [u8]) -> Cow<'a, [u8]> {
        let mut name = Cow::Borrowed(name);
        for rule in &self.0 {
            match rule {
                Rule::Replace { from, to } => {
                    if let Cow::Owned(changed) = from.replace_all(&name, to.as_slice()) {
                        name = Cow::Owned(changed);
                    }
                }
                Rule::Lowercase => {
                    if name.iter().any(u8::is_ascii_uppercase) {
                        name = Cow::Owned(name.to_ascii_lowercase());
                    }
                }
            }
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::clean_path;

    fn rule(from: &str, to: &str) -> RewriteConfig {
        RewriteConfig {
            from: Some(from.into()),
            to: Some(to.into()),
            lowercase: false,
        }
    }

    fn lowercase() -> RewriteConfig {
        RewriteConfig {
            from: None,
            to: None,
            lowercase: true,
        }
    }

    #[test]
    fn rules_apply_in_order() {
        let rewrites =
            Rewrites::new(&[rule(r"\\", "/"), rule("^/?tftpboot/", ""), lowercase()]).unwrap();
        let got = |name: &[u8]| String::from_utf8(rewrites.apply(name).into_owned()).unwrap();
        assert_eq!(got(br"\Boot\PXEBOOT.N12"), "/boot/pxeboot.n12");
        assert_eq!(got(b"/tftpboot/pxelinux.0"), "pxelinux.0");
        assert_eq!(got(b"plain.txt"), "plain.txt");
        assert!(matches!(rewrites.apply(b"plain.txt"), Cow::Borrowed(_)));
        // Groups, as in map files.
        let moved = Rewrites::new(&[rule("^images/(.*)$", "os/$1")]).unwrap();
        assert_eq!(&*moved.apply(b"images/a/b"), b"os/a/b");
        assert!(Rewrites::default().is_empty());
    }

    #[test]
    fn a_rewritten_name_is_confined_like_any_other() {
        // A rule that produces `..` or an absolute path gains nothing.
        let rewrites = Rewrites::new(&[rule("^up/", "../"), rule(r"\\", "/")]).unwrap();
        assert!(clean_path(&rewrites.apply(b"up/secret")).is_err());
        assert!(clean_path(&rewrites.apply(br"..\..\etc\passwd")).is_err());
        assert_eq!(
            clean_path(&rewrites.apply(br"\etc\passwd")).unwrap(),
            "etc/passwd"
        );
    }

    #[test]
    fn bad_rules_name_their_entry() {
        let err = Rewrites::new(&[lowercase(), rule("(", "")]).unwrap_err();
        assert_eq!(err.0, "tftp.rewrite[1].from");
        let both = RewriteConfig {
            lowercase: true,
            ..rule("a", "b")
        };
        let err = Rewrites::new(&[both]).unwrap_err();
        assert_eq!(err.0, "tftp.rewrite[0]");
        assert!(err.1.contains("either"), "{}", err.1);
    }
}
