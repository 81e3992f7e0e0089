//! The endpoint clients connect to: a TCP (optionally TLS) listener in front of redis-server.
//!
//! Redis cannot check Google access tokens or AWS SigV4 auth tokens, so the proxy looks at every `AUTH`
//! and `HELLO … AUTH` a client sends and asks the simulator ([`Gate`]) what the credential is worth:
//! passwords of ordinary ACL users pass through unchanged; a valid token is swapped for the backend's
//! internal password of the user it authenticates; an invalid token is swapped for a credential Redis is
//! sure to refuse, so Redis itself answers `-WRONGPASS` in order with the client's other replies.
//! Every other byte is relayed unchanged in both directions — except on a read-only backend (a
//! Global Datastore secondary), where a write command is replaced by a command name Redis does
//! not know, and Redis's in-order error for it by `-READONLY`, the answer of a read-only replica.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};

use super::resp::{encode_command, parse_command};
use super::{Backend, Decision, Readiness, TlsMode};

/// An ACL user that never exists, used to make Redis refuse a credential.
const DENIED_USER: &[u8] = b"cloudsim-denied";
/// What a read-only replica answers to a write.
const READONLY: &[u8] = b"-READONLY You can't write against a read only replica.\r\n";

pub(super) async fn accept_loop(listener: TcpListener, backend: Arc<Backend>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // E.g. out of file descriptors: back off instead of spinning.
                tracing::warn!(error = %e, "redis proxy accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let backend = backend.clone();
        tokio::spawn(async move {
            if let Err(e) = serve(stream, backend).await {
                tracing::debug!(error = %e, "redis proxy connection ended");
            }
        });
    }
}

async fn serve(stream: TcpStream, backend: Arc<Backend>) -> std::io::Result<()> {
    let Readiness::Ready(socket) = backend.readiness() else {
        // Nothing serves this endpoint yet (or any more): close, like a port nobody listens on.
        return Ok(());
    };
    stream.set_nodelay(true)?;
    let use_tls = match backend.tls_mode() {
        TlsMode::Off => false,
        TlsMode::Required => true,
        TlsMode::Preferred => {
            let mut first = [0u8; 1];
            // A TLS ClientHello starts with a handshake record (0x16).
            stream.peek(&mut first).await? == 1 && first[0] == 0x16
        }
    };
    let redis = UnixStream::connect(&socket).await?;
    if use_tls {
        let tls = tokio_rustls::TlsAcceptor::from(backend.tls_config.clone())
            .accept(stream)
            .await?;
        relay(tls, redis, &backend, true).await
    } else {
        relay(stream, redis, &backend, false).await
    }
}

async fn relay<S>(client: S, redis: UnixStream, backend: &Backend, tls: bool) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let (mut client_rd, mut client_wr) = tokio::io::split(client);
    let (mut redis_rd, mut redis_wr) = redis.into_split();
    // Refused writes whose answer has not come back from Redis yet.
    let refused = AtomicUsize::new(0);
    let upstream = async {
        let r = client_to_redis(&mut client_rd, &mut redis_wr, backend, tls, &refused).await;
        let _ = redis_wr.shutdown().await;
        r
    };
    let downstream = async {
        let r = redis_to_client(&mut redis_rd, &mut client_wr, backend, &refused).await;
        let _ = client_wr.shutdown().await;
        r
    };
    tokio::pin!(upstream, downstream);
    tokio::select! {
        r = &mut downstream => r,
        r = &mut upstream => {
            // The client is done sending; Redis answers what is in flight, then closes.
            downstream.await?;
            r
        }
    }
}

async fn client_to_redis<R, W>(
    rd: &mut R,
    wr: &mut W,
    backend: &Backend,
    tls: bool,
    refused: &AtomicUsize,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
    loop {
        let mut protocol_error = false;
        loop {
            match parse_command(&buf) {
                Ok(Some(cmd)) => {
                    let frame = buf.split_to(cmd.len);
                    if refuse_write(&frame, &cmd.args, backend) {
                        refused.fetch_add(1, Ordering::SeqCst);
                        out.extend_from_slice(&encode_command(&[backend
                            .readonly_marker
                            .as_bytes()]));
                        continue;
                    }
                    match rewrite(&frame, &cmd.args, backend, tls) {
                        Some(new) => out.extend_from_slice(&new),
                        None => out.extend_from_slice(&frame),
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    protocol_error = true;
                    out.extend_from_slice(&buf.split());
                    break;
                }
            }
        }
        if !out.is_empty() {
            wr.write_all(&out).await?;
            out.clear();
        }
        if protocol_error {
            // Let Redis answer the malformed input itself; stop interpreting.
            tokio::io::copy(rd, wr).await?;
            return Ok(());
        }
        if rd.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
    }
}

/// Whether the command is a write a read-only backend refuses.
fn refuse_write(frame: &[u8], args: &[std::ops::Range<usize>], backend: &Backend) -> bool {
    backend.is_read_only()
        && args.first().is_some_and(|name| {
            backend.is_write(&frame[name.clone()], args.get(1).map(|a| &frame[a.clone()]))
        })
}

/// Relays Redis's answers; while refused writes are in flight, replaces Redis's error for each
/// marker command (`-ERR unknown command '<marker>', …`) by [`READONLY`].
async fn redis_to_client<R, W>(
    rd: &mut R,
    wr: &mut W,
    backend: &Backend,
    refused: &AtomicUsize,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let marker = format!("'{}'", backend.readonly_marker).into_bytes();
    let mut buf = BytesMut::with_capacity(16 * 1024);
    loop {
        if rd.read_buf(&mut buf).await? == 0 {
            wr.write_all(&buf).await?;
            return Ok(());
        }
        if refused.load(Ordering::SeqCst) == 0 {
            wr.write_all(&buf).await?;
            buf.clear();
        } else {
            let (out, rest, replaced) = substitute_readonly(&buf, &marker);
            wr.write_all(&out).await?;
            refused.fetch_sub(replaced, Ordering::SeqCst);
            buf = BytesMut::from(rest);
        }
        // What Redis answered goes out now (a TLS writer may hold it otherwise).
        wr.flush().await?;
    }
}

/// Splits `buf` into what can be sent now (marker error lines replaced by [`READONLY`]) and a
/// tail to keep: an unfinished line that may still turn out to be a marker error. Returns how
/// many lines were replaced.
fn substitute_readonly<'a>(buf: &'a [u8], marker: &[u8]) -> (Vec<u8>, &'a [u8], usize) {
    let mut out = Vec::with_capacity(buf.len());
    let mut replaced = 0;
    let mut pos = 0;
    while let Some(found) = find(&buf[pos..], marker).map(|i| pos + i) {
        let line_start = buf[..found]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1)
            .max(pos);
        let Some(end) = find(&buf[found..], b"\r\n").map(|i| found + i + 2) else {
            break;
        };
        out.extend_from_slice(&buf[pos..line_start]);
        if buf.get(line_start) == Some(&b'-') {
            out.extend_from_slice(READONLY);
            replaced += 1;
        } else {
            out.extend_from_slice(&buf[line_start..end]);
        }
        pos = end;
    }
    // Keep an unfinished error line: it may be the answer to a marker.
    let keep_from = buf[pos..]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(pos, |i| pos + i + 1);
    let keep_from = if buf.get(keep_from) == Some(&b'-') {
        keep_from
    } else {
        buf.len()
    };
    out.extend_from_slice(&buf[pos..keep_from]);
    (out, &buf[keep_from..], replaced)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The bytes to send instead of an AUTH/HELLO command, or `None` to relay it unchanged.
fn rewrite(
    frame: &[u8],
    args: &[std::ops::Range<usize>],
    backend: &Backend,
    tls: bool,
) -> Option<Vec<u8>> {
    let arg = |i: usize| &frame[args[i].clone()];
    let name = arg(0);
    if name.eq_ignore_ascii_case(b"AUTH") {
        let (user, password) = match args.len() {
            2 => (None, arg(1)),
            3 => (Some(arg(1)), arg(2)),
            _ => return None,
        };
        let cred = credential(backend, user, password, tls)?;
        Some(encode_command(&[b"AUTH", &cred.0, &cred.1]))
    } else if name.eq_ignore_ascii_case(b"HELLO") {
        let at = (2..args.len()).find(|i| arg(*i).eq_ignore_ascii_case(b"AUTH"))?;
        if at + 2 >= args.len() {
            return None;
        }
        let cred = credential(backend, Some(arg(at + 1)), arg(at + 2), tls)?;
        let mut new: Vec<&[u8]> = (0..args.len()).map(arg).collect();
        new[at + 1] = &cred.0;
        new[at + 2] = &cred.1;
        Some(encode_command(&new))
    } else {
        None
    }
}

/// The (user, password) Redis should see, or `None` to keep the client's.
fn credential(
    backend: &Backend,
    user: Option<&[u8]>,
    password: &[u8],
    tls: bool,
) -> Option<(Vec<u8>, Vec<u8>)> {
    let user = match user {
        Some(u) => Some(std::str::from_utf8(u).ok()?),
        None => None,
    };
    let password = std::str::from_utf8(password).ok()?;
    let gate = backend.gate.upgrade()?;
    match gate.decide(&backend.key, user, password, tls) {
        Decision::PassThrough => None,
        Decision::Internal { user } => Some((
            user.into_bytes(),
            backend.internal_secret.as_bytes().to_vec(),
        )),
        Decision::Reject => Some((DENIED_USER.to_vec(), b"-".to_vec())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARKER: &[u8] = b"'cloudsim-readonly-x1'";

    #[test]
    fn marker_errors_become_readonly_in_place() {
        let buf = b"$3\r\nabc\r\n-ERR unknown command 'cloudsim-readonly-x1', with args beginning with: \r\n+OK\r\n";
        let (out, rest, n) = substitute_readonly(buf, MARKER);
        assert_eq!(n, 1);
        assert!(rest.is_empty());
        let mut want = b"$3\r\nabc\r\n".to_vec();
        want.extend_from_slice(READONLY);
        want.extend_from_slice(b"+OK\r\n");
        assert_eq!(out, want);
    }

    #[test]
    fn an_unfinished_error_line_is_kept_until_it_ends() {
        let whole =
            b":1\r\n-ERR unknown command 'cloudsim-readonly-x1', with args beginning with: \r\n";
        for cut in 5..whole.len() {
            let (out, rest, n) = substitute_readonly(&whole[..cut], MARKER);
            assert_eq!((out.as_slice(), n), (&b":1\r\n"[..], 0), "cut at {cut}");
            let mut joined = rest.to_vec();
            joined.extend_from_slice(&whole[cut..]);
            let (out, rest, n) = substitute_readonly(&joined, MARKER);
            assert_eq!(
                (out.as_slice(), rest, n),
                (READONLY, &b""[..], 1),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn other_data_passes_and_is_not_held() {
        let buf = b"$30\r\n-cloudsim-readonly-x1 in a value\r\n:5\r\n";
        let (out, rest, n) = substitute_readonly(buf, MARKER);
        assert_eq!((out.as_slice(), rest, n), (&buf[..], &b""[..], 0));
        let partial = b"+OK\r\n$5\r\nhel";
        let (out, rest, _) = substitute_readonly(partial, MARKER);
        assert_eq!((out.as_slice(), rest), (&partial[..], &b""[..]));
    }
}
