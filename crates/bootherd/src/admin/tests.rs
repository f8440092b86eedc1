use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

use super::*;
use crate::events::Identity;
use crate::inventory::tests::parse;
use crate::inventory::Mac;

fn state(token: Option<&str>) -> AdminState {
    AdminState {
        server: None,
        token: token.map(Into::into),
    }
}

async fn get(state: AdminState, path: &str, auth: Option<&str>) -> (StatusCode, String) {
    let mut request = Request::get(path);
    if let Some(auth) = auth {
        request = request.header(header::AUTHORIZATION, auth);
    }
    let response = router(state)
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn with_a_token_every_route_wants_it_and_says_nothing_else() {
    for path in [
        "/metrics",
        "/api/v1/machines",
        "/api/v1/machines/x",
        "/api/v1/unknown",
        "/api/v1/leases",
    ] {
        for auth in [None, Some("Bearer wrong"), Some("Basic c2VjcmV0")] {
            let (status, body) = get(state(Some("secret")), path, auth).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} {auth:?}");
            assert_eq!(body, "a bearer token is required\n");
        }
        let (status, _) = get(state(Some("secret")), path, Some("Bearer secret")).await;
        assert_ne!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[tokio::test]
async fn without_a_token_the_api_answers() {
    let (status, body) = get(state(None), "/api/v1/leases", None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "[]"));
    let (status, body) = get(state(None), "/api/v1/machines/nobody", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("no machine named nobody"), "{body}");
}

#[test]
fn a_machines_entry_for_an_unknown_pi_names_its_serial_mac_and_an_rpi_profile() {
    let inventory = parse(
        "[profiles.board]\nkind = \"pxelinux\"\nkernel = \"Image\"\ncmdline = \"\"\n\
         [profiles.pis]\nkind = \"rpi\"\ncmdline = \"\"\n",
    )
    .unwrap();
    let id = Identity {
        client: Some("Raspberry Pi 4 EEPROM"),
        rpi_serial: Some("1234abcd".into()),
        ..Identity::default()
    };
    let mac = Mac([0xdc, 0xa6, 0x32, 1, 2, 3]);
    let entry = api::machines_entry(&inventory, mac, &id);
    assert_eq!(
        entry,
        "[[machines]]\nname = \"pi-1234abcd\"\nmac = \"dc:a6:32:01:02:03\"\n\
         serial = \"1234abcd\"\nprofile = \"pis\"\n"
    );
    // The entry is a valid inventory with that profile.
    let sections = format!("[profiles.pis]\nkind = \"rpi\"\ncmdline = \"\"\n{entry}");
    let parsed = parse(&sections).unwrap();
    assert_eq!(parsed.by_serial("1234abcd").unwrap().mac, Some(mac));
    // No profile of the kind: a placeholder says so.
    let uboot = Identity {
        client: Some("U-Boot"),
        ..Identity::default()
    };
    let entry = api::machines_entry(&parse("").unwrap(), mac, &uboot);
    assert!(entry.contains("name = \"board-dca632010203\""), "{entry}");
    assert!(entry.contains("profile = \"CHANGE-ME\""), "{entry}");
}

#[test]
fn the_text_format_names_counters_by_their_samples_and_has_no_unit_or_eof() {
    let openmetrics = "# HELP x_bytes Bytes.\n# TYPE x_bytes counter\n# UNIT x_bytes bytes\n\
                       x_bytes_total 3\n# HELP g A gauge.\n# TYPE g gauge\ng 1\n# EOF\n";
    assert_eq!(
        crate::events::to_text_format(openmetrics),
        "# HELP x_bytes_total Bytes.\n# TYPE x_bytes_total counter\nx_bytes_total 3\n\
         # HELP g A gauge.\n# TYPE g gauge\ng 1\n"
    );
}

async fn open(state: AdminState, path: &str, auth: Option<&str>) -> axum::response::Response {
    let mut request = Request::get(path);
    if let Some(auth) = auth {
        request = request.header(header::AUTHORIZATION, auth);
    }
    router(state)
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

/// The stream's messages until one contains `until` (bounded: 10 s).
async fn read_until(body: Body, until: &str) -> String {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut text = String::new();
    let read = async {
        while !text.contains(until) {
            match stream.next().await {
                Some(Ok(chunk)) => text.push_str(&String::from_utf8_lossy(&chunk)),
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), read).await;
    text
}

#[tokio::test]
async fn the_event_stream_wants_the_token_like_the_rest() {
    for auth in [None, Some("Bearer wrong")] {
        let response = open(state(Some("secret")), "/api/v1/events", auth).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = open(
        state(Some("secret")),
        "/api/v1/events",
        Some("Bearer secret"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
}

#[tokio::test]
async fn the_event_stream_shows_one_machines_events_as_they_are_recorded() {
    let ours = Mac([0x02, 0xee, 0x5e, 0, 0, 1]);
    let other = Mac([0x02, 0xee, 0x5e, 0, 0, 2]);
    let response = open(state(None), &format!("/api/v1/events?machine={ours}"), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let hub = crate::events::hub();
    hub.lease(
        other.0,
        crate::events::LeaseChange::Granted,
        "10.9.9.2".parse().unwrap(),
    );
    hub.lease(
        ours.0,
        crate::events::LeaseChange::Granted,
        "10.9.9.1".parse().unwrap(),
    );
    let text = read_until(response.into_body(), "\n\n").await;
    let data = text.strip_prefix("data: ").expect(&text).trim_end();
    let json: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(json["kind"], "lease", "{data}");
    assert_eq!(json["mac"], ours.to_string(), "{data}");
    assert_eq!(json["ip"], "10.9.9.1", "{data}");
    // Nothing names an unknown name.
    let response = open(state(None), "/api/v1/events?machine=nobody", None).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_slow_reader_of_the_stream_loses_events_and_is_told_without_slowing_recording() {
    let mac = Mac([0x02, 0xee, 0x5e, 0, 0, 3]);
    let response = open(state(None), &format!("/api/v1/events?machine={mac}"), None).await;
    let hub = crate::events::hub();
    // Recorded while nobody reads the stream: the recording does not wait.
    let started = std::time::Instant::now();
    let n = crate::events::LIVE_EVENTS as u32 + 100;
    for i in 0..n {
        let ip = std::net::Ipv4Addr::from(0x0a0a_0000 + i);
        hub.lease(mac.0, crate::events::LeaseChange::Granted, ip);
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    let text = read_until(response.into_body(), "\"ip\":\"").await;
    assert!(
        text.starts_with("event: dropped\ndata: {\"dropped\":"),
        "{text}"
    );
    assert!(text.contains("read too slowly"), "{text}");
    // Then the stream goes on with the newest events.
    assert!(text.contains("\"kind\":\"lease\""), "{text}");
}

async fn get_with(
    state: AdminState,
    path: &str,
    headers: &[(&str, &str)],
) -> axum::response::Response {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    router(state)
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_browser_passes_the_token_once_in_the_address_and_then_by_cookie() {
    let secret = Some("s3cret; =token");
    let response = get_with(state(secret), "/?token=s3cret%3B%20%3Dtoken", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "./");
    let cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    for path in ["/", "/page.js", "/api/v1/machines", "/api/v1/events"] {
        let response = get_with(state(secret), path, &[("cookie", &format!("a=b; {pair}"))]).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    // A wrong token in the address or the cookie, or none: 401 and nothing else.
    for (path, headers) in [
        ("/?token=wrong", vec![]),
        ("/", vec![("cookie", "bootherd_admin_token=wrong")]),
        ("/", vec![]),
        ("/page.js", vec![]),
    ] {
        let response = get_with(state(secret), path, &headers).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{path} {headers:?}"
        );
        assert!(response.headers().get(header::SET_COOKIE).is_none());
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        assert_eq!(&body[..], b"a bearer token is required\n");
    }
    // The bearer header works for the page too.
    let response = get_with(
        state(secret),
        "/",
        &[("authorization", "Bearer s3cret; =token")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_page_escapes_what_came_off_the_wire_and_allows_no_outside_resource() {
    use crate::events::{hub, now_ms, Event, Via, What};
    let mac = Mac([0x02, 0xee, 0x5e, 0, 0, 4]);
    let hostile = "<script>alert(\"x\")</script>' onmouseover=";
    let request = What::DhcpRequest {
        via: Via::Proxy,
        message: "DISCOVER",
        client: "U-Boot",
        arch: None,
        vendor_class: Some(hostile.to_owned()),
        rpi_serial: None,
        rpi_model: None,
        relay: None,
    };
    {
        let mut store = hub().store();
        store.seen_dhcp(mac, None, &request, now_ms());
        store.push(Event {
            at_ms: now_ms(),
            mac: Some(mac),
            addr: None,
            what: request,
        });
        store.push(Event {
            at_ms: now_ms(),
            mac: Some(mac),
            addr: None,
            what: What::FileRequested {
                protocol: crate::events::Protocol::Tftp,
                path: "<img src=x onerror=alert(1)>".into(),
            },
        });
    }
    let (status, html) = get(state(None), "/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(&mac.to_string()),
        "the unknown client is listed"
    );
    assert!(
        !html.contains("<script>alert") && !html.contains("<img"),
        "{html}"
    );
    assert!(
        html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;&#x2f;script&gt;&#x27; onmouseover="),
        "{html}"
    );
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{html}"
    );
    // Its script and style are the listener's own; the policy allows nothing else.
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    let response = open(state(None), "/", None).await;
    let policy = response.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        policy.starts_with("default-src 'none'; script-src 'self';"),
        "{policy}"
    );
    let (status, script) = get(state(None), "/page.js", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(script.contains("new EventSource(\"api/v1/events\")"));
    assert!(
        !script.contains("innerHTML"),
        "page.js puts text, never HTML"
    );
}
