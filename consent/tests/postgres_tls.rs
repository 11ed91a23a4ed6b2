//! TLS to PostgreSQL against a real TLS server: a scratch cluster with `ssl = on`, a server
//! certificate for 127.0.0.1 and localhost signed by a test CA (rcgen), and a `pg_hba.conf`
//! that admits TCP connections only over TLS and with a password (SCRAM). Connecting with
//! `sslmode=require` (and libpq's `verify-full`) and the CA file works; the Mozilla roots
//! alone, another CA, a wrong host name, a wrong password and `sslmode=disable` are each
//! refused with an error that says why and never shows the password.

use std::time::Duration;

use consent::store::scratch_postgres::ScratchPostgres;
use consent::{PgStore, PostgresOptions, Store, StoreError};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};

const PASSWORD: &str = "tls-test-pw-4711";

/// A CA (its PEM) and, when `server_names` is given, a server certificate and key it signed.
fn ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), Issuer::new(params, key))
}

fn server_cert(issuer: &Issuer<'static, KeyPair>, names: &[&str]) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, "scratch postgres");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn options(url: &str, ca_file: Option<&std::path::Path>) -> PostgresOptions {
    PostgresOptions {
        connect_timeout: Duration::from_secs(3),
        ca_file: ca_file.map(Into::into),
        ..PostgresOptions::new(url)
    }
}

/// The error of the first call through a store opened with these options.
async fn refusal(url: &str, ca_file: Option<&std::path::Path>) -> String {
    let store = PgStore::open(&options(url, ca_file)).expect("opening is lazy");
    let started = std::time::Instant::now();
    let e = match store.ping().await {
        Err(StoreError::Io(m)) => m,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert!(started.elapsed() < Duration::from_secs(10), "the refusal took {:?}", started.elapsed());
    assert!(!e.contains(PASSWORD), "the error shows the password: {e}");
    eprintln!("refused as expected: {e}");
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_postgres_verifies_the_server_and_a_hostssl_only_server_refuses_plain_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, issuer) = ca("scratch postgres test CA");
    let (cert_pem, key_pem) = server_cert(&issuer, &["127.0.0.1", "localhost"]);
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let (other_pem, _) = ca("another CA");
    let other_ca = dir.path().join("other-ca.pem");
    std::fs::write(&other_ca, &other_pem).unwrap();

    let mut pg = ScratchPostgres::start().unwrap_or_else(|e| panic!("starting a scratch PostgreSQL: {e}"));
    pg.require_tls(&cert_pem, &key_pem, PASSWORD).unwrap_or_else(|e| panic!("turning TLS on: {e}"));
    pg.create_database("sammen").unwrap();
    let port = pg.port();
    let url = |host: &str, password: &str, mode: &str| {
        format!("postgresql://postgres:{password}@{host}:{port}/sammen?sslmode={mode}")
    };

    // The test CA, `require` and libpq's `verify-full`: connected, migrated, writes.
    let mut open = Vec::new();
    for mode in ["require", "verify-full"] {
        let store = PgStore::open(&options(&url("127.0.0.1", PASSWORD, mode), Some(&ca_file))).unwrap();
        store.ping().await.unwrap_or_else(|e| panic!("sslmode={mode} with the CA file: {e}"));
        assert_eq!(store.audit_size().await.unwrap(), 0);
        open.push(store);
    }
    // By host name (the certificate names localhost), the address given apart.
    let by_name =
        format!("postgresql://postgres:{PASSWORD}@localhost:{port}/sammen?hostaddr=127.0.0.1&sslmode=require");
    let store = PgStore::open(&options(&by_name, Some(&ca_file))).unwrap();
    store.ping().await.unwrap_or_else(|e| panic!("by host name: {e}"));
    open.push(store);
    // The server really is on TLS for those connections.
    let on_tls = pg.psql("postgres", "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.datname = 'sammen' AND s.ssl").unwrap();
    let plain = pg.psql("postgres", "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.datname = 'sammen' AND NOT s.ssl").unwrap();
    assert!(on_tls.trim().parse::<u32>().unwrap() > 0, "no TLS connection from the store: {on_tls}");
    assert_eq!(plain.trim(), "0", "a connection without TLS");

    // Only the Mozilla roots: the test CA is unknown.
    let e = refusal(&url("127.0.0.1", PASSWORD, "require"), None).await;
    assert!(e.contains("certificate") && e.to_lowercase().contains("unknown"), "no CA file: {e}");
    // Another CA.
    let e = refusal(&url("127.0.0.1", PASSWORD, "verify-full"), Some(&other_ca)).await;
    assert!(e.contains("certificate"), "another CA: {e}");
    // The right CA, but a host name the certificate does not name.
    let wrong_name =
        format!("postgresql://postgres:{PASSWORD}@db.example.invalid:{port}/sammen?hostaddr=127.0.0.1&sslmode=require");
    let e = refusal(&wrong_name, Some(&ca_file)).await;
    assert!(e.contains("certificate") && e.contains("not valid for name"), "a wrong host name: {e}");
    // A wrong password, over TLS: the server refuses, the message does not quote it.
    let e = refusal(&url("127.0.0.1", "not-the-password", "require"), Some(&ca_file)).await;
    assert!(e.contains("28P01") || e.contains("password authentication failed"), "a wrong password: {e}");
    assert!(!e.contains("not-the-password"), "the error shows the password: {e}");
    // No TLS against a hostssl-only server: refused by pg_hba.
    let e = refusal(&url("127.0.0.1", PASSWORD, "disable"), Some(&ca_file)).await;
    assert!(e.contains("28000") && e.contains("no encryption"), "sslmode=disable: {e}");
}
