//! TLS and credentials against a real Mosquitto: certificates made by
//! `openssl` in the test, a TLS listener that requires a client certificate,
//! and a password file made by `mosquitto_passwd`.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Result};
use e2e_tests::mosquitto::certs::TestCerts;
use e2e_tests::mosquitto::{Mosquitto, MosquittoOptions, TlsListener};
use e2e_tests::mqtt_fixture::{
    append, open_spool, sink_config, wait_spool_empty, RunningSink, SeqReport, GATEWAY,
};
use e2e_tests::mqtt_subscriber::Subscriber;
use edge_agent::mqtt::{MqttConfig, MqttError, MqttSink, Secret, TlsConfig};
use edge_agent::spool::Priority;

const WAIT: Duration = Duration::from_secs(15);

async fn tls_broker(certs: &TestCerts) -> Result<Mosquitto> {
    Mosquitto::start_with(MosquittoOptions {
        tls: Some(TlsListener {
            ca_file: certs.ca_cert.clone(),
            cert_file: certs.server_cert.clone(),
            key_file: certs.server_key.clone(),
            require_certificate: true,
        }),
        password_file: None,
    })
    .await
}

fn tls_config(port: u16, ca: &Path, client: Option<&TestCerts>) -> MqttConfig {
    let mut config = sink_config(port);
    config.tls = Some(TlsConfig {
        ca_file: ca.to_owned(),
        client_cert: client.map(|c| c.client_cert.clone()),
        client_key: client.map(|c| c.client_key.clone()),
    });
    config
}

#[test]
fn the_tls_config_loads_a_ca_file_and_names_the_file_that_is_wrong() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let certs = TestCerts::generate(dir.path())?;
    let spool_dir = tempfile::tempdir()?;
    let spool = open_spool(spool_dir.path())?;

    let good = tls_config(8883, &certs.ca_cert, Some(&certs));
    MqttSink::new(&good, GATEWAY, spool.clone())?;
    let ca_only = tls_config(8883, &certs.ca_cert, None);
    MqttSink::new(&ca_only, GATEWAY, spool.clone())?;

    let not_a_ca = tls_config(8883, &certs.server_key, None);
    match MqttSink::new(&not_a_ca, GATEWAY, spool.clone()) {
        Err(MqttError::Tls {
            key: "tls.ca_file", ..
        }) => {}
        other => bail!("a key file as CA: {other:?}"),
    }
    let mut no_key = tls_config(8883, &certs.ca_cert, Some(&certs));
    if let Some(tls) = no_key.tls.as_mut() {
        tls.client_key = Some(dir.path().join("missing.key"));
    }
    match MqttSink::new(&no_key, GATEWAY, spool.clone()) {
        Err(
            error @ MqttError::ReadFile {
                key: "tls.client_key",
                ..
            },
        ) => {
            assert!(error.to_string().contains("missing.key"), "{error}");
        }
        other => bail!("a missing key file: {other:?}"),
    }
    let mut cert_as_key = tls_config(8883, &certs.ca_cert, Some(&certs));
    if let Some(tls) = cert_as_key.tls.as_mut() {
        tls.client_key = Some(certs.client_cert.clone());
    }
    match MqttSink::new(&cert_as_key, GATEWAY, spool) {
        Err(MqttError::Tls {
            key: "tls.client_key",
            ..
        }) => {}
        other => bail!("a certificate as key: {other:?}"),
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sink_drains_over_tls_with_a_client_certificate() -> Result<()> {
    let cert_dir = tempfile::tempdir()?;
    let certs = TestCerts::generate(cert_dir.path())?;
    let broker = tls_broker(&certs).await?;
    let tls_port = broker.tls_port().expect("tls listener");
    let subscriber = Subscriber::connect(broker.port(), "tls-sub", "edge/test-gw/#", false).await?;
    let dir = tempfile::tempdir()?;
    let spool = open_spool(dir.path())?;
    let seqs = append(&spool, Priority::Telemetry, 1_000).await?;

    let sink = RunningSink::start(&tls_config(tls_port, &certs.ca_cert, Some(&certs)), &spool)?;
    subscriber
        .wait_until("every seq", Duration::from_secs(60), |r| {
            SeqReport::of(r, &seqs).missing.is_empty()
        })
        .await?;
    wait_spool_empty(&spool, Duration::from_secs(30)).await?;
    let stats = sink.stats.snapshot();
    sink.stop().await?;
    SeqReport::of(&subscriber.received(), &seqs).assert_complete();
    assert_eq!(stats.connection_errors, 0, "{stats:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_certificate_from_another_ca_is_refused() -> Result<()> {
    let cert_dir = tempfile::tempdir()?;
    let certs = TestCerts::generate(cert_dir.path())?;
    let other_dir = tempfile::tempdir()?;
    let other = TestCerts::generate(other_dir.path())?;
    let broker = tls_broker(&certs).await?;
    let dir = tempfile::tempdir()?;
    let spool = open_spool(dir.path())?;
    let config = tls_config(
        broker.tls_port().expect("tls"),
        &other.ca_cert,
        Some(&certs),
    );
    let sink = RunningSink::start(&config, &spool)?;
    sink.wait_until("failed handshakes", WAIT, |s| s.connection_errors >= 2)
        .await?;
    let stats = sink.stats.snapshot();
    sink.stop().await?;
    assert_eq!(stats.connections, 0, "{stats:?}");
    let error = stats.last_error.unwrap_or_default();
    assert!(
        error.contains("certificate") || error.contains("UnknownIssuer"),
        "{error}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_without_a_client_certificate_is_refused_when_the_broker_requires_one() -> Result<()>
{
    let cert_dir = tempfile::tempdir()?;
    let certs = TestCerts::generate(cert_dir.path())?;
    let broker = tls_broker(&certs).await?;
    let dir = tempfile::tempdir()?;
    let spool = open_spool(dir.path())?;
    let config = tls_config(broker.tls_port().expect("tls"), &certs.ca_cert, None);
    let sink = RunningSink::start(&config, &spool)?;
    sink.wait_until("refused connections", WAIT, |s| s.connection_errors >= 2)
        .await?;
    let stats = sink.stats.snapshot();
    sink.stop().await?;
    assert_eq!(stats.connections, 0, "{stats:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_from_a_file_is_accepted_and_a_wrong_one_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let passwords = dir.path().join("passwords");
    let status = std::process::Command::new("mosquitto_passwd")
        .arg("-c")
        .arg("-b")
        .arg(&passwords)
        .args(["gateway", "correct horse"])
        .status()?;
    assert!(status.success(), "mosquitto_passwd");
    let broker = Mosquitto::start_with(MosquittoOptions {
        tls: None,
        password_file: Some(passwords),
    })
    .await?;
    let password_file = dir.path().join("mqtt.password");
    std::fs::write(&password_file, "correct horse\n")?;
    let spool = open_spool(dir.path())?;
    let seqs = append(&spool, Priority::Telemetry, 100).await?;

    let mut wrong = sink_config(broker.port());
    wrong.username = Some("gateway".to_owned());
    wrong.password = Some(Secret("battery staple".to_owned()));
    let sink = RunningSink::start(&wrong, &spool)?;
    sink.wait_until("refused logins", WAIT, |s| s.connection_errors >= 2)
        .await?;
    let stats = sink.stats.snapshot();
    sink.stop().await?;
    assert_eq!(stats.connections, 0, "{stats:?}");

    let mut right = sink_config(broker.port());
    right.username = Some("gateway".to_owned());
    right.password_file = Some(password_file);
    let sink = RunningSink::start(&right, &spool)?;
    wait_spool_empty(&spool, Duration::from_secs(30)).await?;
    let stats = sink.stats.snapshot();
    sink.stop().await?;
    assert_eq!(stats.acked, seqs.len() as u64, "{stats:?}");
    Ok(())
}

/// `deploy/mosquitto/mosquitto.conf` as shipped, with its paths and ports
/// replaced by the test's: every replaced line must be there, so the test
/// notices when the example changes shape.
fn shipped_broker_config(
    dir: &Path,
    port: u16,
    tls_port: u16,
    certs: &TestCerts,
    passwords: &Path,
) -> Result<String> {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/mosquitto");
    let mut text = std::fs::read_to_string(deploy.join("mosquitto.conf"))?;
    let replacements = [
        (
            "/var/lib/mosquitto/".to_owned(),
            format!("{}/", dir.join("data").display()),
        ),
        (
            "/etc/mosquitto/passwd".to_owned(),
            passwords.display().to_string(),
        ),
        (
            "/etc/mosquitto/acl".to_owned(),
            deploy.join("acl").display().to_string(),
        ),
        (
            "/etc/mosquitto/certs/plant-ca.crt".to_owned(),
            certs.ca_cert.display().to_string(),
        ),
        (
            "/etc/mosquitto/certs/broker.crt".to_owned(),
            certs.server_cert.display().to_string(),
        ),
        (
            "/etc/mosquitto/certs/broker.key".to_owned(),
            certs.server_key.display().to_string(),
        ),
        (
            "listener 8883\n".to_owned(),
            format!("listener {tls_port} 127.0.0.1\n"),
        ),
        (
            "listener 1883 127.0.0.1\n".to_owned(),
            format!("listener {port} 127.0.0.1\n"),
        ),
        (
            "log_dest syslog\n".to_owned(),
            format!("log_dest file {}\n", dir.join("mosquitto.log").display()),
        ),
    ];
    for (from, to) in replacements {
        if !text.contains(&from) {
            bail!("deploy/mosquitto/mosquitto.conf no longer contains {from:?}");
        }
        text = text.replace(&from, &to);
    }
    if e2e_tests::mosquitto::running_as_root() {
        text.push_str("user root\n");
    }
    Ok(text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_broker_config_takes_a_gateway_over_tls_and_the_bridge_reads_it() -> Result<()>
{
    let dir = tempfile::tempdir()?;
    let certs = TestCerts::generate(dir.path())?;
    let passwords = dir.path().join("passwd");
    for (i, (user, password)) in [("test-gw", "gw secret"), ("kafka-bridge", "bridge secret")]
        .into_iter()
        .enumerate()
    {
        let mut command = std::process::Command::new("mosquitto_passwd");
        if i == 0 {
            command.arg("-c");
        }
        let status = command
            .arg("-b")
            .arg(&passwords)
            .args([user, password])
            .status()?;
        assert!(status.success(), "mosquitto_passwd {user}");
    }
    let broker = Mosquitto::start_custom(true, |broker_dir, port, tls_port| {
        shipped_broker_config(
            broker_dir,
            port,
            tls_port.expect("tls port"),
            &certs,
            &passwords,
        )
    })
    .await?;
    let bridge = Subscriber::connect_as(
        broker.port(),
        "kafka-bridge",
        "edge/#",
        false,
        Some(("kafka-bridge", "bridge secret")),
    )
    .await?;
    let spool_dir = tempfile::tempdir()?;
    let spool = open_spool(spool_dir.path())?;
    let seqs = append(&spool, Priority::Telemetry, 500).await?;
    let mut config = tls_config(broker.tls_port().expect("tls"), &certs.ca_cert, None);
    config.username = Some(GATEWAY.to_owned());
    config.password = Some(Secret("gw secret".to_owned()));
    let sink = RunningSink::start(&config, &spool)?;
    bridge
        .wait_until("every seq at the bridge", Duration::from_secs(60), |r| {
            SeqReport::of(r, &seqs).missing.is_empty()
        })
        .await?;
    wait_spool_empty(&spool, Duration::from_secs(30)).await?;
    sink.stop().await?;
    let received = bridge.received();
    SeqReport::of(&received, &seqs).assert_complete();
    assert!(
        received.iter().any(|m| m.topic == "edge/test-gw/status"),
        "the bridge sees the status"
    );
    Ok(())
}
