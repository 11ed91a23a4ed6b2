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
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::limits::{Activity, ClientAddr, ConnectionLimits, PerAddress, Tracked};

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

/// A certificate fingerprint as configured and compared: hex, lower case, without colons
/// (`[[systems]]`, `[[operators]]`).
pub(crate) fn normalise_fingerprint(s: &str) -> String {
    s.chars().filter(|c| *c != ':').collect::<String>().to_ascii_lowercase()
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
    /// Per address, handshakes, timeouts, HTTP/2 (`[limits]`).
    pub limits: ConnectionLimits,
    /// The answer to a request that ran out of time (the surface's own error format).
    pub timeout_response: fn() -> axum::response::Response,
}

/// Accepts connections until `shutdown` turns true, then lets open connections finish
/// their requests (up to `drain`). The limits are described in [`super::limits`].
pub(crate) async fn accept_loop(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    router: Router,
    cfg: LoopConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let limit = Arc::new(Semaphore::new(cfg.max_connections));
    let handshakes = Arc::new(Semaphore::new(cfg.limits.max_handshakes));
    let requests = Arc::new(Semaphore::new(cfg.limits.max_concurrent_requests));
    let per_address = Arc::new(PerAddress::default());
    let http = Arc::new(HttpConfig { limits: cfg.limits.clone(), requests, timeout_response: cfg.timeout_response });
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
        let (tcp, remote) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Counted before the handshake: one address cannot hold every slot, nor make us
        // spend a handshake on a connection over its share.
        let Some(slot) = per_address.try_open(remote.ip(), cfg.limits.max_connections_per_address) else {
            metrics::counter!("sammen_connections_refused_total", "reason" => "per_address").increment(1);
            drop(tcp);
            continue;
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        let shutdown = shutdown.clone();
        let handshake_timeout = cfg.handshake_timeout;
        let handshakes = handshakes.clone();
        let http = http.clone();
        conns.spawn(async move {
            let _permit = permit;
            let _slot = slot;
            let _ = tcp.set_nodelay(true);
            let handshake = async {
                let _turn = handshakes.acquire().await.expect("the semaphore is never closed");
                acceptor.accept(tcp).await
            };
            let tls = match tokio::time::timeout(handshake_timeout, handshake).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::info!(error = %e, "TLS handshake refused");
                    return;
                }
                Err(_) => {
                    tracing::debug!("TLS handshake timed out");
                    return;
                }
            };
            let peer = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| PeerIdentity::from_der(c));
            serve(tls, router, peer, ClientAddr(remote.ip()), http, shutdown).await;
        });
        // Reap finished connections so the set does not grow.
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = tokio::time::timeout(cfg.drain, async { while conns.join_next().await.is_some() {} }).await;
    conns.abort_all();
}

/// What every connection of one listener shares.
struct HttpConfig {
    limits: ConnectionLimits,
    /// The listener's concurrency limit on requests.
    requests: Arc<Semaphore>,
    timeout_response: fn() -> axum::response::Response,
}

async fn serve(
    tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    router: Router,
    peer: Option<PeerIdentity>,
    client: ClientAddr,
    http: Arc<HttpConfig>,
    mut shutdown: watch::Receiver<bool>,
) {
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let activity = Activity::new();
    let service = {
        let activity = activity.clone();
        let http = http.clone();
        hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            if let Some(p) = &peer {
                req.extensions_mut().insert(p.clone());
            }
            req.extensions_mut().insert(client);
            let router = router.clone();
            let in_flight = activity.request();
            let http = http.clone();
            async move {
                let _in_flight = in_flight;
                let handled = async {
                    let _turn = http.requests.acquire().await.expect("the semaphore is never closed");
                    router.oneshot(req.map(axum::body::Body::new)).await.unwrap_or_else(|e| match e {})
                };
                Ok::<_, Infallible>(match tokio::time::timeout(http.limits.request_timeout(), handled).await {
                    Ok(r) => r,
                    Err(_) => {
                        metrics::counter!("sammen_requests_timed_out_total").increment(1);
                        (http.timeout_response)()
                    }
                })
            }
        })
    };
    let limits = &http.limits;
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout());
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_millis(limits.http2_keep_alive_interval_ms))
        .keep_alive_timeout(Duration::from_millis(limits.http2_keep_alive_timeout_ms))
        .max_concurrent_streams(limits.http2_max_concurrent_streams);
    // ALPN decides the protocol; without it, HTTP/1.1 (no sniffing a silent client).
    let builder = if h2 { builder.http2_only() } else { builder.http1_only() };
    let conn = builder.serve_connection(TokioIo::new(Tracked::new(tls, activity.clone())), service);
    tokio::pin!(conn);
    let idle = limits.idle_timeout();
    let tick = (idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let watchdog = async {
        loop {
            tokio::time::sleep(tick).await;
            if activity.idle_for() >= idle {
                return;
            }
        }
    };
    let stopping = tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            return;
        }
        r = shutdown.wait_for(|s| *s) => if r.is_ok() { "shutdown" } else { return },
        _ = watchdog => "idle",
    };
    tracing::debug!(reason = stopping, "closing connection");
    conn.as_mut().graceful_shutdown();
    // An idle peer that ignores the goodbye (HTTP/2 GOAWAY) is dropped shortly after.
    let grace = if stopping == "idle" { Duration::from_secs(2) } else { Duration::from_secs(3600) };
    let _ = tokio::time::timeout(grace, conn).await;
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// The accept loop over a fresh certificate, with these limits; the address, the CA to
    /// trust, and the switch that stops it.
    async fn serve_with(limits: ConnectionLimits) -> (SocketAddr, tokio_rustls::TlsConnector, watch::Sender<bool>) {
        let m = sandbox::tls::generate().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, &m.cert_pem).unwrap();
        std::fs::write(&key, &m.key_pem).unwrap();
        let config = server_config_without_client_auth(&cert, &key).unwrap();
        let router = Router::new()
            .route("/fast", get(|| async { "ok" }))
            .route("/slow", get(|| async { tokio::time::sleep(Duration::from_secs(30)).await }));
        let (listener, addr) = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let (stop, stopped) = watch::channel(false);
        let cfg = LoopConfig {
            handshake_timeout: Duration::from_secs(5),
            max_connections: 16,
            drain: Duration::from_millis(100),
            limits,
            timeout_response: crate::http::problem::request_timed_out,
        };
        tokio::spawn(accept_loop(listener, tokio_rustls::TlsAcceptor::from(Arc::new(config)), router, cfg, stopped));
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(m.ca_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let mut client =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        client.alpn_protocols = vec![b"http/1.1".to_vec()];
        (addr, tokio_rustls::TlsConnector::from(Arc::new(client)), stop)
    }

    /// Sends one HTTP/1.1 request and reads its answer (head and a Content-Length body).
    async fn exchange<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(s: &mut S, path: &str) -> String {
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed before the answer");
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let len = text[..end]
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_string))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    return text;
                }
            }
        }
    }

    /// A request over its time gets 503 problem+json; the connection stays usable; once
    /// idle for the idle timeout, it is closed.
    #[tokio::test]
    async fn slow_requests_time_out_and_idle_keep_alive_connections_close() {
        let limits = ConnectionLimits { request_timeout_ms: 300, idle_timeout_ms: 600, ..ConnectionLimits::default() };
        let (addr, connector, _stop) = serve_with(limits).await;
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut s =
            connector.connect(rustls::pki_types::ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
        let started = std::time::Instant::now();
        let slow = tokio::time::timeout(Duration::from_secs(5), exchange(&mut s, "/slow")).await.unwrap();
        assert!(slow.starts_with("HTTP/1.1 503"), "{slow}");
        assert!(slow.contains("application/problem+json") && slow.contains("request-timeout"), "{slow}");
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        let fast = exchange(&mut s, "/fast").await;
        assert!(fast.starts_with("HTTP/1.1 200"), "{fast}");
        // Keep-alive, then silence: closed after the idle timeout (plus a watchdog tick).
        let idle = std::time::Instant::now();
        let mut byte = [0u8; 1];
        let closed = tokio::time::timeout(Duration::from_secs(5), s.read(&mut byte)).await.expect("closed");
        assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
        let after = idle.elapsed();
        assert!(after >= Duration::from_millis(500) && after < Duration::from_secs(3), "closed after {after:?}");
    }

    /// An HTTP/2 connection (ALPN `h2`) that completes the handshake and then says nothing
    /// is closed after the idle timeout too.
    #[tokio::test]
    async fn a_silent_http2_connection_is_closed_when_idle() {
        let limits = ConnectionLimits { idle_timeout_ms: 500, ..ConnectionLimits::default() };
        let (addr, connector, _stop) = serve_with(limits).await;
        let mut config = rustls::ClientConfig::clone(connector.config());
        config.alpn_protocols = vec![b"h2".to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut s = connector.connect(name, tcp).await.unwrap();
        assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let started = std::time::Instant::now();
        let mut buf = [0u8; 256];
        // The server may greet (SETTINGS, GOAWAY) before it closes; read until the end.
        let closed = tokio::time::timeout(Duration::from_secs(6), async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "a silent HTTP/2 connection stayed open");
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }

    /// One address gets its share of connections and no more; the TLS handshake is not
    /// even started for the rest.
    #[tokio::test]
    async fn one_address_holds_at_most_its_share() {
        let limits = ConnectionLimits { max_connections_per_address: 3, ..ConnectionLimits::default() };
        let (addr, connector, _stop) = serve_with(limits).await;
        let mut held = Vec::new();
        let mut refused = 0;
        for _ in 0..6 {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            match tokio::time::timeout(Duration::from_secs(5), connector.connect(name, tcp)).await.unwrap() {
                Ok(s) => held.push(s),
                Err(_) => refused += 1,
            }
        }
        assert_eq!((held.len(), refused), (3, 3));
        assert!(exchange(&mut held[0], "/fast").await.starts_with("HTTP/1.1 200"));
    }
}
