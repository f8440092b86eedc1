//! Logging setup: `tracing` to stderr, human-readable or JSON.
//!
//! When stderr is the systemd journal (`JOURNAL_STREAM` names stderr's device
//! and inode, see systemd.exec(5)), the human format leaves out the timestamp,
//! which journald records itself, and starts each line with its syslog priority
//! (`<3>` for errors ... `<7>` for debug, sd-daemon(3); every line of a
//! multi-line message), which journald takes off and stores, so `journalctl -p
//! warning` finds warnings and errors.

use std::fmt;
use std::io::IsTerminal;
use std::os::fd::AsRawFd;

use clap::ValueEnum;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Installs the global subscriber. `RUST_LOG` overrides the default level (`info`).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // A second init (in tests) is not an error worth reporting.
    let _ = match format {
        LogFormat::Human if stderr_is_journal() => builder
            .with_ansi(false)
            .event_format(SyslogPriority(
                tracing_subscriber::fmt::format().without_time(),
            ))
            .try_init(),
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Whether stderr is connected to the journal: `JOURNAL_STREAM` is set to its
/// `DEVICE:INODE` (a service's stderr redirected elsewhere keeps the variable,
/// so the variable alone is not enough).
fn stderr_is_journal() -> bool {
    let Ok(stream) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    match nix::sys::stat::fstat(std::io::stderr().as_raw_fd()) {
        // dev_t and ino_t are not u64 on every target.
        #[allow(clippy::unnecessary_cast)]
        Ok(stat) => names_stream(&stream, stat.st_dev as u64, stat.st_ino as u64),
        Err(_) => false,
    }
}

/// Whether `JOURNAL_STREAM`'s value names the file with this device and inode.
fn names_stream(value: &str, dev: u64, ino: u64) -> bool {
    value
        .split_once(':')
        .is_some_and(|(d, i)| d.parse() == Ok(dev) && i.parse() == Ok(ino))
}

/// The syslog priority of a level, as journald reads it from a line's `<N>`.
fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// Another event format with the event's syslog priority in front of each of
/// its lines (journald reads every line on its own).
struct SyslogPriority<F>(F);

impl<S, N, F> FormatEvent<S, N> for SyslogPriority<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let priority = priority(*event.metadata().level());
        let mut text = String::new();
        self.0.format_event(ctx, Writer::new(&mut text), event)?;
        for line in text.lines() {
            writeln!(writer, "<{priority}>{line}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_stream_must_name_this_very_file() {
        assert!(names_stream("8:123456", 8, 123456));
        assert!(!names_stream("8:123456", 8, 123457));
        assert!(!names_stream("9:123456", 8, 123456));
        for broken in ["", "8", "8:", ":123456", "8:123456:1", "x:y"] {
            assert!(!names_stream(broken, 8, 123456), "{broken:?}");
        }
    }

    #[test]
    fn priorities_are_syslogs() {
        assert_eq!(priority(Level::ERROR), 3);
        assert_eq!(priority(Level::WARN), 4);
        assert_eq!(priority(Level::INFO), 6);
        assert_eq!(priority(Level::DEBUG), 7);
    }
}
