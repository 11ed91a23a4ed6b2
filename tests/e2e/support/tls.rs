//! A bare TLS client, to see why a server refused a handshake: the alert it sent.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gateway::dev::ClientCert;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::AsyncReadExt;

/// Connects to `addr` as a client trusting `ca_file` and presenting `identity` (if any),
/// and returns the TLS error that ended the connection: the server's alert, received during
/// the handshake (TLS 1.2) or on the first read after it (TLS 1.3, where the client's side
/// completes before the server has judged its certificate). Panics if the server accepts.
pub async fn refusal(addr: SocketAddr, ca_file: &Path, identity: Option<&ClientCert>) -> rustls::Error {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca_file).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        Some(id) => {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(id.identity_pem.as_bytes()).map(Result::unwrap).collect();
            let key = PrivateKeyDer::from_pem_slice(id.identity_pem.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let attempt = async {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut tls = match connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await {
            Ok(tls) => tls,
            Err(e) => return e,
        };
        let mut buf = [0u8; 64];
        match tls.read(&mut buf).await {
            Ok(n) => panic!("the server accepted the handshake (read {n} bytes)"),
            Err(e) => e,
        }
    };
    let e = tokio::time::timeout(Duration::from_secs(10), attempt).await.expect("the server answered within 10 s");
    match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(tls) => tls.clone(),
        None => panic!("the connection ended without a TLS error: {e:?}"),
    }
}

/// The alert the server sent, or a panic naming what happened instead.
pub async fn alert(addr: SocketAddr, ca_file: &Path, identity: Option<&ClientCert>) -> rustls::AlertDescription {
    match refusal(addr, ca_file, identity).await {
        rustls::Error::AlertReceived(a) => a,
        other => panic!("expected a TLS alert from the server, got {other:?}"),
    }
}
