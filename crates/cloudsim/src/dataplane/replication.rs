//! Replication between two backends (ElastiCache Global Datastore): the target's redis-server
//! follows the source's through the Redis replication protocol, the way a replica does — a full
//! sync (`PSYNC ? -1`, the RDB loaded into the target), then every write the source propagates,
//! with `REPLCONF ACK` every second so the source keeps the link.
//!
//! The simulator drives the link over the servers' private unix sockets as their admin user,
//! rather than making the target a `REPLICAOF` the source: that command is refused in cluster
//! mode, and would need the source's TCP port, TLS and ACL. Clients see the target read-only:
//! the proxy answers `-READONLY` to write commands and the ACL denies writes from scripts.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedReadHalf;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::resp::{encode_command, parse_command};
use super::{Backend, BackendKey, Readiness, process::ADMIN_USER};

/// How long a broken link waits before it syncs again (the source restarting, or still starting).
const RETRY: Duration = Duration::from_millis(250);
/// A replica acknowledges its offset every second (`repl-timeout` drops silent replicas).
const ACK_EVERY: Duration = Duration::from_secs(1);

/// Where a link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LinkState {
    /// Connecting, or loading the source's data.
    Syncing,
    /// Streaming writes; everything up to this replication offset of the source is applied.
    Streaming(u64),
}

/// A running link: the target follows `source` until the link is dropped.
pub(super) struct Link {
    pub(super) source: BackendKey,
    task: JoinHandle<()>,
    pub(super) state: watch::Receiver<LinkState>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(super) fn start(source: Arc<Backend>, target: Arc<Backend>, binary: PathBuf) -> Link {
    let (tx, rx) = watch::channel(LinkState::Syncing);
    let key = source.key.clone();
    let task = tokio::spawn(async move {
        loop {
            match follow(&source, &target, &binary, &tx).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(source = %source.key, target = %target.key, error = format!("{e:#}"), "replication link broke; syncing again");
                }
            }
            tx.send_replace(LinkState::Syncing);
            tokio::time::sleep(RETRY).await;
        }
    });
    Link {
        source: key,
        task,
        state: rx,
    }
}

/// The unix socket of a backend once it serves; `None` once it stopped for good.
async fn serving(b: &Backend) -> Option<PathBuf> {
    let mut rx = b.ready.subscribe();
    let r = rx
        .wait_for(|r| *r != Readiness::Starting)
        .await
        .ok()?
        .clone();
    match r {
        Readiness::Ready(socket) => Some(socket),
        _ => None,
    }
}

/// One full sync and the stream after it. `Ok` when either side stopped for good.
async fn follow(
    source: &Backend,
    target: &Backend,
    binary: &std::path::Path,
    tx: &watch::Sender<LinkState>,
) -> anyhow::Result<()> {
    let (Some(socket), Some(_)) = (serving(source).await, serving(target).await) else {
        return Ok(());
    };
    let password = {
        let state = source.state.lock().await;
        let p = state.process.as_ref().context("the source stopped")?;
        p.admin_password().to_owned()
    };
    let (mut rd, mut wr) = UnixStream::connect(&socket).await?.into_split();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    wr.write_all(&encode_command(&[
        b"AUTH",
        ADMIN_USER.as_bytes(),
        password.as_bytes(),
    ]))
    .await?;
    let ok = read_line(&mut rd, &mut buf).await?;
    if ok != b"+OK" {
        bail!("AUTH: {}", String::from_utf8_lossy(&ok));
    }
    wr.write_all(&encode_command(&[b"PSYNC", b"?", b"-1"]))
        .await?;
    let reply = read_line(&mut rd, &mut buf).await?;
    let reply = String::from_utf8_lossy(&reply).into_owned();
    let mut offset: u64 = reply
        .strip_prefix("+FULLRESYNC ")
        .and_then(|r| r.split(' ').nth(1))
        .and_then(|o| o.parse().ok())
        .ok_or_else(|| anyhow!("PSYNC: {reply}"))?;
    let header = read_line(&mut rd, &mut buf).await?;
    let len: usize = std::str::from_utf8(&header)
        .ok()
        .and_then(|h| h.strip_prefix('$'))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            anyhow!(
                "expected the RDB payload, got {:?}",
                String::from_utf8_lossy(&header)
            )
        })?;
    while buf.len() < len {
        if rd.read_buf(&mut buf).await? == 0 {
            bail!("the source closed the link during the full sync");
        }
    }
    let rdb = buf.split_to(len);
    let mut con = {
        let state = target.state.lock().await;
        let p = state.process.as_ref().context("the target stopped")?;
        let mut admin = p.admin().await?;
        redis::cmd("FLUSHALL").query_async::<()>(&mut admin).await?;
        let keys = p.seed(binary, &rdb).await?;
        tracing::info!(source = %source.key, target = %target.key, keys, "replication: full sync done");
        admin
    };
    tx.send_replace(LinkState::Streaming(offset));
    let mut ack = tokio::time::interval(ACK_EVERY);
    loop {
        while let Some(cmd) =
            parse_command(&buf).map_err(|_| anyhow!("malformed replication stream"))?
        {
            let frame = buf.split_to(cmd.len);
            offset += cmd.len as u64;
            let Some(first) = cmd.args.first() else {
                continue;
            };
            let name = frame[first.clone()].to_ascii_lowercase();
            match name.as_slice() {
                b"ping" => {}
                b"replconf" => {
                    let getack = cmd
                        .args
                        .get(1)
                        .is_some_and(|a| frame[a.clone()].eq_ignore_ascii_case(b"getack"));
                    if getack {
                        send_ack(&mut wr, offset).await?;
                    }
                }
                _ => {
                    let mut c = redis::cmd(std::str::from_utf8(&name).unwrap_or("-"));
                    for a in &cmd.args[1..] {
                        c.arg(&frame[a.clone()]);
                    }
                    match c.query_async::<redis::Value>(&mut con).await {
                        Ok(_) => {}
                        Err(e) if e.is_io_error() || e.is_connection_dropped() => {
                            return if serving(target).await.is_some() {
                                Err(e.into())
                            } else {
                                Ok(())
                            };
                        }
                        Err(e) => {
                            tracing::debug!(target = %target.key, error = %e, "a replicated command failed");
                        }
                    }
                }
            }
            tx.send_replace(LinkState::Streaming(offset));
        }
        tokio::select! {
            n = rd.read_buf(&mut buf) => {
                if n? == 0 {
                    return if source.readiness() == Readiness::Stopped {
                        Ok(())
                    } else {
                        Err(anyhow!("the source closed the link"))
                    };
                }
            }
            _ = ack.tick() => send_ack(&mut wr, offset).await?,
        }
    }
}

async fn send_ack(wr: &mut tokio::net::unix::OwnedWriteHalf, offset: u64) -> std::io::Result<()> {
    wr.write_all(&encode_command(&[
        b"REPLCONF",
        b"ACK",
        offset.to_string().as_bytes(),
    ]))
    .await
}

/// The next line (without its line ending), skipping the empty lines a source sends to keep the
/// link alive while it prepares the RDB file.
async fn read_line(rd: &mut OwnedReadHalf, buf: &mut BytesMut) -> anyhow::Result<Vec<u8>> {
    loop {
        if let Some(eol) = buf.iter().position(|b| *b == b'\n') {
            let line = buf.split_to(eol + 1);
            let line = line.strip_suffix(b"\r\n").unwrap_or(&line[..eol]);
            if line.is_empty() {
                continue;
            }
            return Ok(line.to_vec());
        }
        if buf.len() > 64 * 1024 {
            bail!("no line ending from the source");
        }
        if rd.read_buf(buf).await? == 0 {
            bail!("the source closed the link");
        }
    }
}

/// Waits until the link applied everything the source had written when this was called (what a
/// planned promotion waits for). False when the link is gone or does not catch up in `within`.
pub(super) async fn caught_up(
    source: &Backend,
    mut state: watch::Receiver<LinkState>,
    within: Duration,
) -> bool {
    let goal = {
        let st = source.state.lock().await;
        let Some(p) = st.process.as_ref() else {
            return false;
        };
        let Ok(mut con) = p.admin().await else {
            return false;
        };
        let info: redis::RedisResult<String> = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut con)
            .await;
        match info.ok().and_then(|i| master_offset(&i)) {
            Some(o) => o,
            None => return false,
        }
    };
    tokio::time::timeout(
        within,
        state.wait_for(|s| matches!(s, LinkState::Streaming(o) if *o >= goal)),
    )
    .await
    .is_ok_and(|r| r.is_ok())
}

fn master_offset(info: &str) -> Option<u64> {
    info.lines()
        .find_map(|l| l.strip_prefix("master_repl_offset:"))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_offset_is_read_from_info() {
        let info =
            "# Replication\r\nrole:master\r\nconnected_slaves:1\r\nmaster_repl_offset:1234\r\n";
        assert_eq!(master_offset(info), Some(1234));
        assert_eq!(master_offset("role:master\r\n"), None);
    }

    #[tokio::test]
    async fn lines_skip_keepalives_and_either_ending() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let (mut rd, _wr) = a.into_split();
        b.write_all(b"\n\n+FULLRESYNC id 7\r\n$3\nabc")
            .await
            .unwrap();
        let mut buf = BytesMut::new();
        assert_eq!(
            read_line(&mut rd, &mut buf).await.unwrap(),
            b"+FULLRESYNC id 7"
        );
        assert_eq!(read_line(&mut rd, &mut buf).await.unwrap(), b"$3");
        assert_eq!(&buf[..], b"abc");
        drop(b);
        assert!(read_line(&mut rd, &mut buf).await.is_err());
    }
}
