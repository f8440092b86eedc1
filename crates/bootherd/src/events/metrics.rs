//! The Prometheus metrics (`prometheus-client`), named by the Prometheus
//! conventions: `bootherd_` prefix, base units in the name, `_total` counters.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    service: &'static str,
    client: &'static str,
    decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransferLabels {
    protocol: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProtocolLabels {
    protocol: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// The proxy's `client` label values (see `firmware_label`).
const PROXY_CLIENTS: [&str; 8] = [
    "rpi_rom",
    "rpi_eeprom",
    "bios_pxe",
    "uefi_pxe",
    "ipxe",
    "uefi_http",
    "uboot",
    "not_boot",
];
/// The DHCP server's `client` label value.
const SERVER_CLIENT: &str = "owned";

/// Every metric, and the registry that encodes them.
pub struct Metrics {
    registry: Registry,
    /// Every (service, client, decision) series, made at start so that counting a
    /// request is one atomic add: the proxy's, by [`PROXY_CLIENTS`] index then
    /// decision (ignored, answered), then the server's two.
    dhcp_requests: Vec<Counter>,
    transfers: Family<TransferLabels, Counter>,
    sent_bytes: Family<ProtocolLabels, Counter>,
    durations: Family<ProtocolLabels, Histogram>,
    reloads: Family<ResultLabels, Counter>,
    pool_addresses: Family<PoolLabels, Gauge>,
    events_dropped: Counter,
    lease_db_up: Gauge,
}

impl Metrics {
    pub(super) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("bootherd");
        let requests = Family::<RequestLabels, Counter>::default();
        let mut dhcp_requests = Vec::new();
        let series = PROXY_CLIENTS
            .iter()
            .map(|client| ("proxy", *client))
            .chain([("server", SERVER_CLIENT)]);
        for (service, client) in series {
            for decision in ["ignored", "answered"] {
                let labels = RequestLabels {
                    service,
                    client,
                    decision,
                };
                dhcp_requests.push(requests.get_or_create_owned(&labels));
            }
        }
        registry.register(
            "dhcp_requests",
            "DHCP requests by service (proxy, server), client kind and decision",
            requests,
        );
        let transfers = Family::<TransferLabels, Counter>::default();
        registry.register(
            "file_transfers",
            "TFTP and HTTP file requests by outcome (served, refused, abandoned)",
            transfers.clone(),
        );
        let sent_bytes = Family::<ProtocolLabels, Counter>::default();
        registry.register_with_unit(
            "file_sent",
            "Bytes of files served whole",
            Unit::Bytes,
            sent_bytes.clone(),
        );
        let durations = Family::<ProtocolLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.001, 4.0, 10))) as fn() -> Histogram,
        );
        registry.register_with_unit(
            "file_transfer_duration",
            "How long files served whole took",
            Unit::Seconds,
            durations.clone(),
        );
        let reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "config_reloads",
            "Configuration reloads by result (ok, error)",
            reloads.clone(),
        );
        let pool_addresses = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "dhcp_pool_addresses",
            "Addresses of each DHCP server pool by state (in_use, free)",
            pool_addresses.clone(),
        );
        let events_dropped = Counter::default();
        registry.register(
            "events_dropped",
            "DHCP events not recorded: past the events budget per second (a storm)",
            events_dropped.clone(),
        );
        let lease_db_up = Gauge::default();
        lease_db_up.set(1);
        registry.register(
            "lease_db_up",
            "1 while the last lease commit succeeded, 0 while the lease database fails",
            lease_db_up.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register("build_info", "The running bootherd's version", build);
        Metrics {
            registry,
            dhcp_requests,
            transfers,
            sent_bytes,
            durations,
            reloads,
            pool_addresses,
            events_dropped,
            lease_db_up,
        }
    }

    /// Sets the lease database gauge: up (commits succeed) or down.
    pub fn set_lease_db_up(&self, up: bool) {
        self.lease_db_up.set(i64::from(up));
    }

    pub(super) fn event_dropped(&self) {
        self.events_dropped.inc();
    }

    /// Counts a request: `client` is one of the proxy's client labels for the
    /// proxy (an unknown one counts as `not_boot`), ignored for the server.
    pub(super) fn dhcp_request(&self, server: bool, client: &str, answered: bool) {
        let series = match server {
            true => PROXY_CLIENTS.len(),
            false => PROXY_CLIENTS
                .iter()
                .position(|c| *c == client)
                .unwrap_or(PROXY_CLIENTS.len() - 1),
        };
        self.dhcp_requests[series * 2 + usize::from(answered)].inc();
    }

    pub(super) fn file(&self, protocol: &'static str, outcome: &'static str, bytes: u64, ms: u64) {
        self.transfers
            .get_or_create(&TransferLabels { protocol, outcome })
            .inc();
        if outcome == "served" {
            let labels = ProtocolLabels { protocol };
            self.sent_bytes.get_or_create(&labels).inc_by(bytes);
            self.durations
                .get_or_create(&labels)
                .observe(ms as f64 / 1000.0);
        }
    }

    pub(super) fn reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.reloads.get_or_create(&ResultLabels { result }).inc();
    }

    /// Sets the pool gauges: `(pool, in use, free)` for each pool now.
    pub fn set_pools(&self, pools: impl IntoIterator<Item = (String, u64, u64)>) {
        self.pool_addresses.clear();
        for (pool, in_use, free) in pools {
            for (state, n) in [("in_use", in_use), ("free", free)] {
                self.pool_addresses
                    .get_or_create(&PoolLabels {
                        pool: pool.clone(),
                        state,
                    })
                    .set(n as i64);
            }
        }
    }

    /// The metrics in the OpenMetrics text format (what Prometheus asks for).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// The metrics in the Prometheus text format 0.0.4, for clients that do not
    /// ask for OpenMetrics (curl, `promtool check metrics`).
    pub fn encode_text(&self) -> String {
        to_text_format(&self.encode())
    }
}

/// OpenMetrics text to the Prometheus text format 0.0.4: a counter's HELP and
/// TYPE name its samples' `_total` name, and there is no UNIT or EOF line.
pub fn to_text_format(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(line) => out.push_str(&line),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}
