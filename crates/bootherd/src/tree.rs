//! The per-machine file namespace, the same for TFTP and HTTP: a request under one of
//! a machine's prefixes (`<serial>/`, `<mac>/`, `m/<mac>/`, `<folder>/<mac-hex>/`) is
//! answered from its generated files first, then the machine's own directory, then
//! its profile's directory, then the shared root. Pis share one copy of the firmware.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tracing::warn;

use crate::inventory::{Inventory, Located, Scope};
use crate::render::{RenderContext, Renderer};
use crate::vfs::{ClientInfo, DirSource, FileSource, OpenFile, VfsError};

/// One loaded boot tree: the root, the inventory, the templates, the extra dirs.
pub struct BootTree {
    root: DirSource,
    inventory: Arc<Inventory>,
    renderer: Arc<Renderer>,
    dirs: HashMap<PathBuf, DirSource>,
    http_port: Option<u16>,
}

impl BootTree {
    /// Opens the root and every machine and profile directory that exists. A
    /// directory that does not exist is skipped here and reported by `bootherd check`.
    pub fn new(
        root: &Path,
        inventory: Arc<Inventory>,
        renderer: Arc<Renderer>,
        http_port: Option<u16>,
    ) -> std::io::Result<BootTree> {
        let root = DirSource::open(root)?;
        let mut dirs = HashMap::new();
        let wanted = inventory
            .machines()
            .iter()
            .filter_map(|m| m.dir.clone())
            .chain(inventory.profiles().iter().filter_map(|p| p.dir.clone()));
        for dir in wanted {
            if dirs.contains_key(&dir) {
                continue;
            }
            match DirSource::open(&dir) {
                Ok(source) => {
                    dirs.insert(dir, source);
                }
                Err(err) => warn!(dir = %dir.display(), %err, "tree: directory not served"),
            }
        }
        Ok(BootTree {
            root,
            inventory,
            renderer,
            dirs,
            http_port,
        })
    }

    /// The inventory this tree serves.
    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// The templates.
    pub fn renderer(&self) -> &Renderer {
        &self.renderer
    }

    /// What the templates are told about the server `local` names.
    pub fn context(&self, local: Ipv4Addr) -> RenderContext {
        RenderContext {
            server: local,
            http_base: self.http_port.map(|port| match port {
                80 => format!("http://{local}"),
                _ => format!("http://{local}:{port}"),
            }),
        }
    }

    fn open_located(
        &self,
        client: &ClientInfo,
        full: &str,
        at: &Located<'_>,
    ) -> Result<OpenFile, VfsError> {
        let local = match client.local.ip() {
            IpAddr::V4(ip) => ip,
            IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
        };
        let ctx = self.context(local);
        if let Some(rendered) = self
            .renderer
            .render(at.machine, at.profile, &ctx, at.scope, at.path)
        {
            return match rendered {
                Ok(text) => Ok(OpenFile::memory(text.into_bytes())),
                Err(err) => {
                    warn!(machine = %at.machine.name, path = at.path, %err, "tree: template failed");
                    Err(VfsError::Io(std::io::Error::other(format!(
                        "template failed: {err}"
                    ))))
                }
            };
        }
        if at.scope == Scope::Machine {
            let own = [at.machine.dir.as_ref(), at.profile.dir.as_ref()];
            for dir in own.into_iter().flatten() {
                if let Some(source) = self.dirs.get(dir) {
                    match source.open(client, at.path) {
                        Err(VfsError::NotFound) => {}
                        other => return other,
                    }
                }
            }
            // A folder that really exists under the root (a hand-made `9ffefdef/`)
            // still wins over the shared files.
            match self.root.open(client, full) {
                Err(VfsError::NotFound) => {}
                other => return other,
            }
        }
        self.root.open(client, at.path)
    }
}

impl BootTree {
    /// `<grub_prefix>/grub.cfg` asked from a grub machine's own address: its
    /// generated configuration (see [`Inventory::grub_cfg_by_address`]).
    fn open_grub_cfg_by_address(
        &self,
        client: &ClientInfo,
        path: &str,
    ) -> Option<Result<OpenFile, VfsError>> {
        let IpAddr::V4(ip) = client.addr.ip() else {
            return None;
        };
        let machine = self.inventory.grub_cfg_by_address(path, ip)?;
        let profile = self.inventory.profile_of(machine);
        let local = match client.local.ip() {
            IpAddr::V4(ip) => ip,
            IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
        };
        let ctx = self.context(local);
        let files = match self.renderer.files(machine, profile, &ctx) {
            Ok(files) => files,
            Err(err) => {
                warn!(machine = %machine.name, path, %err, "tree: template failed");
                let err = std::io::Error::other(format!("template failed: {err}"));
                return Some(Err(VfsError::Io(err)));
            }
        };
        let file = files.into_iter().find(|f| f.scope == Scope::Root)?;
        Some(Ok(OpenFile::memory(file.content.into_bytes())))
    }
}

impl FileSource for BootTree {
    fn open(&self, client: &ClientInfo, path: &str) -> Result<OpenFile, VfsError> {
        match self.inventory.locate(path) {
            Some(at) => self.open_located(client, path, &at),
            None => match self.open_grub_cfg_by_address(client, path) {
                Some(found) => found,
                None => self.root.open(client, path),
            },
        }
    }
}

/// A boot tree that can be replaced while requests are served (configuration reload).
#[derive(Clone)]
pub struct LiveTree(Arc<ArcSwap<BootTree>>);

impl LiveTree {
    /// Starts serving `tree`.
    pub fn new(tree: BootTree) -> Self {
        LiveTree(Arc::new(ArcSwap::from_pointee(tree)))
    }

    /// Serves `tree` from now on; requests in flight finish on the old one.
    pub fn replace(&self, tree: BootTree) {
        self.0.store(Arc::new(tree));
    }

    /// The tree being served now.
    pub fn current(&self) -> Arc<BootTree> {
        self.0.load_full()
    }
}

impl FileSource for LiveTree {
    fn open(&self, client: &ClientInfo, path: &str) -> Result<OpenFile, VfsError> {
        self.0.load().open(client, path)
    }
}
