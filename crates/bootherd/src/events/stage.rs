//! How far a machine got, from its events: never seen, DHCP answered, loading
//! files, handed to the kernel, or stuck (and where).

use serde::Serialize;

use super::{Event, What};

/// After a refused or abandoned file, how long a machine must stay quiet before it
/// counts as stuck (a Pi probes optional files that do not exist, then goes on).
pub const STUCK_AFTER_MS: u64 = 10_000;
/// Files named in [`Stage::LoadingFiles`], the most recent ones.
const FILES_SHOWN: usize = 8;

/// A machine's stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    /// No event of it in memory.
    NeverSeen,
    /// It asked over DHCP and was not answered (yet), with the last reason.
    DhcpIgnored { reason: String },
    /// It got a DHCP answer and asked for no file since.
    DhcpAnswered,
    /// It is fetching files: the last ones served or asked for, oldest first.
    LoadingFiles { files: Vec<String> },
    /// The kernel was served: `kernel`, then `last_file` was the last file served.
    HandedToKernel { kernel: String, last_file: String },
    /// Its last requests failed and it went quiet: where.
    Stuck { detail: String },
}

impl Stage {
    /// A short name for tables.
    pub fn name(&self) -> &'static str {
        match self {
            Stage::NeverSeen => "never seen",
            Stage::DhcpIgnored { .. } => "DHCP not answered",
            Stage::DhcpAnswered => "DHCP answered",
            Stage::LoadingFiles { .. } => "loading files",
            Stage::HandedToKernel { .. } => "handed to the kernel",
            Stage::Stuck { .. } => "stuck",
        }
    }

    /// The stage with what it is about, in one line.
    pub fn describe(&self) -> String {
        match self {
            Stage::NeverSeen | Stage::DhcpAnswered => self.name().into(),
            Stage::DhcpIgnored { reason } => format!("DHCP not answered: {reason}"),
            Stage::LoadingFiles { files } => format!("loading files: {}", files.join(", ")),
            Stage::HandedToKernel { kernel, last_file } => {
                format!("handed to the kernel ({kernel}; last file {last_file})")
            }
            Stage::Stuck { detail } => format!("stuck: {detail}"),
        }
    }
}

/// The stage after `events` (oldest first), at `now_ms`. `kernels` are the file
/// names (without folder) this machine's profile boots as a kernel; common kernel
/// names (`kernel*.img`, `Image`, `zImage`, `vmlinuz*`, ...) count too.
pub fn stage<'a>(
    events: impl IntoIterator<Item = &'a Event>,
    kernels: &[&str],
    now_ms: u64,
) -> Stage {
    let mut stage = Stage::NeverSeen;
    let mut files: Vec<String> = Vec::new();
    let mut kernel: Option<String> = None;
    // Refused or abandoned files since the last one served: (path, reason).
    let mut misses: Vec<(String, String)> = Vec::new();
    let mut last_ms = 0;
    for event in events {
        last_ms = last_ms.max(event.at_ms);
        match &event.what {
            What::DhcpAnswer { .. } => {
                stage = Stage::DhcpAnswered;
                files.clear();
                kernel = None;
                misses.clear();
            }
            What::DhcpNoAnswer { reason, .. } => {
                if matches!(stage, Stage::NeverSeen | Stage::DhcpIgnored { .. }) {
                    stage = Stage::DhcpIgnored {
                        reason: reason.clone(),
                    };
                }
            }
            What::FileRequested { path, .. } => {
                if kernel.is_none() {
                    note(&mut files, path);
                    stage = Stage::LoadingFiles {
                        files: files.clone(),
                    };
                }
            }
            What::FileServed { path, .. } => {
                misses.clear();
                if kernel.is_none() && is_kernel(path, kernels) {
                    kernel = Some(path.clone());
                }
                match &kernel {
                    Some(kernel) => {
                        stage = Stage::HandedToKernel {
                            kernel: kernel.clone(),
                            last_file: path.clone(),
                        }
                    }
                    None => {
                        note(&mut files, path);
                        stage = Stage::LoadingFiles {
                            files: files.clone(),
                        };
                    }
                }
            }
            What::FileRefused { path, reason, .. } => {
                misses.push((path.clone(), reason.clone()));
            }
            What::FileAbandoned {
                path, acked_blocks, ..
            } => {
                misses.push((
                    path.clone(),
                    format!("abandoned after {acked_blocks} blocks"),
                ));
            }
            What::DhcpRequest { .. } | What::Lease { .. } | What::Reload { .. } => {}
        }
    }
    let quiet = now_ms.saturating_sub(last_ms) >= STUCK_AFTER_MS;
    if kernel.is_none() && !misses.is_empty() && quiet {
        return Stage::Stuck {
            detail: where_stuck(&misses),
        };
    }
    stage
}

/// Adds `path` to the files shown, moved to the end if there already.
fn note(files: &mut Vec<String>, path: &str) {
    files.retain(|f| f != path);
    if files.len() >= FILES_SHOWN {
        files.remove(0);
    }
    files.push(path.to_owned());
}

/// Whether `path` is a kernel: one of `kernels`, or a common kernel name.
pub fn is_kernel(path: &str, kernels: &[&str]) -> bool {
    let name = base_name(path);
    kernels.iter().any(|k| base_name(k) == name)
        || (name.starts_with("kernel") && name.ends_with(".img"))
        || matches!(name, "Image" | "zImage" | "uImage" | "bzImage" | "linux")
        || name.starts_with("vmlinuz")
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// "asked for start4.elf, not found in 9ffefdef/ or the root", for the last file
/// name that failed, in every folder it was asked in.
fn where_stuck(misses: &[(String, String)]) -> String {
    let (last, reason) = &misses[misses.len() - 1];
    let name = base_name(last);
    let reason = reason.strip_prefix("file ").unwrap_or(reason);
    let folders: Vec<String> = misses
        .iter()
        .filter(|(path, _)| base_name(path) == name)
        .map(|(path, _)| {
            let path = path.trim_start_matches('/');
            match path.rsplit_once('/') {
                Some((dir, _)) => format!("{dir}/"),
                None => "the root".to_owned(),
            }
        })
        .fold(Vec::new(), |mut all, folder| {
            if !all.contains(&folder) {
                all.push(folder);
            }
            all
        });
    format!("asked for {name}, {reason} in {}", folders.join(" or "))
}
