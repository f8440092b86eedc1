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
