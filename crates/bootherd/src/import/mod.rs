//! `bootherd import`: writes the bootherd configuration equivalent to a dnsmasq
//! configuration and/or a tftpd-hpa defaults file. docs/IMPORT.md has the
//! mapping.
//!
//! - [`dnsmasq`] and [`tftpd_hpa`] turn text into a neutral list of what each
//!   line says ([`Entry`]), purely;
//! - [`read`] here is the only I/O: the named files and the ones their
//!   `conf-file` / `conf-dir` lines include, resolved against the including
//!   file's folder, at most [`MAX_DEPTH`] deep and [`MAX_FILES`] files, and
//!   tftpd-hpa's `--map-file` (read by [`tftpd_remap`]);
//! - [`tags`] works out, for each kind of client bootherd tells apart, which of
//!   dnsmasq's tag rules it meets;
//! - [`translate`] decides each bootherd key and what happens to every line:
//!   used for a key, needs no key, or not translated (with why), never dropped;
//! - [`emit`] writes the TOML with those comments.

pub mod dnsmasq;
pub mod emit;
pub mod ere;
#[cfg(test)]
mod glibc_remap;
pub mod tags;
#[cfg(test)]
mod testrng;
pub mod tftpd_hpa;
pub mod tftpd_remap;
pub mod translate;

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use dnsmasq::Directive;
use tftpd_hpa::Setting;

/// How deep `conf-file` / `conf-dir` may nest.
pub const MAX_DEPTH: usize = 8;
/// How many files one import reads at most.
pub const MAX_FILES: usize = 256;
/// The largest file import reads.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Flags of `bootherd import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// dnsmasq configuration file (repeatable; also Debian's /etc/default/dnsmasq).
    #[arg(long, value_name = "FILE")]
    pub dnsmasq: Vec<PathBuf>,
    /// tftpd-hpa defaults file (/etc/default/tftpd-hpa).
    #[arg(long = "tftpd-hpa", value_name = "FILE")]
    pub tftpd_hpa: Option<PathBuf>,
    /// Write the configuration to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Overwrite --output if it exists.
    #[arg(long)]
    pub force: bool,
    /// Serve this directory instead of the TFTP root the files name.
    #[arg(long, value_name = "DIR")]
    pub tftp_root: Option<PathBuf>,
}

/// Where a line came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file, as given or as found through an include.
    pub file: String,
    /// The line, from 1.
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// One thing a line says, with where it is and how it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<T> {
    /// Where.
    pub origin: Origin,
    /// The option as written (the line without its comment, or one option of
    /// a `DNSMASQ_OPTS` / `TFTP_OPTIONS` value).
    pub text: String,
    /// What it says.
    pub item: T,
}

impl<T> Entry<T> {
    /// The same place and text, saying `item`.
    pub fn with<U>(&self, item: U) -> Entry<U> {
        Entry {
            origin: self.origin.clone(),
            text: self.text.clone(),
            item,
        }
    }
}

/// Runs `bootherd import`.
pub fn run(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    if args.dnsmasq.is_empty() && args.tftpd_hpa.is_none() {
        anyhow::bail!("nothing to import: give --dnsmasq FILE and/or --tftpd-hpa FILE");
    }
    let mut sources = Vec::new();
    let mut directives = Vec::new();
    for path in &args.dnsmasq {
        let text = read_top(path)?;
        sources.push(format!("{} (dnsmasq)", path.display()));
        let mut reader = Reader::default();
        reader.file(path, &text, 0, &mut directives);
    }
    let mut tftpd = Vec::new();
    if let Some(path) = &args.tftpd_hpa {
        let text = read_top(path)?;
        sources.push(format!("{} (tftpd-hpa)", path.display()));
        tftpd = with_map_rules(
            tftpd_hpa::parse_text(&text, &path.display().to_string()),
            path,
        );
    }
    let draft = translate::translate(&translate::Inputs {
        dnsmasq: &directives,
        tftpd: &tftpd,
        sources: &sources,
        tftp_root: args.tftp_root.as_deref(),
    });
    let text = emit::emit(&draft);
    match &args.output {
        None => print!("{text}"),
        Some(path) => write_output(path, &text, args.force)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `settings` with the rules of the map file the last `--map-file` names (as
/// in.tftpd, which keeps the last) after that flag. A relative name is taken
/// from the folder of the defaults file (where a copied tree keeps it). A map
/// file that cannot be read turns its flag into [`Setting::MapFileUnread`].
fn with_map_rules(settings: Vec<Entry<Setting>>, defaults: &Path) -> Vec<Entry<Setting>> {
    let last = settings
        .iter()
        .rposition(|e| matches!(e.item, Setting::MapFile(_)));
    let mut out = Vec::with_capacity(settings.len());
    for (i, entry) in settings.into_iter().enumerate() {
        let Setting::MapFile(name) = &entry.item else {
            out.push(entry);
            continue;
        };
        if Some(i) != last {
            out.push(entry);
            continue;
        }
        let path = defaults.parent().unwrap_or(Path::new("")).join(name);
        match read_limited(&path) {
            Ok(text) => {
                let rules = tftpd_remap::parse_text(&text, &path.display().to_string());
                out.push(entry);
                out.extend(rules.into_iter().map(|rule| Entry {
                    origin: rule.origin,
                    text: rule.text,
                    item: Setting::MapRule(rule.item),
                }));
            }
            Err(err) => {
                let why = format!("cannot read {}: {err}", path.display());
                out.push(entry.with(Setting::MapFileUnread(why)));
            }
        }
    }
    out
}

fn read_top(path: &Path) -> anyhow::Result<String> {
    read_limited(path).with_context(|| format!("{}: cannot read", path.display()))
}

fn read_limited(path: &Path) -> std::io::Result<String> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_FILE_BYTES} bytes"
        )));
    }
    let bytes = std::fs::read(path)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn write_output(path: &Path, text: &str, force: bool) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = match options.open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            anyhow::bail!("{}: exists; give --force to overwrite it", path.display())
        }
        other => other.with_context(|| format!("{}: cannot write", path.display()))?,
    };
    file.write_all(text.as_bytes())
        .with_context(|| format!("{}: cannot write", path.display()))?;
    eprintln!(
        "bootherd import: wrote {}; check it with `bootherd check --config {}`",
        path.display(),
        path.display()
    );
    Ok(())
}

/// Reads dnsmasq files, following their includes in place, as dnsmasq does.
#[derive(Default)]
struct Reader {
    /// Files read so far.
    files: usize,
    /// The files being read, outermost first (canonical paths), to refuse loops.
    stack: Vec<PathBuf>,
}

impl Reader {
    fn file(&mut self, path: &Path, text: &str, depth: usize, out: &mut Vec<Entry<Directive>>) {
        self.files += 1;
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        self.stack.push(canonical);
        let base = path.parent().unwrap_or(Path::new(""));
        for entry in dnsmasq::parse_text(text, &path.display().to_string()) {
            let includes: Vec<PathBuf> = match &entry.item {
                Directive::ConfFile(name) => vec![base.join(name)],
                Directive::ConfDir { dir, filters } => {
                    match conf_dir_files(&base.join(dir), filters) {
                        Ok(files) => files,
                        Err(err) => {
                            let why = format!(
                                "cannot read the folder {}: {err}",
                                base.join(dir).display()
                            );
                            out.push(entry.with(Directive::Invalid(why)));
                            continue;
                        }
                    }
                }
                _ => Vec::new(),
            };
            let is_include = matches!(
                entry.item,
                Directive::ConfFile(_) | Directive::ConfDir { .. }
            );
            let include_line = entry.clone();
            let at = out.len();
            out.push(entry);
            if !is_include {
                continue;
            }
            for include in includes {
                if let Err(why) = self.include(&include, depth + 1, out) {
                    let invalid = include_line
                        .with(Directive::Invalid(format!("{}: {why}", include.display())));
                    // A file that could not be read replaces its line; a folder
                    // was read, and each file of it that could not be is noted.
                    match include_line.item {
                        Directive::ConfFile(_) => out[at] = invalid,
                        _ => out.push(invalid),
                    }
                }
            }
        }
        self.stack.pop();
    }

    fn include(
        &mut self,
        path: &Path,
        depth: usize,
        out: &mut Vec<Entry<Directive>>,
    ) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("not read: includes nest deeper than {MAX_DEPTH}"));
        }
        if self.files >= MAX_FILES {
            return Err(format!("not read: import reads at most {MAX_FILES} files"));
        }
        let canonical = std::fs::canonicalize(path).map_err(|e| format!("cannot read: {e}"))?;
        if self.stack.contains(&canonical) {
            return Err("not read again: it includes itself (a loop)".into());
        }
        let text = read_limited(path).map_err(|e| format!("cannot read: {e}"))?;
        self.file(path, &text, depth, out);
        Ok(())
    }
}

/// The files of a `conf-dir`, in the order dnsmasq reads them (alphabetical),
/// skipping what dnsmasq skips: names ending in `~`, starting with `.`, or
/// starting and ending with `#`; with `*.ext` filters only those extensions,
/// with plain `.ext` filters not those.
fn conf_dir_files(dir: &Path, filters: &[String]) -> std::io::Result<Vec<PathBuf>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if conf_dir_wants(&name, filters) && entry.path().is_file() {
            names.push(name);
        }
        if names.len() > MAX_FILES {
            break;
        }
    }
    names.sort();
    Ok(names.into_iter().map(|n| dir.join(n)).collect())
}

fn conf_dir_wants(name: &str, filters: &[String]) -> bool {
    if name.ends_with('~')
        || name.starts_with('.')
        || (name.len() > 1 && name.starts_with('#') && name.ends_with('#'))
    {
        return false;
    }
    let only: Vec<&str> = filters.iter().filter_map(|f| f.strip_prefix('*')).collect();
    if !only.is_empty() && !only.iter().any(|ext| name.ends_with(ext)) {
        return false;
    }
    !filters
        .iter()
        .filter(|f| !f.starts_with('*'))
        .any(|ext| name.ends_with(ext.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_dir_filters() {
        let none: Vec<String> = Vec::new();
        assert!(conf_dir_wants("10-pxe.conf", &none));
        assert!(!conf_dir_wants("10-pxe.conf~", &none));
        assert!(!conf_dir_wants(".hidden", &none));
        assert!(!conf_dir_wants("#autosave#", &none));
        let only = vec!["*.conf".to_string()];
        assert!(conf_dir_wants("a.conf", &only));
        assert!(!conf_dir_wants("README", &only));
        let skip = vec![".dpkg-dist".to_string(), ".bak".to_string()];
        assert!(conf_dir_wants("a.conf", &skip));
        assert!(!conf_dir_wants("a.conf.dpkg-dist", &skip));
    }

    fn read_all(path: &Path) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(path).unwrap();
        let mut out = Vec::new();
        Reader::default().file(path, &text, 0, &mut out);
        out.into_iter()
            .map(|e| {
                let what = match e.item {
                    Directive::Invalid(why) => format!("invalid: {why}"),
                    other => format!("{other:?}"),
                };
                (
                    format!(
                        "{}:{}",
                        Path::new(&e.origin.file)
                            .file_name()
                            .unwrap()
                            .to_string_lossy(),
                        e.origin.line
                    ),
                    what,
                )
            })
            .collect()
    }

    #[test]
    fn includes_are_read_in_place_relative_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("conf.d")).unwrap();
        std::fs::write(
            d.join("main.conf"),
            "port=0\nconf-dir=conf.d,*.conf\nconf-file=extra\nlog-dhcp\n",
        )
        .unwrap();
        std::fs::write(d.join("conf.d/20-b.conf"), "enable-tftp\n").unwrap();
        std::fs::write(d.join("conf.d/10-a.conf"), "tftp-max=5\n").unwrap();
        std::fs::write(d.join("conf.d/README"), "not=read\n").unwrap();
        std::fs::write(d.join("extra"), "no-ping\nconf-file=missing.conf\n").unwrap();
        let got = read_all(&d.join("main.conf"));
        let places: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            places,
            [
                "main.conf:1",
                "main.conf:2",
                "10-a.conf:1",
                "20-b.conf:1",
                "main.conf:3",
                "extra:1",
                "extra:2",
                "main.conf:4"
            ]
        );
        assert!(
            got[6].1.starts_with("invalid: ") && got[6].1.contains("missing.conf: cannot read"),
            "{got:?}"
        );
    }

    #[test]
    fn the_last_map_file_is_read_from_the_defaults_folder() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("etc")).unwrap();
        std::fs::write(d.join("etc/tftpd.remap"), "# rules\nrg \\\\ /\n\nr ^a b\n").unwrap();
        let defaults = d.join("etc/tftpd-hpa");
        let read = |text: &str| -> Vec<(String, Setting)> {
            with_map_rules(tftpd_hpa::parse_text(text, "tftpd-hpa"), &defaults)
                .into_iter()
                .map(|e| (format!("{}:{}", e.origin.file, e.origin.line), e.item))
                .collect()
        };
        let got = read("TFTP_OPTIONS=\"-m nowhere -v -m tftpd.remap\"\n");
        let map = d.join("etc/tftpd.remap").display().to_string();
        let places: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            places,
            [
                "tftpd-hpa:1",
                "tftpd-hpa:1",
                "tftpd-hpa:1",
                &format!("{map}:2"),
                &format!("{map}:4")
            ]
        );
        assert_eq!(got[0].1, Setting::MapFile("nowhere".into()));
        assert!(
            matches!(&got[3].1, Setting::MapRule(tftpd_remap::Remap::Replace { from, .. }) if from == r"\\")
        );
        // An absolute name is read as it is; one that cannot be read is a note.
        let got = read(&format!("TFTP_OPTIONS=\"--map-file={map}\"\n"));
        assert_eq!(got.len(), 3);
        let got = read("TFTP_OPTIONS=\"--map-file /nonexistent/tftpd.remap\"\n");
        assert!(
            matches!(&got[..], [(_, Setting::MapFileUnread(why))] if why.contains("cannot read /nonexistent/tftpd.remap")),
            "{got:?}"
        );
        std::fs::write(d.join("etc/big"), vec![b'#'; MAX_FILE_BYTES as usize + 1]).unwrap();
        let got = read("TFTP_OPTIONS=\"-m big\"\n");
        assert!(
            matches!(&got[..], [(_, Setting::MapFileUnread(why))] if why.contains("larger than")),
            "{got:?}"
        );
    }

    #[test]
    fn include_loops_and_depth_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.conf"), "conf-file=b.conf\n").unwrap();
        std::fs::write(d.join("b.conf"), "conf-file=a.conf\nlog-dhcp\n").unwrap();
        let got = read_all(&d.join("a.conf"));
        assert!(
            got.iter().any(|(_, w)| w.contains("includes itself")),
            "{got:?}"
        );
        assert_eq!(
            got.iter().filter(|(_, w)| w.contains("log-dhcp")).count(),
            1,
            "{got:?}"
        );

        // A chain deeper than MAX_DEPTH stops, with a note.
        for i in 0..12 {
            std::fs::write(
                d.join(format!("c{i}.conf")),
                format!("conf-file=c{}.conf\n", i + 1),
            )
            .unwrap();
        }
        std::fs::write(d.join("c12.conf"), "log-dhcp\n").unwrap();
        let got = read_all(&d.join("c0.conf"));
        assert!(
            got.iter().any(|(_, w)| w.contains("nest deeper than 8")),
            "{got:?}"
        );
        assert!(!got.iter().any(|(_, w)| w.contains("log-dhcp")));
    }
}
