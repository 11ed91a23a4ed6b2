//! A throw-away PKI for the tests (test-only; the lead's `gateway::dev` will offer the
//! same for the demo): one CA for the server and the caseworker systems' client
//! certificates, and a second, untrusted CA.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use sha2::{Digest, Sha256};

pub struct ClientCert {
    /// PEM: certificate then private key (what `reqwest::Identity::from_pem` takes).
    pub identity_pem: String,
    /// SHA-256 of the certificate's DER, hex.
    pub sha256: String,
}

pub struct Pki {
    pub ca_file: PathBuf,
    pub ca_pem: String,
    pub server_cert_file: PathBuf,
    pub server_key_file: PathBuf,
    /// Registered as system `kk-sagssystem` (organisation `kk`).
    pub kk_system: ClientCert,
    /// Registered as system `aarhus-sag` (organisation `aarhus`, purpose flexjob only).
    pub aarhus_system: ClientCert,
    /// Issued by the trusted CA, but registered for no system.
    pub unregistered: ClientCert,
    /// Issued by a CA the gateway does not trust.
    pub rogue: ClientCert,
}

fn ca(name: &str) -> (Issuer<'static, KeyPair>, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let cert = params.self_signed(&key).unwrap();
    (Issuer::new(params, key), cert.pem())
}

fn client(cn: &str, issuer: &Issuer<'static, KeyPair>) -> ClientCert {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, issuer).unwrap();
    ClientCert {
        identity_pem: format!("{}{}", cert.pem(), key.serialize_pem()),
        sha256: hex::encode(Sha256::digest(cert.der())),
    }
}

impl Pki {
    pub fn generate(dir: &Path) -> Pki {
        let (issuer, ca_pem) = ca("sammen test CA");
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "sammen gateway");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server = params.signed_by(&key, &issuer).unwrap();
        let ca_file = dir.join("ca.pem");
        let server_cert_file = dir.join("server.pem");
        let server_key_file = dir.join("server.key");
        std::fs::write(&ca_file, &ca_pem).unwrap();
        std::fs::write(&server_cert_file, server.pem()).unwrap();
        std::fs::write(&server_key_file, key.serialize_pem()).unwrap();
        let (rogue_ca, _) = ca("rogue CA");
        Pki {
            ca_file,
            ca_pem,
            server_cert_file,
            server_key_file,
            kk_system: client("kk-sagssystem", &issuer),
            aarhus_system: client("aarhus-sag", &issuer),
            unregistered: client("unregistered", &issuer),
            rogue: client("kk-sagssystem", &rogue_ca),
        }
    }
}
