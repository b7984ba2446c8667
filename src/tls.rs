//! TLS for every outbound connection (upstreams, JWKS, OTLP, Redis) and for the demo
//! upstreams' optional TLS listener, all on one rustls crypto provider: `ring`.
//!
//! reqwest is built with `rustls-no-provider` (its default provider, aws-lc-rs, has
//! the slowest C build of the tree), so the process must install a provider before
//! it builds its first client: [`install_provider`], which every builder in this
//! module calls, as do `main`, [`crate::config::Config::validate`] and
//! [`crate::demo::Demo::new`]. A program that builds a `reqwest::Client` of its own
//! before any of those (a benchmark, a test client) calls it first.
//!
//! Trust: the platform's roots (the system store, through
//! rustls-platform-verifier and rustls-native-certs) plus an optional extra CA
//! (`ca_file`); a certificate that does not verify fails the connection (the
//! caller's `UPSTREAM_UNAVAILABLE`, with the reason in the log), never a retry in
//! plain HTTP. An optional client certificate (`client_cert_file` and
//! `client_key_file`) for mutual TLS.

use std::{path::Path, sync::Arc};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

use crate::config::TlsFiles;

/// A TLS file that cannot be used; the message names the file and the reason.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(String);

impl From<String> for TlsError {
    fn from(message: String) -> Self {
        Self(message)
    }
}

fn tls_error(message: impl Into<String>) -> TlsError {
    TlsError(message.into())
}

/// Installs `ring` as the process's rustls provider (once; later calls do nothing).
///
/// rustls 0.23.48 marks `ring::default_provider` deprecated: ring has no
/// post-quantum key exchange (X25519MLKEM768), which aws-lc-rs offers. Chosen for
/// build time (see docs/production.md, "TLS"); classical X25519/P-256 key exchange.
#[allow(deprecated)]
pub fn install_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err means another thread installed one first: the same one, from here.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| tls_error(format!("{}: {e}", path.display())))
}

/// The certificates of a PEM file (at least one).
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    certificates_from_pem(&read(path)?).map_err(|e| tls_error(format!("{}: {e}", path.display())))
}

/// The certificates of PEM text (at least one).
pub fn certificates_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error(format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(tls_error("no certificate in it"));
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| tls_error(format!("{}: no private key in PEM: {e}", path.display())))
}

/// Checks that `files` can be used: each file reads and parses, the certificate and
/// the key come together. `section` prefixes the key names in errors.
pub fn check_files(section: &str, files: &TlsFiles) -> Result<(), (String, TlsError)> {
    install_provider();
    if let Some(ca) = &files.ca_file {
        certificates(ca).map_err(|e| (format!("{section}.ca_file"), e))?;
    }
    match (&files.client_cert_file, &files.client_key_file) {
        (None, None) => Ok(()),
        (Some(cert), Some(key)) => {
            let chain = certificates(cert).map_err(|e| (format!("{section}.client_cert_file"), e))?;
            let key = private_key(key).map_err(|e| (format!("{section}.client_key_file"), e))?;
            // A key that does not belong to the certificate fails here, not at the
            // first handshake.
            rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_client_auth_cert(chain, key)
                .map(|_| ())
                .map_err(|e| (format!("{section}.client_key_file"), tls_error(e.to_string())))
        }
        (Some(_), None) => Err((
            format!("{section}.client_key_file"),
            tls_error("must be set with client_cert_file"),
        )),
        (None, Some(_)) => Err((
            format!("{section}.client_cert_file"),
            tls_error("must be set with client_key_file"),
        )),
    }
}

/// The extra CA and the client identity of `files`, in reqwest's types.
fn reqwest_parts(files: &TlsFiles) -> Result<(Vec<reqwest::Certificate>, Option<reqwest::Identity>), TlsError> {
    let roots = match &files.ca_file {
        Some(path) => reqwest::Certificate::from_pem_bundle(&read(path)?)
            .map_err(|e| tls_error(format!("{}: {e}", path.display())))?,
        None => Vec::new(),
    };
    let identity = match (&files.client_cert_file, &files.client_key_file) {
        (Some(cert), Some(key)) => {
            let mut pem = read(cert)?;
            pem.push(b'\n');
            pem.extend(read(key)?);
            Some(
                reqwest::Identity::from_pem(&pem)
                    .map_err(|e| tls_error(format!("{} with {}: {e}", cert.display(), key.display())))?,
            )
        }
        _ => None,
    };
    Ok((roots, identity))
}

/// `builder` with rustls on the `ring` provider, the platform's roots plus
/// `files.ca_file`, and `files`' client certificate. HTTP/2 is offered by ALPN
/// (used when the server picks it), HTTP/1.1 otherwise.
pub fn client_builder(
    mut builder: reqwest::ClientBuilder,
    files: &TlsFiles,
) -> Result<reqwest::ClientBuilder, TlsError> {
    install_provider();
    let (roots, identity) = reqwest_parts(files)?;
    builder = builder.tls_backend_rustls();
    for root in roots {
        builder = builder.add_root_certificate(root);
    }
    if let Some(identity) = identity {
        builder = builder.identity(identity);
    }
    Ok(builder)
}

/// [`client_builder`] for reqwest's blocking client (the OTLP exporter's).
pub fn blocking_client_builder(
    mut builder: reqwest::blocking::ClientBuilder,
    files: &TlsFiles,
) -> Result<reqwest::blocking::ClientBuilder, TlsError> {
    install_provider();
    let (roots, identity) = reqwest_parts(files)?;
    builder = builder.tls_backend_rustls();
    for root in roots {
        builder = builder.add_root_certificate(root);
    }
    if let Some(identity) = identity {
        builder = builder.identity(identity);
    }
    Ok(builder)
}

/// A Redis client for `url`: for `rediss://`, the platform's roots plus
/// `files.ca_file` and `files`' client certificate (redis-rs replaces its roots with
/// the ones given, so the platform's are given too).
pub fn redis_client(url: &str, files: &TlsFiles) -> Result<redis::Client, TlsError> {
    install_provider();
    let configured = files.ca_file.is_some() || files.client_cert_file.is_some();
    if !url.starts_with("rediss://") || !configured {
        return redis::Client::open(url).map_err(|e| tls_error(e.to_string()));
    }
    let root_cert = match &files.ca_file {
        Some(path) => {
            let mut pem = String::new();
            for cert in rustls_native_certs::load_native_certs().certs {
                pem.push_str(&pem_certificate(&cert));
            }
            pem.push_str(&String::from_utf8_lossy(&read(path)?));
            Some(pem.into_bytes())
        }
        None => None,
    };
    let client_tls = match (&files.client_cert_file, &files.client_key_file) {
        (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
            client_cert: read(cert)?,
            client_key: read(key)?,
        }),
        _ => None,
    };
    redis::Client::build_with_tls(url, redis::TlsCertificates { client_tls, root_cert })
        .map_err(|e| tls_error(e.to_string()))
}

/// One DER certificate as PEM text.
fn pem_certificate(der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// A server configuration from a certificate chain and its key, offering HTTP/2 and
/// HTTP/1.1 by ALPN; with `client_ca`, clients must present a certificate it signed.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca: Option<Vec<CertificateDer<'static>>>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    install_provider();
    let builder = rustls::ServerConfig::builder();
    let builder = match client_ca {
        Some(cas) => {
            let mut roots = rustls::RootCertStore::empty();
            for ca in cas {
                roots.add(ca).map_err(|e| tls_error(e.to_string()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .map_err(|e| tls_error(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| tls_error(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A certificate authority made at start, and certificates it signs.
pub struct TestCa {
    /// The CA's certificate in PEM (what a client trusts).
    pub cert_pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

/// A certificate and its key, in PEM.
pub struct IssuedCert {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key (PKCS#8).
    pub key_pem: String,
}

impl TestCa {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Result<Self, TlsError> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| tls_error(e.to_string()))?;
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate().map_err(|e| tls_error(e.to_string()))?;
        let cert = params.self_signed(&key).map_err(|e| tls_error(e.to_string()))?;
        Ok(Self {
            cert_pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        })
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub fn server(&self, names: &[&str]) -> Result<IssuedCert, TlsError> {
        self.issue(names, rcgen::ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate named `name`.
    pub fn client(&self, name: &str) -> Result<IssuedCert, TlsError> {
        self.issue(&[name], rcgen::ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn issue(&self, names: &[&str], usage: rcgen::ExtendedKeyUsagePurpose) -> Result<IssuedCert, TlsError> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = rcgen::CertificateParams::new(names.clone()).map_err(|e| tls_error(e.to_string()))?;
        if let Some(first) = names.first() {
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, first.as_str());
        }
        params.extended_key_usages = vec![usage];
        params.use_authority_key_identifier_extension = true;
        let key = rcgen::KeyPair::generate().map_err(|e| tls_error(e.to_string()))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| tls_error(e.to_string()))?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

impl IssuedCert {
    /// The certificate chain and key in rustls' types.
    pub fn der(&self) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
        let chain = CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| tls_error(e.to_string()))?;
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).map_err(|e| tls_error(e.to_string()))?;
        Ok((chain, key))
    }
}
