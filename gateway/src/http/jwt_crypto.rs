//! The cryptography behind `jsonwebtoken`: ES256 signatures are verified with `ring` (the
//! library rustls already links), everything else goes to jsonwebtoken's own RustCrypto
//! backend.
//!
//! Checking a caseworker token's ES256 signature is the largest single CPU cost of a case
//! file whose token is not remembered yet (BENCHMARKS.md, "Token checks through ring"), and
//! `ring`'s P-256 is several times cheaper than the pure-Rust `p256`. Signing (the
//! development issuer, the sandbox's MitID broker), the other algorithms and the JWK helpers
//! are unchanged.
//!
//! jsonwebtoken picks its process-wide provider on first use, so [`install`] must run
//! before any token is signed or verified: `main`, the composition root (`app`) and the
//! token verifier's constructor call it. Should another provider have been installed first,
//! tokens are still verified correctly, only more slowly.

use std::sync::Once;

use jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER as RUST_CRYPTO;
use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::signature::{self, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};
use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

/// The provider [`install`] installs: ES256 verification through `ring`, the rest through
/// jsonwebtoken's RustCrypto backend.
pub static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    jwk_utils: JwkUtils { extract_rsa_public_key_components, extract_ec_public_key_coordinates, compute_digest },
};

/// Makes [`PROVIDER`] jsonwebtoken's process-wide provider. Idempotent; if another
/// provider was installed first it says so once (at debug) and leaves it.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if !is_installed() {
            tracing::debug!(
                "another jsonwebtoken crypto provider was installed first; ES256 tokens are verified without ring"
            );
        }
    });
}

/// Whether [`PROVIDER`] is jsonwebtoken's process-wide provider. Installs it if no provider
/// was chosen yet (jsonwebtoken can only be asked by trying to install).
pub fn is_installed() -> bool {
    match PROVIDER.install_default() {
        Ok(()) => true,
        Err(current) => std::ptr::eq(current, &PROVIDER),
    }
}

/// Counts the signatures checked through ring, so the tests can tell that jsonwebtoken's
/// `decode` really goes through [`PROVIDER`].
#[cfg(test)]
static RING_VERIFICATIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// An ES256 public key as ring checks it: the uncompressed SEC1 point `04 || x || y`.
struct RingEs256Verifier(UnparsedPublicKey<[u8; 65]>);

impl Verifier<Vec<u8>> for RingEs256Verifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        #[cfg(test)]
        RING_VERIFICATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // ECDSA_P256_SHA256_FIXED: the JWS form, r || s, 32 bytes each; any other length fails.
        self.0.verify(msg, signature).map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for RingEs256Verifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::ES256
    }
}

fn new_verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    if *algorithm != Algorithm::ES256 {
        return (RUST_CRYPTO.verifier_factory)(algorithm, key);
    }
    // As the RustCrypto verifier: a key of another family is refused here, before any
    // signature is looked at.
    if key.family() != AlgorithmFamily::Ec {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    // A JWK (`from_jwk`, `from_ec_components`) keeps `04 || x || y`. Any other form (a
    // compressed point, a key of the wrong size) goes to the RustCrypto verifier, which
    // reads it or refuses it as before. A 65-byte point that is not on the curve fails every
    // verification in ring, where the RustCrypto verifier refuses the key up front: refused
    // either way, only with another error.
    match <[u8; 65]>::try_from(key.as_bytes()) {
        Ok(point) if point[0] == 0x04 => {
            Ok(Box::new(RingEs256Verifier(UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point))))
        }
        _ => (RUST_CRYPTO.verifier_factory)(algorithm, key),
    }
}

fn new_signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    (RUST_CRYPTO.signer_factory)(algorithm, key)
}

fn extract_rsa_public_key_components(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    (RUST_CRYPTO.jwk_utils.extract_rsa_public_key_components)(der)
}

fn extract_ec_public_key_coordinates(der: &[u8], alg: Algorithm) -> Result<(EllipticCurve, Vec<u8>, Vec<u8>)> {
    (RUST_CRYPTO.jwk_utils.extract_ec_public_key_coordinates)(der, alg)
}

fn compute_digest(data: &[u8], hash: ThumbprintHash) -> Vec<u8> {
    (RUST_CRYPTO.jwk_utils.compute_digest)(data, hash)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use jsonwebtoken::{Header, Validation};
    use serde_json::Value;

    use super::*;

    /// A fresh P-256 key: its public key as jsonwebtoken reads it from a JWK, and its signing key.
    fn p256() -> (DecodingKey, EncodingKey) {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let raw = pair.public_key_raw();
        let public = DecodingKey::from_ec_components(&B64.encode(&raw[1..33]), &B64.encode(&raw[33..])).unwrap();
        (public, EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap())
    }

    /// A token signed by jsonwebtoken's RustCrypto ES256 signer.
    fn token(key: &EncodingKey) -> String {
        let claims = serde_json::json!({"iss": "https://idp", "aud": "gw", "sub": "cw-1", "exp": 4_000_000_000u64});
        jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, key).unwrap()
    }

    /// The message and the decoded signature of a compact JWS.
    fn parts(token: &str) -> (&str, Vec<u8>) {
        let (message, signature) = token.rsplit_once('.').unwrap();
        (message, B64.decode(signature).unwrap())
    }

    fn ring_verifies(token: &str, key: &DecodingKey) -> bool {
        let (message, signature) = parts(token);
        new_verifier(&Algorithm::ES256, key).unwrap().verify(message.as_bytes(), &signature).is_ok()
    }

    #[test]
    fn a_token_signed_by_rust_crypto_verifies_through_ring() {
        let (public, private) = p256();
        assert!(ring_verifies(&token(&private), &public));
    }

    #[test]
    fn a_flipped_signature_byte_fails() {
        let (public, private) = p256();
        let t = token(&private);
        let (message, mut signature) = parts(&t);
        for i in [0, 31, 32, 63] {
            signature[i] ^= 0x01;
            let v = new_verifier(&Algorithm::ES256, &public).unwrap();
            assert!(v.verify(message.as_bytes(), &signature).is_err(), "byte {i} flipped");
            signature[i] ^= 0x01;
        }
        let v = new_verifier(&Algorithm::ES256, &public).unwrap();
        assert!(v.verify(message.as_bytes(), &signature).is_ok());
        assert!(v.verify(format!("{message}x").as_bytes(), &signature).is_err(), "another message");
    }

    #[test]
    fn a_signature_of_the_wrong_length_fails() {
        let (public, private) = p256();
        let t = token(&private);
        let (message, signature) = parts(&t);
        let v = new_verifier(&Algorithm::ES256, &public).unwrap();
        for bad in [signature[..63].to_vec(), [signature.as_slice(), &[0]].concat(), Vec::new()] {
            assert!(v.verify(message.as_bytes(), &bad).is_err(), "{} bytes", bad.len());
        }
    }

    #[test]
    fn another_keys_signature_fails() {
        let (_, private) = p256();
        let (other, _) = p256();
        assert!(!ring_verifies(&token(&private), &other));
    }

    #[test]
    fn a_key_of_another_family_is_refused() {
        let hmac = DecodingKey::from_secret(b"not an EC key");
        let err = new_verifier(&Algorithm::ES256, &hmac).err().unwrap();
        assert_eq!(*err.kind(), ErrorKind::InvalidKeyFormat);
        let rsa = DecodingKey::from_rsa_components("AQAB", "AQAB").unwrap();
        let err = new_verifier(&Algorithm::ES256, &rsa).err().unwrap();
        assert_eq!(*err.kind(), ErrorKind::InvalidKeyFormat);
    }

    #[test]
    fn a_point_not_on_the_curve_verifies_nothing() {
        let (_, private) = p256();
        let off_curve = DecodingKey::from_ec_components(&B64.encode([1u8; 32]), &B64.encode([2u8; 32])).unwrap();
        assert!(!ring_verifies(&token(&private), &off_curve));
    }

    #[test]
    fn other_algorithms_go_to_rust_crypto() {
        let key = EncodingKey::from_secret(b"secret");
        let t =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &serde_json::json!({"exp": 4_000_000_000u64}), &key)
                .unwrap();
        let (message, signature) = parts(&t);
        let v = new_verifier(&Algorithm::HS256, &DecodingKey::from_secret(b"secret")).unwrap();
        assert_eq!(v.algorithm(), Algorithm::HS256);
        assert!(v.verify(message.as_bytes(), &signature).is_ok());
    }

    /// Set for the child process of [`the_installed_default_verifies_es256_through_ring`].
    const CHILD: &str = "SAMMEN_JWT_CRYPTO_CHILD";

    /// jsonwebtoken fixes its provider on its first use in the process, and other unit tests
    /// of this crate (the development issuer, the sandbox's broker) sign tokens without
    /// installing anything, so whether this provider wins in the shared test process depends
    /// on the order the tests run in. The check runs in a process of its own: this test
    /// binary again, with only [`installed_default_child`], as `main` would.
    #[test]
    fn the_installed_default_verifies_es256_through_ring() {
        let name = "http::jwt_crypto::tests::installed_default_child";
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--test-threads=1"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("1 passed"), "{stdout}");
    }

    /// The check itself; does nothing unless started by the test above.
    #[test]
    fn installed_default_child() {
        if std::env::var_os(CHILD).is_none() {
            return;
        }
        install();
        install();
        assert!(is_installed(), "jsonwebtoken's process default is not this provider");
        let (public, private) = p256();
        let t = token(&private);
        let before = RING_VERIFICATIONS.load(Ordering::Relaxed);
        let mut v = Validation::new(Algorithm::ES256);
        v.set_audience(&["gw"]);
        let data = jsonwebtoken::decode::<Value>(&t, &public, &v).unwrap();
        assert_eq!(data.claims["sub"], "cw-1");
        assert!(RING_VERIFICATIONS.load(Ordering::Relaxed) > before, "decode did not verify through ring");
        let (_, mut signature) = parts(&t);
        signature[10] ^= 0x80;
        let forged = format!("{}.{}", t.rsplit_once('.').unwrap().0, B64.encode(&signature));
        assert!(jsonwebtoken::decode::<Value>(&forged, &public, &v).is_err());
    }

    /// The time of one ES256 verification, RustCrypto against ring (BENCHMARKS.md, "Token
    /// checks through ring"): the median of 7 runs of 200 each. Timing, not a check, so not
    /// run by default: `cargo test --release -p gateway --lib -- --ignored es256_timing --nocapture`.
    #[test]
    #[ignore]
    fn es256_timing() {
        let (public, private) = p256();
        let t = token(&private);
        let (message, signature) = parts(&t);
        let median = |factory: fn(&Algorithm, &DecodingKey) -> Result<Box<dyn JwtVerifier>>| {
            let mut runs: Vec<f64> = (0..7)
                .map(|_| {
                    let start = std::time::Instant::now();
                    for _ in 0..200 {
                        let v = factory(&Algorithm::ES256, &public).unwrap();
                        assert!(v.verify(message.as_bytes(), &signature).is_ok());
                    }
                    start.elapsed().as_secs_f64() * 1e6 / 200.0
                })
                .collect();
            runs.sort_by(f64::total_cmp);
            runs[3]
        };
        let rust_crypto = median(RUST_CRYPTO.verifier_factory);
        let ring = median(new_verifier);
        println!(
            "ES256 verification, median of 7 x 200: rust_crypto {rust_crypto:.1} us, ring {ring:.1} us, ring / rust_crypto {:.2}",
            ring / rust_crypto
        );
    }
}
