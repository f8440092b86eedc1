//! The status page in a real browser: headless Chromium, inside the lab's
//! server namespace (it reaches only the admin listener on that namespace's
//! loopback), opens `http://127.0.0.1:9069/` before an emulated Pi 4 boots
//! through the proxy. Without reloading, the Pi's row must show "loading files"
//! and then "handed to the kernel"; an unknown Pi appears with its
//! `[[machines]]` entry; a click shows the Pi's timeline. The screenshot is kept
//! as target/test-artifacts/status-page.png (docs/status-page.png is a copy).

use std::time::Duration;

use serde_json::Value;

use crate::observability::{
    config_text, make_tree, probe, ADMIN, BOARD_MAC, PI_MAC, PI_SERIAL, UNKNOWN_PI_MAC,
    UNKNOWN_PI_SERIAL,
};
use crate::support::chromium::Chromium;
use crate::support::{need_lab, repo_root, temp_dir, wait_until, write_file, Dnsmasq, Lab, Server};

/// Records, in the page, every text the Pi's stage cell shows (the row may be
/// redrawn whole), and marks the document so that a reload would show.
const OBSERVE: &str = r#"
(() => {
  window.__stages = [];
  window.__sameDocument = true;
  const record = () => {
    const cell = document.querySelector('#fleet-body tr[data-id="pi-known"] .stage');
    const text = cell ? cell.textContent : "";
    if (window.__stages[window.__stages.length - 1] !== text) window.__stages.push(text);
  };
  record();
  new MutationObserver(record).observe(document.getElementById("fleet-body"),
    { childList: true, subtree: true, characterData: true });
  return true;
})()
"#;

fn stages(chromium: &mut Chromium) -> Vec<String> {
    match chromium.eval("window.__sameDocument === true ? window.__stages : null") {
        Value::Array(stages) => stages
            .iter()
            .map(|s| s.as_str().unwrap_or_default().to_owned())
            .collect(),
        other => panic!("the page was reloaded or replaced: {other}"),
    }
}

#[test]
fn the_status_page_shows_a_pi_booting_live_in_a_real_browser() {
    if !need_lab(
        "the_status_page_shows_a_pi_booting_live_in_a_real_browser",
        &["dnsmasq", "chromium"],
    ) {
        return;
    }
    let dir = temp_dir();
    let root = dir.path().join("root");
    make_tree(&root);
    let config = dir.path().join("bootherd.toml");
    let db = dir.path().join("leases.sqlite");
    write_file(&config, config_text(&root, &db, "").as_bytes());
    let lab = Lab::up();
    let _dnsmasq = Dnsmasq::lan(&lab, dir.path(), "1h", &[BOARD_MAC]);
    let server = Server::start_in_config(&lab.srv(), &config, &["--no-http"], Some("info"));
    server.expect_log(
        &[&format!("admin listening on http://{ADMIN}")],
        Duration::from_secs(15),
        "no admin listener",
    );

    let mut chromium = Chromium::start(&lab.srv(), dir.path());
    chromium.navigate(&format!("http://{ADMIN}/"));
    let live = wait_until(Duration::from_secs(30), || {
        chromium.eval(
            "document.readyState === 'complete' && document.getElementById('live').textContent",
        ) == "live"
    });
    assert!(
        live,
        "the page did not go live: {}\n--- chromium ---\n{}",
        chromium.eval("document.body ? document.body.innerText : ''"),
        chromium.log_text()
    );
    assert_eq!(chromium.eval(OBSERVE), true);
    assert_eq!(stages(&mut chromium), ["never seen"]);

    let pi = probe(
        &lab,
        &[
            "--as",
            "rpi4",
            "--mac",
            PI_MAC,
            "--serial",
            PI_SERIAL,
            "--timeout",
            "8",
        ],
    );
    assert!(
        pi.stdout.contains("VERDICT: boots"),
        "the Pi does not boot: {}\n{}",
        pi.describe(),
        server.log_text()
    );
    let mut seen = Vec::new();
    let finished = wait_until(Duration::from_secs(20), || {
        seen = stages(&mut chromium);
        seen.last()
            .is_some_and(|s| s.starts_with("handed to the kernel"))
    });
    assert!(finished, "the row did not reach its final stage: {seen:#?}");
    eprintln!("the Pi's stage cell showed: {seen:#?}");
    let loading = seen.iter().position(|s| s.starts_with("loading files"));
    let kernel = seen
        .iter()
        .position(|s| s.starts_with("handed to the kernel"));
    assert!(
        loading.is_some() && loading < kernel,
        "the row never showed \"loading files\" before its last stage: {seen:#?}"
    );
    assert_eq!(
        seen.last().unwrap(),
        &format!(
            "handed to the kernel ({PI_SERIAL}/kernel8.img; last file {PI_SERIAL}/kernel8.img)"
        )
    );

    // An unknown Pi shows up live, with its entry to paste.
    let _ = probe(
        &lab,
        &[
            "--as",
            "rpi4",
            "--mac",
            UNKNOWN_PI_MAC,
            "--serial",
            UNKNOWN_PI_SERIAL,
            "--timeout",
            "4",
        ],
    );
    let entry_js = format!(
        "(document.querySelector('#unknown-body tr[data-mac=\"{UNKNOWN_PI_MAC}\"] pre.entry') || {{}}).textContent || ''"
    );
    let mut entry = Value::Null;
    let listed = wait_until(Duration::from_secs(15), || {
        entry = chromium.eval(&entry_js);
        entry.as_str().is_some_and(|e| e.contains("[[machines]]"))
    });
    assert!(listed, "no unknown Pi with its entry on the page: {entry}");
    let entry = entry.as_str().unwrap();
    assert!(
        entry.contains(&format!("name = \"pi-{UNKNOWN_PI_SERIAL}\""))
            && entry.contains("profile = \"pi\""),
        "{entry}"
    );

    // A click shows the Pi's timeline.
    chromium.eval("document.querySelector('#fleet-body tr[data-id=\"pi-known\"]').click(), true");
    let served = format!("TFTP served {PI_SERIAL}/kernel8.img");
    let mut timeline = Value::Null;
    let shown = wait_until(Duration::from_secs(10), || {
        timeline = chromium.eval(
            "document.getElementById('timeline').hidden ? '' : document.getElementById('timeline-events').innerText",
        );
        timeline.as_str().is_some_and(|t| t.contains(&served))
    });
    assert!(shown, "no timeline with {served:?}: {timeline}");
    assert_eq!(
        chromium.eval("window.__sameDocument === true"),
        true,
        "reloaded"
    );

    let png = chromium.screenshot();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "not a real screenshot"
    );
    let artifacts = repo_root().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::write(artifacts.join("status-page.png"), &png).unwrap();
}
