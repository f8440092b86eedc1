//! Dropping root: with `[service] user` set and bootherd started as root, once
//! every socket is bound and the lease database is open, bootherd becomes that
//! user (and group, without supplementary groups), keeps only
//! `CAP_NET_BIND_SERVICE` and `CAP_NET_RAW` (the DHCP server's ICMP and ARP
//! checks open a raw socket per probe), and sets `no_new_privs`.
//!
//! Credentials belong to each thread, not to the process, and by the time
//! bootherd drops, the tokio runtime, the SQLite worker and the services'
//! threads already run. glibc's `setuid()` visits every thread, but nothing does
//! that for `capset()` or `prctl()`, so changing only the calling thread would
//! leave the others with root's full capability set. The drop therefore runs on
//! every thread: the calling thread directly, each other thread from the
//! handler of a spare real-time signal, with raw system calls only (nothing
//! else is safe in a signal handler). `/proc/self/task` then tells whether
//! every thread has arrived; bootherd goes on only when all have. Threads
//! started later inherit the dropped credentials.
//!
//! `caps` names the capabilities and reads the starting sets; `nix` looks up
//! the user and group and changes file owners.

use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use caps::{CapSet, Capability};
use nix::unistd::{Gid, Group, Uid, User};
use tracing::{info, warn};

use crate::config::{Config, ServiceConfig};

/// The capabilities bootherd keeps after the drop: binding ports below 1024, and
/// raw sockets for the DHCP server's ICMP echo and ARP probes.
pub const KEPT: [Capability; 2] = [Capability::CAP_NET_BIND_SERVICE, Capability::CAP_NET_RAW];

/// How long every thread together may take to arrive in the dropped state.
const ALL_THREADS_WITHIN: Duration = Duration::from_secs(5);
/// How long a signalled thread may take before it is signalled again.
const SIGNAL_AGAIN_AFTER: Duration = Duration::from_millis(200);

/// The user and group `[service]` names, looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// User name.
    pub user: String,
    /// Its uid.
    pub uid: Uid,
    /// Group name: `[service] group`, else the user's primary group.
    pub group: String,
    /// Its gid.
    pub gid: Gid,
}

impl Target {
    /// Looks up `service.user` and `service.group`: `None` when no user is set;
    /// `Err((key, message))` for a user or group this host does not have, a
    /// group without a user, or a user that is root.
    pub fn resolve(service: &ServiceConfig) -> Result<Option<Target>, (&'static str, String)> {
        let Some(name) = &service.user else {
            return match &service.group {
                Some(group) => Err((
                    "service.group",
                    format!("{group:?} is set without service.user"),
                )),
                None => Ok(None),
            };
        };
        let user = User::from_name(name)
            .map_err(|e| ("service.user", format!("looking up user {name:?}: {e}")))?
            .ok_or_else(|| {
                (
                    "service.user",
                    format!("no user named {name:?} on this host"),
                )
            })?;
        if user.uid.is_root() {
            return Err((
                "service.user",
                format!("{name:?} is uid 0: switching to it would drop nothing"),
            ));
        }
        let group = match &service.group {
            Some(group) => Group::from_name(group)
                .map_err(|e| ("service.group", format!("looking up group {group:?}: {e}")))?
                .ok_or_else(|| {
                    (
                        "service.group",
                        format!("no group named {group:?} on this host"),
                    )
                })?,
            None => match Group::from_gid(user.gid) {
                Ok(Some(group)) => group,
                // A primary group without a name: switch to the number.
                _ => {
                    return Ok(Some(Target {
                        user: user.name,
                        uid: user.uid,
                        group: user.gid.to_string(),
                        gid: user.gid,
                    }))
                }
            },
        };
        Ok(Some(Target {
            user: user.name,
            uid: user.uid,
            group: group.name,
            gid: group.gid,
        }))
    }
}

/// Switches to `[service] user` if one is set (see the module's documentation):
/// gives root-owned lease database files to that user first, then drops on
/// every thread, and logs what it did. Without `user`, does nothing. Run as
/// someone else than root, it succeeds only when that already is the user.
pub fn drop_privileges(config: &Config) -> anyhow::Result<()> {
    let target = Target::resolve(&config.service)
        .map_err(|(key, message)| anyhow::anyhow!("{key}: {message}"))?;
    let Some(target) = target else {
        return Ok(());
    };
    let euid = nix::unistd::geteuid();
    if !euid.is_root() {
        if euid == target.uid {
            info!(
                user = %target.user,
                "service.user: already running as {}; nothing to drop", target.user
            );
            return Ok(());
        }
        bail!(
            "service.user = {:?}: switching users needs bootherd to be started as root, but it runs as uid {euid}",
            target.user
        );
    }
    if config.dhcp.enabled {
        give_lease_db(&config.dhcp.lease_db, &target);
    }
    let permitted = caps::read(None, CapSet::Permitted).context("reading capabilities")?;
    let effective = caps::read(None, CapSet::Effective).context("reading capabilities")?;
    let kept: Vec<Capability> = KEPT.into_iter().filter(|c| permitted.contains(c)).collect();
    if kept.len() < KEPT.len() {
        warn!(
            "started without {}: it cannot be kept",
            names(KEPT.iter().filter(|c| !kept.contains(c)))
        );
    }
    let last_cap = caps::runtime::procfs_all_supported(None)
        .ok()
        .and_then(|all| all.iter().map(|c| c.index()).max())
        .unwrap_or(40);
    let plan = Plan {
        uid: target.uid.as_raw(),
        gid: target.gid.as_raw(),
        keep: kept.iter().fold(0, |mask, c| mask | c.bitmask()),
        // Shrinking the bounding set needs CAP_SETPCAP; root has it, but a
        // container's root may not, and then the set stays (no_new_privs and
        // the empty inheritable set already keep an exec from gaining any).
        last_bounding_cap: effective
            .contains(&Capability::CAP_SETPCAP)
            .then_some(u32::from(last_cap)),
    };
    let threads = every_thread::apply(&plan)?;
    info!(
        user = %target.user,
        uid = target.uid.as_raw(),
        group = %target.group,
        gid = target.gid.as_raw(),
        threads,
        "privileges dropped: running as {}:{} without supplementary groups, keeping only {}, no_new_privs set (on all {threads} threads)",
        target.user,
        target.group,
        if kept.is_empty() { "no capability".to_string() } else { names(kept.iter()) },
    );
    Ok(())
}

fn names<'a>(caps: impl Iterator<Item = &'a Capability>) -> String {
    caps.map(|c| c.to_string()).collect::<Vec<_>>().join(", ")
}

/// The lease database and the files SQLite keeps beside it.
fn lease_db_files(db: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [db.to_path_buf(), with("-wal"), with("-shm")]
}

/// Gives the lease database files that belong to root (bootherd, started as
/// root, just created them, or an earlier run as root did) to the target user,
/// then warns about whatever that user still could not write.
fn give_lease_db(db: &Path, target: &Target) {
    if crate::config::is_lease_db_url(db) {
        return;
    }
    for path in lease_db_files(db) {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.uid() != 0 {
            continue;
        }
        match nix::unistd::chown(&path, Some(target.uid), Some(target.gid)) {
            Ok(()) => info!(
                "lease database: {} now belongs to {}:{}",
                path.display(),
                target.user,
                target.group
            ),
            Err(err) => warn!(
                %err,
                "lease database: cannot give {} to {}", path.display(), target.user
            ),
        }
    }
    for problem in lease_db_problems(db, target) {
        warn!("lease database: {problem}");
    }
}

/// What would keep `target` from writing the lease database at `db`: files that
/// exist, belong to someone else than root (`serve` gives root's to the user) and
/// that the user cannot write, and a directory in which the user cannot create
/// or remove SQLite's `-wal` and `-shm` files. Judged by owner, group and mode
/// bits (the user's own group only, as bootherd drops supplementary groups;
/// ACLs are not read). `bootherd check` prints these.
pub fn lease_db_problems(db: &Path, target: &Target) -> Vec<String> {
    let mut problems = Vec::new();
    if crate::config::is_lease_db_url(db) {
        return problems;
    }
    for path in lease_db_files(db) {
        if let Ok(meta) = std::fs::metadata(&path) {
            if meta.uid() != 0 && !may_write(&meta, target, 0o2) {
                problems.push(format!(
                    "{} belongs to uid {} (mode {:o}) and is not writable by user {}",
                    path.display(),
                    meta.uid(),
                    meta.permissions().mode() & 0o7777,
                    target.user
                ));
            }
        }
    }
    let dir = match db.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if let Ok(meta) = std::fs::metadata(dir) {
        if !may_write(&meta, target, 0o3) {
            problems.push(format!(
                "directory {} is not writable by user {}: SQLite can neither create nor remove the database's -wal and -shm files there (bootherd started as root creates them and gives them to the user, but a start without root needs them to exist or the directory writable)",
                dir.display(),
                target.user
            ));
        }
    }
    problems
}

/// Whether `target` has all of `bits` (2 = write, 1 = search) on a file with
/// `meta`, by its owner, group and mode.
fn may_write(meta: &Metadata, target: &Target, bits: u32) -> bool {
    let mode = meta.permissions().mode();
    let granted = if meta.uid() == target.uid.as_raw() {
        mode >> 6
    } else if meta.gid() == target.gid.as_raw() {
        mode >> 3
    } else {
        mode
    };
    granted & bits == bits
}

/// The credentials every thread is to end up with.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    uid: u32,
    gid: u32,
    /// Capability bits kept in the permitted and effective sets.
    keep: u64,
    /// Shrink the bounding set to `keep`, trying capabilities `0..=this`.
    last_bounding_cap: Option<u32>,
}

/// A thread's credentials, from `/proc/self/task/TID/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Creds {
    uids: Vec<u32>,
    gids: Vec<u32>,
    groups: Vec<u32>,
    inheritable: u64,
    permitted: u64,
    effective: u64,
    bounding: u64,
    ambient: u64,
    no_new_privs: bool,
}

impl Creds {
    fn parse(status: &str) -> Option<Creds> {
        let mut creds = Creds::default();
        let ids = |v: &str| -> Option<Vec<u32>> {
            v.split_whitespace().map(|n| n.parse().ok()).collect()
        };
        let hex = |v: &str| u64::from_str_radix(v.trim(), 16).ok();
        let mut seen = 0;
        for line in status.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            match key {
                "Uid" => creds.uids = ids(value)?,
                "Gid" => creds.gids = ids(value)?,
                "Groups" => creds.groups = ids(value)?,
                "CapInh" => creds.inheritable = hex(value)?,
                "CapPrm" => creds.permitted = hex(value)?,
                "CapEff" => creds.effective = hex(value)?,
                "CapBnd" => creds.bounding = hex(value)?,
                "CapAmb" => creds.ambient = hex(value)?,
                "NoNewPrivs" => creds.no_new_privs = value.trim() == "1",
                _ => continue,
            }
            seen += 1;
        }
        (seen == 9).then_some(creds)
    }

    /// Whether these are exactly what `plan` asks for.
    fn reached(&self, plan: &Plan) -> bool {
        self.uids.len() == 4
            && self.uids.iter().all(|&u| u == plan.uid)
            && self.gids.len() == 4
            && self.gids.iter().all(|&g| g == plan.gid)
            && self.groups.is_empty()
            && self.inheritable == 0
            && self.permitted == plan.keep
            && self.effective == plan.keep
            && self.ambient == 0
            && self.no_new_privs
            && (plan.last_bounding_cap.is_none() || self.bounding == plan.keep)
    }
}

/// Running the drop on every thread of the process.
mod every_thread {
    use super::*;

    /// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
    const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

    #[repr(C)]
    struct CapHeader {
        version: u32,
        pid: libc::c_int,
    }

    #[repr(C)]
    #[derive(Clone, Copy)]
    struct CapData {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }

    #[cfg(not(any(target_arch = "x86", target_arch = "arm")))]
    use libc::{SYS_getresuid as SYS_GETRESUID, SYS_setresuid as SYS_SETRESUID};
    #[cfg(any(target_arch = "x86", target_arch = "arm"))]
    use libc::{SYS_getresuid32 as SYS_GETRESUID, SYS_setresuid32 as SYS_SETRESUID};
    #[cfg(not(any(target_arch = "x86", target_arch = "arm")))]
    use libc::{SYS_setgroups as SYS_SETGROUPS, SYS_setresgid as SYS_SETRESGID};
    #[cfg(any(target_arch = "x86", target_arch = "arm"))]
    use libc::{SYS_setgroups32 as SYS_SETGROUPS, SYS_setresgid32 as SYS_SETRESGID};

    /// The plan, where the signal handler can read it.
    static UID: AtomicU32 = AtomicU32::new(u32::MAX);
    static GID: AtomicU32 = AtomicU32::new(u32::MAX);
    static KEEP: AtomicU64 = AtomicU64::new(0);
    /// `u32::MAX`: leave the bounding set alone.
    static LAST_BOUNDING_CAP: AtomicU32 = AtomicU32::new(u32::MAX);
    /// Set once the plan is stored; the handler does nothing before.
    static ARMED: AtomicBool = AtomicBool::new(false);
    /// The first failure in any thread: `step << 32 | errno`; 0 = none.
    static FAILURE: AtomicU64 = AtomicU64::new(0);

    /// The steps of [`apply_here`], for the error message.
    const STEPS: [&str; 9] = [
        "prctl(PR_SET_KEEPCAPS, 1)",
        "prctl(PR_CAPBSET_DROP)",
        "setgroups([])",
        "setresgid",
        "setresuid",
        "capset",
        "prctl(PR_SET_KEEPCAPS, 0)",
        "prctl(PR_SET_NO_NEW_PRIVS, 1)",
        "getresuid",
    ];

    fn errno() -> i32 {
        // SAFETY: errno is thread-local and always readable.
        unsafe { *libc::__errno_location() }
    }

    /// `Err(errno)` when a raw system call returned an error.
    fn check(rc: libc::c_long) -> Result<(), i32> {
        if rc < 0 {
            Err(errno())
        } else {
            Ok(())
        }
    }

    /// Drops the calling thread's credentials to the stored plan, with raw
    /// system calls only (async-signal-safe). Idempotent: a thread that already
    /// runs as the target user only has its capabilities and flags set again.
    /// `Err((step, errno))` names the step that failed.
    fn apply_here() -> Result<(), (usize, i32)> {
        let uid = UID.load(Ordering::SeqCst);
        let gid = GID.load(Ordering::SeqCst);
        let keep = KEEP.load(Ordering::SeqCst);
        let last_bounding = LAST_BOUNDING_CAP.load(Ordering::SeqCst);
        let (mut r, mut e, mut s): (libc::uid_t, libc::uid_t, libc::uid_t) = (0, 0, 0);
        // SAFETY: raw system calls with valid pointers and plain integers; none
        // touches memory other than the arguments given.
        unsafe {
            let at = |step| move |errno| (step, errno);
            check(libc::syscall(SYS_GETRESUID, &mut r, &mut e, &mut s)).map_err(at(8))?;
            if (r, e, s) != (uid, uid, uid) {
                // Keep the permitted set across the uid change (the effective set
                // is emptied all the same); capset below narrows both.
                check(libc::syscall(
                    libc::SYS_prctl,
                    libc::PR_SET_KEEPCAPS,
                    1,
                    0,
                    0,
                    0,
                ))
                .map_err(at(0))?;
                if last_bounding != u32::MAX {
                    for cap in 0..=last_bounding.min(63) {
                        if keep & (1 << cap) != 0 {
                            continue;
                        }
                        match check(libc::syscall(
                            libc::SYS_prctl,
                            libc::PR_CAPBSET_DROP,
                            cap as libc::c_ulong,
                            0,
                            0,
                            0,
                        )) {
                            Ok(()) => {}
                            // Past the kernel's last capability.
                            Err(libc::EINVAL) => break,
                            Err(errno) => return Err((1, errno)),
                        }
                    }
                }
                check(libc::syscall(
                    SYS_SETGROUPS,
                    0,
                    std::ptr::null::<libc::gid_t>(),
                ))
                .map_err(at(2))?;
                check(libc::syscall(SYS_SETRESGID, gid, gid, gid)).map_err(at(3))?;
                check(libc::syscall(SYS_SETRESUID, uid, uid, uid)).map_err(at(4))?;
            }
            let mut header = CapHeader {
                version: CAPABILITY_VERSION_3,
                pid: 0,
            };
            let word = |i: u32| (keep >> (32 * i)) as u32;
            let data = [0, 1].map(|i| CapData {
                effective: word(i),
                permitted: word(i),
                inheritable: 0,
            });
            check(libc::syscall(
                libc::SYS_capset,
                &mut header as *mut CapHeader,
                data.as_ptr(),
            ))
            .map_err(at(5))?;
            check(libc::syscall(
                libc::SYS_prctl,
                libc::PR_SET_KEEPCAPS,
                0,
                0,
                0,
                0,
            ))
            .map_err(at(6))?;
            check(libc::syscall(
                libc::SYS_prctl,
                libc::PR_SET_NO_NEW_PRIVS,
                1,
                0,
                0,
                0,
            ))
            .map_err(at(7))?;
        }
        Ok(())
    }

    /// The signal handler: drops this thread, records a failure, keeps errno.
    extern "C" fn on_signal(_: libc::c_int) {
        if !ARMED.load(Ordering::SeqCst) {
            return;
        }
        let saved = errno();
        if let Err((step, errno)) = apply_here() {
            let code = (step as u64) << 32 | u64::from(errno as u32);
            let _ = FAILURE.compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
        }
        // SAFETY: errno is thread-local; restoring it is what handlers must do.
        unsafe { *libc::__errno_location() = saved };
    }

    /// Installs [`on_signal`] for the first real-time signal nobody handles.
    fn install_handler() -> anyhow::Result<libc::c_int> {
        for sig in libc::SIGRTMIN()..=libc::SIGRTMAX() {
            // SAFETY: sigaction with a zeroed (valid) struct to read into.
            let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
            if unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) } != 0
                || old.sa_sigaction != libc::SIG_DFL
            {
                continue;
            }
            // SAFETY: as above; the handler is an `extern "C" fn(c_int)` that
            // makes only async-signal-safe calls.
            let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
            new.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            new.sa_flags = libc::SA_RESTART;
            unsafe { libc::sigemptyset(&mut new.sa_mask) };
            if unsafe { libc::sigaction(sig, &new, std::ptr::null_mut()) } == 0 {
                return Ok(sig);
            }
        }
        bail!("no free real-time signal to reach every thread with")
    }

    fn failure() -> Option<String> {
        let code = FAILURE.load(Ordering::SeqCst);
        (code != 0).then(|| {
            let step = STEPS.get((code >> 32) as usize).unwrap_or(&"?");
            let err = std::io::Error::from_raw_os_error((code & 0xffff_ffff) as i32);
            format!("{step} failed: {err}")
        })
    }

    /// Every thread id of this process.
    fn threads() -> anyhow::Result<Vec<libc::pid_t>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir("/proc/self/task").context("listing /proc/self/task")? {
            if let Some(tid) = entry?.file_name().to_str().and_then(|n| n.parse().ok()) {
                out.push(tid);
            }
        }
        Ok(out)
    }

    /// A thread's credentials; `None` once it has gone. An error when its
    /// status cannot be read as expected: nothing could then be checked.
    fn creds_of(tid: libc::pid_t) -> anyhow::Result<Option<Creds>> {
        let path = format!("/proc/self/task/{tid}/status");
        match std::fs::read_to_string(&path) {
            Ok(text) => Creds::parse(&text)
                .map(Some)
                .with_context(|| format!("{path}: no Uid, Gid, Groups, Cap* or NoNewPrivs line")),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) if err.raw_os_error() == Some(libc::ESRCH) => Ok(None),
            Err(err) => Err(err).with_context(|| format!("reading {path}")),
        }
    }

    fn thread_name(tid: libc::pid_t) -> String {
        std::fs::read_to_string(format!("/proc/self/task/{tid}/comm"))
            .map(|n| format!("{tid} ({})", n.trim()))
            .unwrap_or_else(|_| tid.to_string())
    }

    /// Drops every thread of the process to `plan` and checks each in
    /// `/proc/self/task`; returns how many threads there are. An error leaves
    /// the process half-dropped: the caller must exit.
    pub(super) fn apply(plan: &Plan) -> anyhow::Result<usize> {
        UID.store(plan.uid, Ordering::SeqCst);
        GID.store(plan.gid, Ordering::SeqCst);
        KEEP.store(plan.keep, Ordering::SeqCst);
        LAST_BOUNDING_CAP.store(plan.last_bounding_cap.unwrap_or(u32::MAX), Ordering::SeqCst);
        FAILURE.store(0, Ordering::SeqCst);
        ARMED.store(true, Ordering::SeqCst);
        let signal = install_handler()?;
        apply_here().map_err(|(step, errno)| {
            anyhow::anyhow!(
                "dropping privileges: {} failed: {}",
                STEPS[step],
                std::io::Error::from_raw_os_error(errno)
            )
        })?;
        // SAFETY: plain system calls without pointers.
        let (pid, me) = unsafe { (libc::getpid(), libc::gettid()) };
        let deadline = Instant::now() + ALL_THREADS_WITHIN;
        let mut signalled: HashMap<libc::pid_t, Instant> = HashMap::new();
        loop {
            if let Some(failed) = failure() {
                bail!("dropping privileges on another thread: {failed}");
            }
            let mut alive = 0;
            let mut behind = Vec::new();
            for tid in threads()? {
                match creds_of(tid)? {
                    Some(creds) if creds.reached(plan) => alive += 1,
                    Some(creds) if tid == me => {
                        bail!("dropping privileges: this thread did not arrive: {creds:?}")
                    }
                    Some(_) => behind.push(tid),
                    None => {}
                }
            }
            if behind.is_empty() {
                return Ok(alive);
            }
            if Instant::now() >= deadline {
                let names: Vec<String> = behind.iter().map(|&t| thread_name(t)).collect();
                bail!(
                    "dropping privileges: thread(s) {} did not arrive within {ALL_THREADS_WITHIN:?}",
                    names.join(", ")
                );
            }
            for tid in behind {
                let due = signalled
                    .get(&tid)
                    .is_none_or(|at| at.elapsed() >= SIGNAL_AGAIN_AFTER);
                if due {
                    // SAFETY: a signal to a thread of this process, whose handler
                    // is installed; a thread that has just ended gives ESRCH.
                    unsafe { libc::tgkill(pid, tid, signal) };
                    signalled.insert(tid, Instant::now());
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tbootherd\nUmask:\t0022\nState:\tS (sleeping)\n\
        Uid:\t65534\t65534\t65534\t65534\nGid:\t65534\t65534\t65534\t65534\n\
        FDSize:\t64\nGroups:\t\nCapInh:\t0000000000000000\nCapPrm:\t0000000000002400\n\
        CapEff:\t0000000000002400\nCapBnd:\t0000000000002400\nCapAmb:\t0000000000000000\n\
        NoNewPrivs:\t1\nSeccomp:\t0\n";

    fn plan() -> Plan {
        Plan {
            uid: 65534,
            gid: 65534,
            keep: 0x2400,
            last_bounding_cap: Some(40),
        }
    }

    #[test]
    fn kept_capabilities_are_bits_10_and_13() {
        assert_eq!(KEPT.iter().fold(0, |m, c| m | c.bitmask()), 0x2400);
    }

    #[test]
    fn status_parses_and_is_judged_exactly() {
        let creds = Creds::parse(STATUS).unwrap();
        assert_eq!(creds.uids, [65534; 4]);
        assert_eq!(creds.permitted, 0x2400);
        assert!(creds.no_new_privs);
        assert!(creds.reached(&plan()));
        for (from, to) in [
            ("CapEff:\t0000000000002400", "CapEff:\t0000000000002401"),
            ("CapPrm:\t0000000000002400", "CapPrm:\t000001ffffffffff"),
            ("CapInh:\t0000000000000000", "CapInh:\t0000000000002400"),
            ("Groups:\t", "Groups:\t27"),
            (
                "Uid:\t65534\t65534\t65534\t65534",
                "Uid:\t65534\t0\t65534\t65534",
            ),
            (
                "Gid:\t65534\t65534\t65534\t65534",
                "Gid:\t0\t65534\t65534\t65534",
            ),
            ("NoNewPrivs:\t1", "NoNewPrivs:\t0"),
            ("CapBnd:\t0000000000002400", "CapBnd:\t000001ffffffffff"),
        ] {
            let changed = Creds::parse(&STATUS.replace(from, to)).unwrap();
            assert!(
                !changed.reached(&plan()),
                "{to} should not count as dropped"
            );
        }
        // Without CAP_SETPCAP the bounding set is left alone.
        let full_bounding =
            STATUS.replace("CapBnd:\t0000000000002400", "CapBnd:\t000001ffffffffff");
        let loose = Plan {
            last_bounding_cap: None,
            ..plan()
        };
        assert!(Creds::parse(&full_bounding).unwrap().reached(&loose));
        assert_eq!(Creds::parse("Uid:\t0\t0\t0\t0\n"), None);
    }

    #[test]
    fn no_user_means_nothing_to_do_and_unknown_names_are_refused() {
        assert_eq!(Target::resolve(&ServiceConfig::default()), Ok(None));
        let service = |user: Option<&str>, group: Option<&str>| ServiceConfig {
            user: user.map(String::from),
            group: group.map(String::from),
            ..ServiceConfig::default()
        };
        let (key, message) =
            Target::resolve(&service(Some("no-such-user-bootherd"), None)).unwrap_err();
        assert_eq!(key, "service.user");
        assert!(message.contains("no user named"), "{message}");
        let (key, _) = Target::resolve(&service(Some("root"), None)).unwrap_err();
        assert_eq!(key, "service.user");
        let (key, _) = Target::resolve(&service(None, Some("nogroup"))).unwrap_err();
        assert_eq!(key, "service.group");
        let (key, message) =
            Target::resolve(&service(Some("nobody"), Some("no-such-group-bootherd"))).unwrap_err();
        assert_eq!(key, "service.group");
        assert!(message.contains("no group named"), "{message}");
    }

    #[test]
    fn nobody_resolves_to_its_primary_group() {
        let Ok(Some(user)) = User::from_name("nobody") else {
            eprintln!("SKIP nobody_resolves_to_its_primary_group: no user nobody here");
            return;
        };
        let target = Target::resolve(&ServiceConfig {
            user: Some("nobody".into()),
            ..ServiceConfig::default()
        })
        .unwrap()
        .unwrap();
        assert_eq!(target.uid, user.uid);
        assert_eq!(target.gid, user.gid);
    }

    #[test]
    fn write_access_is_judged_by_owner_group_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("leases.sqlite");
        std::fs::write(&file, b"").unwrap();
        let me = Target {
            user: "me".into(),
            uid: nix::unistd::geteuid(),
            group: "mine".into(),
            gid: nix::unistd::getegid(),
        };
        let stranger = Target {
            user: "stranger".into(),
            uid: Uid::from_raw(4_000_000),
            group: "strangers".into(),
            gid: Gid::from_raw(4_000_000),
        };
        let set_mode =
            |mode| std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        let meta = || std::fs::metadata(&file).unwrap();
        set_mode(0o644);
        assert!(may_write(&meta(), &me, 0o2));
        assert!(!may_write(&meta(), &stranger, 0o2));
        set_mode(0o646);
        assert!(may_write(&meta(), &stranger, 0o2));
        set_mode(0o444);
        assert!(!may_write(&meta(), &me, 0o2));
        // Files of root are given away by `serve`, so only others' count.
        let problems = lease_db_problems(&file, &stranger);
        let owned_by_root = meta().uid() == 0;
        assert_eq!(
            problems.iter().any(|p| p.contains("leases.sqlite belongs")),
            !owned_by_root,
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("is not writable by user stranger")),
            "{problems:?}"
        );
    }
}
