//! Connection limits (issue 13, defect 1): one client that opens 2,000 TLS connections and
//! then says nothing, plus slow-header clients sending one byte at a time, must not take
//! the citizen portal down. A normal request is answered within a second; the idle
//! connections are closed within the idle timeout and the slow ones within the header-read
//! timeout. And HTTP/2: one connection opening more streams than the cap gets the extra
//! ones refused (REFUSED_STREAM), and still serves (`http2_streams_over_the_cap_…`, a real
//! process).
//!
//! The first test runs the gateway in-process over the test's store. The attacker connects from
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
    let store = consent::store::open(&consent::Engine::sled(), &env.data_dir).unwrap();
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

/// The HTTP/2 stream cap of this test's gateway.
const STREAM_CAP: u32 = 4;
/// Streams opened at once on one connection: more than the cap.
const STREAMS: u32 = STREAM_CAP + 3;

mod h2_frames {
    //! Just enough HTTP/2 (RFC 9113) and HPACK (RFC 7541, literal fields without indexing
    //! or Huffman coding) to open more streams than a server allows. A client library would
    //! hold the extra streams back itself (it obeys the server's SETTINGS), so the frames
    //! are written by hand.

    pub const HEADERS: u8 = 0x1;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const GOAWAY: u8 = 0x7;
    pub const END_STREAM: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
    pub const ACK: u8 = 0x1;
    pub const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
    pub const REFUSED_STREAM: u32 = 0x7;
    pub const CANCEL: u32 = 0x8;
    pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    /// HPACK integer with a 7-bit prefix (the prefix byte's top bit, H, is 0: no Huffman).
    fn int7(out: &mut Vec<u8>, mut n: usize) {
        if n < 127 {
            out.push(n as u8);
            return;
        }
        out.push(127);
        n -= 127;
        while n >= 128 {
            out.push((n % 128 + 128) as u8);
            n /= 128;
        }
        out.push(n as u8);
    }

    /// A header block of literal fields without indexing, new names.
    pub fn header_block(fields: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, value) in fields {
            out.push(0x00);
            int7(&mut out, name.len());
            out.extend_from_slice(name.as_bytes());
            int7(&mut out, value.len());
            out.extend_from_slice(value.as_bytes());
        }
        out
    }

    /// One frame as read: type, flags, stream id, payload.
    pub struct Frame {
        pub kind: u8,
        pub flags: u8,
        pub stream: u32,
        pub payload: Vec<u8>,
    }

    pub async fn read<R: tokio::io::AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Frame> {
        use tokio::io::AsyncReadExt;
        let mut head = [0u8; 9];
        r.read_exact(&mut head).await?;
        let len = (usize::from(head[0]) << 16) | (usize::from(head[1]) << 8) | usize::from(head[2]);
        let mut payload = vec![0u8; len];
        r.read_exact(&mut payload).await?;
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        Ok(Frame { kind: head[3], flags: head[4], stream, payload })
    }
}

/// One HTTP/2 connection to the API opens more request streams than the configured cap at
/// once: the server announces the cap in its SETTINGS and refuses every stream over it with
/// RST_STREAM(REFUSED_STREAM) (the streams under it stay open, waiting for their bodies);
/// the connection survives, and once the open streams are cancelled a normal request on it
/// is answered, as is one on a fresh connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_streams_over_the_cap_are_refused_and_the_connection_still_serves() {
    use h2_frames::*;
    let env = Env::new(5_000);
    let mut config = std::fs::read_to_string(&env.config).unwrap();
    config.push_str(&format!("\n[limits]\nhttp2_max_concurrent_streams = {STREAM_CAP}\n"));
    std::fs::write(&env.config, config).unwrap();
    let gw = env.start_gateway();
    let token = env.rehab_token();

    // TLS with the kk system's client certificate, offering only h2.
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&env.pki.dev.ca_cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let pem = env.pki.kk_system.identity_pem.as_bytes();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem).map(Result::unwrap).collect();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(pem).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let bounded = tokio::time::timeout(Duration::from_secs(60), async {
        let tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
        let mut tls = TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]), "the API speaks HTTP/2 by ALPN");

        // Preface, empty SETTINGS, then every request's HEADERS in one write: a case-file POST
        // without END_STREAM, so each stream stays open while its handler waits for the body.
        let authority = format!("localhost:{}", gw.addr.port());
        let bearer = format!("Bearer {token}");
        let post = header_block(&[
            (":method", "POST"),
            (":scheme", "https"),
            (":authority", &authority),
            (":path", "/api/v1/case-files"),
            ("authorization", &bearer),
            ("content-type", "application/json"),
        ]);
        let mut out = PREFACE.to_vec();
        out.extend(frame(SETTINGS, 0, 0, &[]));
        let ids: Vec<u32> = (0..STREAMS).map(|i| 1 + 2 * i).collect();
        for id in &ids {
            out.extend(frame(HEADERS, END_HEADERS, *id, &post));
        }
        tls.write_all(&out).await.unwrap();

        let mut advertised = None;
        let mut refused = Vec::new();
        let mut answered = Vec::new();
        while refused.len() < (STREAMS - STREAM_CAP) as usize {
            let f = tokio::time::timeout(Duration::from_secs(10), read(&mut tls))
                .await
                .expect("the server answers within 10 s")
                .expect("the connection stays open");
            match f.kind {
                SETTINGS if f.flags & ACK == 0 => {
                    for s in f.payload.chunks(6) {
                        if u16::from_be_bytes([s[0], s[1]]) == SETTINGS_MAX_CONCURRENT_STREAMS {
                            advertised = Some(u32::from_be_bytes([s[2], s[3], s[4], s[5]]));
                        }
                    }
                    tls.write_all(&frame(SETTINGS, ACK, 0, &[])).await.unwrap();
                }
                RST_STREAM => {
                    let code = u32::from_be_bytes(f.payload[..4].try_into().unwrap());
                    assert_eq!(code, REFUSED_STREAM, "stream {} reset with code {code}", f.stream);
                    refused.push(f.stream);
                }
                HEADERS => answered.push(f.stream),
                GOAWAY => panic!("the server closed the connection"),
                _ => {}
            }
        }
        assert_eq!(advertised, Some(STREAM_CAP), "SETTINGS_MAX_CONCURRENT_STREAMS");
        refused.sort_unstable();
        assert_eq!(refused, ids[STREAM_CAP as usize..], "the streams over the cap, and only they, are refused");
        assert!(answered.iter().all(|s| !refused.contains(s)));

        // Cancel the open streams; a normal request on the same connection is answered.
        for id in &ids[..STREAM_CAP as usize] {
            tls.write_all(&frame(RST_STREAM, 0, *id, &CANCEL.to_be_bytes())).await.unwrap();
        }
        let next = 1 + 2 * STREAMS;
        let get = header_block(&[
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", &authority),
            (":path", "/api/v1/openapi.json"),
        ]);
        tls.write_all(&frame(HEADERS, END_HEADERS | END_STREAM, next, &get)).await.unwrap();
        let status = loop {
            let f = tokio::time::timeout(Duration::from_secs(10), read(&mut tls))
                .await
                .expect("the normal request is answered within 10 s")
                .expect("the connection stays open");
            match f.kind {
                HEADERS if f.stream == next => break f.payload,
                RST_STREAM if f.stream == next => panic!("the normal request was refused"),
                GOAWAY => panic!("the server closed the connection"),
                _ => {}
            }
        };
        // The response starts with `:status` from the static table: 0x88 is 200.
        assert_eq!(status.first(), Some(&0x88), "the normal request is answered 200");

        // And on a fresh connection through an ordinary client.
        let r = env.kk().get(gw.url("/api/v1/openapi.json")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    })
    .await;
    bounded.expect("the test finishes within 60 s");
}
