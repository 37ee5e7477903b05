//! The transport's floor, for `scripts/bench.sh`: the same QUIC and TLS
//! configuration as LanSpread's peers (`net::transport`), moving bytes from
//! memory to nowhere. A request is a 4-byte length; the answer is that many
//! bytes of one shared buffer (no copy on either side, no disk, no hash).
//!
//! ```text
//! raw_quinn serve ADDR STATE_DIR      # prints "listening on ADDR", serves one connection
//! raw_quinn fetch ADDR BYTES          # prints {"bytes":…,"seconds":…}
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use bytes::Bytes;
use lanspread_worker::net::identity::Identity;
use lanspread_worker::net::transport;
use tokio::task::JoinSet;

/// The size of one request, as LanSpread's chunks.
const REQUEST: u32 = 4 * 1024 * 1024;
/// Requests in flight, as a LanSpread peer's window on a fast link.
const IN_FLIGHT: usize = 8;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["serve", addr, state] => serve(addr.parse()?, state).await,
        ["fetch", addr, bytes] => fetch(addr.parse()?, bytes.parse()?).await,
        _ => anyhow::bail!("usage: raw_quinn serve ADDR STATE_DIR | raw_quinn fetch ADDR BYTES"),
    }
}

async fn serve(addr: SocketAddr, state: &str) -> anyhow::Result<()> {
    let identity = Identity::load_or_create(state.as_ref())?;
    let endpoint = quinn::Endpoint::server(transport::server_config(&identity)?, addr)?;
    println!("listening on {}", endpoint.local_addr()?);
    let payload = Bytes::from(vec![0x5a; REQUEST as usize]);
    // One connection, then exit, so the caller can time the whole process.
    let conn = endpoint.accept().await.context("endpoint closed")?.await?;
    while let Ok((mut send, mut recv)) = conn.accept_bi().await {
        let payload = payload.clone();
        tokio::spawn(async move {
            let mut len = [0u8; 4];
            if recv.read_exact(&mut len).await.is_err() {
                return;
            }
            let len = (u32::from_le_bytes(len) as usize).min(payload.len());
            let _ = send.write_chunk(payload.slice(..len)).await;
            let _ = send.finish();
            let _ = send.stopped().await;
        });
    }
    Ok(())
}

async fn fetch(addr: SocketAddr, total: u64) -> anyhow::Result<()> {
    let endpoint = transport::transfer_endpoint()?;
    let conn = endpoint.connect_with(transport::client_config(None)?, addr, "lanspread")?.await.context("connect")?;
    let conn = Arc::new(conn);
    let started = Instant::now();
    let mut requests = (0..total.div_ceil(u64::from(REQUEST))).map(|i| {
        let left = total - i * u64::from(REQUEST);
        left.min(u64::from(REQUEST)) as u32
    });
    let mut tasks = JoinSet::new();
    let mut received = 0u64;
    loop {
        while tasks.len() < IN_FLIGHT {
            let Some(len) = requests.next() else { break };
            let conn = conn.clone();
            tasks.spawn(async move {
                let (mut send, mut recv) = conn.open_bi().await?;
                send.write_all(&len.to_le_bytes()).await?;
                send.finish()?;
                let mut got = 0u64;
                while let Some(chunk) = recv.read_chunk(usize::MAX, true).await? {
                    got += chunk.bytes.len() as u64;
                }
                anyhow::Ok(got)
            });
        }
        match tasks.join_next().await {
            Some(done) => received += done??,
            None => break,
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    conn.close(0u32.into(), b"done");
    endpoint.wait_idle().await;
    println!("{{\"bytes\":{received},\"seconds\":{seconds:.3}}}");
    Ok(())
}
