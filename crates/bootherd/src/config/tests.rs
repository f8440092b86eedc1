use super::*;
use std::net::Ipv4Addr;

#[test]
fn empty_file_gives_defaults() {
    assert_eq!(Config::parse("").unwrap(), Config::defaults());
}

#[test]
fn full_file_parses() {
    let c = Config::parse(
        r#"
[net]
interfaces = ["eth0"]
listen = ["10.0.0.1"]
[tftp]
root = "/srv/tftp"
port = 6969
max_transfers = 64
max_blksize = 1468
max_windowsize = 16
timeout_ms = 500
retries = 3
[http]
port = 8080
root = "/srv/http"
"#,
    )
    .unwrap();
    assert_eq!(c.net.interfaces, ["eth0"]);
    assert_eq!(c.net.listen, [Ipv4Addr::new(10, 0, 0, 1)]);
    assert_eq!(c.tftp.port, 6969);
    assert_eq!(c.tftp.max_blksize, 1468);
    assert_eq!(c.http.root.as_deref(), Some(Path::new("/srv/http")));
}

#[test]
fn unknown_key_names_line_and_key() {
    let err = Config::parse("[tftp]\nport = 69\nrot = \"/x\"\n").unwrap_err();
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("rot"), "{err}");
}

#[test]
fn wrong_type_is_an_error() {
    let err = Config::parse("[tftp]\nport = \"sixty-nine\"\n").unwrap_err();
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn service_section_parses_and_is_checked() {
    let c = Config::parse("[service]\nuser = \"nobody\"\ngroup = \"nogroup\"\n").unwrap();
    assert_eq!(c.service.user.as_deref(), Some("nobody"));
    assert_eq!(c.service.group.as_deref(), Some("nogroup"));
    assert_eq!(c.service.shutdown_grace_ms, 5000);
    let mut c = Config::defaults();
    c.tftp.root = std::env::temp_dir();
    c.service.shutdown_grace_ms = 600_001;
    let err = c.validate(Path::new("x.toml")).unwrap_err().to_string();
    assert!(err.contains("service.shutdown_grace_ms"), "{err}");
    c.service.shutdown_grace_ms = 600_000;
    c.service.user = Some("no-such-user-bootherd".into());
    let err = c.validate(Path::new("x.toml")).unwrap_err().to_string();
    assert!(
        err.starts_with("x.toml: service.user: no user named"),
        "{err}"
    );
    c.service.user = None;
    c.validate(Path::new("x.toml")).unwrap();
}

#[test]
fn validate_catches_bad_values() {
    let mut c = Config::defaults();
    c.tftp.root = std::env::temp_dir();
    c.tftp.max_blksize = 4;
    let err = c.validate(Path::new("x.toml")).unwrap_err().to_string();
    assert!(err.contains("tftp.max_blksize"), "{err}");
    c.tftp.max_blksize = 1468;
    c.tftp.root = PathBuf::from("/nonexistent/bootherd");
    let err = c.validate(Path::new("x.toml")).unwrap_err().to_string();
    assert!(err.contains("tftp.root"), "{err}");
}

#[test]
fn http_limits_parse_and_bad_ones_are_refused() {
    let c = Config::parse(
        "[http]\nmax_connections = 100\nmax_connections_per_client = 4\n\
         header_timeout_ms = 2000\nidle_timeout_ms = 5000\nmax_request_bytes = 8192\n",
    )
    .unwrap();
    assert_eq!(
        (
            c.http.max_connections,
            c.http.max_connections_per_client,
            c.http.header_timeout_ms,
            c.http.idle_timeout_ms,
            c.http.max_request_bytes
        ),
        (100, 4, 2000, 5000, 8192)
    );
    assert_eq!(c.http.check_limits(), Ok(()));
    assert_eq!(HttpConfig::default().check_limits(), Ok(()));
    let refused = |edit: fn(&mut HttpConfig), key: &str| {
        let mut c = Config::defaults();
        c.tftp.root = std::env::temp_dir();
        edit(&mut c.http);
        let err = c.validate(Path::new("x.toml")).unwrap_err().to_string();
        assert!(err.starts_with(&format!("x.toml: {key}: ")), "{err}");
        err
    };
    refused(|h| h.max_connections = 0, "http.max_connections");
    refused(|h| h.max_connections = 10_000_000, "http.max_connections");
    refused(
        |h| h.max_connections_per_client = 0,
        "http.max_connections_per_client",
    );
    let err = refused(
        |h| h.max_connections_per_client = 513,
        "http.max_connections_per_client",
    );
    assert!(err.contains("cannot exceed http.max_connections"), "{err}");
    refused(|h| h.header_timeout_ms = 0, "http.header_timeout_ms");
    refused(
        |h| h.header_timeout_ms = 86_400_000,
        "http.header_timeout_ms",
    );
    refused(|h| h.idle_timeout_ms = 0, "http.idle_timeout_ms");
    refused(|h| h.max_request_bytes = 10, "http.max_request_bytes");
    refused(|h| h.max_request_bytes = 1 << 30, "http.max_request_bytes");
}
