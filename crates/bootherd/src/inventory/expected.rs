//! What must exist in the tree for a machine to boot, for `bootherd check`.

use bootherd_proto::client::{files_for, Place};

use super::*;

/// What must exist in the tree for `machine` to boot with `profile` (PROTOCOLS.md
/// §1-§3), for `bootherd check`. Generated files are not listed; a device-tree
/// directory (`fdtdir`) is not either, since the file U-Boot picks in it depends on
/// the board's `$fdtfile`.
pub fn expected_files(machine: &Machine, profile: &Profile) -> Vec<RequiredFile> {
    use Scope::{Machine as M, Root as R};
    let mut out = Vec::new();
    let mut add = |scope, path: &str, why: String, required| {
        out.push(RequiredFile {
            scope,
            path: path.to_owned(),
            why,
            required,
        })
    };
    let p = &profile.name;
    // What the profile names, and how the firmware or loader learns of it.
    let (source, overlay_file): (String, fn(&str) -> String) = match profile.kind {
        Kind::Rpi => (format!("of profile {p}"), rpi_overlay_file),
        Kind::Pxelinux => (
            "named in the generated pxelinux.cfg".into(),
            pxelinux_overlay_file,
        ),
        Kind::Ipxe => (
            "named in the generated boot.ipxe".into(),
            pxelinux_overlay_file,
        ),
        Kind::Efi => (format!("of profile {p}"), pxelinux_overlay_file),
        Kind::Grub => (
            "named in the generated grub.cfg".into(),
            pxelinux_overlay_file,
        ),
    };
    if let (Some(shim), Some(grub)) = (&profile.shim, &profile.grub) {
        add(
            M,
            shim,
            format!("the signed shim of profile {p}, the boot file the firmware loads"),
            true,
        );
        let folder = shim.rsplit_once('/').map_or("", |(dir, _)| dir);
        let grub_path = match folder {
            "" => grub.clone(),
            dir => format!("{dir}/{grub}"),
        };
        add(
            M,
            &grub_path,
            "the signed GRUB; shim loads it from its own folder".into(),
            true,
        );
    }
    if let Some(model) = profile.model {
        for file in files_for(model) {
            let scope = match file.place {
                Place::Root => R,
                Place::Machine => M,
            };
            add(scope, file.name, file.why.to_owned(), true);
        }
    }
    let what = if profile.kind == Kind::Efi {
        "EFI binary"
    } else {
        "kernel"
    };
    let named = [
        (what, &profile.kernel),
        ("initramfs", &profile.initrd),
        ("device tree", &profile.dtb),
    ];
    for (what, file) in named {
        if let Some(file) = file {
            add(M, file, format!("{what} {source}"), true);
        }
    }
    for overlay in &profile.overlays {
        add(
            M,
            &overlay_file(overlay),
            format!("overlay {overlay} {source}"),
            true,
        );
    }
    if profile.kind == Kind::Rpi {
        if profile.config_txt.is_none() {
            // Without config.txt the firmware loads no initramfs, device tree file or
            // overlay it was not told about.
            let mut needs: Vec<&str> = [&profile.kernel, &profile.initrd, &profile.dtb]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect();
            needs.extend(profile.overlays.iter().map(String::as_str));
            if needs.is_empty() {
                add(
                    M,
                    "config.txt",
                    "firmware settings, read if present".into(),
                    false,
                );
            } else {
                let why = format!(
                    "not generated (profile {p} has no config_txt), so it must name {} itself",
                    needs.join(", ")
                );
                add(M, "config.txt", why, true);
            }
        }
        if machine.args.full().is_empty() {
            add(
                M,
                "cmdline.txt",
                "kernel command line, read if present (not generated: the profile sets no \
                 cmdline or root)"
                    .into(),
                false,
            );
        }
    }
    out
}

/// The file the Pi firmware loads for `dtoverlay=NAME[,params]`.
pub fn rpi_overlay_file(overlay: &str) -> String {
    let name = overlay.split(',').next().unwrap_or(overlay);
    format!("overlays/{name}.dtbo")
}

/// The file a pxelinux `fdtoverlays` entry names for an overlay.
pub fn pxelinux_overlay_file(overlay: &str) -> String {
    format!("overlays/{overlay}.dtbo")
}
