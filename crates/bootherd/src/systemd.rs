//! Telling systemd how `serve` is doing (`Type=notify`, sd_notify(3) through the
//! `sd-notify` crate): `READY=1` once every listener is bound and privileges are
//! dropped, `RELOADING=1` and `READY=1` around a reload, `STOPPING=1` when the
//! orderly stop begins, `STATUS=` lines for `systemctl status`.
//!
//! With `WatchdogSec=` set, systemd expects `WATCHDOG=1` at least that often.
//! [`spawn_watchdog`] sends it only while every service loop has beaten recently
//! ([`crate::liveness`]): a DHCP receive thread, TFTP listener or HTTP accept
//! loop that is wedged stops the pings, and systemd restarts the service.
//!
//! Outside systemd (no `NOTIFY_SOCKET`) every call here does nothing.

use std::time::Duration;

use sd_notify::NotifyState;
use tracing::{debug, error, info};

use crate::config::Config;

/// A loop counts as wedged when it has not beaten for this long or half the
/// watchdog interval, whichever is longer: healthy loops beat at least every
/// [`crate::liveness::BEAT_INTERVAL`].
const MIN_STALL: Duration = Duration::from_secs(3);

fn notify(states: &[NotifyState]) {
    if let Err(err) = sd_notify::notify(states) {
        debug!(%err, "systemd: cannot notify the service manager");
    }
}

/// `READY=1`: every listener is bound. The status line says what is served.
pub fn ready(config: &Config) {
    let status = status(config);
    notify(&[NotifyState::Ready, NotifyState::Status(&status)]);
}

/// `RELOADING=1`: a reload begins.
pub fn reloading() {
    notify(&[NotifyState::Reloading]);
}

/// `READY=1` after a reload, with its outcome as the status line.
pub fn reloaded(outcome: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(outcome)]);
}

/// `STOPPING=1`: the orderly stop has begun.
pub fn stopping() {
    notify(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// What `systemctl status` shows while serving.
fn status(config: &Config) -> String {
    let mut services = Vec::new();
    if config.tftp.enabled {
        services.push("TFTP");
    }
    if config.http.enabled {
        services.push("HTTP");
    }
    if config.proxy.enabled {
        services.push("proxyDHCP");
    }
    if config.dhcp.enabled {
        services.push("DHCP server");
    }
    format!("serving {}", services.join(", "))
}

/// When systemd asks for a watchdog (`WatchdogSec=`, seen as `WATCHDOG_USEC`),
/// spawns the task that feeds it on the current runtime; it runs until the
/// runtime stops. Returns whether it did.
pub fn spawn_watchdog() -> bool {
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return false;
    };
    let plan = WatchdogPlan::for_interval(interval);
    info!(
        interval_ms = interval.as_millis() as u64,
        wedged_after_ms = plan.max_age.as_millis() as u64,
        "systemd watchdog: fed while every service loop makes progress"
    );
    tokio::spawn(feed(plan));
    true
}

/// How often the loops are looked at, and how old a beat may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WatchdogPlan {
    period: Duration,
    max_age: Duration,
}

impl WatchdogPlan {
    /// For systemd's `interval`: look four times per interval (systemd asks for
    /// a ping at least every half), and call a loop wedged after half of it.
    fn for_interval(interval: Duration) -> WatchdogPlan {
        WatchdogPlan {
            period: (interval / 4).max(Duration::from_millis(50)),
            max_age: (interval / 2).max(MIN_STALL),
        }
    }
}

async fn feed(plan: WatchdogPlan) {
    let mut tick = tokio::time::interval(plan.period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut wedged = false;
    loop {
        tick.tick().await;
        let stalled = crate::liveness::stalled(plan.max_age);
        if stalled.is_empty() {
            notify(&[NotifyState::Watchdog]);
            if wedged {
                info!(
                    "systemd watchdog: every service loop makes progress again; feeding it again"
                );
                wedged = false;
            }
        } else if !wedged {
            error!(
                loops = %stalled.join(", "),
                "systemd watchdog: no progress for {}s in {}; not feeding the watchdog, so systemd restarts bootherd",
                plan.max_age.as_secs_f32(),
                stalled.join(", ")
            );
            let status = format!("wedged: {}", stalled.join(", "));
            notify(&[NotifyState::Status(&status)]);
            wedged = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_is_wedged_after_half_the_interval_but_never_before_three_beats() {
        let unit = WatchdogPlan::for_interval(Duration::from_secs(30));
        assert_eq!(unit.period, Duration::from_millis(7500));
        assert_eq!(unit.max_age, Duration::from_secs(15));
        let short = WatchdogPlan::for_interval(Duration::from_secs(2));
        assert_eq!(short.period, Duration::from_millis(500));
        assert_eq!(short.max_age, MIN_STALL);
        assert!(MIN_STALL >= crate::liveness::BEAT_INTERVAL * 3);
    }

    #[test]
    fn status_names_the_services() {
        let mut config = Config::defaults();
        assert_eq!(status(&config), "serving TFTP, HTTP");
        config.proxy.enabled = true;
        config.dhcp.enabled = true;
        config.http.enabled = false;
        assert_eq!(status(&config), "serving TFTP, proxyDHCP, DHCP server");
    }
}
