//! Checkpoints as C2SP signed notes, the format other transparency-log tools read
//! (<https://c2sp.org/tlog-checkpoint>, <https://c2sp.org/signed-note>).
//!
//! ```text
//! <origin>\n                        the log's name, also the key name
//! <tree size, decimal>\n
//! <root hash, base64>\n
//! \n
//! — <key name> <base64(key hash ‖ Ed25519 signature over the text above the blank line)>\n
//! ```
//!
//! The key hash is the first 4 bytes of SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)
//! (0x01: the Ed25519 signature type). This is an additional rendering of the log's
//! [`SignedCheckpoint`](super::SignedCheckpoint), which stays as it is: the note carries
//! the same tree size and root, signed by the same audit key.
//!
//! Why the same key and not one of its own: a verifier then trusts one key for the log,
//! whichever rendering it reads (the JSON checkpoint, the note, or a receipt's JWKS), and
//! there is no second secret to keep. The three messages the key signs cannot be taken for
//! one another: a checkpoint message starts with `sammen audit checkpoint v1\n` (which has
//! spaces, and an origin has none) followed by binary integers with control bytes, which a
//! note may not hold; a note's text always holds newlines, which a JWS signing input
//! (base64url, `.`) never does.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::checkpoint::key_id;

/// The signature type byte of Ed25519 in a signed note's key hash.
const ED25519_TYPE: u8 = 0x01;
/// The most bytes a note may have before it is looked at.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;
/// The start of every signature line: U+2014 EM DASH and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Why a note was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("the note is larger than {MAX_NOTE_BYTES} bytes")]
    TooLarge,
    #[error("the note is not UTF-8 text without control characters")]
    NotText,
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    #[error("the note's origin is not the expected log's ({expected})")]
    WrongOrigin { expected: String },
    #[error("the note's {0} is not valid base64")]
    BadBase64(&'static str),
    #[error("the note is signed by a key named {name} with key hash {found}, not the trusted key (hash {expected})")]
    WrongKey { name: String, found: String, expected: String },
    #[error("the note carries no signature by the trusted key {name} (hash {expected})")]
    NotSigned { name: String, expected: String },
    #[error("the signature by {name} does not verify: the note was altered or signed by another key")]
    BadSignature { name: String },
    #[error("an origin is non-empty printable text without spaces or '+': {0}")]
    BadOrigin(&'static str),
}

/// A log's origin line, also the name of its key: non-empty, no whitespace (so never the
/// binary checkpoint's context string), no `+` (the key name separator of verifier keys),
/// no control characters, at most 255 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin(String);

impl Origin {
    pub fn new(s: impl Into<String>) -> Result<Self, NoteError> {
        let s = s.into();
        if s.is_empty() {
            return Err(NoteError::BadOrigin("it is empty"));
        }
        if s.len() > 255 {
            return Err(NoteError::BadOrigin("it is longer than 255 bytes"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(NoteError::BadOrigin("it holds whitespace or a control character"));
        }
        if s.contains('+') {
            return Err(NoteError::BadOrigin("it holds '+'"));
        }
        Ok(Self(s))
    }

    /// The origin when none is configured: `sammen.audit/<key id>`, unique per signing key
    /// (the key id is that of [`key_id`]: hex of 8 bytes of SHA-256 of the public key).
    pub fn for_key(key: &VerifyingKey) -> Self {
        Self(format!("sammen.audit/{}", key_id(key)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The signed-note key hash: the first 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key).
pub fn note_key_hash(name: &Origin, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_str().as_bytes());
    h.update([b'\n', ED25519_TYPE]);
    h.update(key.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// A key that verifies notes: its name (the origin) and its Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    origin: Origin,
    key: VerifyingKey,
    hash: [u8; 4],
}

impl NoteVerifier {
    pub fn new(origin: Origin, key: VerifyingKey) -> Self {
        let hash = note_key_hash(&origin, &key);
        Self { origin, key, hash }
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The standard verifier key encoding, `<name>+<key hash, 8 hex>+<base64(0x01 ‖ key)>`,
    /// as other signed-note tools take it.
    pub fn vkey(&self) -> String {
        let mut typed = vec![ED25519_TYPE];
        typed.extend_from_slice(self.key.as_bytes());
        format!("{}+{}+{}", self.origin, hex::encode(self.hash), B64.encode(typed))
    }

    /// Verifies a checkpoint note: size bounded, text well-formed, the origin this key's,
    /// and a valid signature by this key (signatures by other keys are ignored, as the
    /// signed-note specification asks). Returns the tree size and root it vouches for.
    pub fn verify(&self, note: &[u8]) -> Result<CheckpointNote, NoteError> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge);
        }
        let note = std::str::from_utf8(note).map_err(|_| NoteError::NotText)?;
        if note.chars().any(|c| c.is_control() && c != '\n') {
            return Err(NoteError::NotText);
        }
        let Some((text, signatures)) = note.rsplit_once("\n\n") else {
            return Err(NoteError::Malformed("no blank line before the signatures"));
        };
        let text = &note[..text.len() + 1];
        let Some(signatures) = signatures.strip_suffix('\n') else {
            return Err(NoteError::Malformed("the last signature line does not end in a newline"));
        };
        let mut other_hash_for_our_name = None;
        let mut ours = None;
        for line in signatures.split('\n') {
            let Some(rest) = line.strip_prefix(SIGNATURE_PREFIX) else {
                return Err(NoteError::Malformed("a signature line does not start with '— '"));
            };
            let Some((name, b64)) = rest.split_once(' ') else {
                return Err(NoteError::Malformed("a signature line has no space between key name and signature"));
            };
            if name.is_empty() || b64.contains(' ') {
                return Err(NoteError::Malformed("a signature line is not '— <name> <base64>'"));
            }
            let bytes = B64.decode(b64).map_err(|_| NoteError::BadBase64("signature"))?;
            if bytes.len() < 5 {
                return Err(NoteError::Malformed("a signature is shorter than its key hash"));
            }
            if name != self.origin.as_str() {
                continue;
            }
            if bytes[..4] != self.hash {
                other_hash_for_our_name = Some(hex::encode(&bytes[..4]));
                continue;
            }
            ours = Some(bytes);
        }
        let Some(bytes) = ours else {
            return Err(match other_hash_for_our_name {
                Some(found) => {
                    NoteError::WrongKey { name: self.origin.to_string(), found, expected: hex::encode(self.hash) }
                }
                None => NoteError::NotSigned { name: self.origin.to_string(), expected: hex::encode(self.hash) },
            });
        };
        let bad = || NoteError::BadSignature { name: self.origin.to_string() };
        let signature: [u8; 64] = bytes[4..].try_into().map_err(|_| bad())?;
        self.key.verify_strict(text.as_bytes(), &Signature::from_bytes(&signature)).map_err(|_| bad())?;
        let parsed = CheckpointNote::parse(text)?;
        if parsed.origin != self.origin {
            return Err(NoteError::WrongOrigin { expected: self.origin.to_string() });
        }
        Ok(parsed)
    }
}

/// What a checkpoint note says: the log named `origin` had `tree_size` records with RFC 6962
/// root `root`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointNote {
    pub origin: Origin,
    pub tree_size: u64,
    pub root: [u8; 32],
}

impl CheckpointNote {
    /// The note's text: the three checkpoint lines, each ending in a newline.
    pub fn text(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.tree_size, B64.encode(self.root))
    }

    /// The signed note: text, blank line, one signature line by `key` named after the origin.
    pub fn sign(&self, key: &SigningKey) -> String {
        let text = self.text();
        let mut sig = note_key_hash(&self.origin, &key.verifying_key()).to_vec();
        sig.extend_from_slice(&key.sign(text.as_bytes()).to_bytes());
        format!("{text}\n{SIGNATURE_PREFIX}{} {}\n", self.origin, B64.encode(sig))
    }

    /// Reads the checkpoint lines of a note's text (extension lines after the root are
    /// allowed and ignored, as the checkpoint specification says).
    fn parse(text: &str) -> Result<Self, NoteError> {
        let body = text.strip_suffix('\n').ok_or(NoteError::Malformed("the text does not end in a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        let size = lines.next().ok_or(NoteError::Malformed("no tree size line"))?;
        let root = lines.next().ok_or(NoteError::Malformed("no root hash line"))?;
        if lines.any(str::is_empty) {
            return Err(NoteError::Malformed("an empty extension line"));
        }
        let origin = Origin::new(origin).map_err(|_| NoteError::Malformed("the origin line is not a valid origin"))?;
        let canonical = size == "0" || (!size.starts_with('0') && !size.is_empty());
        if !canonical || !size.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NoteError::Malformed("the tree size is not a decimal number without leading zeros"));
        }
        let tree_size = size.parse().map_err(|_| NoteError::Malformed("the tree size does not fit 64 bits"))?;
        let root = B64.decode(root).map_err(|_| NoteError::BadBase64("root hash"))?;
        let root = root.try_into().map_err(|_| NoteError::Malformed("the root hash is not 32 bytes"))?;
        Ok(Self { origin, tree_size, root })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn origin() -> Origin {
        Origin::new("audit.example.dk/sammen").unwrap()
    }

    fn note() -> CheckpointNote {
        CheckpointNote { origin: origin(), tree_size: 42, root: [9u8; 32] }
    }

    fn verifier() -> NoteVerifier {
        NoteVerifier::new(origin(), key().verifying_key())
    }

    #[test]
    fn a_signed_note_has_the_c2sp_shape_and_verifies() {
        let signed = note().sign(&key());
        let lines: Vec<&str> = signed.split('\n').collect();
        assert_eq!(lines[0], "audit.example.dk/sammen");
        assert_eq!(lines[1], "42");
        assert_eq!(lines[2], B64.encode([9u8; 32]));
        assert_eq!(lines[3], "");
        assert!(lines[4].starts_with("\u{2014} audit.example.dk/sammen "));
        assert_eq!(lines[5], "", "the note ends in a newline");
        let sig = B64.decode(lines[4].rsplit(' ').next().unwrap()).unwrap();
        assert_eq!(sig.len(), 4 + 64);
        // The key hash by its definition, computed here independently of `note_key_hash`.
        let mut pre = b"audit.example.dk/sammen\n\x01".to_vec();
        pre.extend_from_slice(key().verifying_key().as_bytes());
        assert_eq!(sig[..4], Sha256::digest(&pre)[..4]);
        assert_eq!(verifier().verify(signed.as_bytes()).unwrap(), note());
    }

    #[test]
    fn extension_lines_and_signatures_by_other_keys_are_allowed() {
        let text = format!("{}extension line\n", note().text());
        let mut sig = note_key_hash(&origin(), &key().verifying_key()).to_vec();
        sig.extend_from_slice(&key().sign(text.as_bytes()).to_bytes());
        let other = format!("\u{2014} witness.example {}\n", B64.encode([1u8; 68]));
        let signed = format!("{text}\n{other}\u{2014} {} {}\n", origin(), B64.encode(sig));
        assert_eq!(verifier().verify(signed.as_bytes()).unwrap(), note());
    }

    fn refused(note: &str) -> NoteError {
        verifier().verify(note.as_bytes()).unwrap_err()
    }

    #[test]
    fn a_changed_size_root_or_origin_breaks_the_signature() {
        let signed = note().sign(&key());
        let size = signed.replacen("\n42\n", "\n43\n", 1);
        assert!(matches!(refused(&size), NoteError::BadSignature { .. }), "{:?}", refused(&size));
        let root = signed.replacen(&B64.encode([9u8; 32]), &B64.encode([8u8; 32]), 1);
        assert!(matches!(refused(&root), NoteError::BadSignature { .. }));
        // Another origin, consistently renamed (text and key name): the trusted key's name
        // is not among the signatures.
        let renamed = signed.replace("audit.example.dk/sammen", "audit.example.dk/other");
        assert!(matches!(refused(&renamed), NoteError::NotSigned { .. }), "{:?}", refused(&renamed));
        // The origin line changed alone: the signature fails.
        let origin_line = signed.replacen("audit.example.dk/sammen\n", "audit.example.dk/other\n", 1);
        assert!(matches!(refused(&origin_line), NoteError::BadSignature { .. }));
    }

    #[test]
    fn a_note_for_another_origin_signed_by_the_trusted_key_is_refused() {
        let other = CheckpointNote { origin: Origin::new("elsewhere").unwrap(), ..note() };
        // Signed under the trusted name, but the text names another log.
        let text = other.text();
        let mut sig = note_key_hash(&origin(), &key().verifying_key()).to_vec();
        sig.extend_from_slice(&key().sign(text.as_bytes()).to_bytes());
        let signed = format!("{text}\n\u{2014} {} {}\n", origin(), B64.encode(sig));
        assert!(matches!(refused(&signed), NoteError::WrongOrigin { .. }));
    }

    #[test]
    fn a_note_by_another_key_is_refused() {
        let signed = note().sign(&SigningKey::from_bytes(&[8u8; 32]));
        assert!(matches!(refused(&signed), NoteError::WrongKey { .. }), "{:?}", refused(&signed));
        // Same key hash, another key's signature: the hash is kept, the signature swapped.
        let mine = note().sign(&key());
        let (head, last) = mine.trim_end().rsplit_once(' ').unwrap();
        let mut sig = B64.decode(last).unwrap();
        sig[4..].copy_from_slice(&SigningKey::from_bytes(&[8u8; 32]).sign(note().text().as_bytes()).to_bytes());
        let forged = format!("{head} {}\n", B64.encode(sig));
        assert!(matches!(refused(&forged), NoteError::BadSignature { .. }));
    }

    #[test]
    fn bad_base64_missing_signatures_and_bad_shapes_are_refused() {
        let signed = note().sign(&key());
        let (head, last) = signed.trim_end().rsplit_once(' ').unwrap();
        assert_eq!(refused(&format!("{head} {}!\n", &last[1..])), NoteError::BadBase64("signature"));
        let bad_root = signed.replacen(&B64.encode([9u8; 32]), "not*base64", 1);
        // The signature is checked first; a note signed over a bad root still fails on it.
        let text = bad_root.split_once("\n\n").unwrap().0.to_string() + "\n";
        let mut sig = note_key_hash(&origin(), &key().verifying_key()).to_vec();
        sig.extend_from_slice(&key().sign(text.as_bytes()).to_bytes());
        let signed_bad_root = format!("{text}\n\u{2014} {} {}\n", origin(), B64.encode(sig));
        assert_eq!(refused(&signed_bad_root), NoteError::BadBase64("root hash"));
        assert!(matches!(refused(&note().text()), NoteError::Malformed(_)), "no signature block");
        assert!(matches!(refused(&format!("{}\n", note().text())), NoteError::Malformed(_)), "empty signature block");
        assert!(matches!(refused(&signed.replace('\u{2014}', "-")), NoteError::Malformed(_)));
        assert!(matches!(refused(signed.trim_end()), NoteError::Malformed(_)));
        assert_eq!(refused(&signed.replacen('\n', "\r\n", 1)), NoteError::NotText);
        assert_eq!(verifier().verify(&vec![b'a'; MAX_NOTE_BYTES + 1]).unwrap_err(), NoteError::TooLarge);
        let leading_zero = CheckpointNote { tree_size: 42, ..note() }.text().replacen("\n42\n", "\n042\n", 1);
        let mut sig = note_key_hash(&origin(), &key().verifying_key()).to_vec();
        sig.extend_from_slice(&key().sign(leading_zero.as_bytes()).to_bytes());
        let signed_zero = format!("{leading_zero}\n\u{2014} {} {}\n", origin(), B64.encode(sig));
        assert!(matches!(refused(&signed_zero), NoteError::Malformed(_)));
    }

    #[test]
    fn origins_are_checked() {
        assert!(Origin::new("").is_err());
        assert!(Origin::new("a b").is_err());
        assert!(Origin::new("a+b").is_err());
        assert!(Origin::new("a\u{7}").is_err());
        assert!(Origin::new("sammen audit checkpoint v1").is_err());
        let derived = Origin::for_key(&key().verifying_key());
        assert!(Origin::new(derived.as_str()).is_ok());
        assert!(derived.as_str().starts_with("sammen.audit/"));
    }

    #[test]
    fn the_verifier_key_has_the_standard_encoding() {
        let vkey = verifier().vkey();
        let parts: Vec<&str> = vkey.split('+').collect();
        assert_eq!(parts[0], "audit.example.dk/sammen");
        assert_eq!(parts[1], hex::encode(note_key_hash(&origin(), &key().verifying_key())));
        let typed = B64.decode(parts[2]).unwrap();
        assert_eq!(typed[0], 1);
        assert_eq!(&typed[1..], key().verifying_key().as_bytes());
    }
}
