//! The accept loop: plain TCP or TLS, hyper connections, and a per-connection switch a
//! handler can pull to reset the connection (for the `connection_reset` fault).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tower::ServiceExt;

/// Pulled by a handler to reset its connection (TCP RST, no response).
#[derive(Clone, Default)]
pub(crate) struct Kill(Arc<Notify>);

impl Kill {
    pub(crate) fn pull(&self) {
        self.0.notify_one();
    }
}

pub(crate) async fn accept_loop(listener: TcpListener, router: Router, tls: Option<tokio_rustls::TlsAcceptor>) {
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "sandbox accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let router = router.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(tcp, router, tls).await {
                tracing::debug!(error = %e, "sandbox connection ended with an error");
            }
        });
    }
}

async fn connection(tcp: TcpStream, router: Router, tls: Option<tokio_rustls::TlsAcceptor>) -> std::io::Result<()> {
    tcp.set_nodelay(true)?;
    // A second handle on the socket, to set SO_LINGER 0 (reset) when a handler asks.
    let std = tcp.into_std()?;
    let handle = std.try_clone()?;
    let tcp = TcpStream::from_std(std)?;
    let kill = Kill::default();
    match tls {
        None => serve(TokioIo::new(tcp), router, kill, handle).await,
        Some(acceptor) => {
            let stream = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp))
                .await
                .map_err(|_| std::io::Error::other("TLS handshake timed out"))??;
            serve(TokioIo::new(stream), router, kill, handle).await
        }
    }
    Ok(())
}

async fn serve<I>(io: TokioIo<I>, router: Router, kill: Kill, handle: std::net::TcpStream)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let switch = kill.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(switch.clone());
        let router = router.clone();
        async move {
            Ok::<_, Infallible>(router.oneshot(req.map(axum::body::Body::new)).await.unwrap_or_else(|e| match e {}))
        }
    });
    // With a timer, so a client that never finishes its request headers is let go (the
    // gateway's listeners have the full set of limits; this is the test double's minimum).
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(10));
    builder.http2().timer(TokioTimer::new()).keep_alive_interval(Duration::from_secs(20)).max_concurrent_streams(64);
    let conn = builder.serve_connection(io, service);
    tokio::select! {
        _ = conn => {}
        _ = kill.0.notified() => {
            let _ = socket2::SockRef::from(&handle).set_linger(Some(Duration::ZERO));
            // Dropping the connection and the last handle closes the socket with a RST.
        }
    }
}
