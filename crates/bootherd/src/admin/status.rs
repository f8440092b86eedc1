//! `bootherd status`: the fleet table in the terminal, read from a running
//! bootherd's admin API (`GET /api/v1/machines` and `/api/v1/unknown`).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// How long `status` waits for the whole answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read.
const MAX_BODY: usize = 64 << 20;

/// Prints the fleet and the unknown boot clients of the bootherd whose admin
/// listener is `admin`; `token` when it asks for one. `json` prints the API's
/// answers as they are.
pub fn status(admin: SocketAddr, token: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (machines, unknown) = runtime.block_on(async {
        let machines = get(admin, "/api/v1/machines", token).await?;
        let unknown = get(admin, "/api/v1/unknown", token).await?;
        anyhow::Ok((machines, unknown))
    })?;
    if json {
        let both = serde_json::json!({ "machines": machines, "unknown": unknown });
        println!("{}", serde_json::to_string_pretty(&both)?);
    } else {
        print!(
            "{}",
            format_status(&machines, &unknown, crate::events::now_ms())
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// One GET of the API, as JSON.
async fn get(admin: SocketAddr, path: &str, token: Option<&str>) -> anyhow::Result<Value> {
    let fetch = async {
        let stream = tokio::net::TcpStream::connect(admin)
            .await
            .with_context(|| format!("connecting to the admin listener at {admin}"))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let mut request = Request::get(path).header(header::HOST, admin.to_string());
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = sender.send_request(request.body(Body::empty())?).await?;
        let status = response.status();
        let body = axum::body::to_bytes(Body::new(response.into_body()), MAX_BODY).await?;
        anyhow::ensure!(
            status != StatusCode::UNAUTHORIZED,
            "{admin}{path}: 401: the admin listener wants a token (--token-file, or BOOTHERD_ADMIN_TOKEN)"
        );
        anyhow::ensure!(
            status.is_success(),
            "{admin}{path}: {status}: {}",
            String::from_utf8_lossy(&body).trim()
        );
        serde_json::from_slice(&body).with_context(|| format!("{admin}{path}: not JSON"))
    };
    tokio::time::timeout(TIMEOUT, fetch)
        .await
        .with_context(|| format!("{admin}{path}: no answer within {} s", TIMEOUT.as_secs()))?
}

/// The table: machine, kind, stage, last seen; then the unknown clients.
pub fn format_status(machines: &Value, unknown: &Value, now_ms: u64) -> String {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("-").to_owned();
    let ago = |v: &Value| match v.get("last_seen_ms").and_then(Value::as_u64) {
        Some(ms) => format!("{} s ago", now_ms.saturating_sub(ms) / 1000),
        None => "never".to_owned(),
    };
    let mut rows = vec![[
        "MACHINE".to_owned(),
        "KIND".to_owned(),
        "STAGE".to_owned(),
        "LAST SEEN".to_owned(),
    ]];
    for m in machines.as_array().into_iter().flatten() {
        rows.push([
            text(m, "name"),
            text(m, "kind"),
            text(m, "stage_text"),
            ago(m),
        ]);
    }
    let mut out = table(&rows);
    let unknown: Vec<&Value> = unknown.as_array().into_iter().flatten().collect();
    if !unknown.is_empty() {
        out.push_str(
            "\nUnknown boot clients (GET /api/v1/unknown has a [[machines]] entry for each):\n",
        );
        let mut rows = vec![[
            "MAC".to_owned(),
            "CLIENT".to_owned(),
            "SERIAL".to_owned(),
            "LAST SEEN".to_owned(),
        ]];
        for u in unknown {
            let seen = u
                .get("last_seen_ms")
                .and_then(Value::as_u64)
                .map(|ms| format!("{} s ago", now_ms.saturating_sub(ms) / 1000))
                .unwrap_or_default();
            rows.push([
                text(u, "mac"),
                text(u, "client"),
                text(u, "rpi_serial"),
                seen,
            ]);
        }
        out.push_str(&table(&rows));
    }
    out
}

fn table(rows: &[[String; 4]]) -> String {
    let mut widths = [0usize; 4];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}
