//! mDNS announce and browse (`_lanspread._udp.local.`).
//!
//! The instance name is the peer id; TXT carries the protocol version, port,
//! display name and library revision. Resolved services become connection
//! candidates that must present the announced peer id.

use std::net::{SocketAddr, SocketAddrV6};

use lanspread_proto::PeerId;
use lanspread_proto::peer::{MDNS_SERVICE_TYPE, PEER_PROTOCOL_VERSION, txt};
use mdns_sd::{ScopedIp, ServiceDaemon, ServiceEvent, ServiceInfo};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Candidate, Origin};

/// What this node announces.
#[derive(Debug, Clone)]
pub struct Announcement {
    pub peer_id: PeerId,
    pub port: u16,
    pub display_name: String,
    pub revision: u64,
    /// The node has a party key (a hint for the curious; never the key).
    pub party: bool,
}

/// A running mDNS responder and browser (clones share one daemon).
#[derive(Clone)]
pub struct Mdns {
    daemon: ServiceDaemon,
    own_fullname: Option<String>,
}

impl Mdns {
    /// Browses for peers (and announces us, if `announce` is given).
    pub fn start(
        announce: Option<&Announcement>,
        candidates: mpsc::UnboundedSender<Candidate>,
        cancel: CancellationToken,
    ) -> anyhow::Result<Self> {
        let daemon = ServiceDaemon::new().map_err(|e| anyhow::anyhow!("cannot start mDNS: {e}"))?;
        let mut mdns = Mdns { daemon, own_fullname: None };
        if let Some(announce) = announce {
            mdns.announce(announce)?;
        }
        let events = mdns.daemon.browse(MDNS_SERVICE_TYPE).map_err(|e| anyhow::anyhow!("cannot browse mDNS: {e}"))?;
        let own = mdns.own_fullname.clone();
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    () = cancel.cancelled() => break,
                    event = events.recv_async() => match event { Ok(e) => e, Err(_) => break },
                };
                if let Some(candidate) = candidate_of(event, own.as_deref())
                    && candidates.send(candidate).is_err()
                {
                    break;
                }
            }
        });
        Ok(mdns)
    }

    /// Announces us for the first time.
    fn announce(&mut self, a: &Announcement) -> anyhow::Result<()> {
        self.own_fullname = Some(self.register(a)?);
        Ok(())
    }

    /// Announces again, with a new library revision.
    pub fn update_revision(&self, a: &Announcement) {
        if let Err(e) = self.register(a) {
            tracing::warn!("{e}");
        }
    }

    fn register(&self, a: &Announcement) -> anyhow::Result<String> {
        let instance = a.peer_id.to_string();
        let port = a.port.to_string();
        let proto = PEER_PROTOCOL_VERSION.to_string();
        let revision = a.revision.to_string();
        let mut properties = vec![
            (txt::PROTOCOL, proto.as_str()),
            (txt::PEER_ID, instance.as_str()),
            (txt::PORT, port.as_str()),
            (txt::NAME, a.display_name.as_str()),
            (txt::REVISION, revision.as_str()),
        ];
        if a.party {
            properties.push((txt::PARTY, "1"));
        }
        let host = format!("{instance}.local.");
        let info = ServiceInfo::new(MDNS_SERVICE_TYPE, &instance, &host, "", a.port, &properties[..])
            .map_err(|e| anyhow::anyhow!("bad mDNS announcement: {e}"))?
            .enable_addr_auto();
        let fullname = info.get_fullname().to_owned();
        self.daemon.register(info).map_err(|e| anyhow::anyhow!("cannot announce over mDNS: {e}"))?;
        Ok(fullname)
    }

    /// Says goodbye on the network and stops the daemon.
    pub fn shutdown(self) {
        if let Some(name) = &self.own_fullname {
            let _ = self.daemon.unregister(name);
        }
        let _ = self.daemon.shutdown();
    }
}

impl std::fmt::Debug for Mdns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mdns").field("own_fullname", &self.own_fullname).finish_non_exhaustive()
    }
}

/// Where to reach an announced address: an IPv6 address carries the scope
/// (interface) it was heard on, without which a link-local one is unusable.
fn socket_addr(ip: &ScopedIp, port: u16) -> SocketAddr {
    match ip {
        ScopedIp::V6(v6) => SocketAddr::V6(SocketAddrV6::new(*v6.addr(), port, 0, v6.scope_id().index)),
        other => SocketAddr::new(other.to_ip_addr(), port),
    }
}

fn candidate_of(event: ServiceEvent, own: Option<&str>) -> Option<Candidate> {
    match event {
        ServiceEvent::ServiceResolved(info) => {
            if Some(info.get_fullname()) == own {
                return None;
            }
            let proto = info.get_property_val_str(txt::PROTOCOL);
            if proto != Some(PEER_PROTOCOL_VERSION.to_string().as_str()) {
                tracing::debug!("mDNS: {} speaks protocol {proto:?}, ignoring", info.get_fullname());
                return None;
            }
            let peer_id: PeerId = info.get_property_val_str(txt::PEER_ID)?.parse().ok()?;
            let port = info.get_port();
            let mut addrs: Vec<SocketAddr> = info.addresses.iter().map(|a| socket_addr(a, port)).collect();
            // IPv4 first: our sockets are IPv4 unless `--listen` says otherwise.
            addrs.sort_by_key(|a| (a.is_ipv6(), *a));
            Some(Candidate::Found {
                key: info.get_fullname().to_owned(),
                addrs,
                expected: Some(peer_id),
                origin: Origin::Mdns,
            })
        }
        ServiceEvent::ServiceRemoved(_, fullname) => Some(Candidate::Gone { key: fullname }),
        _ => None,
    }
}
