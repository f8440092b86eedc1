//! Boot configuration generated per machine: `cmdline.txt` and `config.txt` for a
//! Raspberry Pi, `pxelinux.cfg/01-<mac>` for U-Boot, `boot.ipxe` for iPXE. Each comes
//! from a minijinja template built into the binary; a file of the same name in the
//! override directory replaces it.
//!
//! Files by kind (paths as in [`GeneratedFile`]):
//! - rpi: `cmdline.txt` ([`Scope::Machine`], when the command line is not empty) and
//!   `config.txt` (when the profile sets `config_txt`: its text, then an `[all]`
//!   section with `kernel=`, `initramfs … followkernel`, `device_tree=` and
//!   `dtoverlay=` lines for what the profile names).
//! - pxelinux: `pxelinux.cfg/01-<mac-dashes>` ([`Scope::Root`]); the kernel, initrd,
//!   fdt, fdtdir and overlays it names are under `<folder>/<mac-hex>/`. U-Boot reads
//!   those paths relative to the directory of `bootfile`: this assumes `bootfile`
//!   has no directory part, so they are relative to the root of the tree.
//! - ipxe: `boot.ipxe` ([`Scope::Machine`], served over HTTP as
//!   `/m/<mac-dashes>/boot.ipxe`); it fetches the kernel and initrd from the same
//!   `/m/<mac-dashes>/` over HTTP, or over TFTP when HTTP is off.
//! - efi: nothing; the firmware loads the profile's EFI binary itself.
//! - grub: `<grub_prefix>/grub.cfg-01-<mac-dashes>` ([`Scope::Root`]), the first
//!   name GRUB's network boot probes; it names the kernel and initrd by absolute
//!   paths under `/m/<mac-dashes>/` on the server GRUB was loaded from. The same
//!   text answers `<grub_prefix>/grub.cfg` asked from the machine's `ip`
//!   ([`crate::inventory::Inventory::grub_cfg_by_address`]).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use crate::inventory::{pxelinux_overlay_file, Kind, Machine, Profile, Scope};

/// The built-in templates: file name and text.
pub const BUILTIN_TEMPLATES: [(&str, &str); 5] = [
    (CMDLINE_TXT, include_str!("../templates/cmdline.txt.j2")),
    (CONFIG_TXT, include_str!("../templates/config.txt.j2")),
    (PXELINUX_CFG, include_str!("../templates/pxelinux.cfg.j2")),
    (BOOT_IPXE, include_str!("../templates/boot.ipxe.j2")),
    (GRUB_CFG, include_str!("../templates/grub.cfg.j2")),
];

const CMDLINE_TXT: &str = "cmdline.txt.j2";
const CONFIG_TXT: &str = "config.txt.j2";
const PXELINUX_CFG: &str = "pxelinux.cfg.j2";
const BOOT_IPXE: &str = "boot.ipxe.j2";
const GRUB_CFG: &str = "grub.cfg.j2";

/// What the templates need to know about the serving side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderContext {
    /// The address the client reached bootherd on (TFTP server, HTTP host).
    pub server: Ipv4Addr,
    /// The HTTP base URL, such as `http://10.0.0.1` or `http://10.0.0.1:8080`;
    /// `None` when HTTP is off (iPXE then fetches over `tftp://<server>`).
    pub http_base: Option<String>,
}

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// How to read `path`: in the machine's namespace or from the root of the tree.
    pub scope: Scope,
    /// The path.
    pub path: String,
    /// The content.
    pub content: String,
}

/// A template that could not be loaded or rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The override directory or a file in it could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A `.j2` file in the override directory that replaces no template.
    #[error("{}: not a bootherd template (known: {known})", path.display())]
    UnknownTemplate {
        /// The file.
        path: PathBuf,
        /// The names that are known.
        known: String,
    },
    /// A syntax error in a template, or an error while rendering it.
    #[error("template {name}: {source:#}")]
    Template {
        /// The template: the override file's path, or the built-in template's name.
        name: String,
        /// minijinja's error, with the line.
        source: minijinja::Error,
    },
}

/// The templates, built in or overridden.
#[derive(Debug)]
pub struct Renderer {
    env: Environment<'static>,
    /// Template name -> where its text came from (the override file's path, or the
    /// name itself when built in), for error messages.
    origins: BTreeMap<&'static str, String>,
    overridden: Vec<String>,
}

impl Renderer {
    /// Loads the built-in templates, then replaces each with `override_dir/<name>` when
    /// that file exists. Every `.j2` file in `override_dir` must be a known template
    /// name (a misspelt override is an error, not silently ignored).
    pub fn new(override_dir: Option<&Path>) -> Result<Renderer, RenderError> {
        let mut sources: BTreeMap<&'static str, String> = BUILTIN_TEMPLATES
            .iter()
            .map(|&(name, text)| (name, text.to_owned()))
            .collect();
        let mut overridden = Vec::new();
        let mut origins: BTreeMap<&'static str, String> = BUILTIN_TEMPLATES
            .iter()
            .map(|&(name, _)| (name, name.to_owned()))
            .collect();
        if let Some(dir) = override_dir {
            let read_err = |path: &Path, source| RenderError::Read {
                path: path.to_path_buf(),
                source,
            };
            let entries = std::fs::read_dir(dir).map_err(|e| read_err(dir, e))?;
            let mut found = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|e| read_err(dir, e))?;
                let path = entry.path();
                if path.extension().is_some_and(|ext| ext == "j2") {
                    found.push(path);
                }
            }
            found.sort();
            for path in found {
                let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let Some(&(name, _)) = BUILTIN_TEMPLATES.iter().find(|(n, _)| *n == file_name)
                else {
                    let known: Vec<&str> = BUILTIN_TEMPLATES.iter().map(|(n, _)| *n).collect();
                    return Err(RenderError::UnknownTemplate {
                        path,
                        known: known.join(", "),
                    });
                };
                let text = std::fs::read_to_string(&path).map_err(|e| read_err(&path, e))?;
                sources.insert(name, text);
                origins.insert(name, path.display().to_string());
                overridden.push(name.to_owned());
            }
        }
        let mut env = Environment::new();
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .keep_trailing_newline(true)
                .build()
                .expect("default delimiters are valid"),
        );
        env.set_auto_escape_callback(|_| AutoEscape::None);
        // A misspelt variable in a user's template is an error, yet `{% if initrd %}`
        // works for values that are not set.
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        for (name, text) in sources {
            env.add_template_owned(name, text)
                .map_err(|source| RenderError::Template {
                    name: origins[name].clone(),
                    source,
                })?;
        }
        Ok(Renderer {
            env,
            origins,
            overridden,
        })
    }

    /// The names of the templates replaced by the override directory, for a log line.
    pub fn overridden(&self) -> &[String] {
        &self.overridden
    }

    /// Every file generated for `machine`, which boots with `profile`.
    pub fn files(
        &self,
        machine: &Machine,
        profile: &Profile,
        ctx: &RenderContext,
    ) -> Result<Vec<GeneratedFile>, RenderError> {
        plan(machine, profile)
            .into_iter()
            .map(|(scope, path, template)| {
                Ok(GeneratedFile {
                    content: self.render_template(template, machine, profile, ctx)?,
                    scope,
                    path,
                })
            })
            .collect()
    }

    /// The generated file at `path` (as in [`GeneratedFile`]), or `None` when bootherd
    /// generates no such file for this machine.
    pub fn render(
        &self,
        machine: &Machine,
        profile: &Profile,
        ctx: &RenderContext,
        scope: Scope,
        path: &str,
    ) -> Option<Result<String, RenderError>> {
        let (_, _, template) = plan(machine, profile)
            .into_iter()
            .find(|(s, p, _)| *s == scope && p == path)?;
        Some(self.render_template(template, machine, profile, ctx))
    }

    fn render_template(
        &self,
        name: &'static str,
        machine: &Machine,
        profile: &Profile,
        ctx: &RenderContext,
    ) -> Result<String, RenderError> {
        let err = |source| RenderError::Template {
            name: self.origins[name].clone(),
            source,
        };
        let template = self.env.get_template(name).map_err(err)?;
        template
            .render(Serde(TemplateContext::new(machine, profile, ctx)))
            .map_err(err)
    }
}

/// Which files a machine gets: scope, path and template, without rendering.
fn plan(machine: &Machine, profile: &Profile) -> Vec<(Scope, String, &'static str)> {
    let mut out = Vec::new();
    match profile.kind {
        Kind::Rpi => {
            if !machine.args.full().is_empty() {
                out.push((Scope::Machine, "cmdline.txt".to_owned(), CMDLINE_TXT));
            }
            if profile.config_txt.is_some() {
                out.push((Scope::Machine, "config.txt".to_owned(), CONFIG_TXT));
            }
        }
        Kind::Pxelinux => {
            if let Some(mac) = machine.mac {
                let path = format!("pxelinux.cfg/01-{}", mac.dashes());
                out.push((Scope::Root, path, PXELINUX_CFG));
            }
        }
        Kind::Ipxe => out.push((Scope::Machine, "boot.ipxe".to_owned(), BOOT_IPXE)),
        Kind::Efi => {}
        Kind::Grub => {
            if let (Some(mac), Some(prefix)) = (machine.mac, &profile.grub_prefix) {
                let path = match prefix.as_str() {
                    "" => format!("grub.cfg-01-{}", mac.dashes()),
                    prefix => format!("{prefix}/grub.cfg-01-{}", mac.dashes()),
                };
                out.push((Scope::Root, path, GRUB_CFG));
            }
        }
    }
    out
}

/// The variables every template sees. Optional values are `none` when not set.
#[derive(Debug, Serialize)]
struct TemplateContext<'a> {
    /// The machine's name; also the pxelinux label.
    name: &'a str,
    label: &'a str,
    profile: &'a str,
    kind: &'static str,
    model: Option<&'static str>,
    /// `dc:a6:32:01:36:c2`, `dc-a6-32-01-36-c2`, `dca6320136c2`.
    mac: Option<String>,
    mac_dashes: Option<String>,
    mac_hex: Option<String>,
    serial: Option<&'a str>,
    ip: Option<String>,
    /// The profile's file names as written.
    kernel: Option<&'a str>,
    initrd: Option<&'a str>,
    dtb: Option<&'a str>,
    fdtdir: Option<&'a str>,
    overlays: &'a [String],
    /// `config_txt` without its final newline.
    config_txt: Option<&'a str>,
    /// The whole kernel command line, and its three parts.
    cmdline: String,
    cmdline_base: &'a str,
    root_args: &'a str,
    extra_args: &'a str,
    server: String,
    http_base: Option<String>,
    /// Where the boot loader finds this machine's files: `rock64/dca6320136c2`
    /// (pxelinux), `http://10.0.0.1/m/dc-a6-32-01-36-c2` (ipxe),
    /// `/m/dc-a6-32-01-36-c2` (grub), empty (rpi, efi).
    base: String,
    /// The profile's files as the boot loader names them (`base` + `/` + name).
    files: Files,
}

#[derive(Debug, Serialize)]
struct Files {
    kernel: Option<String>,
    initrd: Option<String>,
    fdt: Option<String>,
    fdtdir: Option<String>,
    overlays: Vec<String>,
}

impl<'a> TemplateContext<'a> {
    fn new(machine: &'a Machine, profile: &'a Profile, ctx: &RenderContext) -> Self {
        let mac_dashes = machine.mac.map(|m| m.dashes());
        let http_base = ctx
            .http_base
            .as_deref()
            .map(|b| b.trim_end_matches('/').to_owned());
        let base = match profile.kind {
            Kind::Pxelinux => format!(
                "{}/{}",
                profile.folder.as_deref().unwrap_or(&profile.name),
                machine.mac.map(|m| m.hex()).unwrap_or_default()
            ),
            Kind::Ipxe => format!(
                "{}/m/{}",
                http_base
                    .clone()
                    .unwrap_or_else(|| format!("tftp://{}", ctx.server)),
                mac_dashes.as_deref().unwrap_or_default()
            ),
            Kind::Grub => format!("/m/{}", mac_dashes.as_deref().unwrap_or_default()),
            Kind::Rpi | Kind::Efi => String::new(),
        };
        let at = |name: &str| {
            if base.is_empty() {
                name.to_owned()
            } else {
                format!("{base}/{name}")
            }
        };
        let overlays = match profile.kind {
            Kind::Pxelinux => profile
                .overlays
                .iter()
                .map(|o| at(&pxelinux_overlay_file(o)))
                .collect(),
            _ => profile.overlays.clone(),
        };
        let files = Files {
            kernel: profile.kernel.as_deref().map(at),
            initrd: profile.initrd.as_deref().map(at),
            fdt: profile.dtb.as_deref().map(at),
            fdtdir: profile.fdtdir.as_deref().map(at),
            overlays,
        };
        TemplateContext {
            name: &machine.name,
            label: &machine.name,
            profile: &profile.name,
            kind: profile.kind.as_str(),
            model: profile.model.map(|m| m.as_str()),
            mac: machine.mac.map(|m| m.to_string()),
            mac_dashes,
            mac_hex: machine.mac.map(|m| m.hex()),
            serial: machine.serial.as_deref(),
            ip: machine.ip.map(|ip| ip.to_string()),
            kernel: profile.kernel.as_deref(),
            initrd: profile.initrd.as_deref(),
            dtb: profile.dtb.as_deref(),
            fdtdir: profile.fdtdir.as_deref(),
            overlays: &profile.overlays,
            config_txt: profile
                .config_txt
                .as_deref()
                .map(|t| t.strip_suffix('\n').unwrap_or(t)),
            cmdline: machine.args.full(),
            cmdline_base: &machine.args.base,
            root_args: &machine.args.root,
            extra_args: &machine.args.extra,
            server: ctx.server.to_string(),
            http_base,
            base,
            files,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::tests::{fixture, fixture_dir, parse};

    fn ctx() -> RenderContext {
        RenderContext {
            server: Ipv4Addr::new(10, 0, 0, 1),
            http_base: Some("http://10.0.0.1:8080/".into()),
        }
    }

    /// Every file under `dir`, as paths relative to it.
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if entry.file_type().unwrap().is_dir() {
                walk(&entry.path(), &rel, out);
            } else {
                out.push(rel);
            }
        }
    }

    /// Whether to rewrite golden files: `BOOTHERD_BLESS=1` does; unset, empty
    /// or `0` compares only; any other value stops the test, so that a typo
    /// neither blesses nor quietly compares. The capture fixtures of
    /// `tests/it/pxe_lab.rs` follow the same rule.
    fn bless_requested() -> bool {
        match std::env::var("BOOTHERD_BLESS").as_deref() {
            Err(std::env::VarError::NotPresent) | Ok("" | "0") => false,
            Ok("1") => true,
            Ok(other) => panic!(
                "BOOTHERD_BLESS={other:?}: set it to 1 to rewrite the expected files, \
                 or to 0 (or unset it) to compare"
            ),
            Err(err) => panic!("BOOTHERD_BLESS: {err}"),
        }
    }

    /// Renders every fixture machine and compares with `expected/<machine>/<path>`.
    /// With `BOOTHERD_BLESS=1` the expected files of each machine that differs
    /// are rewritten too, and the test still fails, naming them: review the
    /// diff, then run it again without.
    #[test]
    fn golden_files() {
        let inv = fixture();
        let renderer = Renderer::new(None).unwrap();
        let bless = bless_requested();
        let expected_dir = fixture_dir().join("expected");
        let mut failures = Vec::new();
        let mut blessed = Vec::new();
        for machine in inv.machines() {
            let profile = inv.profile_of(machine);
            let files = renderer.files(machine, profile, &ctx()).unwrap();
            let dir = expected_dir.join(&machine.name);
            let mut want = Vec::new();
            walk(&dir, "", &mut want);
            want.sort();
            let mut got: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
            got.sort();
            let mut differs = got != want;
            if differs {
                failures.push(format!(
                    "{}: generated {got:?}, expected {want:?}",
                    machine.name
                ));
            }
            for file in &files {
                let path = dir.join(&file.path);
                match std::fs::read_to_string(&path) {
                    Ok(expected) if expected == file.content => {}
                    Ok(expected) => {
                        differs = true;
                        failures.push(format!(
                            "{}: {} differs\n--- expected\n{expected}--- generated\n{}",
                            machine.name, file.path, file.content
                        ));
                    }
                    // A file missing from the list is reported above.
                    Err(_) => differs = true,
                }
                // The one-file lookup gives the same text.
                let one = renderer
                    .render(machine, profile, &ctx(), file.scope, &file.path)
                    .unwrap()
                    .unwrap();
                assert_eq!(one, file.content);
            }
            if bless && differs {
                let _ = std::fs::remove_dir_all(&dir);
                for file in &files {
                    let path = dir.join(&file.path);
                    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                    std::fs::write(&path, &file.content).unwrap();
                }
                blessed.push(dir.display().to_string());
            }
        }
        assert!(
            blessed.is_empty(),
            "BOOTHERD_BLESS=1 rewrote {}; review the diff, then run again without it. \
             What differed:\n{}",
            blessed.join(", "),
            failures.join("\n")
        );
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn scopes_and_lookups() {
        let inv = fixture();
        let r = Renderer::new(None).unwrap();
        let files = |name| {
            let m = inv.by_name(name).unwrap();
            r.files(m, inv.profile_of(m), &ctx())
                .unwrap()
                .into_iter()
                .map(|f| (f.scope, f.path))
                .collect::<Vec<_>>()
        };
        use Scope::{Machine as M, Root as R};
        let s = |x: &str| x.to_owned();
        assert_eq!(
            files("kitchen-pi"),
            [(M, s("cmdline.txt")), (M, s("config.txt"))]
        );
        assert_eq!(
            files("rock64-a"),
            [(R, s("pxelinux.cfg/01-02-ab-cd-00-00-01"))]
        );
        assert_eq!(files("office-pc"), [(M, s("boot.ipxe"))]);
        assert_eq!(files("lab-efi"), []);
        assert_eq!(
            files("desk-sb"),
            [(
                R,
                s("debian-installer/amd64/grub/grub.cfg-01-52-54-00-5b-00-01")
            )]
        );

        // Every generated file is found again through the path a client asks for.
        for machine in inv.machines() {
            let profile = inv.profile_of(machine);
            for file in r.files(machine, profile, &ctx()).unwrap() {
                let asked = inv.request_path(machine, file.scope, &file.path);
                let at = inv.locate(&asked).unwrap();
                assert_eq!(at.machine.name, machine.name);
                let text = r
                    .render(at.machine, at.profile, &ctx(), at.scope, at.path)
                    .unwrap()
                    .unwrap();
                assert_eq!(text, file.content, "{asked}");
            }
        }

        let m = inv.by_name("rock64-a").unwrap();
        let p = inv.profile_of(m);
        assert!(r
            .render(
                m,
                p,
                &ctx(),
                Scope::Machine,
                "pxelinux.cfg/01-02-ab-cd-00-00-01"
            )
            .is_none());
        assert!(r.render(m, p, &ctx(), Scope::Root, "cmdline.txt").is_none());
        let pi = inv.by_name("kitchen-pi").unwrap();
        assert!(r
            .render(pi, inv.profile_of(pi), &ctx(), Scope::Machine, "boot.ipxe")
            .is_none());
    }

    #[test]
    fn ipxe_without_http_uses_tftp() {
        let inv = fixture();
        let r = Renderer::new(None).unwrap();
        let m = inv.by_name("office-pc").unwrap();
        let ctx = RenderContext {
            server: Ipv4Addr::new(192, 168, 7, 1),
            http_base: None,
        };
        let text = r
            .render(m, inv.profile_of(m), &ctx, Scope::Machine, "boot.ipxe")
            .unwrap()
            .unwrap();
        assert!(
            text.contains("\nkernel tftp://192.168.7.1/m/52-54-00-12-34-56/vmlinuz console=tty0 "),
            "{text}"
        );
        assert!(
            text.contains("\ninitrd tftp://192.168.7.1/m/52-54-00-12-34-56/initrd.img\n"),
            "{text}"
        );
    }

    #[test]
    fn minimal_profiles() {
        // No cmdline, no root: a Pi gets no cmdline.txt; a pxelinux file has no append.
        let inv = parse(
            "[profiles.pi]\nkind = \"rpi\"\n\
             [profiles.u]\nkind = \"pxelinux\"\nkernel = \"zImage\"\n\
             [profiles.i]\nkind = \"ipxe\"\nkernel = \"vmlinuz\"\n\
             [profiles.c]\nkind = \"rpi\"\nconfig_txt = \"gpu_mem=16\"\n\
             [[machines]]\nname = \"pi\"\nserial = \"1\"\nprofile = \"pi\"\n\
             [[machines]]\nname = \"u\"\nmac = \"02:00:00:00:00:01\"\nprofile = \"u\"\n\
             [[machines]]\nname = \"i\"\nmac = \"02:00:00:00:00:02\"\nprofile = \"i\"\n\
             [[machines]]\nname = \"c\"\nserial = \"2\"\nprofile = \"c\"\n",
        )
        .unwrap();
        let r = Renderer::new(None).unwrap();
        let render = |name: &str| {
            let m = inv.by_name(name).unwrap();
            r.files(m, inv.profile_of(m), &ctx()).unwrap()
        };
        assert!(render("pi").is_empty());
        assert_eq!(
            render("u")[0].content,
            "# Generated by bootherd for u (profile u).\ndefault u\n\nlabel u\n  kernel u/020000000001/zImage\n"
        );
        assert_eq!(
            render("i")[0].content,
            "#!ipxe\n# Generated by bootherd for i (profile i).\n\
             kernel http://10.0.0.1:8080/m/02-00-00-00-00-02/vmlinuz\nboot\n"
        );
        // config_txt alone: the user's text and nothing added.
        assert_eq!(render("c")[0].content, "gpu_mem=16\n");
    }

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn override_replaces_builtin() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "cmdline.txt.j2",
            "{{ cmdline_base }} {{ root_args }} serial={{ serial }}\n",
        );
        write(dir.path(), "notes.txt", "not a template, ignored");
        let r = Renderer::new(Some(dir.path())).unwrap();
        assert_eq!(r.overridden(), ["cmdline.txt.j2"]);
        let inv = fixture();
        let m = inv.by_name("garage-pi3").unwrap();
        let files = r.files(m, inv.profile_of(m), &ctx()).unwrap();
        assert_eq!(
            files[0].content,
            "console=serial0,115200 console=tty1 root=/dev/nfs \
             nfsroot=10.0.0.5:/srv/nfs/garage-pi3,vers=4.1,proto=tcp rw ip=dhcp rootwait \
             serial=e1ffda08\n"
        );
        // The others stay built in.
        let builtin = Renderer::new(None).unwrap();
        assert_eq!(
            files[1],
            builtin.files(m, inv.profile_of(m), &ctx()).unwrap()[1]
        );
    }

    #[test]
    fn override_errors() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "pxelinux.j2", "x");
        let err = Renderer::new(Some(dir.path())).unwrap_err().to_string();
        assert!(
            err.contains("pxelinux.j2: not a bootherd template"),
            "{err}"
        );
        assert!(err.contains("pxelinux.cfg.j2"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "boot.ipxe.j2", "#!ipxe\n{% if %}\n");
        let err = Renderer::new(Some(dir.path())).unwrap_err().to_string();
        let path = dir.path().join("boot.ipxe.j2").display().to_string();
        assert!(
            err.starts_with(&format!("template {path}: syntax error")),
            "{err}"
        );
        assert!(err.contains("boot.ipxe.j2:2"), "{err}");

        let err = Renderer::new(Some(Path::new("/nonexistent/bootherd-templates")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/bootherd-templates"), "{err}");

        // A misspelt variable fails when rendering, naming the template.
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "boot.ipxe.j2",
            "#!ipxe\nkernel {{ files.kernal }}\n",
        );
        let r = Renderer::new(Some(dir.path())).unwrap();
        let inv = fixture();
        let m = inv.by_name("office-pc").unwrap();
        let err = r
            .files(m, inv.profile_of(m), &ctx())
            .unwrap_err()
            .to_string();
        let path = dir.path().join("boot.ipxe.j2").display().to_string();
        assert!(err.starts_with(&format!("template {path}: ")), "{err}");
        assert!(err.contains("undefined"), "{err}");
    }
}
