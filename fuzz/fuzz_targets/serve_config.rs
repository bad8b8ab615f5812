//! The `callboard serve` TOML configuration file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(config) = callboard::config::parse_file_config(text) {
        // Listener values are then parsed as socket addresses by the command.
        for value in [&config.tcp, &config.quic, &config.http, &config.amqp].into_iter().flatten() {
            let _ = value.parse::<std::net::SocketAddr>();
        }
    }
});
