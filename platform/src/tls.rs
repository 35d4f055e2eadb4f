//! TLS: the API's HTTPS certificate, and encrypted connections to PostgreSQL.
//!
//! Both use rustls with the aws-lc-rs provider (the one reqwest brings), chosen explicitly
//! rather than installed process-wide.
//!
//! **PostgreSQL.** tokio-postgres understands `sslmode=disable|prefer|require` but neither
//! `verify-ca` nor `verify-full` nor `sslrootcert`, so [`postgres`] reads those from the URL
//! first, with libpq's meanings:
//!
//! | `sslmode` | encrypted | server certificate checked |
//! | --- | --- | --- |
//! | absent, `disable`, `prefer` | no (as before: no TLS is attempted) | — |
//! | `require` | yes | no (libpq's `require`), unless `sslrootcert` is given: then as `verify-ca` |
//! | `verify-ca` | yes | chain to a trusted root |
//! | `verify-full` | yes | chain to a trusted root, and the host name |
//!
//! `sslrootcert=PATH` names a PEM file of trusted roots; without it, or with
//! `sslrootcert=system`, the system's roots are used (a managed database's CA is usually
//! among them, or comes as a file from the provider).

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::{Error, Result};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn tls_error(what: impl std::fmt::Display) -> Error {
    Error::Config(what.to_string())
}

/// The API's server configuration from a PEM certificate chain and its private key.
pub fn server_config(cert_file: &Path, key_file: &Path) -> Result<Arc<rustls::ServerConfig>> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .and_then(|certs| certs.collect::<std::result::Result<_, _>>())
        .map_err(|e| tls_error(format!("http.tls_cert_file {}: {e}", cert_file.display())))?;
    if chain.is_empty() {
        return Err(tls_error(format!(
            "http.tls_cert_file {} holds no certificate",
            cert_file.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| tls_error(format!("http.tls_key_file {}: {e}", key_file.display())))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| tls_error(format!("the API's certificate and key do not fit: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// How to reach PostgreSQL at `url`: the connection settings, and the TLS connector when the
/// URL asks for encryption (see the module documentation).
pub fn postgres(
    url: &str,
) -> Result<(
    tokio_postgres::Config,
    Option<tokio_postgres_rustls::MakeRustlsConnect>,
)> {
    let (rest, mode, root) = take_tls_params(url)?;
    let mut config: tokio_postgres::Config = rest
        .parse()
        .map_err(|e| Error::Config(format!("invalid database URL: {e}")))?;
    let mode = match mode.as_deref() {
        None | Some("disable") | Some("prefer") => return Ok((config, None)),
        Some("require") if root.is_none() => Mode::Encrypt,
        Some("require") | Some("verify-ca") => Mode::VerifyCa,
        Some("verify-full") => Mode::VerifyFull,
        Some(other) => {
            return Err(Error::Config(format!(
                "database URL: sslmode={other} is not one of disable, prefer, require, \
                 verify-ca, verify-full"
            )))
        }
    };
    config.ssl_mode(tokio_postgres::config::SslMode::Require);
    let client = client_config(mode, root.as_deref())?;
    Ok((
        config,
        Some(tokio_postgres_rustls::MakeRustlsConnect::new(client)),
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Encrypt,
    VerifyCa,
    VerifyFull,
}

/// Removes `sslmode` and `sslrootcert` from a URL's query, returning what is left and them.
fn take_tls_params(url: &str) -> Result<(String, Option<String>, Option<String>)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), None, None));
    };
    let (mut mode, mut root, mut kept) = (None, None, Vec::new());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value: String = form_urlencoded::parse(format!("v={value}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        match key {
            "sslmode" => mode = Some(value),
            "sslrootcert" => root = Some(value),
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, mode, root))
}

fn roots(root: Option<&str>) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    match root {
        None | Some("system") => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = store.add(cert);
            }
            if store.is_empty() {
                return Err(tls_error(
                    "database URL: no system root certificates found; give sslrootcert=FILE",
                ));
            }
        }
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|c| c.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| tls_error(format!("database URL: sslrootcert {path}: {e}")))?;
            for cert in certs {
                store
                    .add(cert)
                    .map_err(|e| tls_error(format!("database URL: sslrootcert {path}: {e}")))?;
            }
            if store.is_empty() {
                return Err(tls_error(format!(
                    "database URL: sslrootcert {path} holds no certificate"
                )));
            }
        }
    }
    Ok(store)
}

fn client_config(mode: Mode, root: Option<&str>) -> Result<rustls::ClientConfig> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?;
    let config = match mode {
        Mode::VerifyFull => builder
            .with_root_certificates(roots(root)?)
            .with_no_client_auth(),
        Mode::VerifyCa | Mode::Encrypt => {
            let verifier: Arc<dyn ServerCertVerifier> = if mode == Mode::VerifyCa {
                let inner =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots(root)?), provider())
                        .build()
                        .map_err(tls_error)?;
                Arc::new(ChainOnly(inner))
            } else {
                Arc::new(EncryptOnly(provider()))
            };
            builder
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth()
        }
    };
    Ok(config)
}

/// `verify-ca`: the chain must lead to a trusted root; the name in it is not compared with
/// the host (the database may be reached by an address its certificate does not list).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// libpq's `require` without a root: the connection is encrypted, the certificate is not
/// checked (the handshake's signatures still are).
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_taken_out_of_the_url() {
        let (rest, mode, root) = take_tls_params(
            "postgres://u:p@db:5432/m?sslmode=verify-full&application_name=mw&sslrootcert=%2Fetc%2Fca.pem",
        )
        .unwrap();
        assert_eq!(rest, "postgres://u:p@db:5432/m?application_name=mw");
        assert_eq!(mode.as_deref(), Some("verify-full"));
        assert_eq!(root.as_deref(), Some("/etc/ca.pem"));
        let (rest, mode, root) = take_tls_params("postgres://u@db/m").unwrap();
        assert_eq!(
            (rest.as_str(), mode, root),
            ("postgres://u@db/m", None, None)
        );
    }

    #[test]
    fn plain_urls_stay_without_tls_and_unknown_modes_are_refused() {
        assert!(postgres("postgres://u@db/m").unwrap().1.is_none());
        assert!(postgres("postgres://u@db/m?sslmode=prefer")
            .unwrap()
            .1
            .is_none());
        assert!(postgres("postgres://u@db/m?sslmode=require")
            .unwrap()
            .1
            .is_some());
        let err = postgres("postgres://u@db/m?sslmode=verify-everything")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("verify-everything"), "{err}");
        let err = postgres("postgres://u@db/m?sslmode=verify-full&sslrootcert=/no/such.pem")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("/no/such.pem"), "{err}");
    }
}
