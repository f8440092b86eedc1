//! Kernel command lines: placeholders (`{name}`, `{mac}`, `{serial}`) and the iSCSI
//! and NFS root arguments.

use std::net::Ipv4Addr;

use super::*;

/// Per-machine values of the placeholders.
pub(super) struct Vars<'a> {
    pub(super) name: &'a str,
    pub(super) mac: Option<Mac>,
    pub(super) serial: Option<&'a str>,
}

impl Vars<'_> {
    pub(super) fn get(&self, placeholder: &str) -> Result<String, String> {
        match placeholder {
            "name" => Ok(self.name.to_owned()),
            "mac" => self
                .mac
                .map(|m| m.dashes())
                .ok_or_else(|| "uses {mac}, but the machine has no mac".to_owned()),
            "serial" => self
                .serial
                .map(str::to_owned)
                .ok_or_else(|| "uses {serial}, but the machine has no serial".to_owned()),
            other => Err(format!("unknown placeholder {{{other}}}")),
        }
    }
}

/// Replaces `{name}` placeholders through `lookup`; `{{` and `}}` are literal braces.
pub(super) fn substitute(
    text: &str,
    lookup: impl Fn(&str) -> Result<String, String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(['{', '}']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("{{").or_else(|| tail.strip_prefix("}}")) {
            out.push_str(&tail[..1]);
            rest = after;
        } else if tail.starts_with('}') {
            return Err("a lone `}`; write `}}` for a brace".into());
        } else {
            let end = tail
                .find('}')
                .ok_or_else(|| "a `{` without its `}`; write `{{` for a brace".to_owned())?;
            out.push_str(&lookup(&tail[1..end])?);
            rest = &tail[end + 1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Builds a machine's kernel command line; the error names the profile key.
pub(super) fn kernel_args(
    profile: &Profile,
    vars: &Vars<'_>,
    extra: Option<&str>,
) -> Result<KernelArgs, (String, String)> {
    let key_of = |key: &str| format!("profiles.{}.{key}", profile.name);
    let fill = |key: &str, text: &str| {
        substitute(text, |name| vars.get(name)).map_err(|why| (key_of(key), why))
    };
    let base = fill("cmdline", &profile.cmdline)?;
    let extra = extra.unwrap_or_default().to_owned();
    let has_ip = base
        .split(' ')
        .chain(extra.split(' '))
        .any(|word| word.starts_with("ip="));
    let mut root = Vec::new();
    match &profile.root {
        None => {}
        Some(Root::Iscsi(r)) => {
            let target = fill("root.target", &r.target)?;
            if !has_ip {
                root.push("ip=dhcp".to_owned());
            }
            if let Some(initiator) = &r.initiator {
                root.push(format!(
                    "ISCSI_INITIATOR={}",
                    fill("root.initiator", initiator)?
                ));
            }
            root.push(format!("ISCSI_TARGET_NAME={target}"));
            root.push(format!("ISCSI_TARGET_IP={}", r.portal));
            root.push(format!("ISCSI_TARGET_PORT={}", r.port));
            let device = match &r.root_device {
                Some(device) => fill("root.root_device", device)?,
                None => iscsi_by_path(r.portal, r.port, &target, r.lun, r.partition),
            };
            root.push(format!("root={device}"));
            root.push("rw".into());
            root.push("rootwait".into());
        }
        Some(Root::Nfs(r)) => {
            let server = fill("root.server", &r.server)?;
            let path = fill("root.path", &r.path)?;
            root.push("root=/dev/nfs".into());
            match &r.options {
                Some(options) => root.push(format!(
                    "nfsroot={server}:{path},{}",
                    fill("root.options", options)?
                )),
                None => root.push(format!("nfsroot={server}:{path}")),
            }
            root.push("rw".into());
            if !has_ip {
                root.push("ip=dhcp".into());
            }
            root.push("rootwait".into());
        }
    }
    Ok(KernelArgs {
        base,
        root: root.join(" "),
        extra,
    })
}

/// A machine's LUN, from its profile's iSCSI root with the placeholders filled in;
/// None for other roots. The error names the profile key.
pub(super) fn iscsi_lun(
    profile: &Profile,
    vars: &Vars<'_>,
) -> Result<Option<IscsiLun>, (String, String)> {
    let Some(Root::Iscsi(r)) = &profile.root else {
        return Ok(None);
    };
    let fill = |key: &str, text: &str| {
        substitute(text, |name| vars.get(name))
            .map_err(|why| (format!("profiles.{}.{key}", profile.name), why))
    };
    let optional =
        |key: &str, text: &Option<String>| text.as_deref().map(|t| fill(key, t)).transpose();
    Ok(Some(IscsiLun {
        portal: r.portal,
        port: r.port,
        target: fill("root.target", &r.target)?,
        initiator: optional("root.initiator", &r.initiator)?,
        lun: r.lun,
        backing_store: optional("root.backing_store", &r.backing_store)?.map(Into::into),
        chap_file: optional("root.chap_file", &r.chap_file)?.map(Into::into),
    }))
}

/// The udev by-path link of an iSCSI LUN (systemd `path_id`: `ip-ADDR:PORT-iscsi-IQN-lun-N`,
/// LUNs from 256 in the `0x` form), plus `-partN` for a partition.
pub fn iscsi_by_path(
    portal: Ipv4Addr,
    port: u16,
    target: &str,
    lun: u32,
    partition: Option<u32>,
) -> String {
    let lun = if lun < 256 {
        format!("lun-{lun}")
    } else {
        format!(
            "lun-0x{:04x}{:04x}00000000",
            lun & 0xffff,
            (lun >> 16) & 0xffff
        )
    };
    let part = partition.map(|n| format!("-part{n}")).unwrap_or_default();
    format!("/dev/disk/by-path/ip-{portal}:{port}-iscsi-{target}-{lun}{part}")
}
