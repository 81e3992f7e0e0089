//! Just enough of the Redis protocol to find command boundaries in what a client sends: RESP arrays of
//! bulk strings (what every client library sends) and inline commands (what telnet users type).

use std::ops::Range;

/// One complete command found at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Command {
    /// Bytes the command occupies in the buffer.
    pub len: usize,
    /// Where each argument lies in the buffer.
    pub args: Vec<Range<usize>>,
}

/// The buffer does not hold a valid command; the proxy stops interpreting and relays bytes unchanged.
#[derive(Debug, PartialEq, Eq)]
pub struct ProtocolError;

/// Redis refuses bulk strings above this size (proto-max-bulk-len default).
const MAX_BULK: usize = 512 * 1024 * 1024;
const MAX_ARGS: usize = 1024 * 1024;

fn line(buf: &[u8], from: usize) -> Option<usize> {
    buf[from..]
        .iter()
        .position(|b| *b == b'\n')
        .map(|p| from + p)
}

fn number(bytes: &[u8]) -> Result<i64, ProtocolError> {
    let s = std::str::from_utf8(bytes).map_err(|_| ProtocolError)?;
    s.trim_end_matches('\r').parse().map_err(|_| ProtocolError)
}

/// Finds the first command in `buf`: `Ok(None)` means more bytes are needed.
pub fn parse_command(buf: &[u8]) -> Result<Option<Command>, ProtocolError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    if first != b'*' {
        return Ok(parse_inline(buf));
    }
    let Some(eol) = line(buf, 0) else {
        return Ok(None);
    };
    let count = number(&buf[1..eol])?;
    if count <= 0 {
        return Ok(Some(Command {
            len: eol + 1,
            args: Vec::new(),
        }));
    }
    let count = usize::try_from(count).map_err(|_| ProtocolError)?;
    if count > MAX_ARGS {
        return Err(ProtocolError);
    }
    let mut pos = eol + 1;
    let mut args = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        if pos >= buf.len() {
            return Ok(None);
        }
        if buf[pos] != b'$' {
            return Err(ProtocolError);
        }
        let Some(eol) = line(buf, pos) else {
            return Ok(None);
        };
        let n = usize::try_from(number(&buf[pos + 1..eol])?).map_err(|_| ProtocolError)?;
        if n > MAX_BULK {
            return Err(ProtocolError);
        }
        let start = eol + 1;
        let end = start + n;
        if buf.len() < end + 2 {
            return Ok(None);
        }
        if &buf[end..end + 2] != b"\r\n" {
            return Err(ProtocolError);
        }
        args.push(start..end);
        pos = end + 2;
    }
    Ok(Some(Command { len: pos, args }))
}

fn parse_inline(buf: &[u8]) -> Option<Command> {
    let eol = line(buf, 0)?;
    let content_end = if eol > 0 && buf[eol - 1] == b'\r' {
        eol - 1
    } else {
        eol
    };
    let mut args = Vec::new();
    let mut i = 0;
    while i < content_end {
        while i < content_end && buf[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while i < content_end && !buf[i].is_ascii_whitespace() {
            i += 1;
        }
        if i > start {
            args.push(start..i);
        }
    }
    Some(Command { len: eol + 1, args })
}

/// Encodes a command as a RESP array of bulk strings.
pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args<'a>(buf: &'a [u8], c: &Command) -> Vec<&'a [u8]> {
        c.args.iter().map(|r| &buf[r.clone()]).collect()
    }

    #[test]
    fn finds_resp_commands_and_waits_for_partial_ones() {
        let buf = b"*2\r\n$4\r\nAUTH\r\n$5\r\ntoken\r\n*1\r\n$4\r\nPING\r\n";
        let c = parse_command(buf).unwrap().unwrap();
        assert_eq!(args(buf, &c), vec![&b"AUTH"[..], &b"token"[..]]);
        let rest = &buf[c.len..];
        let c2 = parse_command(rest).unwrap().unwrap();
        assert_eq!(args(rest, &c2), vec![&b"PING"[..]]);
        for cut in 1..c.len {
            assert_eq!(parse_command(&buf[..cut]), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn binary_values_with_crlf_inside_are_one_argument() {
        let cmd = encode_command(&[b"SET", b"k", b"a\r\nb"]);
        let c = parse_command(&cmd).unwrap().unwrap();
        assert_eq!(c.len, cmd.len());
        assert_eq!(args(&cmd, &c)[2], b"a\r\nb");
    }

    #[test]
    fn inline_commands_split_on_spaces() {
        let buf = b"AUTH  default  secret\r\nPING\n";
        let c = parse_command(buf).unwrap().unwrap();
        assert_eq!(
            args(buf, &c),
            vec![&b"AUTH"[..], &b"default"[..], &b"secret"[..]]
        );
        assert_eq!(parse_command(b"PING"), Ok(None));
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        assert_eq!(parse_command(b"*x\r\n"), Err(ProtocolError));
        assert_eq!(parse_command(b"*1\r\n:5\r\n"), Err(ProtocolError));
        assert_eq!(parse_command(b"*1\r\n$1\r\nab\r\n"), Err(ProtocolError));
    }
}
