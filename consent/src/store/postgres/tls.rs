//! TLS to PostgreSQL through rustls: the Mozilla roots plus an optional CA file. Whether TLS
//! is used at all is the URL's `sslmode` (`prefer` by default: TLS when the server offers it;
//! `require` to insist). rustls always verifies the server's chain and host name, so every
//! TLS connection here is what libpq calls `verify-full`; libpq's `sslmode=verify-full` and
//! `verify-ca` (which tokio-postgres does not parse) are read as `require`.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::StoreError;

pub(super) fn connector(ca_file: Option<&Path>) -> Result<MakeRustlsConnect, StoreError> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = ca_file {
        let bad = |e: String| StoreError::Config(format!("the PostgreSQL CA file {}: {e}", path.display()));
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
            roots.add(cert.map_err(|e| bad(e.to_string()))?).map_err(|e| bad(e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// The URL with libpq's `sslmode=verify-full` / `verify-ca` written as `require` (see the
/// module doc: what rustls does is verify-full either way).
pub(super) fn libpq_sslmode(url: &str) -> String {
    url.replace("sslmode=verify-full", "sslmode=require").replace("sslmode=verify-ca", "sslmode=require")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_verify_modes_are_read_as_require() {
        assert_eq!(
            libpq_sslmode("postgresql://u@db/x?sslmode=verify-full&application_name=a"),
            "postgresql://u@db/x?sslmode=require&application_name=a"
        );
        assert_eq!(libpq_sslmode("host=db sslmode=verify-ca dbname=x"), "host=db sslmode=require dbname=x");
        assert_eq!(libpq_sslmode("host=db sslmode=disable"), "host=db sslmode=disable");
    }
}
