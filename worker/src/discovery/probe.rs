//! A one-shot mDNS question asked from an ordinary UDP port, so a node that
//! has just started hears every peer at once.
//!
//! mDNS responders multicast a record at most once a second (RFC 6762 §6):
//! a browser that asks right after somebody else did gets no answer until
//! its next question, a second or more later. A question from a port other
//! than 5353 is a "legacy unicast" query (§6.7), which responders answer at
//! once, by unicast, with no rate limit. Each answer's TXT record carries
//! the peer's id, port and protocol ([`txt`]); the answer's source address
//! is where it is. Answers are hostile input: parsed within the datagram,
//! bounded in number, and each becomes a candidate that must prove its id.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use lanspread_proto::PeerId;
use lanspread_proto::peer::{MDNS_SERVICE_TYPE, PEER_PROTOCOL_VERSION, txt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Candidate, Origin};

/// How long answers are listened for.
pub const PROBE_LISTEN: Duration = Duration::from_millis(1500);
/// The question is asked again after this long, in case a datagram was lost.
const PROBE_REPEAT: Duration = Duration::from_millis(300);
/// Answers taken from one probe at most.
pub const MAX_PROBE_ANSWERS: usize = 64;
/// Resource records read from one answer at most.
const MAX_RECORDS: usize = 64;
/// Largest datagram read (a jumbo frame).
const MAX_DATAGRAM: usize = 9000;
const MDNS_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 251);
const MDNS_PORT: u16 = 5353;
const TYPE_TXT: u16 = 16;
const TYPE_PTR: u16 = 12;
const CLASS_IN: u16 = 1;
/// The id of our questions (answers to legacy queries echo it).
const QUESTION_ID: u16 = 0x4c53;

/// Asks on every IPv4 interface and turns the answers into candidates,
/// skipping `own` (this node's own announcement).
pub async fn probe(candidates: mpsc::UnboundedSender<Candidate>, own: PeerId, cancel: CancellationToken) {
    let socket = match open_socket() {
        Ok(socket) => socket,
        Err(e) => {
            tracing::debug!("mDNS probe: no socket: {e}");
            return;
        }
    };
    let question = question();
    ask(&socket, &question);
    let Ok(socket) = tokio::net::UdpSocket::from_std(socket.into()) else { return };
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut taken = 0;
    let deadline = tokio::time::Instant::now() + PROBE_LISTEN;
    let repeat = tokio::time::sleep(PROBE_REPEAT);
    tokio::pin!(repeat);
    let mut repeated = false;
    while taken < MAX_PROBE_ANSWERS {
        let received = tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep_until(deadline) => return,
            () = &mut repeat, if !repeated => {
                repeated = true;
                ask(&socket2::SockRef::from(&socket), &question);
                continue;
            }
            received = socket.recv_from(&mut buf) => received,
        };
        let Ok((len, from)) = received else { continue };
        let IpAddr::V4(from_ip) = from.ip() else { continue };
        let Some(answer) = parse_answer(&buf[..len]) else { continue };
        if answer.peer_id == own {
            continue;
        }
        taken += 1;
        let candidate = Candidate::Found {
            key: format!("{}.{MDNS_SERVICE_TYPE}", answer.peer_id),
            addrs: vec![SocketAddr::new(IpAddr::V4(from_ip), answer.port)],
            expected: Some(answer.peer_id),
            origin: Origin::Probe,
        };
        if candidates.send(candidate).is_err() {
            return;
        }
    }
}

/// Sends `question` to the mDNS group out of every IPv4 interface.
fn ask(socket: &socket2::Socket, question: &[u8]) {
    for ip in interfaces() {
        let sent = socket
            .set_multicast_if_v4(&ip)
            .and_then(|()| socket.send_to(question, &SocketAddrV4::new(MDNS_GROUP, MDNS_PORT).into()));
        if let Err(e) = sent {
            tracing::debug!("mDNS probe on {ip}: {e}");
        }
    }
}

fn open_socket() -> std::io::Result<socket2::Socket> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    socket.set_multicast_ttl_v4(255)?;
    socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)).into())?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// The IPv4 addresses of the interfaces that are up, loopback included (a
/// peer on this PC answers there).
fn interfaces() -> Vec<Ipv4Addr> {
    let mut ips: Vec<Ipv4Addr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| i.is_oper_up() || i.is_loopback())
        .filter_map(|i| match i.ip() {
            IpAddr::V4(ip) => Some(ip),
            IpAddr::V6(_) => None,
        })
        .collect();
    ips.sort();
    ips.dedup();
    ips
}

/// A PTR question for our service type, as a legacy querier asks it.
fn question() -> Vec<u8> {
    let mut packet = Vec::with_capacity(64);
    packet.extend_from_slice(&QUESTION_ID.to_be_bytes());
    packet.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in MDNS_SERVICE_TYPE.trim_end_matches('.').split('.') {
        packet.push(label.len() as u8);
        packet.extend_from_slice(label.as_bytes());
    }
    packet.push(0);
    packet.extend_from_slice(&TYPE_PTR.to_be_bytes());
    packet.extend_from_slice(&CLASS_IN.to_be_bytes());
    packet
}

/// What one answer says of a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeAnswer {
    pub peer_id: PeerId,
    pub port: u16,
}

/// Reads a response datagram: the first TXT record that names a peer of
/// our protocol (id, port). `None` for anything else or anything malformed.
pub fn parse_answer(packet: &[u8]) -> Option<ProbeAnswer> {
    let mut at = Reader { packet, pos: 0 };
    let _id = at.u16()?;
    let flags = at.u16()?;
    if flags & 0x8000 == 0 {
        return None; // a question, not an answer
    }
    let questions = at.u16()?;
    let records = usize::from(at.u16()?) + usize::from(at.u16()?) + usize::from(at.u16()?);
    for _ in 0..questions.min(MAX_RECORDS as u16) {
        at.skip_name()?;
        at.skip(4)?;
    }
    for _ in 0..records.min(MAX_RECORDS) {
        at.skip_name()?;
        let kind = at.u16()?;
        at.skip(6)?; // class, TTL
        let len = usize::from(at.u16()?);
        let data = at.take(len)?;
        if kind == TYPE_TXT
            && let Some(answer) = peer_in_txt(data)
        {
            return Some(answer);
        }
    }
    None
}

/// The peer a TXT record's `key=value` strings describe, if it speaks our
/// protocol.
fn peer_in_txt(data: &[u8]) -> Option<ProbeAnswer> {
    let (mut id, mut port, mut proto) = (None, None, None);
    let mut at = Reader { packet: data, pos: 0 };
    while at.pos < data.len() {
        let len = usize::from(at.u8()?);
        let entry = std::str::from_utf8(at.take(len)?).ok()?;
        let Some((key, value)) = entry.split_once('=') else { continue };
        match key {
            txt::PEER_ID => id = value.parse::<PeerId>().ok(),
            txt::PORT => port = value.parse::<u16>().ok().filter(|p| *p != 0),
            txt::PROTOCOL => proto = value.parse::<u32>().ok(),
            _ => {}
        }
    }
    (proto? == PEER_PROTOCOL_VERSION).then_some(ProbeAnswer { peer_id: id?, port: port? })
}

/// A cursor over a datagram that never reads past its end.
struct Reader<'a> {
    packet: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let bytes = self.packet.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(bytes)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    /// Skips a domain name: labels up to a zero byte, or a compression
    /// pointer (which ends the name where it stands).
    fn skip_name(&mut self) -> Option<()> {
        for _ in 0..128 {
            let len = self.u8()?;
            match len {
                0 => return Some(()),
                l if l & 0xc0 == 0xc0 => return self.skip(1),
                l if l & 0xc0 == 0 => self.skip(usize::from(l))?,
                _ => return None,
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer as a responder sends it: the question echoed, a PTR answer
    /// with a compressed name, then a TXT record.
    fn answer(txt_entries: &[&str]) -> Vec<u8> {
        let mut packet = question();
        packet[2] = 0x84; // response, authoritative
        packet[7] = 1; // one answer
        packet[11] = 1; // one additional
        // PTR: name = pointer to the question's name at offset 12.
        packet.extend_from_slice(&[0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 10, 0, 2, 0xc0, 12]);
        // TXT with a compressed name.
        let mut data = Vec::new();
        for entry in txt_entries {
            data.push(entry.len() as u8);
            data.extend_from_slice(entry.as_bytes());
        }
        packet.extend_from_slice(&[0xc0, 12, 0, 16, 0x80, 1, 0, 0, 0, 10]);
        packet.extend_from_slice(&(data.len() as u16).to_be_bytes());
        packet.extend_from_slice(&data);
        packet
    }

    #[test]
    fn an_answer_names_the_peer_and_its_port() {
        let id = PeerId([7; 32]);
        let proto = format!("proto={PEER_PROTOCOL_VERSION}");
        let (id_entry, port) = (format!("id={id}"), "port=47474");
        let packet = answer(&[proto.as_str(), id_entry.as_str(), port, "name=lan"]);
        assert_eq!(parse_answer(&packet), Some(ProbeAnswer { peer_id: id, port: 47474 }));
        // Another protocol, a missing port, a question: nothing.
        assert_eq!(parse_answer(&answer(&["proto=1", id_entry.as_str(), port])), None);
        assert_eq!(parse_answer(&answer(&[proto.as_str(), id_entry.as_str()])), None);
        assert_eq!(parse_answer(&question()), None);
    }

    #[test]
    fn malformed_answers_are_nothing_and_never_panic() {
        let id = PeerId([7; 32]);
        let (proto, id_entry) = (format!("proto={PEER_PROTOCOL_VERSION}"), format!("id={id}"));
        let good = answer(&[proto.as_str(), id_entry.as_str(), "port=1"]);
        for cut in 0..good.len() {
            assert_eq!(parse_answer(&good[..cut]), None, "cut at {cut}");
        }
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..2000 {
            let mut noisy = good.clone();
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let at = (state % noisy.len() as u64) as usize;
                noisy[at] = (state >> 32) as u8;
            }
            let _ = parse_answer(&noisy);
        }
        // Labels that run past the end, and more records than bytes.
        let mut long = good[..12].to_vec();
        long[2] = 0x84;
        long.extend_from_slice(&[0x3f; 200]);
        assert_eq!(parse_answer(&long), None);
        let mut counts = good.clone();
        counts[6..12].copy_from_slice(&[0xff; 6]);
        assert!(parse_answer(&counts).is_some(), "counts are bounds, not promises");
    }
}
