//! Where the approvals live: the Redis URL forms, parsed and checked before
//! anything connects.
//!
//! | form | what |
//! |---|---|
//! | `redis://[user[:password]@]host[:port][/db]` | one server |
//! | `rediss://…` | the same over TLS |
//! | `redis+sentinel://[user[:password]@]s1[:port],s2…/master[/db]` | the master Sentinel names (sentinel port 26379) |
//! | `redis+cluster://[user[:password]@]n1[:port],n2…` | a Redis Cluster (no database number) |
//!
//! `rediss+sentinel://` and `rediss+cluster://` speak TLS to every node.
//! The user name and password are percent-decoded; the password never
//! appears in an error (see [`redacted`]).

use std::fmt;

/// How the servers are arranged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topology {
    /// One server (perhaps behind a load balancer or a managed endpoint).
    Single,
    /// Sentinels that name the current master of `master`.
    Sentinel {
        /// The master's name in the Sentinels' configuration.
        master: String,
    },
    /// A Redis Cluster, found from any of its nodes.
    Cluster,
}

/// A parsed Redis URL.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisTarget {
    /// How the servers are arranged.
    pub topology: Topology,
    /// TLS to every node.
    pub tls: bool,
    /// Host and port of each server (sentinels, or seed nodes).
    pub nodes: Vec<(String, u16)>,
    /// The ACL user (`AUTH user password`); none means `default`.
    pub username: Option<String>,
    /// The password.
    pub password: Option<String>,
    /// The database number (always 0 in a cluster).
    pub db: i64,
}

impl fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTarget")
            .field("topology", &self.topology)
            .field("tls", &self.tls)
            .field("nodes", &self.nodes)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("db", &self.db)
            .finish()
    }
}

const SCHEMES: &str =
    "redis://, rediss://, redis+sentinel://, rediss+sentinel://, redis+cluster:// or rediss+cluster://";

/// `url` with its password replaced by `***`, for messages and logs.
///
/// ```
/// use tollgate_approval::redis_url::redacted;
/// assert_eq!(redacted("rediss://app:s3cret@cache:6380/2"), "rediss://app:***@cache:6380/2");
/// assert_eq!(redacted("redis://cache"), "redis://cache");
/// ```
pub fn redacted(url: &str) -> String {
    // Host names and paths never hold an `@`: the last one ends the user
    // information, whatever the password contains.
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((info, after)) => match info.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{after}"),
            None => format!("{scheme}://{info}@{after}"),
        },
        None => url.to_owned(),
    }
}

impl RedisTarget {
    /// Parses one of the forms in the [module docs](self).
    ///
    /// ```
    /// use tollgate_approval::redis_url::{RedisTarget, Topology};
    /// let t = RedisTarget::parse("redis+sentinel://s1,s2:26380/approvals/2")?;
    /// assert_eq!(t.topology, Topology::Sentinel { master: "approvals".into() });
    /// assert_eq!(t.nodes, [("s1".to_owned(), 26379), ("s2".to_owned(), 26380)]);
    /// assert_eq!(t.db, 2);
    /// # Ok::<(), String>(())
    /// ```
    ///
    /// # Errors
    /// A message naming what is wrong (the password redacted).
    pub fn parse(url: &str) -> Result<RedisTarget, String> {
        let shown = redacted(url);
        let bad = |why: &str| format!("{shown:?}: {why}");
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad(&format!("a Redis URL starts with {SCHEMES}")))?;
        let (topology_kind, tls) = match scheme.to_ascii_lowercase().as_str() {
            "redis" => ("single", false),
            "rediss" => ("single", true),
            "redis+sentinel" => ("sentinel", false),
            "rediss+sentinel" => ("sentinel", true),
            "redis+cluster" => ("cluster", false),
            "rediss+cluster" => ("cluster", true),
            _ => return Err(bad(&format!("a Redis URL starts with {SCHEMES}"))),
        };
        let (userinfo, rest) = match rest.rsplit_once('@') {
            Some((info, after)) => (Some(info), after),
            None => (None, rest),
        };
        if rest.contains('#') {
            return Err(bad(
                "fragments such as #insecure are not accepted: give the server's CA (redisCaFile) instead of turning verification off",
            ));
        }
        if rest.contains('?') {
            return Err(bad(
                "query parameters are not accepted: the password file and CA are settings of their own (redisPasswordFile, redisCaFile)",
            ));
        }
        let (hosts, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(u) => {
                let (user, pass) = match u.split_once(':') {
                    Some((user, pass)) => (user, Some(pass)),
                    None => (u, None),
                };
                let user = decode(user).map_err(|e| bad(&format!("the user name {e}")))?;
                let pass = pass
                    .map(decode)
                    .transpose()
                    .map_err(|e| bad(&format!("the password {e}")))?;
                (Some(user).filter(|u| !u.is_empty()), pass.filter(|p| !p.is_empty()))
            }
        };
        let default_port = if topology_kind == "sentinel" { 26379 } else { 6379 };
        let mut nodes = Vec::new();
        for h in hosts.split(',') {
            nodes.push(host_port(h, default_port).map_err(|e| bad(&e))?);
        }
        let segments: Vec<&str> = if path.is_empty() {
            Vec::new()
        } else {
            path.split('/').collect()
        };
        let db_of = |s: &str| {
            s.parse::<i64>()
                .ok()
                .filter(|d| (0..=1_000_000).contains(d))
                .ok_or_else(|| bad(&format!("the database {s:?} is not a number")))
        };
        let (topology, db) = match topology_kind {
            "single" => {
                if nodes.len() != 1 {
                    return Err(bad(
                        "redis:// names one server; several are redis+sentinel:// (sentinels) or redis+cluster:// (cluster nodes)",
                    ));
                }
                match segments.as_slice() {
                    [] | [""] => (Topology::Single, 0),
                    [d] => (Topology::Single, db_of(d)?),
                    _ => return Err(bad("the path is at most a database number (/0)")),
                }
            }
            "sentinel" => match segments.as_slice() {
                [] | [""] => {
                    return Err(bad(
                        "redis+sentinel:// needs the master's name as its path (redis+sentinel://s1,s2/mymaster)",
                    ));
                }
                [m] => (
                    Topology::Sentinel {
                        master: master(m).map_err(|e| bad(&e))?,
                    },
                    0,
                ),
                [m, d] => (
                    Topology::Sentinel {
                        master: master(m).map_err(|e| bad(&e))?,
                    },
                    db_of(d)?,
                ),
                _ => return Err(bad("the path is the master's name and at most a database number")),
            },
            _ => match segments.as_slice() {
                [] | ["" | "0"] => (Topology::Cluster, 0),
                _ => return Err(bad("a Redis Cluster has no databases: drop the path")),
            },
        };
        Ok(RedisTarget {
            topology,
            tls,
            nodes,
            username,
            password,
            db,
        })
    }
}

fn master(m: &str) -> Result<String, String> {
    let m = decode(m).map_err(|e| format!("the master name {e}"))?;
    if m.is_empty() || m.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{m:?} is not a master name"));
    }
    Ok(m)
}

fn decode(s: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| "is not UTF-8 once percent-decoded".to_owned())
}

fn host_port(h: &str, default_port: u16) -> Result<(String, u16), String> {
    let (host, port) = if let Some(v6) = h.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{h:?}: an IPv6 address needs its closing ]"))?;
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("{h:?} is not an IPv6 address"));
        }
        match after {
            "" => (addr, None),
            p => (
                addr,
                Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| format!("{h:?}: a port follows a colon"))?,
                ),
            ),
        }
    } else {
        match h.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (h, None),
        }
    };
    if host.is_empty() {
        return Err("a server's host is empty".to_owned());
    }
    if !h.starts_with('[')
        && !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(format!("{host:?} is not a host name"));
    }
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("{p:?} is not a port"))?,
    };
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn every_form_parses() {
        let t = RedisTarget::parse("redis://127.0.0.1:6380/3").unwrap();
        assert_eq!((t.topology, t.tls, t.db), (Topology::Single, false, 3));
        assert_eq!(t.nodes, [("127.0.0.1".to_owned(), 6380)]);
        let t = RedisTarget::parse("rediss://tollgate:p%40ss@cache.example").unwrap();
        assert!(t.tls);
        assert_eq!(t.username.as_deref(), Some("tollgate"));
        assert_eq!(t.password.as_deref(), Some("p@ss"), "percent-decoded");
        assert_eq!(t.nodes, [("cache.example".to_owned(), 6379)]);
        let t = RedisTarget::parse("redis://:only-password@h").unwrap();
        assert_eq!((t.username, t.password.as_deref()), (None, Some("only-password")));
        let t = RedisTarget::parse("rediss+cluster://a:7000,b:7001,[::1]:7002").unwrap();
        assert_eq!(t.topology, Topology::Cluster);
        assert_eq!(t.nodes[2], ("::1".to_owned(), 7002));
        let t = RedisTarget::parse("redis+sentinel://u:p@s1/mymaster").unwrap();
        assert_eq!(t.nodes, [("s1".to_owned(), 26379)]);
    }

    #[test]
    fn mistakes_are_named_and_the_password_is_not_shown() {
        for (url, part) in [
            ("http://h", "starts with redis://"),
            ("redis://a,b", "names one server"),
            ("redis://h/x", "is not a number"),
            ("redis://h:0", "is not a port"),
            ("redis://h:99999", "is not a port"),
            ("rediss://h/#insecure", "give the server's CA"),
            ("redis://h/?password=x", "query parameters"),
            ("redis+sentinel://s1", "needs the master's name"),
            ("redis+cluster://a/2", "has no databases"),
            ("redis://bad host", "is not a host name"),
            ("redis://[::1", "closing ]"),
            ("redis://:x@", "host is empty"),
            ("redis://u:%ff@h", "the password is not UTF-8"),
        ] {
            let e = RedisTarget::parse(url).unwrap_err();
            assert!(e.contains(part), "{url}: {e}");
        }
        let e = RedisTarget::parse("redis://u:hunter2@h/x").unwrap_err();
        assert!(!e.contains("hunter2") && e.contains("u:***@h"), "{e}");
        assert!(!format!("{:?}", RedisTarget::parse("redis://u:hunter2@h").unwrap()).contains("hunter2"));
    }

    proptest! {
        #[test]
        fn any_input_is_parsed_or_refused_without_showing_the_password(
            user in "[a-z%0-9]{0,6}", pass in "[a-zA-Z0-9%@:]{1,12}", rest in "[a-z0-9:,/.\\[\\]#?+-]{0,30}",
        ) {
            let url = format!("redis://{user}:{pass}SECRET@{rest}");
            if let Err(e) = RedisTarget::parse(&url) {
                prop_assert!(!e.contains("SECRET"), "{}", e);
            }
        }

        #[test]
        fn hosts_and_ports_round_trip(hosts in proptest::collection::vec(("[a-z][a-z0-9.-]{0,10}", 1u16..), 1..5)) {
            let list: Vec<String> = hosts.iter().map(|(h, p)| format!("{h}:{p}")).collect();
            let t = RedisTarget::parse(&format!("redis+cluster://{}", list.join(","))).unwrap();
            prop_assert_eq!(t.nodes, hosts);
        }
    }
}
