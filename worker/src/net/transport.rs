//! QUIC and TLS configuration for a LAN.
//!
//! Servers present the node's self-signed certificate. Clients accept a
//! certificate only for the key it claims (see `PeerVerifier`): when the
//! peer id is known in advance (mDNS) it must match; otherwise (a static
//! peer) it becomes the peer's id, and the peer's hello must agree.

use std::sync::Arc;
use std::time::Duration;

use lanspread_proto::PeerId;
use lanspread_proto::peer::ALPN;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::identity::{Identity, peer_id_of};

/// Concurrent requests one peer connection may have open at once.
pub const MAX_STREAMS_PER_PEER: u32 = 64;
/// A connection with no traffic for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Keep-alives keep a cached connection open between pings.
const KEEP_ALIVE: Duration = Duration::from_secs(3);

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Per-stream flow-control window: a whole chunk (1 MiB, 4 MiB for a game
/// past 256 GiB) plus headroom, so one chunk never waits for window updates.
const STREAM_WINDOW: u32 = 8 * 1024 * 1024;
/// Per-connection window: several chunks in flight; far above the
/// bandwidth-delay product of a LAN (1 Gbit/s × 1 ms = 125 KB), so the
/// window never limits, without letting one peer buffer without bound.
const CONNECTION_WINDOW: u32 = 48 * 1024 * 1024;
/// Largest UDP payload tried by MTU discovery (Ethernet 1500 minus IPv4 and
/// UDP headers); measured here to be worth ~18% over the default.
const MTU_UPPER_BOUND: u16 = 1472;

/// LAN-tuned transport. GSO (segmentation offload) stays on, as quinn
/// defaults: off, it costs 3.5× the time. The UDP send buffer is left
/// alone: raised, it overfills a shaped link's queue and loses packets.
fn transport() -> Arc<quinn::TransportConfig> {
    let mut transport = quinn::TransportConfig::default();
    let mut mtu = quinn::MtuDiscoveryConfig::default();
    mtu.upper_bound(MTU_UPPER_BOUND);
    transport
        .stream_receive_window(STREAM_WINDOW.into())
        .receive_window(CONNECTION_WINDOW.into())
        .send_window(u64::from(CONNECTION_WINDOW))
        .mtu_discovery_config(Some(mtu))
        .max_concurrent_bidi_streams(MAX_STREAMS_PER_PEER.into())
        .max_concurrent_uni_streams(0u8.into())
        .keep_alive_interval(Some(KEEP_ALIVE))
        .max_idle_timeout(Some(IDLE_TIMEOUT.try_into().expect("idle timeout fits")));
    Arc::new(transport)
}

/// A client-only endpoint for one game's transfer, on its own UDP socket.
///
/// Its connection ids are empty, so every packet a peer sends it is 8 bytes
/// shorter: about 0.6% more payload on a full link, which is most of what
/// separates QUIC from TCP here. That is safe because this endpoint holds
/// at most one connection per peer address, so the address alone tells its
/// connections apart.
pub fn transfer_endpoint() -> std::io::Result<quinn::Endpoint> {
    let mut config = quinn::EndpointConfig::default();
    config.cid_generator(|| Box::new(EmptyConnectionIds));
    let socket = std::net::UdpSocket::bind(std::net::SocketAddr::from(([0, 0, 0, 0], 0)))?;
    let runtime = quinn::default_runtime().ok_or_else(|| std::io::Error::other("no async runtime"))?;
    quinn::Endpoint::new(config, None, socket, runtime)
}

/// Zero-length connection ids.
#[derive(Debug)]
struct EmptyConnectionIds;

impl quinn::ConnectionIdGenerator for EmptyConnectionIds {
    fn generate_cid(&mut self) -> quinn::ConnectionId {
        quinn::ConnectionId::new(&[])
    }

    fn cid_len(&self) -> usize {
        0
    }

    fn cid_lifetime(&self) -> Option<Duration> {
        None
    }
}

/// The server side of a node.
pub fn server_config(identity: &Identity) -> anyhow::Result<quinn::ServerConfig> {
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(vec![identity.cert.clone()], identity.private_key())?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(tls)?));
    config.transport_config(transport());
    Ok(config)
}

/// A client config that accepts only `expected` (or any key, if `None`).
pub fn client_config(expected: Option<PeerId>) -> anyhow::Result<quinn::ClientConfig> {
    let provider = provider();
    let mut tls = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PeerVerifier { expected, provider }))
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let mut config = quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(tls)?));
    config.transport_config(transport());
    Ok(config)
}

/// Accepts a server certificate by the key it carries, not by a CA chain.
/// The TLS handshake signature is still checked, so the server must hold
/// the private key of the id it claims.
#[derive(Debug)]
struct PeerVerifier {
    expected: Option<PeerId>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let id =
            peer_id_of(end_entity).ok_or(rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
        match self.expected {
            Some(expected) if expected != id => {
                Err(rustls::Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure))
            }
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
