//! Where things are: the workspace, the built `edge-agent` binary, the Python with the
//! third-party peers, a free loopback port.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `edge-agent` binary, built (debug) once per test process.
pub fn edge_agent_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let mut build = Command::new(env!("CARGO"));
            build
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "edge-agent",
                    "--bin",
                    "edge-agent",
                ])
                .current_dir(workspace());
            // `cargo test` sets these for the test crate; a build script that watches one
            // (ring's watches CARGO_MANIFEST_DIR) would otherwise see it change and rebuild
            // ring, rustls and everything above them, about a minute, once per test binary.
            for (key, _) in std::env::vars_os() {
                let key = key.to_string_lossy();
                if key.starts_with("CARGO_PKG_")
                    || matches!(
                        key.as_ref(),
                        "CARGO_MANIFEST_DIR"
                            | "CARGO_MANIFEST_PATH"
                            | "CARGO_CRATE_NAME"
                            | "CARGO_PRIMARY_PACKAGE"
                            | "CARGO_TARGET_TMPDIR"
                            | "OUT_DIR"
                    )
                {
                    build.env_remove(key.as_ref());
                }
            }
            let status = build.status().expect("cargo runs");
            assert!(status.success(), "edge-agent builds");
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| workspace().join("target"), PathBuf::from);
            target.join("debug/edge-agent")
        })
        .clone()
}

/// The Python with the test peers (pymodbus): `EDGE_TEST_PYTHON`, else `.tools/venv`.
pub fn python() -> PathBuf {
    let python = std::env::var_os("EDGE_TEST_PYTHON")
        .map_or_else(|| workspace().join(".tools/venv/bin/python"), PathBuf::from);
    assert!(
        python.exists(),
        "no Python with the test peers at {}: run ./scripts/setup-test-deps.sh (scripts/test.sh does)",
        python.display()
    );
    python
}

/// A loopback port that was free a moment ago (for peers that cannot report the port they
/// bound themselves).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}
