//! A local development PKI (rcgen): one CA, the gateway's server certificate, and one
//! caseworker-system client certificate, written as PEM files into a directory. The CA
//! can issue further client certificates (`issue_client`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use sha2::{Digest, Sha256};

use super::DevError;

/// The files of a development PKI, and the client certificate's fingerprint.
#[derive(Debug, Clone)]
pub struct DevPki {
    pub dir: PathBuf,
    /// The CA certificate: clients trust it for the server, the server for clients.
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// SHA-256 (hex) of the client certificate's DER: how the gateway recognises the system.
    pub client_sha256: String,
    /// The client certificate's subject common name.
    pub client_cn: String,
    /// The CA's name and key, to issue further client certificates.
    ca: Arc<Issuer<'static, KeyPair>>,
}

/// A client certificate issued by `DevPki::issue_client`, kept in memory.
#[derive(Debug, Clone)]
pub struct ClientCert {
    /// PEM: certificate then private key (what `reqwest::Identity::from_pem` takes).
    pub identity_pem: String,
    /// SHA-256 (hex) of the certificate's DER.
    pub sha256: String,
}

fn crypto(e: rcgen::Error) -> DevError {
    DevError::Crypto(e.to_string())
}

fn write(path: &Path, contents: &str) -> Result<(), DevError> {
    std::fs::write(path, contents).map_err(|e| DevError::Write { path: path.to_path_buf(), message: e.to_string() })
}

/// A private key: readable by its owner only.
fn write_key(path: &Path, contents: &str) -> Result<(), DevError> {
    write(path, contents)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| DevError::Write { path: path.to_path_buf(), message: e.to_string() })?;
    }
    Ok(())
}

impl DevPki {
    /// Generates a CA, a server certificate for `server_names` (DNS names or IP
    /// addresses) and a client certificate with common name `client_cn`, into `dir`.
    pub fn generate(dir: &Path, server_names: &[&str], client_cn: &str) -> Result<DevPki, DevError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| DevError::Write { path: dir.to_path_buf(), message: e.to_string() })?;
        let ca_key = KeyPair::generate().map_err(crypto)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(crypto)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca_params.distinguished_name.push(DnType::CommonName, "sammen development CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).map_err(crypto)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().map_err(crypto)?;
        let mut server =
            CertificateParams::new(server_names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).map_err(crypto)?;
        server.distinguished_name.push(DnType::CommonName, "sammen gateway");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server.signed_by(&server_key, &issuer).map_err(crypto)?;

        let (client_cert, client_key) = client(client_cn, &issuer)?;

        let pki = DevPki {
            dir: dir.to_path_buf(),
            ca_cert: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server-key.pem"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client-key.pem"),
            client_sha256: hex::encode(Sha256::digest(client_cert.der())),
            client_cn: client_cn.to_string(),
            ca: Arc::new(issuer),
        };
        write(&pki.ca_cert, &ca_cert.pem())?;
        write(&pki.server_cert, &server_cert.pem())?;
        write_key(&pki.server_key, &server_key.serialize_pem())?;
        write(&pki.client_cert, &client_cert.pem())?;
        write_key(&pki.client_key, &client_key.serialize_pem())?;
        Ok(pki)
    }

    /// A further client certificate with common name `cn`, issued by this PKI's CA.
    pub fn issue_client(&self, cn: &str) -> Result<ClientCert, DevError> {
        let (cert, key) = client(cn, &self.ca)?;
        Ok(ClientCert {
            identity_pem: format!("{}{}", cert.pem(), key.serialize_pem()),
            sha256: hex::encode(Sha256::digest(cert.der())),
        })
    }
}

/// A client certificate with common name `cn` and its key, signed by `issuer`.
fn client(cn: &str, issuer: &Issuer<'static, KeyPair>) -> Result<(Certificate, KeyPair), DevError> {
    let key = KeyPair::generate().map_err(crypto)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(crypto)?;
    params.distinguished_name.push(DnType::CommonName, cn);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, issuer).map_err(crypto)?;
    Ok((cert, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    #[test]
    fn writes_a_chain_that_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let pki = DevPki::generate(dir.path(), &["localhost", "127.0.0.1"], "demo-case-system").unwrap();
        #[cfg(unix)]
        for key in [&pki.server_key, &pki.client_key] {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(key).unwrap().permissions().mode() & 0o777, 0o600, "{}", key.display());
        }
        let ca = CertificateDer::from_pem_file(&pki.ca_cert).unwrap();
        let client = CertificateDer::from_pem_file(&pki.client_cert).unwrap();
        assert_eq!(pki.client_sha256, hex::encode(Sha256::digest(&client)));
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca).unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider).build().unwrap();
        let now = rustls::pki_types::UnixTime::now();
        verifier.verify_client_cert(&client, &[], now).expect("the client certificate chains to the CA");
        // A certificate from another CA does not.
        let other = DevPki::generate(&dir.path().join("other"), &["localhost"], "x").unwrap();
        let stranger = CertificateDer::from_pem_file(&other.client_cert).unwrap();
        assert!(verifier.verify_client_cert(&stranger, &[], now).is_err());
        // A further client certificate from the same CA does.
        let extra = pki.issue_client("another-system").unwrap();
        let extra = CertificateDer::from_pem_slice(extra.identity_pem.as_bytes()).unwrap();
        verifier.verify_client_cert(&extra, &[], now).expect("an issued client certificate chains to the CA");
    }
}
