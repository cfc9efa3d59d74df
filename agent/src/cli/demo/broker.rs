//! The demo's embedded MQTT broker: rumqttd on 127.0.0.1, on a thread of its own (rumqttd
//! runs its own runtimes and blocks the thread that starts it). It accepts MQTT 3.1.1 without
//! authentication and lives until the process ends.

use std::net::{SocketAddr, TcpListener};

use anyhow::Context;

/// Starts the broker on a free loopback port; returns its address.
pub(super) fn start() -> anyhow::Result<SocketAddr> {
    // Ask the system for a free port, then hand it to rumqttd (which binds it itself).
    let addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    // Segments bound the broker's memory: at most 4 x 1 MiB of retained log per topic filter.
    let text = format!(
        r#"id = 0
[router]
id = 0
max_connections = 64
max_outgoing_packet_count = 200
max_segment_size = 1048576
max_segment_count = 4

[v4.1]
name = "demo"
listen = "{addr}"
next_connection_delay_ms = 1
  [v4.1.connections]
  connection_timeout_ms = 60000
  max_payload_size = 262144
  max_inflight_count = 200
  dynamic_filters = true
"#
    );
    let config: rumqttd::Config = toml::from_str(&text).context("the broker's config")?;
    let mut broker = rumqttd::Broker::new(config);
    std::thread::Builder::new()
        .name("demo-broker".to_owned())
        .spawn(move || {
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "the embedded MQTT broker stopped");
            }
        })
        .context("the broker's thread")?;
    Ok(addr)
}
