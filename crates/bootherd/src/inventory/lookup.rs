//! Lookups: a machine by MAC, serial or name, and which machine a request path
//! belongs to (`locate`), the lookup every TFTP and HTTP request goes through.

use std::net::Ipv4Addr;

use super::*;

impl Inventory {
    /// True when no machine is listed.
    pub fn is_empty(&self) -> bool {
        self.machines.is_empty()
    }

    /// Every machine, in file order.
    pub fn machines(&self) -> &[Machine] {
        &self.machines
    }

    /// Every profile, by name.
    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    /// The profile called `name`.
    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    /// The profile `machine` boots with. `machine` must come from this inventory.
    pub fn profile_of(&self, machine: &Machine) -> &Profile {
        &self.profiles[machine.profile_index]
    }

    /// The machine with this MAC.
    pub fn by_mac(&self, mac: &[u8; 6]) -> Option<&Machine> {
        self.by_mac.get(mac).map(|&i| &self.machines[i])
    }

    /// The machine with this serial, in any form [`normalize_serial`] accepts.
    pub fn by_serial(&self, serial: &str) -> Option<&Machine> {
        let serial = normalize_serial(serial)?;
        self.by_serial.get(&serial).map(|&i| &self.machines[i])
    }

    /// The machine called `name`.
    pub fn by_name(&self, name: &str) -> Option<&Machine> {
        self.by_name.get(name).map(|&i| &self.machines[i])
    }

    /// The machine whose folder is this first path component: a serial (`9ffefdef`,
    /// TFTP_PREFIX 0), a MAC with dashes (`dc-a6-32-01-36-c2`, TFTP_PREFIX 2) or
    /// without separators (`dca6320136c2`).
    pub fn machine_for_prefix(&self, component: &str) -> Option<&Machine> {
        let is_hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
        match component.len() {
            8 if is_hex(component) => self.by_serial(component),
            12 if is_hex(component) => self.by_mac(&Mac::parse(component)?.0),
            17 if component.contains('-') => self.by_mac(&Mac::parse(component)?.0),
            _ => None,
        }
    }

    /// Finds the machine a request path (already cleaned by `vfs::clean_path`)
    /// belongs to:
    /// - `<serial>/…`, `<mac-dashes>/…`, `<mac-hex>/…`: that machine, [`Scope::Machine`];
    /// - `<folder>/<mac-hex>/…` for a pxelinux machine whose profile's folder it is;
    /// - `m/<mac>/…` (any MAC form), the iPXE and HTTP namespace;
    /// - `pxelinux.cfg/01-<mac-dashes>` of a pxelinux machine, [`Scope::Root`];
    /// - `<grub_prefix>/grub.cfg-01-<mac-dashes>` of a grub machine, [`Scope::Root`].
    ///
    /// Anything else is not a machine's path (`None`): serve it from the root.
    pub fn locate<'a>(&'a self, path: &'a str) -> Option<Located<'a>> {
        let located = |machine: &'a Machine, scope, path| Located {
            machine,
            profile: self.profile_of(machine),
            scope,
            path,
        };
        if let Some(at) = self.locate_grub_cfg(path) {
            return Some(located(at, Scope::Root, path));
        }
        let (first, rest) = path.split_once('/')?;
        if first == "pxelinux.cfg" {
            let mac = Mac::parse(rest.strip_prefix("01-")?)?;
            let machine = self.by_mac(&mac.0)?;
            return (self.profile_of(machine).kind == Kind::Pxelinux)
                .then(|| located(machine, Scope::Root, path));
        }
        if first == "m" {
            let (second, rest) = rest.split_once('/')?;
            let machine = self.by_mac(&Mac::parse(second)?.0)?;
            return Some(located(machine, Scope::Machine, rest));
        }
        if let Some(machine) = self.machine_for_prefix(first) {
            return Some(located(machine, Scope::Machine, rest));
        }
        let (second, rest) = rest.split_once('/')?;
        if second.len() != 12 {
            return None;
        }
        let machine = self.by_mac(&Mac::parse(second)?.0)?;
        let profile = self.profile_of(machine);
        (profile.folder.as_deref() == Some(first)).then(|| located(machine, Scope::Machine, rest))
    }

    /// The grub machine whose generated `<grub_prefix>/grub.cfg-01-<mac-dashes>`
    /// `path` is.
    fn locate_grub_cfg(&self, path: &str) -> Option<&Machine> {
        let (prefix, name) = path.rsplit_once('/').unwrap_or(("", path));
        let mac = Mac::parse(name.strip_prefix("grub.cfg-01-")?)?;
        let machine = self.by_mac(&mac.0)?;
        let profile = self.profile_of(machine);
        (profile.kind == Kind::Grub
            && profile.grub_prefix.as_deref() == Some(prefix)
            && name == format!("grub.cfg-01-{}", mac.dashes()))
        .then_some(machine)
    }

    /// The grub machine with address `ip` when `path` is `<grub_prefix>/grub.cfg` of
    /// its profile: Debian's signed netboot GRUB reads only that name (its built-in
    /// `normal (memdisk)/grub.cfg` sources `$prefix/grub.cfg`; PROTOCOLS.md), so
    /// bootherd answers it by the address asking, which its DHCP server reserved.
    pub fn grub_cfg_by_address(&self, path: &str, ip: Ipv4Addr) -> Option<&Machine> {
        let prefix = match path.strip_suffix("grub.cfg")? {
            "" => "",
            folder => folder.strip_suffix('/')?,
        };
        self.machines.iter().find(|m| {
            m.ip == Some(ip) && {
                let profile = self.profile_of(m);
                profile.kind == Kind::Grub && profile.grub_prefix.as_deref() == Some(prefix)
            }
        })
    }

    /// The path a machine's firmware asks for to get `path`: for [`Scope::Machine`]
    /// the machine's main prefix (rpi `<serial>/` else `<mac-dashes>/`; pxelinux
    /// `<folder>/<mac-hex>/`; ipxe, efi and grub `m/<mac-dashes>/`) then `path`.
    /// [`Inventory::locate`] maps the result back to `machine` and `path`.
    pub fn request_path(&self, machine: &Machine, scope: Scope, path: &str) -> String {
        match scope {
            Scope::Root => path.to_owned(),
            Scope::Machine => format!("{}/{path}", self.namespace(machine)),
        }
    }

    /// The machine's main prefix, without a trailing slash (see [`Inventory::request_path`]).
    pub fn namespace(&self, machine: &Machine) -> String {
        let profile = self.profile_of(machine);
        let mac = machine.mac.map(|m| m.dashes()).unwrap_or_default();
        match profile.kind {
            Kind::Rpi => machine.serial.clone().unwrap_or(mac),
            Kind::Pxelinux => format!(
                "{}/{}",
                profile.folder.as_deref().unwrap_or(&profile.name),
                machine.mac.map(|m| m.hex()).unwrap_or_default()
            ),
            Kind::Ipxe | Kind::Efi | Kind::Grub => format!("m/{mac}"),
        }
    }
}
