//! Connection limits (issue 13, defect 1): one client that opens 2,000 TLS connections and
//! then says nothing, plus slow-header clients sending one byte at a time, must not take
//! the citizen portal down. A normal request is answered within a second; the idle
//! connections are closed within the idle timeout and the slow ones within the header-read
//! timeout.
//!
//! The gateway runs in-process over the test's store. The attacker connects from
//! 127.0.0.2 and 127.0.0.3 (any 127/8 source address reaches a listener on 127.0.0.1 on
//! Linux), the normal client from 127.0.0.1. The process holds both ends of every
//! connection, so the soft open-file limit is raised to what the test needs (up to the hard
//! limit); with a lower hard limit the number of idle connections is scaled down and said.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway::http::limits::ConnectionLimits;
use gateway::portal::{OidcSettings, PortalSettings};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::support::Env;

const IDLE_CONNECTIONS: usize = 2_000;
const SLOW_CONNECTIONS: usize = 20;
const PER_ADDRESS: usize = 64;
const HEADER_READ_TIMEOUT: Duration = Duration::from_millis(1_500);
const IDLE_TIMEOUT: Duration = Duration::from_millis(2_000);
/// Scheduling slack on every "closed within" bound.
const SLACK: Duration = Duration::from_millis(2_500);
const LOGINS_PER_MINUTE: u32 = 5;

/// Raises the soft open-file limit towards `want` (never above the hard limit); returns it.
fn raise_nofile(want: u64) -> u64 {
    let Ok((soft, hard)) = rlimit::Resource::NOFILE.get() else { return 1024 };
    if soft >= want {
        return soft;
    }
    let raised = want.min(hard);
    match rlimit::Resource::NOFILE.set(raised, hard) {
        Ok(()) => raised,
        Err(_) => soft,
    }
}

fn connector(env: &Env) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&env.pki.dev.ca_cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// A TLS connection to `to` from source address `from`, or `None` when refused.
async fn open(tls: &TlsConnector, from: IpAddr, to: SocketAddr) -> Option<TlsStream<tokio::net::TcpStream>> {
    let attempt = async {
        let socket = TcpSocket::new_v4().ok()?;
        socket.bind(SocketAddr::new(from, 0)).ok()?;
        let tcp = socket.connect(to).await.ok()?;
        tls.connect(ServerName::try_from("localhost").unwrap(), tcp).await.ok()
    };
    tokio::time::timeout(Duration::from_secs(5), attempt).await.ok().flatten()
}

/// Waits until the server closes `stream` (end of stream or an error); how long it took.
async fn closed_within(mut stream: TlsStream<tokio::net::TcpStream>, bound: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 256];
    let r = tokio::time::timeout(bound, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    r.ok().map(|_| start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_do_not_take_the_portal_down() {
    let wanted = (2 * IDLE_CONNECTIONS + 1_000) as u64;
    let nofile = raise_nofile(wanted);
    let idle_connections = if nofile >= wanted {
        IDLE_CONNECTIONS
    } else {
        let n = (nofile.saturating_sub(1_000) / 2) as usize;
        eprintln!("open-file limit {nofile}: {n} idle connections instead of {IDLE_CONNECTIONS}");
        n.max(PER_ADDRESS * 2)
    };

    let env = Env::new(5_000);
    let mut settings = env.settings();
    settings.limits = ConnectionLimits {
        max_connections_per_address: PER_ADDRESS,
        header_read_timeout_ms: HEADER_READ_TIMEOUT.as_millis() as u64,
        idle_timeout_ms: IDLE_TIMEOUT.as_millis() as u64,
        ..ConnectionLimits::default()
    };
    settings.portal = Some(PortalSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        cert_file: env.pki.dev.server_cert.clone(),
        key_file: env.pki.dev.server_key.clone(),
        public_url: String::new(),
        idle_timeout_secs: 900,
        absolute_timeout_secs: 8 * 3600,
        log_page_size: 25,
        login_per_minute: LOGINS_PER_MINUTE,
        oidc: OidcSettings {
            // Never reached: discovery happens at the first login.
            issuer: "https://127.0.0.1:9/".into(),
            client_id: "sammen-portal".into(),
            client_secret: "portal-test-secret-0123456789".into(),
            ca_file: None,
            cpr_claim: "dk.cpr".into(),
            scopes: vec!["ssn".into()],
            allow_insecure_issuer: false,
        },
    });
    std::fs::create_dir_all(&env.data_dir).unwrap();
    let store = consent::store::open(&consent::Engine::Sled, &env.data_dir).unwrap();
    let running = gateway::app::start_with_store(settings, store).await.unwrap();
    let portal = running.portal_addr.unwrap();
    let tls = connector(&env);

    let bounded = tokio::time::timeout(Duration::from_secs(90), async {
        // 1. The idle flood from one address: handshake, then silence.
        let attacker: IpAddr = "127.0.0.2".parse().unwrap();
        let started = Instant::now();
        let gate = Arc::new(tokio::sync::Semaphore::new(256));
        let mut opening = tokio::task::JoinSet::new();
        for _ in 0..idle_connections {
            let (tls, gate) = (tls.clone(), gate.clone());
            opening.spawn(async move {
                let _turn = gate.acquire_owned().await.unwrap();
                open(&tls, attacker, portal).await.map(|s| (s, Instant::now()))
            });
        }
        let mut held = Vec::new();
        while let Some(r) = opening.join_next().await {
            if let Some(s) = r.unwrap() {
                held.push(s);
            }
        }
        eprintln!(
            "{idle_connections} connections from one address in {:?}: {} completed the handshake",
            started.elapsed(),
            held.len()
        );
        // Connections let in early may already have been closed by their timeout while the
        // flood went on (a slow machine): count the ones open now.
        let mut open_now = Vec::new();
        for (mut s, opened) in held {
            let mut byte = [0u8; 1];
            match tokio::time::timeout(Duration::from_millis(5), s.read(&mut byte)).await {
                Err(_) => open_now.push((s, opened)),
                Ok(Ok(0) | Err(_)) => {}
                Ok(Ok(_)) => panic!("the server sent data on an idle connection"),
            }
        }
        let held = open_now;
        assert!(!held.is_empty(), "some idle connections are let in");
        assert!(held.len() <= PER_ADDRESS, "at most {PER_ADDRESS} connections per address, {} open", held.len());

        // 2. Slow headers from another address: one byte every 200 ms, never finishing.
        let slow_from: IpAddr = "127.0.0.3".parse().unwrap();
        let mut slow = tokio::task::JoinSet::new();
        for _ in 0..SLOW_CONNECTIONS {
            let tls = tls.clone();
            slow.spawn(async move {
                let mut s = open(&tls, slow_from, portal).await.expect("a slow client gets a connection");
                let start = Instant::now();
                let header = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
                for b in header.iter().cycle() {
                    if s.write_all(&[*b]).await.is_err() || s.flush().await.is_err() {
                        return start.elapsed();
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if start.elapsed() > HEADER_READ_TIMEOUT + SLACK * 2 {
                        return start.elapsed();
                    }
                }
                unreachable!()
            });
        }
        tokio::time::sleep(Duration::from_millis(300)).await;

        // 3. A normal citizen, from another address, while all of that is open.
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(
                reqwest::Certificate::from_pem(&std::fs::read(&env.pki.dev.ca_cert).unwrap()).unwrap(),
            )
            .resolve("localhost", portal)
            .local_address(Some("127.0.0.1".parse().unwrap()))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let asked = Instant::now();
        let answer = tokio::time::timeout(
            Duration::from_secs(1),
            client.get(format!("https://localhost:{}/static/portal.css", portal.port())).send(),
        )
        .await
        .expect("a normal request is answered within a second")
        .unwrap();
        assert_eq!(answer.status(), 200);
        eprintln!("normal request answered in {:?}", asked.elapsed());

        // 4. The idle connections are closed within the idle timeout (from their handshake).
        let mut closing = tokio::task::JoinSet::new();
        for (s, opened) in held {
            closing.spawn(async move {
                let bound = (IDLE_TIMEOUT + SLACK).saturating_sub(opened.elapsed());
                closed_within(s, bound).await.map(|_| opened.elapsed())
            });
        }
        let mut longest = Duration::ZERO;
        while let Some(r) = closing.join_next().await {
            let lived = r.unwrap().expect("an idle connection is closed within the idle timeout");
            longest = longest.max(lived);
        }
        eprintln!("idle connections closed after at most {longest:?}");

        // 5. The slow-header connections are closed within the header-read timeout.
        while let Some(r) = slow.join_next().await {
            let lived = r.unwrap();
            assert!(
                lived <= HEADER_READ_TIMEOUT + SLACK,
                "a slow-header connection lived {lived:?}, more than the header-read timeout allows"
            );
        }

        // 6. The freed slots are usable again by the same address.
        let again = open(&tls, attacker, portal).await;
        assert!(again.is_some(), "the address may connect again once its connections are closed");

        // 7. `GET /login` (each stores a login state) is limited per address.
        let login_client = |from: &str| {
            reqwest::Client::builder()
                .use_rustls_tls()
                .tls_built_in_root_certs(false)
                .add_root_certificate(
                    reqwest::Certificate::from_pem(&std::fs::read(&env.pki.dev.ca_cert).unwrap()).unwrap(),
                )
                .resolve("localhost", portal)
                .local_address(Some(from.parse().unwrap()))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap()
        };
        let login = format!("https://localhost:{}/login", portal.port());
        let knocker = login_client("127.0.0.4");
        let mut statuses = Vec::new();
        for _ in 0..LOGINS_PER_MINUTE + 3 {
            statuses.push(knocker.get(&login).send().await.unwrap().status().as_u16());
        }
        assert!(statuses[..LOGINS_PER_MINUTE as usize].iter().all(|s| *s != 429), "{statuses:?}");
        assert!(statuses[LOGINS_PER_MINUTE as usize..].iter().all(|s| *s == 429), "{statuses:?}");
        let other = login_client("127.0.0.5").get(&login).send().await.unwrap();
        assert_ne!(other.status(), 429, "another address is not limited");
    })
    .await;
    bounded.expect("the test finishes within 90 s");
    running.shutdown().await;
}
