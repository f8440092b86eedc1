//! Any text as a configuration file: parsing, `validate` (what `check` and
//! `serve` run), the inventory and the DHCP server's configuration either
//! succeed or return an error; none of them panics.
#![no_main]

use std::path::Path;

use bootherd::config::Config;
use bootherd::dhcp::server::server_config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = Config::parse(text) else {
        return;
    };
    let origin = Path::new("fuzz.toml");
    // Paths in the text are looked up (read-only) relative to the working
    // directory; the verdict does not matter here, only that there is one.
    let _ = config.validate(origin);
    if let Ok(inventory) = config.inventory(origin) {
        let _ = server_config(&config.dhcp, &inventory, None);
    }
});
