//! Turning the file's tables into a checked [`Inventory`], collecting every problem
//! with the profile or machine and the key it is about.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use super::*;

impl Inventory {
    /// Checks the configuration sections and builds the inventory, or returns every
    /// problem found.
    pub fn from_parts(
        profiles: &BTreeMap<String, ProfileConfig>,
        machines: &[MachineConfig],
    ) -> Result<Inventory, InventoryErrors> {
        let mut errors = Errors::default();
        let mut checked_profiles = Vec::new();
        let mut profile_index = HashMap::new();
        for (name, raw) in profiles {
            if let Some(profile) = check_profile(name, raw, &mut errors) {
                profile_index.insert(name.clone(), checked_profiles.len());
                checked_profiles.push(profile);
            }
        }
        let mut inventory = Inventory {
            profiles: checked_profiles,
            ..Inventory::default()
        };
        // Who already holds a name, MAC, serial or address: every entry counts, also
        // one with other problems, so each duplicate is reported once, on the later entry.
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut macs: HashMap<[u8; 6], String> = HashMap::new();
        let mut serials: HashMap<String, String> = HashMap::new();
        let mut ips: HashMap<Ipv4Addr, String> = HashMap::new();
        let mut initiators: HashMap<String, String> = HashMap::new();
        for (i, raw) in machines.iter().enumerate() {
            let subject = if raw.name.is_empty() {
                format!("machines[{i}]")
            } else {
                format!("machine {}", raw.name)
            };
            let mut e = errors.scope(&subject, Entry::Machine(i));
            let index = inventory.machines.len();
            if let Err(why) = check_name(&raw.name) {
                e.push("name", why);
            } else if let Some(&other) = names.get(raw.name.as_str()) {
                e.push("name", format!("also the name of machines[{other}]"));
            } else {
                names.insert(&raw.name, i);
            }
            let profile = match profile_index.get(&raw.profile) {
                Some(&p) => Some(p),
                None if profiles.contains_key(&raw.profile) => None, // already reported
                None => {
                    e.push("profile", format!("no profile named `{}`", raw.profile));
                    None
                }
            };
            let kind = profile.map(|p| inventory.profiles[p].kind);
            let model = profile.and_then(|p| inventory.profiles[p].model);

            let mac = match &raw.mac {
                Some(text) => match Mac::parse(text) {
                    Some(mac) => Some(mac),
                    None => {
                        e.push(
                            "mac",
                            format!("`{text}` is not a MAC address (aa:bb:cc:dd:ee:ff)"),
                        );
                        None
                    }
                },
                None => None,
            };
            let serial = match &raw.serial {
                Some(text) => match normalize_serial(text) {
                    Some(serial) => Some(serial),
                    None => {
                        e.push(
                            "serial",
                            format!("`{text}` is not a serial (up to 16 hex digits)"),
                        );
                        None
                    }
                },
                None => None,
            };
            match kind {
                Some(Kind::Rpi) => {
                    if raw.serial.is_none() && model == Some(RpiModel::Pi3) {
                        e.push(
                            "serial",
                            "a Pi 3 needs its serial: its boot ROM only asks for <serial>/start.elf"
                                .into(),
                        );
                    } else if raw.serial.is_none() && raw.mac.is_none() {
                        e.push(
                            "serial",
                            "a Raspberry Pi needs `serial` (its folder with TFTP_PREFIX=0, the \
                             default) or `mac` (TFTP_PREFIX=2)"
                                .into(),
                        );
                    }
                }
                Some(kind) => {
                    if raw.mac.is_none() {
                        e.push("mac", format!("a {kind} machine needs its MAC"));
                    }
                    if kind == Kind::Grub && raw.ip.is_none() {
                        e.push(
                            "ip",
                            "a grub machine needs its ip: bootherd's DHCP server owns it (GRUB \
                             2.06 cannot boot from a proxy answer) and answers GRUB's \
                             <grub_prefix>/grub.cfg by the address asking"
                                .into(),
                        );
                    }
                    if raw.serial.is_some() {
                        e.push("serial", "only Raspberry Pis are found by serial".into());
                    }
                }
                None => {}
            }
            if let Some(mac) = mac {
                match macs.get(&mac.0) {
                    Some(other) => e.push("mac", format!("{mac} is also {other}'s")),
                    None => {
                        macs.insert(mac.0, subject.clone());
                    }
                }
            }
            if let Some(serial) = &serial {
                match serials.get(serial) {
                    Some(other) => e.push("serial", format!("{serial} is also {other}'s")),
                    None => {
                        serials.insert(serial.clone(), subject.clone());
                    }
                }
            }
            if let Some(ip) = raw.ip {
                match ips.get(&ip) {
                    Some(other) => e.push("ip", format!("{ip} is also {other}'s")),
                    None => {
                        ips.insert(ip, subject.clone());
                    }
                }
            }
            if raw.dir.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
                e.push("dir", "empty path".into());
            }
            let extra_args = raw.extra_args.as_deref().map(collapse_whitespace);
            if let Some(extra) = &raw.extra_args {
                if extra.chars().any(|c| c.is_control() && !c.is_whitespace()) {
                    e.push("extra_args", "control character".into());
                }
                if kind == Some(Kind::Grub) {
                    check_grub_words("extra_args", extra, &mut e);
                }
            }

            let Some(profile_at) = profile else { continue };
            if e.failed() {
                continue;
            }
            let vars = Vars {
                name: &raw.name,
                mac,
                serial: serial.as_deref(),
            };
            let args = match kernel_args(
                &inventory.profiles[profile_at],
                &vars,
                extra_args.as_deref(),
            ) {
                Ok(args) => args,
                Err((key, why)) => {
                    e.push(&key, why);
                    continue;
                }
            };
            let iscsi = match iscsi_lun(&inventory.profiles[profile_at], &vars) {
                Ok(lun) => lun,
                Err((key, why)) => {
                    e.push(&key, why);
                    continue;
                }
            };
            if let Some(initiator) = iscsi.as_ref().and_then(|l| l.initiator.as_ref()) {
                match initiators.get(initiator) {
                    Some(other) => {
                        e.push(
                            &format!("profiles.{}.root.initiator", raw.profile),
                            format!(
                                "{initiator} is also {other}'s: each machine needs its own \
                                 initiator IQN, or it may log in to the other's LUN"
                            ),
                        );
                        continue;
                    }
                    None => {
                        initiators.insert(initiator.clone(), subject.clone());
                    }
                }
            }
            if let Some(mac) = mac {
                inventory.by_mac.insert(mac.0, index);
            }
            if let Some(serial) = &serial {
                inventory.by_serial.insert(serial.clone(), index);
            }
            inventory.by_name.insert(raw.name.clone(), index);
            inventory.machines.push(Machine {
                name: raw.name.clone(),
                mac,
                serial,
                profile: raw.profile.clone(),
                ip: raw.ip,
                extra_args,
                dir: raw.dir.clone(),
                args,
                iscsi,
                profile_index: profile_at,
            });
        }
        if errors.0.is_empty() {
            Ok(inventory)
        } else {
            Err(InventoryErrors(errors.0))
        }
    }
}

#[derive(Default)]
pub(super) struct Errors(Vec<InventoryError>);

impl Errors {
    fn scope<'a>(&'a mut self, subject: &str, entry: Entry) -> ScopedErrors<'a> {
        let before = self.0.len();
        ScopedErrors {
            errors: self,
            subject: subject.to_owned(),
            entry,
            before,
        }
    }
}

pub(super) struct ScopedErrors<'a> {
    errors: &'a mut Errors,
    subject: String,
    entry: Entry,
    before: usize,
}

impl ScopedErrors<'_> {
    fn push(&mut self, key: &str, message: String) {
        self.errors.0.push(InventoryError {
            subject: self.subject.clone(),
            entry: self.entry.clone(),
            key: key.to_owned(),
            message,
        });
    }

    fn failed(&self) -> bool {
        self.errors.0.len() > self.before
    }
}

pub(super) fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("missing".into());
    }
    if name.len() > 64 {
        return Err(format!("`{name}` is longer than 64 characters"));
    }
    if name.starts_with('.')
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(format!(
            "`{name}` may hold only letters, digits, `-`, `_` and `.`, and not start with `.`"
        ));
    }
    Ok(())
}

/// A path the firmware asks for: relative, clean, no blanks (pxelinux splits on them)
/// and no `#` (U-Boot reads `kernel a#b` as FIT image `a`, configuration `b`).
pub(super) fn check_file(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("empty".into());
    }
    if value.chars().any(char::is_whitespace) {
        return Err(format!("`{value}` contains a blank"));
    }
    if value.contains('#') {
        return Err(format!("`{value}` contains `#`"));
    }
    match crate::vfs::clean_path(value.as_bytes()) {
        Ok(clean) if clean == value => Ok(()),
        Ok(clean) => Err(format!("`{value}` is not in clean form; write `{clean}`")),
        Err(err) => Err(format!("`{value}`: {err}")),
    }
}

pub(super) fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(super) const PLACEHOLDERS: &str = "{name}, {mac}, {serial}";

pub(super) fn check_profile(
    name: &str,
    raw: &ProfileConfig,
    errors: &mut Errors,
) -> Option<Profile> {
    let mut e = errors.scope(&format!("profile {name}"), Entry::Profile(name.to_owned()));
    if let Err(why) = check_name(name) {
        e.push("name", why);
    }
    let kind = raw.kind;
    let not_for = |key: &str, set: bool, kinds: &[Kind], e: &mut ScopedErrors<'_>| {
        if set && !kinds.contains(&kind) {
            let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
            let names = match names.split_last() {
                Some((last, [])) => last.to_string(),
                Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
                None => String::new(),
            };
            e.push(
                key,
                format!("only {names} profiles use it, this one is {kind}"),
            );
        }
    };
    use Kind::*;
    not_for("model", raw.model.is_some(), &[Rpi], &mut e);
    not_for("config_txt", raw.config_txt.is_some(), &[Rpi], &mut e);
    not_for("fdtdir", raw.fdtdir.is_some(), &[Pxelinux], &mut e);
    not_for("folder", raw.folder.is_some(), &[Pxelinux], &mut e);
    not_for("dtb", raw.dtb.is_some(), &[Rpi, Pxelinux], &mut e);
    not_for(
        "overlays",
        !raw.overlays.is_empty(),
        &[Rpi, Pxelinux],
        &mut e,
    );
    not_for(
        "initrd",
        raw.initrd.is_some(),
        &[Rpi, Pxelinux, Ipxe, Grub],
        &mut e,
    );
    not_for(
        "cmdline",
        raw.cmdline.is_some(),
        &[Rpi, Pxelinux, Ipxe, Grub],
        &mut e,
    );
    not_for(
        "root",
        raw.root.is_some(),
        &[Rpi, Pxelinux, Ipxe, Grub],
        &mut e,
    );
    not_for("shim", raw.shim.is_some(), &[Grub], &mut e);
    not_for("grub", raw.grub.is_some(), &[Grub], &mut e);
    not_for("grub_prefix", raw.grub_prefix.is_some(), &[Grub], &mut e);
    if kind == Grub {
        if raw.shim.is_none() {
            e.push(
                "shim",
                "missing: the signed shim is the boot file a Secure Boot machine loads".into(),
            );
        }
        if raw.grub_prefix.is_none() {
            e.push(
                "grub_prefix",
                "missing: the prefix GRUB was built with, where it reads grub.cfg (Debian's \
                 signed netboot GRUB: debian-installer/amd64/grub)"
                    .into(),
            );
        }
    }
    if raw.kernel.is_none() && matches!(kind, Pxelinux | Ipxe | Grub) {
        e.push(
            "kernel",
            format!(
                "missing: the generated {} names the kernel",
                loader_file(kind)
            ),
        );
    }
    if raw.dtb.is_some() && raw.fdtdir.is_some() {
        e.push(
            "fdtdir",
            "set either dtb (one file) or fdtdir (U-Boot picks $fdtfile in it), not both".into(),
        );
    }
    for (key, value) in [
        ("kernel", &raw.kernel),
        ("initrd", &raw.initrd),
        ("dtb", &raw.dtb),
        ("fdtdir", &raw.fdtdir),
        ("shim", &raw.shim),
        ("grub_prefix", &raw.grub_prefix),
    ] {
        if let Some(value) = value {
            if let Err(why) = check_file(value) {
                e.push(key, why);
            }
        }
    }
    if let Some(grub) = &raw.grub {
        if grub.contains('/') {
            e.push(
                "grub",
                format!("`{grub}`: a file name in the shim's folder, not a path"),
            );
        } else if let Err(why) = check_file(grub) {
            e.push("grub", why);
        }
    }
    for (i, overlay) in raw.overlays.iter().enumerate() {
        let key = format!("overlays[{i}]");
        let file_part = if kind == Rpi {
            // dtoverlay=NAME,param=value: the parameters follow the first comma.
            overlay.split(',').next().unwrap_or_default()
        } else {
            overlay
        };
        if file_part.contains('/') {
            e.push(&key, format!("`{overlay}`: an overlay name, not a path"));
        } else if let Err(why) = check_file(overlay) {
            e.push(&key, why);
        } else if file_part.is_empty() {
            e.push(&key, "empty overlay name".into());
        } else if kind == Pxelinux && overlay.contains(',') {
            e.push(
                &key,
                format!("`{overlay}`: pxelinux fdtoverlays takes files, not parameters"),
            );
        }
    }
    let folder = match kind {
        Pxelinux => {
            let folder = raw.folder.clone().unwrap_or_else(|| name.to_owned());
            match check_name(&folder) {
                Ok(()) if folder == "m" || folder == "pxelinux.cfg" => {
                    e.push("folder", format!("`{folder}` is reserved"));
                }
                Ok(()) => {}
                Err(why) => e.push("folder", why),
            }
            Some(folder)
        }
        _ => None,
    };
    if raw.dir.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
        e.push("dir", "empty path".into());
    }
    let cmdline = raw
        .cmdline
        .as_deref()
        .map(collapse_whitespace)
        .unwrap_or_default();
    if raw
        .cmdline
        .as_deref()
        .is_some_and(|c| c.chars().any(|c| c.is_control() && !c.is_whitespace()))
    {
        e.push("cmdline", "control character".into());
    }
    check_placeholders("cmdline", &cmdline, &mut e);
    if kind == Grub {
        check_grub_words("cmdline", &cmdline, &mut e);
    }
    let config_txt = raw.config_txt.as_ref().map(|text| {
        let mut text = text.clone();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text
    });
    let root = raw.root.as_ref().and_then(|root| check_root(root, &mut e));
    if e.failed() {
        return None;
    }
    Some(Profile {
        name: name.to_owned(),
        kind,
        model: (kind == Rpi).then(|| raw.model.unwrap_or_default()),
        kernel: raw.kernel.clone(),
        initrd: raw.initrd.clone(),
        dtb: raw.dtb.clone(),
        fdtdir: raw.fdtdir.clone(),
        overlays: raw.overlays.clone(),
        cmdline,
        config_txt,
        dir: raw.dir.clone(),
        folder,
        root,
        shim: raw.shim.clone(),
        grub: (kind == Grub).then(|| raw.grub.clone().unwrap_or_else(|| "grubx64.efi".into())),
        grub_prefix: raw
            .grub_prefix
            .as_deref()
            .map(|p| p.trim_matches('/').to_owned()),
    })
}

pub(super) fn loader_file(kind: Kind) -> &'static str {
    match kind {
        Kind::Rpi => "cmdline.txt",
        Kind::Pxelinux => "pxelinux.cfg",
        Kind::Ipxe => "boot.ipxe",
        Kind::Efi => "nothing",
        Kind::Grub => "grub.cfg",
    }
}

/// A value that goes into the kernel command line: one word, no control characters.
pub(super) fn check_word(key: &str, value: &str, e: &mut ScopedErrors<'_>) {
    if value.is_empty() {
        e.push(key, "empty".into());
    } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        e.push(key, format!("`{value}` must be one word, without blanks"));
    } else {
        check_placeholders(key, value, e);
    }
}

pub(super) fn check_root(root: &RootConfig, e: &mut ScopedErrors<'_>) -> Option<Root> {
    match root {
        RootConfig::Iscsi {
            portal,
            port,
            target,
            initiator,
            lun,
            partition,
            root_device,
            backing_store,
            chap_file,
        } => {
            for (key, path) in [
                ("root.backing_store", backing_store),
                ("root.chap_file", chap_file),
            ] {
                if let Some(path) = path {
                    check_storage_path(key, path, e);
                }
            }
            let portal = match portal {
                None => {
                    e.push(
                        "root.portal",
                        "missing: an iscsi root needs the target's IPv4 address".into(),
                    );
                    None
                }
                Some(text) => match text.parse::<Ipv4Addr>() {
                    Ok(ip) => Some(ip),
                    Err(_) => {
                        e.push(
                            "root.portal",
                            format!("`{text}` is not an IPv4 address (ISCSI_TARGET_IP)"),
                        );
                        None
                    }
                },
            };
            match target {
                None => e.push(
                    "root.target",
                    "missing: an iscsi root needs the target's IQN".into(),
                ),
                Some(t) => check_word("root.target", t, e),
            }
            if let Some(i) = initiator {
                check_word("root.initiator", i, e);
            }
            if let Some(d) = root_device {
                check_word("root.root_device", d, e);
            }
            if *port == Some(0) {
                e.push("root.port", "0 is not a TCP port".into());
            }
            if *partition == Some(0) {
                e.push("root.partition", "partitions count from 1".into());
            }
            if partition.is_some() && root_device.is_some() {
                e.push(
                    "root.partition",
                    "has no effect when root_device is set; drop one".into(),
                );
            }
            Some(Root::Iscsi(IscsiRoot {
                portal: portal?,
                port: port.unwrap_or(3260),
                target: target.clone()?,
                initiator: initiator.clone(),
                lun: lun.unwrap_or(0),
                partition: *partition,
                root_device: root_device.clone(),
                backing_store: backing_store.clone(),
                chap_file: chap_file.clone(),
            }))
        }
        RootConfig::Nfs {
            server,
            path,
            options,
        } => {
            match server {
                None => e.push(
                    "root.server",
                    "missing: an nfs root needs the server".into(),
                ),
                Some(s) => check_word("root.server", s, e),
            }
            match path {
                None => e.push(
                    "root.path",
                    "missing: an nfs root needs the exported path".into(),
                ),
                Some(p) if !p.starts_with('/') => {
                    e.push("root.path", format!("`{p}` is not an absolute path"))
                }
                Some(p) => check_word("root.path", p, e),
            }
            if let Some(o) = options {
                check_word("root.options", o, e);
            }
            Some(Root::Nfs(NfsRoot {
                server: server.clone()?,
                path: path.clone()?,
                options: options.clone(),
            }))
        }
    }
}

/// GRUB's script parser gives these a meaning on a `linux` line (variables,
/// quoting, escapes, command separators, blocks); a grub machine's command line
/// must not contain them, since bootherd writes it into grub.cfg as it is.
const GRUB_SPECIAL: &[char] = &['$', '\'', '"', '\\', ';', '|', '&', '<', '>', '{', '}'];

/// `text` as GRUB will see it: a profile's `cmdline` has its placeholders filled
/// in first (checked apart), a machine's `extra_args` is taken literally.
fn check_grub_words(key: &str, text: &str, e: &mut ScopedErrors<'_>) {
    let filled = match key {
        "cmdline" => substitute(text, |_| Ok(String::new())).unwrap_or_default(),
        _ => text.to_owned(),
    };
    if let Some(c) = filled.chars().find(|c| GRUB_SPECIAL.contains(c)) {
        e.push(
            key,
            format!(
                "`{c}` has a meaning in GRUB's grub.cfg, where this command line goes as it is"
            ),
        );
    }
}

/// A path on the storage server: absolute, one word (tgt's configuration and
/// targetcli's command line take no quoting), known placeholders.
fn check_storage_path(key: &str, path: &str, e: &mut ScopedErrors<'_>) {
    if path.chars().any(char::is_control) {
        e.push(key, "control character".into());
    } else if path.chars().any(char::is_whitespace) {
        e.push(key, format!("`{path}` must be one word, without blanks"));
    } else if !path.starts_with('/') {
        e.push(key, format!("`{path}` is not an absolute path"));
    } else {
        check_placeholders(key, path, e);
    }
}

pub(super) fn check_placeholders(key: &str, text: &str, e: &mut ScopedErrors<'_>) {
    let result = substitute(text, |name| match name {
        "name" | "mac" | "serial" => Ok(String::new()),
        _ => Err(format!(
            "unknown placeholder {{{name}}}; known: {PLACEHOLDERS} (`{{{{` for a brace)"
        )),
    });
    if let Err(why) = result {
        e.push(key, why);
    }
}
