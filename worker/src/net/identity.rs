//! A node's key, certificate and peer id.
//!
//! The key and a self-signed certificate are made on first start and kept
//! in the state directory; the peer id is the BLAKE3 hash of the
//! certificate's SubjectPublicKeyInfo, so it stays the same as long as the
//! key does, and any peer can check a certificate against an id.

use std::fs;
use std::io;
use std::path::Path;

use lanspread_proto::PeerId;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const CERT_FILE: &str = "node.crt";
const KEY_FILE: &str = "node.key";
/// Name in the certificate; peers are identified by key, not by name.
pub const SERVER_NAME: &str = "lanspread";

/// This node's TLS identity.
#[derive(Debug)]
pub struct Identity {
    pub peer_id: PeerId,
    pub cert: CertificateDer<'static>,
    pub key: PrivatePkcs8KeyDer<'static>,
}

impl Identity {
    /// Loads the identity from `state_dir`, making one on first start.
    pub fn load_or_create(state_dir: &Path) -> anyhow::Result<Self> {
        let cert_path = state_dir.join(CERT_FILE);
        let key_path = state_dir.join(KEY_FILE);
        match (fs::read(&cert_path), fs::read(&key_path)) {
            (Ok(cert), Ok(key)) => {
                let cert = CertificateDer::from(cert);
                let peer_id = peer_id_of(&cert)
                    .ok_or_else(|| anyhow::anyhow!("{}: not a certificate LanSpread can read", cert_path.display()))?;
                Ok(Identity { peer_id, cert, key: PrivatePkcs8KeyDer::from(key) })
            }
            (Err(e), _) | (_, Err(e)) if e.kind() != io::ErrorKind::NotFound => {
                Err(anyhow::anyhow!("{}: {e}", state_dir.display()))
            }
            _ => Self::create(state_dir),
        }
    }

    fn create(state_dir: &Path) -> anyhow::Result<Self> {
        fs::create_dir_all(state_dir).map_err(|e| anyhow::anyhow!("{}: {e}", state_dir.display()))?;
        let key_pair = rcgen::KeyPair::generate()?;
        let cert = rcgen::CertificateParams::new(vec![SERVER_NAME.to_owned()])?.self_signed(&key_pair)?;
        let cert = cert.der().clone();
        let key = PrivatePkcs8KeyDer::from(key_pair.serialize_der());
        crate::platform::fs::write_private(&state_dir.join(KEY_FILE), key.secret_pkcs8_der())?;
        crate::platform::fs::write_atomic(&state_dir.join(CERT_FILE), &cert)?;
        let peer_id =
            peer_id_of(&cert).ok_or_else(|| anyhow::anyhow!("made a certificate that cannot be read back"))?;
        tracing::info!("made a new node identity {peer_id} in {}", state_dir.display());
        Ok(Identity { peer_id, cert, key })
    }

    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key.clone_key())
    }
}

/// The peer id a certificate proves, if it is a readable X.509 certificate.
pub fn peer_id_of(cert: &[u8]) -> Option<PeerId> {
    subject_public_key_info(cert).map(|spki| PeerId(*blake3::hash(spki).as_bytes()))
}

/// Finds SubjectPublicKeyInfo in a DER certificate:
/// `Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL,
/// serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, … } … }`.
fn subject_public_key_info(cert: &[u8]) -> Option<&[u8]> {
    let (_, certificate, _) = der_element(cert, 0x30)?;
    let (_, tbs, _) = der_element(certificate, 0x30)?;
    let mut rest = tbs;
    if rest.first() == Some(&0xa0) {
        rest = der_element(rest, 0xa0)?.2;
    }
    for _ in 0..5 {
        let tag = *rest.first()?;
        rest = der_element(rest, tag)?.2;
    }
    let (whole, _, _) = der_element(rest, 0x30)?;
    Some(whole)
}

/// Splits one DER element with the expected `tag` off `input`:
/// (the whole element, its contents, what follows).
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8], &[u8])> {
    if *input.first()? != tag {
        return None;
    }
    let first = *input.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*input.get(2 + i)?);
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    if end > input.len() {
        return None;
    }
    Some((&input[..end], &input[header..end], &input[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = Identity::load_or_create(dir.path()).unwrap();
        let again = Identity::load_or_create(dir.path()).unwrap();
        assert_eq!(first.peer_id, again.peer_id);
        assert_eq!(first.cert, again.cert);
        let other = Identity::load_or_create(&dir.path().join("other")).unwrap();
        assert_ne!(first.peer_id, other.peer_id);
    }

    #[test]
    fn peer_id_is_the_hash_of_the_public_key() {
        let key_pair = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["x".into()]).unwrap().self_signed(&key_pair).unwrap();
        let expected = PeerId(*blake3::hash(&rcgen::PublicKeyData::subject_public_key_info(&key_pair)).as_bytes());
        assert_eq!(peer_id_of(cert.der()), Some(expected));
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert_eq!(peer_id_of(b""), None);
        assert_eq!(peer_id_of(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(peer_id_of(&[0x30, 0x03, 0x30, 0x01, 0x02]), None);
    }
}
