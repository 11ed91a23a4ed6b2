//! Development credentials for `sammen demo` and the tests: a local PKI and a caseworker
//! token issuer. Nothing here is for production; production takes its certificates and
//! its trusted issuer from configuration.

mod issuer;
mod pki;

pub use issuer::DevIssuer;
pub use pki::{ClientCert, DevPki};

#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("cannot generate a key or certificate: {0}")]
    Crypto(String),
    #[error("cannot write {path}: {message}")]
    Write { path: std::path::PathBuf, message: String },
}
