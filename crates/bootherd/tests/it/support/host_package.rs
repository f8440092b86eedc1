//! The lock of tests that install bootherd's Debian package on this machine.

use std::sync::Mutex;

/// Held by tests that install bootherd's Debian package on this machine, or
/// depend on what it installs (/var/lib/bootherd), so that they never overlap.
pub static HOST_PACKAGE: Mutex<()> = Mutex::new(());

/// [`HOST_PACKAGE`], also when a test that held it panicked.
pub fn lock_host_package() -> std::sync::MutexGuard<'static, ()> {
    HOST_PACKAGE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
