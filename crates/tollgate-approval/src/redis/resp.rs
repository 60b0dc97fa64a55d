//! A minimal RESP2 client: commands as arrays of bulk strings, the five
//! reply types, one connection at a time. Enough for the store's few
//! commands, a Lua compare-and-set and one subscription.

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::StoreError;

/// A reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    pub(crate) fn bulk(self) -> Option<Vec<u8>> {
        match self {
            Reply::Bulk(b) => b,
            Reply::Simple(s) => Some(s.into_bytes()),
            _ => None,
        }
    }

    pub(crate) fn int(&self) -> Option<i64> {
        match self {
            Reply::Int(i) => Some(*i),
            _ => None,
        }
    }
}

fn unavailable(what: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("redis: {what}"))
}

/// Where the server is: `redis://[:password@]host:port[/db]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) addr: String,
    pub(crate) password: Option<String>,
    pub(crate) db: u32,
}

impl Target {
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("redis://")
            .ok_or_else(|| format!("{url:?}: a redis URL starts with redis://"))?;
        let (auth, host) = match rest.rsplit_once('@') {
            Some((a, h)) => (Some(a), h),
            None => (None, rest),
        };
        let (hostport, db) = match host.split_once('/') {
            Some((h, d)) if !d.is_empty() => (
                h,
                d.parse::<u32>()
                    .map_err(|_| format!("{url:?}: the database must be a number"))?,
            ),
            Some((h, _)) => (h, 0),
            None => (host, 0),
        };
        if hostport.is_empty() {
            return Err(format!("{url:?}: no host"));
        }
        let addr = if hostport.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
            hostport.to_owned()
        } else {
            format!("{hostport}:6379")
        };
        let password = auth
            .map(|a| a.split_once(':').map_or(a, |(_, p)| p).to_owned())
            .filter(|p| !p.is_empty());
        Ok(Target { addr, password, db })
    }
}

/// One connection.
#[derive(Debug)]
pub(crate) struct Conn {
    io: BufReader<TcpStream>,
}

impl Conn {
    pub(crate) async fn open(t: &Target) -> Result<Self, StoreError> {
        let tcp = tokio::time::timeout(std::time::Duration::from_secs(5), TcpStream::connect(&t.addr))
            .await
            .map_err(|_| unavailable(format!("connecting to {} timed out", t.addr)))?
            .map_err(|e| unavailable(format!("connecting to {}: {e}", t.addr)))?;
        let _ = tcp.set_nodelay(true);
        let mut c = Conn {
            io: BufReader::new(tcp),
        };
        if let Some(p) = &t.password {
            c.ok(&[b"AUTH", p.as_bytes()]).await?;
        }
        if t.db != 0 {
            c.ok(&[b"SELECT", t.db.to_string().as_bytes()]).await?;
        }
        Ok(c)
    }

    pub(crate) async fn send(&mut self, args: &[&[u8]]) -> Result<(), StoreError> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.io.get_mut().write_all(&out).await.map_err(unavailable)
    }

    /// One command and its reply; a server error is an error.
    pub(crate) async fn cmd(&mut self, args: &[&[u8]]) -> Result<Reply, StoreError> {
        self.send(args).await?;
        match self.read().await? {
            Reply::Error(e) => Err(unavailable(e)),
            r => Ok(r),
        }
    }

    async fn ok(&mut self, args: &[&[u8]]) -> Result<(), StoreError> {
        self.cmd(args).await.map(|_| ())
    }

    /// Reads one reply.
    pub(crate) async fn read(&mut self) -> Result<Reply, StoreError> {
        read_reply(&mut self.io).await
    }
}

/// Reads one reply from any buffered reader (nesting is capped).
pub(crate) async fn read_reply<R: AsyncBufRead + Unpin>(r: &mut R) -> Result<Reply, StoreError> {
    Box::pin(read_depth(r, 0)).await
}

async fn line<R: AsyncBufRead + Unpin>(r: &mut R) -> Result<String, StoreError> {
    let mut l = Vec::new();
    let n = r.read_until(b'\n', &mut l).await.map_err(unavailable)?;
    if n == 0 {
        return Err(unavailable("the connection closed"));
    }
    if l.len() < 2 || l[l.len() - 2] != b'\r' {
        return Err(unavailable("a reply line without CRLF"));
    }
    l.truncate(l.len() - 2);
    String::from_utf8(l).map_err(|_| unavailable("a reply line that is not UTF-8"))
}

async fn read_depth<R: AsyncBufRead + Unpin>(r: &mut R, depth: u32) -> Result<Reply, StoreError> {
    if depth > 8 {
        return Err(unavailable("a reply nested too deep"));
    }
    let l = line(r).await?;
    let (kind, rest) = l.split_at(l.chars().next().map_or(0, char::len_utf8));
    let num = || {
        rest.parse::<i64>()
            .map_err(|_| unavailable(format!("a bad length {rest:?}")))
    };
    Ok(match kind {
        "+" => Reply::Simple(rest.to_owned()),
        "-" => Reply::Error(rest.to_owned()),
        ":" => Reply::Int(num()?),
        "$" => {
            let n = num()?;
            if n < 0 {
                Reply::Bulk(None)
            } else {
                let n = usize::try_from(n).map_err(unavailable)?;
                if n > 64 << 20 {
                    return Err(unavailable("a reply over 64 MiB"));
                }
                let mut b = vec![0; n + 2];
                r.read_exact(&mut b).await.map_err(unavailable)?;
                if &b[n..] != b"\r\n" {
                    return Err(unavailable("a bulk reply without CRLF"));
                }
                b.truncate(n);
                Reply::Bulk(Some(b))
            }
        }
        "*" => {
            let n = num()?;
            if n < 0 {
                Reply::Array(None)
            } else {
                let n = usize::try_from(n).map_err(unavailable)?.min(1 << 20);
                let mut items = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    items.push(Box::pin(read_depth(r, depth + 1)).await?);
                }
                Reply::Array(Some(items))
            }
        }
        other => return Err(unavailable(format!("an unknown reply type {other:?}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn replies() {
        let mut input: &[u8] = b"*3\r\n$3\r\nabc\r\n:42\r\n*-1\r\n+OK\r\n-ERR no\r\n$-1\r\n";
        assert_eq!(
            read_reply(&mut input).await.unwrap(),
            Reply::Array(Some(vec![
                Reply::Bulk(Some(b"abc".to_vec())),
                Reply::Int(42),
                Reply::Array(None)
            ]))
        );
        assert_eq!(read_reply(&mut input).await.unwrap(), Reply::Simple("OK".into()));
        assert_eq!(read_reply(&mut input).await.unwrap(), Reply::Error("ERR no".into()));
        assert_eq!(read_reply(&mut input).await.unwrap(), Reply::Bulk(None));
        assert!(read_reply(&mut input).await.is_err(), "closed");
        for bad in [
            &b"$5\r\nab\r\n"[..],
            b"*1\r\n",
            b"?x\r\n",
            b":x\r\n",
            b"+no crlf\n",
            b"$3\r\nabcXY",
        ] {
            let mut b = bad;
            assert!(read_reply(&mut b).await.is_err(), "{bad:?}");
        }
        let deep = "*1\r\n".repeat(20);
        assert!(read_reply(&mut deep.as_bytes()).await.is_err());
    }

    #[test]
    fn urls() {
        assert_eq!(
            Target::parse("redis://127.0.0.1:6380/2").unwrap(),
            Target {
                addr: "127.0.0.1:6380".into(),
                password: None,
                db: 2
            }
        );
        assert_eq!(
            Target::parse("redis://:s3cret@cache").unwrap(),
            Target {
                addr: "cache:6379".into(),
                password: Some("s3cret".into()),
                db: 0
            }
        );
        assert!(Target::parse("http://x").unwrap_err().contains("redis://"));
        assert!(Target::parse("redis://h/x").unwrap_err().contains("number"));
    }
}
