//! `bootherd watch [MACHINE]`: the events of a running bootherd as they happen,
//! one line each (time, machine, what happened), read from the admin API's
//! `GET /api/v1/events` stream until Ctrl-C.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use futures_util::StreamExt;
use hyper_util::rt::TokioIo;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::Value;

/// How long `watch` waits for the server to accept the stream.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest SSE message read; past it the stream is broken.
const MAX_MESSAGE: usize = 1 << 20;

/// Prints every event (of `machine`, when given) of the bootherd whose admin
/// listener is `admin`, until Ctrl-C (exit 0) or the server ends the stream
/// (an error).
pub fn watch(
    admin: SocketAddr,
    token: Option<&str>,
    machine: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        tokio::select! {
            result = follow(admin, token, machine) => result.map(|()| ExitCode::SUCCESS),
            _ = tokio::signal::ctrl_c() => Ok(ExitCode::SUCCESS),
        }
    })
}

async fn follow(
    admin: SocketAddr,
    token: Option<&str>,
    machine: Option<&str>,
) -> anyhow::Result<()> {
    let mut path = "/api/v1/events".to_owned();
    if let Some(machine) = machine {
        path.push_str("?machine=");
        path.extend(utf8_percent_encode(machine, NON_ALPHANUMERIC));
    }
    let open = async {
        let stream = tokio::net::TcpStream::connect(admin).await.with_context(|| {
            format!("connecting to the admin listener at {admin} (is bootherd running, with [admin] on that address?)")
        })?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let mut request = Request::get(&path)
            .header(header::HOST, admin.to_string())
            .header(header::ACCEPT, "text/event-stream");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = sender.send_request(request.body(Body::empty())?).await?;
        anyhow::Ok(response)
    };
    let response = tokio::time::timeout(CONNECT_TIMEOUT, open)
        .await
        .with_context(|| format!("{admin}: no answer within {} s", CONNECT_TIMEOUT.as_secs()))??;
    let status = response.status();
    anyhow::ensure!(
        status != StatusCode::UNAUTHORIZED,
        "{admin}: 401: the admin listener wants a token (--token-file, or BOOTHERD_ADMIN_TOKEN)"
    );
    if !status.is_success() {
        let body = axum::body::to_bytes(Body::new(response.into_body()), 64 << 10)
            .await
            .unwrap_or_default();
        let body: Value = serde_json::from_slice(&body).unwrap_or_default();
        let error = body["error"].as_str().unwrap_or_default();
        anyhow::bail!("{admin}{path}: {status}: {error}");
    }
    if let Some(machine) = machine {
        eprintln!("watching {machine} on {admin} (Ctrl-C stops)");
    } else {
        eprintln!("watching every boot client on {admin} (Ctrl-C stops)");
    }
    let mut body = Body::new(response.into_body()).into_data_stream();
    let mut messages = Messages::default();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.with_context(|| format!("{admin}: the stream broke"))?;
        messages.push(&chunk)?;
        while let Some((kind, data)) = messages.next() {
            let Ok(event) = serde_json::from_str::<Value>(&data) else {
                continue;
            };
            let line = match kind.as_str() {
                "dropped" => format!(
                    "{}  -  missed {} events (this watch read too slowly)",
                    clock(crate::events::now_ms()),
                    event["dropped"]
                ),
                _ => format_event(&event),
            };
            println!("{line}");
        }
    }
    anyhow::bail!("{admin}: the server ended the stream (bootherd stopped?)")
}

/// The SSE messages in the bytes read so far: `(type, data)`.
#[derive(Default)]
struct Messages {
    buffer: String,
}

impl Messages {
    fn push(&mut self, chunk: &[u8]) -> anyhow::Result<()> {
        self.buffer
            .push_str(&String::from_utf8_lossy(chunk).replace('\r', ""));
        anyhow::ensure!(
            self.buffer.len() <= MAX_MESSAGE,
            "a message of the stream is longer than {MAX_MESSAGE} bytes"
        );
        Ok(())
    }

    fn next(&mut self) -> Option<(String, String)> {
        loop {
            let end = self.buffer.find("\n\n")?;
            let block: String = self.buffer.drain(..end + 2).collect();
            let mut kind = "message".to_owned();
            let mut data = Vec::new();
            for line in block.lines() {
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "event" => kind = value.to_owned(),
                    "data" => data.push(value),
                    _ => {}
                }
            }
            if !data.is_empty() {
                return Some((kind, data.join("\n")));
            }
        }
    }
}

/// One event in one line: local time, machine (its name, else its MAC, else
/// the address), what happened.
pub fn format_event(event: &Value) -> String {
    let text = |key: &str| clean(event[key].as_str().unwrap_or_default());
    let number = |key: &str| event[key].as_u64().unwrap_or_default();
    let who = ["machine", "mac", "addr"]
        .iter()
        .map(|key| text(key))
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "-".to_owned());
    let protocol = text("protocol").to_uppercase();
    let via = text("via");
    let what = match event["kind"].as_str().unwrap_or_default() {
        "dhcp_request" => {
            let mut what = format!("DHCP {} from {} ({via})", text("message"), text("client"));
            for (key, label) in [
                ("rpi_serial", "serial"),
                ("arch", "arch"),
                ("vendor_class", "vendor class"),
                ("relay", "relay"),
            ] {
                if !text(key).is_empty() {
                    what.push_str(&format!(", {label} {}", text(key)));
                }
            }
            what
        }
        "dhcp_answer" => format!("DHCP {} ({via}): {}", text("message"), text("detail")),
        "dhcp_no_answer" => format!("no DHCP answer ({via}): {}", text("reason")),
        "lease" => format!("lease {} {}", text("change"), text("ip")),
        "file_requested" => format!("{protocol} asks for {}", text("path")),
        "file_served" => {
            let mut what = format!(
                "{protocol} served {} ({} bytes in {} ms",
                text("path"),
                number("bytes"),
                number("ms")
            );
            if number("retransmits") > 0 {
                what.push_str(&format!(", {} retransmits", number("retransmits")));
            }
            what.push(')');
            what
        }
        "file_refused" => format!("{protocol} refused {}: {}", text("path"), text("reason")),
        "file_abandoned" => format!(
            "{protocol} {} abandoned after {} blocks: {}",
            text("path"),
            number("acked_blocks"),
            text("reason")
        ),
        "reload" if event["ok"] == true => format!("configuration reloaded: {}", text("detail")),
        "reload" => format!("configuration reload refused: {}", text("detail")),
        other => clean(other),
    };
    format!("{}  {who}  {what}", clock(number("at_ms")))
}

/// Control characters (a hostile vendor class's terminal escapes) as `\u{..}`.
fn clean(text: &str) -> String {
    text.chars()
        .flat_map(|c| match c.is_control() {
            true => c.escape_default().collect::<Vec<_>>(),
            false => vec![c],
        })
        .collect()
}

/// `HH:MM:SS.mmm` in local time.
fn clock(at_ms: u64) -> String {
    let secs = (at_ms / 1000) as libc::time_t;
    // SAFETY: localtime_r writes only into `tm`, which lives through the call.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = !unsafe { libc::localtime_r(&secs, &mut tm) }.is_null();
    if !ok {
        return format!("{at_ms}");
    }
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        at_ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_cut_at_blank_lines_whatever_the_chunks() {
        let mut messages = Messages::default();
        messages.push(b": keep-alive\n\ndata: {\"a\"").unwrap();
        assert_eq!(messages.next(), None);
        messages.push(b":1}\n\nevent: dropped\ndata: {}\n").unwrap();
        assert_eq!(
            messages.next(),
            Some(("message".into(), "{\"a\":1}".into()))
        );
        assert_eq!(messages.next(), None);
        messages.push(b"\n").unwrap();
        assert_eq!(messages.next(), Some(("dropped".into(), "{}".into())));
    }

    #[test]
    fn an_event_is_one_line_with_the_machine_and_no_terminal_escapes() {
        let event = serde_json::json!({
            "at_ms": 1_796_479_950_012u64, "mac": "dc:a6:32:01:36:c2", "machine": "pi-rack1",
            "kind": "file_served", "protocol": "tftp", "path": "9ffefdef/start4.elf",
            "bytes": 2_981_376, "ms": 840, "retransmits": 0,
        });
        let line = format_event(&event);
        assert!(
            line.ends_with(
                ".012  pi-rack1  TFTP served 9ffefdef/start4.elf (2981376 bytes in 840 ms)"
            ),
            "{line}"
        );
        let hostile = serde_json::json!({
            "at_ms": 0, "mac": "02:00:00:00:00:01", "kind": "dhcp_request", "via": "proxy",
            "message": "DISCOVER", "client": "U-Boot", "vendor_class": "x\u{1b}[2J\ny",
        });
        let line = format_event(&hostile);
        assert!(!line.contains('\u{1b}') && !line.contains('\n'), "{line}");
        assert!(line.contains("02:00:00:00:00:01  DHCP DISCOVER from U-Boot (proxy), vendor class x\\u{1b}[2J\\ny"), "{line}");
    }
}
