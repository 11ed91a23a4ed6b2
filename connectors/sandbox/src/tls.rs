//! TLS for the sandbox: a throw-away CA and server certificate (rcgen), and the rustls
//! acceptor.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};

use crate::SandboxError;

/// A server certificate and key (PEM), and the CA that issued it (for the clients).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsMaterial {
    /// The CA certificate the connectors must trust.
    pub ca_pem: String,
    /// The server certificate chain.
    pub cert_pem: String,
    pub key_pem: String,
}

/// Generates a CA and a server certificate for `localhost` and `127.0.0.1`.
pub fn generate() -> Result<TlsMaterial, SandboxError> {
    let err = |e: rcgen::Error| SandboxError::Tls(e.to_string());
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "sammen sandbox CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(err)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().map_err(err)?;
    // `sandbox`: the host name of the sandbox service in compose/compose.yaml.
    let names = ["localhost", "127.0.0.1", "sandbox"].map(String::from).to_vec();
    let mut params = CertificateParams::new(names).map_err(err)?;
    params.distinguished_name.push(DnType::CommonName, "sammen sandbox");
    let cert = params.signed_by(&key, &issuer).map_err(err)?;
    Ok(TlsMaterial { ca_pem: ca_cert.pem(), cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

/// The acceptor for a server certificate and key.
pub(crate) fn acceptor(m: &TlsMaterial) -> Result<tokio_rustls::TlsAcceptor, SandboxError> {
    let err = |e: &dyn std::fmt::Display| SandboxError::Tls(e.to_string());
    let certs =
        CertificateDer::pem_slice_iter(m.cert_pem.as_bytes()).collect::<Result<Vec<_>, _>>().map_err(|e| err(&e))?;
    let key = PrivateKeyDer::from_pem_slice(m.key_pem.as_bytes()).map_err(|e| err(&e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| err(&e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| err(&e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
