//! From a validated [`MqttConfig`] to rumqttc's options: reads the password and
//! the TLS files once, when the sink is built, so that every mistake in them is
//! reported at startup with the key and the file, not at the first connection.
//!
//! TLS uses rustls through rumqttc (its default `use-rustls` feature): the CA
//! file is the only trust anchor (the system's CAs are not loaded), the
//! broker's certificate must name `host` (a DNS name or an IP address in its
//! subjectAltName), and a client certificate is sent when configured.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::tokio_rustls::rustls::{
    self,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
};
use rumqttc::{LastWill, MqttOptions, NetworkOptions, QoS, TlsConfiguration, Transport};

use super::config::{MqttConfig, TlsConfig};
use super::error::MqttError;

/// The payload of the retained status message while the sink is connected.
pub const STATUS_ONLINE: &str = "online";
/// The payload of the last will, and of the status message on a clean shutdown.
pub const STATUS_OFFLINE: &str = "offline";

/// rumqttc's options and network options for this configuration.
pub(crate) fn build(
    config: &MqttConfig,
    client_id: &str,
    status_topic: &str,
) -> Result<(MqttOptions, NetworkOptions), MqttError> {
    let mut options = MqttOptions::new(client_id, config.host.clone(), config.effective_port());
    options.set_keep_alive(config.keep_alive);
    // Clean session: the spool, not the broker or rumqttc, holds what is
    // unacknowledged (see the module documentation).
    options.set_clean_session(true);
    options.set_inflight(config.max_inflight);
    // The sink's requests in the channel are a subset of what is in flight,
    // plus the status message and a disconnect.
    options.set_request_channel_capacity(usize::from(config.max_inflight) + 4);
    let packet = config.max_packet_size as usize;
    options.set_max_packet_size(packet.max(64 * 1024), packet);
    options.set_last_will(LastWill::new(
        status_topic,
        STATUS_OFFLINE,
        QoS::AtLeastOnce,
        true,
    ));
    set_credentials_and_tls(&mut options, config)?;
    Ok((options, network_options(config)))
}

/// The username and password, and TLS, of `config` (files are read here). Shared with the
/// bridge's MQTT client.
pub(crate) fn set_credentials_and_tls(
    options: &mut MqttOptions,
    config: &MqttConfig,
) -> Result<(), MqttError> {
    if let Some(username) = &config.username {
        let password = match (&config.password, &config.password_file) {
            (Some(secret), _) => secret.0.clone(),
            (None, Some(path)) => read_password(path)?,
            (None, None) => String::new(),
        };
        options.set_credentials(username.clone(), password);
    }
    if let Some(tls) = &config.tls {
        let client_config = rustls_config(tls)?;
        options.set_transport(Transport::Tls(TlsConfiguration::Rustls(Arc::new(
            client_config,
        ))));
    }
    Ok(())
}

/// The connection timeout of `config`, as rumqttc's network options.
pub(crate) fn network_options(config: &MqttConfig) -> NetworkOptions {
    let mut network = NetworkOptions::new();
    network.set_connection_timeout(whole_seconds(config.connect_timeout));
    network
}

/// Rounds up to whole seconds, at least 1 (rumqttc counts in seconds).
fn whole_seconds(duration: Duration) -> u64 {
    let secs = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    secs.max(1)
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, MqttError> {
    std::fs::read(path).map_err(|source| MqttError::ReadFile {
        key,
        path: path.to_owned(),
        source,
    })
}

pub(crate) fn read_password(path: &Path) -> Result<String, MqttError> {
    let bytes = read("password_file", path)?;
    let text = String::from_utf8(bytes).map_err(|_| MqttError::Tls {
        key: "password_file",
        path: path.to_owned(),
        reason: "is not UTF-8".to_owned(),
    })?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

/// The rustls client configuration of `[mqtt.tls]`; every file is parsed here.
pub(crate) fn rustls_config(tls: &TlsConfig) -> Result<rustls::ClientConfig, MqttError> {
    let bad = |key: &'static str, path: &Path, reason: String| MqttError::Tls {
        key,
        path: path.to_owned(),
        reason,
    };
    let ca = read("tls.ca_file", &tls.ca_file)?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&ca) {
        let cert = cert.map_err(|e| bad("tls.ca_file", &tls.ca_file, format!("bad PEM: {e}")))?;
        roots.add(cert).map_err(|e| {
            bad(
                "tls.ca_file",
                &tls.ca_file,
                format!("not a usable CA certificate: {e}"),
            )
        })?;
    }
    if roots.is_empty() {
        return Err(bad(
            "tls.ca_file",
            &tls.ca_file,
            "contains no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned(),
        ));
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let config = match (&tls.client_cert, &tls.client_key) {
        (Some(cert_path), Some(key_path)) => {
            let pem = read("tls.client_cert", cert_path)?;
            let chain = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad("tls.client_cert", cert_path, format!("bad PEM: {e}")))?;
            if chain.is_empty() {
                return Err(bad(
                    "tls.client_cert",
                    cert_path,
                    "contains no PEM certificate".to_owned(),
                ));
            }
            let pem = read("tls.client_key", key_path)?;
            let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
                bad(
                    "tls.client_key",
                    key_path,
                    format!("no PKCS#8, PKCS#1 or SEC1 private key: {e}"),
                )
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                bad(
                    "tls.client_key",
                    key_path,
                    format!("does not go with client_cert: {e}"),
                )
            })?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds(Duration::from_secs(10)), 10);
    }

    #[test]
    fn a_missing_ca_file_names_the_key_and_the_path() {
        let tls = TlsConfig {
            ca_file: "/nonexistent/ca.pem".into(),
            client_cert: None,
            client_key: None,
        };
        let error = rustls_config(&tls).expect_err("missing file");
        let text = error.to_string();
        assert!(
            text.contains("tls.ca_file") && text.contains("/nonexistent/ca.pem"),
            "{text}"
        );
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").expect("write");
        let tls = TlsConfig {
            ca_file: path,
            client_cert: None,
            client_key: None,
        };
        let error = rustls_config(&tls).expect_err("no certificate");
        assert!(error.to_string().contains("no PEM certificate"), "{error}");
    }

    #[test]
    fn the_password_file_loses_its_trailing_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\n").expect("write");
        assert_eq!(read_password(&path).expect("read"), "s3cret");
    }

    #[test]
    fn the_last_will_and_credentials_are_set() {
        let mut config = MqttConfig::new("127.0.0.1");
        config.username = Some("gw".to_owned());
        config.password = Some(super::super::config::Secret("pw".to_owned()));
        let (options, _) = build(&config, "cid", "edge/gw/status").expect("builds");
        let will = options.last_will().expect("will");
        assert_eq!(will.topic, "edge/gw/status");
        assert_eq!(&will.message[..], b"offline");
        assert!(will.retain);
        assert_eq!(will.qos, QoS::AtLeastOnce);
        assert_eq!(
            options.credentials(),
            Some(("gw".to_owned(), "pw".to_owned()))
        );
        assert!(options.clean_session());
        assert_eq!(options.inflight(), 100);
    }
}
