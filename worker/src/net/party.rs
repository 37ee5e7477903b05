//! The party key: an optional secret the PCs of one party share, so that
//! only they list and download from each other.
//!
//! The key is never sent. Right after the TLS handshake each side exports
//! keying material from the session ([`SessionSecret`]), which only the two
//! ends of this one connection know, and sends a keyed hash of it with the
//! key ([`PeerRequest::Prove`], answered by [`PeerResponse::Proven`]). A
//! listener sees only encrypted packets; a proof replayed on another
//! connection, or sent back, does not verify.
//!
//! What this does not stop: a peer posing as a party member can test
//! guesses of the key offline against a proof it received, so a key must be
//! long and random (a few words, or [`PartyKey::generate`]'s text), not a
//! password.
//!
//! [`PeerRequest::Prove`]: lanspread_proto::peer::PeerRequest::Prove
//! [`PeerResponse::Proven`]: lanspread_proto::peer::PeerResponse::Proven

use std::fmt;
use std::path::Path;

pub use lanspread_proto::peer::PartyKeyError;
use lanspread_proto::peer::{MAX_PARTY_KEY_LEN, PARTY_EXPORTER_LABEL, PartyProof, party_key_text};

/// Domain separation of the key derivation.
const KEY_CONTEXT: &str = "lanspread 2026-11 party key";

/// A party key, as the 32 bytes derived from its text. Compared, never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct PartyKey {
    secret: [u8; 32],
}

impl fmt::Debug for PartyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PartyKey(hidden)")
    }
}

impl PartyKey {
    /// The key a person typed (see [`party_key_text`]).
    pub fn new(text: &str) -> Result<PartyKey, PartyKeyError> {
        Ok(PartyKey { secret: blake3::derive_key(KEY_CONTEXT, party_key_text(text)?.as_bytes()) })
    }

    /// The key in the first line of `path` (for services and scripts, so
    /// the key is not on a command line).
    pub fn read_file(path: &Path) -> anyhow::Result<PartyKey> {
        let meta = std::fs::metadata(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if meta.len() > (MAX_PARTY_KEY_LEN as u64) * 4 {
            anyhow::bail!("{}: too large for a party key file", path.display());
        }
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let line = text.lines().next().unwrap_or_default();
        PartyKey::new(line).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// A new random key as text: 26 base32 characters (130 bits), easy to
    /// read out or paste.
    pub fn generate() -> String {
        let bytes: [u8; 32] = rand::random();
        lanspread_proto::PeerId(bytes).to_string()[..26].to_owned()
    }

    /// This key's proof for one side (`role`) of the session `session`.
    pub fn proof(&self, session: &SessionSecret, role: &[u8]) -> PartyProof {
        let mut hasher = blake3::Hasher::new_keyed(&self.secret);
        hasher.update(&session.0);
        hasher.update(role);
        PartyProof(*hasher.finalize().as_bytes())
    }

    /// Whether `proof` is this key's for `role` of `session` (in constant time).
    pub fn verifies(&self, session: &SessionSecret, role: &[u8], proof: &PartyProof) -> bool {
        blake3::Hash::from(self.proof(session, role).0) == blake3::Hash::from(proof.0)
    }
}

/// Keying material exported from one connection's TLS session: the same at
/// both ends, unknown to anyone else.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionSecret([u8; 32]);

impl fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionSecret(hidden)")
    }
}

impl SessionSecret {
    /// The secret of `conn`'s session; `None` if the session cannot export.
    pub fn of(conn: &quinn::Connection) -> Option<SessionSecret> {
        let mut out = [0u8; 32];
        conn.export_keying_material(&mut out, PARTY_EXPORTER_LABEL, b"").ok()?;
        Some(SessionSecret(out))
    }

    /// A fixed secret, for tests of the proof logic.
    #[cfg(test)]
    fn from_bytes(bytes: [u8; 32]) -> SessionSecret {
        SessionSecret(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lanspread_proto::peer::{PARTY_CLIENT_ROLE, PARTY_SERVER_ROLE};

    #[test]
    fn a_proof_holds_only_for_its_key_session_and_side() {
        let key = PartyKey::new("  correct horse battery staple \n").unwrap();
        assert_eq!(key, PartyKey::new("correct horse battery staple").unwrap());
        let session = SessionSecret::from_bytes([1; 32]);
        let proof = key.proof(&session, PARTY_CLIENT_ROLE);
        assert!(key.verifies(&session, PARTY_CLIENT_ROLE, &proof));
        assert!(!key.verifies(&session, PARTY_SERVER_ROLE, &proof), "sent back, it is not a proof");
        assert!(!key.verifies(&SessionSecret::from_bytes([2; 32]), PARTY_CLIENT_ROLE, &proof), "another session");
        let other = PartyKey::new("correct horse battery stapler").unwrap();
        assert!(!other.verifies(&session, PARTY_CLIENT_ROLE, &proof), "another key");
    }

    #[test]
    fn bad_key_texts_are_refused_and_keys_never_print() {
        assert_eq!(PartyKey::new(" \t"), Err(PartyKeyError::Empty));
        assert_eq!(PartyKey::new(&"k".repeat(MAX_PARTY_KEY_LEN + 1)), Err(PartyKeyError::TooLong));
        assert_eq!(PartyKey::new("a\u{7}b"), Err(PartyKeyError::ControlCharacters));
        let key = PartyKey::new("secret words").unwrap();
        assert!(!format!("{key:?}").contains("secret"));
        let generated = PartyKey::generate();
        assert_eq!(generated.len(), 26);
        assert_ne!(generated, PartyKey::generate());
        assert!(PartyKey::new(&generated).is_ok());
    }
}
