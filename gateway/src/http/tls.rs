//! TLS: the rustls server configuration (TLS 1.2 and 1.3 only, client certificates
//! required and verified against the configured client CA), and the accept loop that
//! runs each handshake in its own task under a timeout and hands the verified client
//! certificate's identity to the routes.

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Pem { path: String, message: String },
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// Why a listener did not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Binds `addr` (port 0 picks a free port); returns the listener and its bound address.
pub async fn bind(addr: std::net::SocketAddr) -> Result<(tokio::net::TcpListener, std::net::SocketAddr), ListenError> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| ListenError::Bind { addr, source })?;
    let bound = listener.local_addr().map_err(|source| ListenError::Bind { addr, source })?;
    Ok((listener, bound))
}

/// The verified client certificate of a connection, as the routes see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// SHA-256 of the certificate's DER, lower-case hex.
    pub sha256: String,
    /// The subject's common name, when it has one.
    pub subject_cn: Option<String>,
}

impl PeerIdentity {
    pub fn from_der(der: &[u8]) -> PeerIdentity {
        let sha256 = hex::encode(Sha256::digest(der));
        let subject_cn = x509_parser::parse_x509_certificate(der).ok().and_then(|(_, cert)| {
            cert.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).map(str::to_string)
        });
        PeerIdentity { sha256, subject_cn }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.display().to_string(), source })
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem { path: path.display().to_string(), message: e.to_string() })?;
    if certs.is_empty() {
        return Err(TlsError::Pem { path: path.display().to_string(), message: "no certificate found".into() });
    }
    Ok(certs)
}

/// The server configuration: our certificate, and client certificates required from `client_ca`.
pub fn server_config(cert_file: &Path, key_file: &Path, client_ca: &Path) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certs(cert_file)?;
    let key = PrivateKeyDer::from_pem_slice(&read(key_file)?)
        .map_err(|e| TlsError::Pem { path: key_file.display().to_string(), message: e.to_string() })?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in certs(client_ca)? {
        roots.add(ca).map_err(|e| TlsError::Config(format!("client CA {}: {e}", client_ca.display())))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A server configuration without client certificates (the citizen portal): TLS 1.2+.
pub fn server_config_without_client_auth(cert_file: &Path, key_file: &Path) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certs(cert_file)?;
    let key = PrivateKeyDer::from_pem_slice(&read(key_file)?)
        .map_err(|e| TlsError::Pem { path: key_file.display().to_string(), message: e.to_string() })?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// How the accept loop runs.
pub(crate) struct LoopConfig {
    pub handshake_timeout: Duration,
    pub max_connections: usize,
    /// How long open connections get to finish after shutdown is asked for.
    pub drain: Duration,
}

/// Accepts connections until `shutdown` turns true, then lets open connections finish
/// their requests (up to `drain`).
pub(crate) async fn accept_loop(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    router: Router,
    cfg: LoopConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let limit = Arc::new(Semaphore::new(cfg.max_connections));
    let mut conns = JoinSet::new();
    loop {
        let permit = tokio::select! {
            p = limit.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = shutdown.wait_for(|s| *s) => break,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        let (tcp, _) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        let shutdown = shutdown.clone();
        let handshake_timeout = cfg.handshake_timeout;
        conns.spawn(async move {
            let _permit = permit;
            let _ = tcp.set_nodelay(true);
            let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::info!(error = %e, "TLS handshake refused");
                    return;
                }
                Err(_) => {
                    tracing::info!("TLS handshake timed out");
                    return;
                }
            };
            let peer = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| PeerIdentity::from_der(c));
            serve(tls, router, peer, shutdown).await;
        });
        // Reap finished connections so the set does not grow.
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = tokio::time::timeout(cfg.drain, async { while conns.join_next().await.is_some() {} }).await;
    conns.abort_all();
}

async fn serve(
    tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    router: Router,
    peer: Option<PeerIdentity>,
    mut shutdown: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        if let Some(p) = &peer {
            req.extensions_mut().insert(p.clone());
        }
        let router = router.clone();
        async move {
            Ok::<_, Infallible>(router.oneshot(req.map(axum::body::Body::new)).await.unwrap_or_else(|e| match e {}))
        }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(TokioIo::new(tls), service);
    tokio::pin!(conn);
    let stopping = tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            false
        }
        r = shutdown.wait_for(|s| *s) => r.is_ok(),
    };
    if stopping {
        conn.as_mut().graceful_shutdown();
        let _ = conn.await;
    }
}
