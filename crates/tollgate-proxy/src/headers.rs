//! Header hygiene between the client and the API server.

use std::collections::BTreeMap;
use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use tollgate_kube::ImpersonationKey;

use crate::Error;

/// Whom the API server should see instead of the gateway: the verified
/// identity, sent as `Impersonate-*` headers. Put it into the request's
/// extensions (the identity layer does).
///
/// ```
/// use tollgate_proxy::Impersonation;
/// let who = Impersonation::user("ci:github:acme/web")
///     .group("tollgate:owner:payments")
///     .extra("tollgate.dev/owner", "payments");
/// # let _ = who;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Impersonation {
    /// `Impersonate-User`.
    pub user: String,
    /// `Impersonate-Uid`.
    pub uid: Option<String>,
    /// `Impersonate-Group`, repeated.
    pub groups: Vec<String>,
    /// `Impersonate-Extra-<key>`, repeated per value.
    pub extra: BTreeMap<String, Vec<String>>,
}

impl Impersonation {
    /// Impersonates `user`.
    pub fn user(user: impl Into<String>) -> Self {
        Impersonation {
            user: user.into(),
            ..Impersonation::default()
        }
    }

    /// Adds a group.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.groups.push(group.into());
        self
    }

    /// Sets the uid.
    pub fn uid(mut self, uid: impl Into<String>) -> Self {
        self.uid = Some(uid.into());
        self
    }

    /// Adds an extra value.
    pub fn extra(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.entry(key.into()).or_default().push(value.into());
        self
    }
}

impl Impersonation {
    /// What the cluster should see for a verified identity: its user name,
    /// uid, groups and extra, plus `tollgate.dev/owner`, `tollgate.dev/issuer`
    /// and `tollgate.dev/subject`, so the API server's own audit log names
    /// the owner too.
    ///
    /// ```
    /// use tollgate_proxy::Impersonation;
    /// let who = Impersonation::from_identity(&tollgate_kube::Identity::anonymous());
    /// assert_eq!(who.user, "system:anonymous");
    /// assert_eq!(who.extra["tollgate.dev/owner"], ["unmapped"]);
    /// ```
    pub fn from_identity(id: &tollgate_kube::Identity) -> Self {
        let mut extra = id.extra.clone();
        extra.insert("tollgate.dev/owner".to_owned(), vec![id.owner.name.clone()]);
        if !id.issuer.is_empty() {
            extra.insert("tollgate.dev/issuer".to_owned(), vec![id.issuer.clone()]);
        }
        if !id.subject.is_empty() {
            extra.insert("tollgate.dev/subject".to_owned(), vec![id.subject.clone()]);
        }
        Impersonation {
            user: id.username.clone(),
            uid: (!id.uid.is_empty()).then(|| id.uid.clone()),
            groups: id.groups.clone(),
            extra,
        }
    }
}

/// The peer address of the client connection, put into request extensions
/// by [`serve`](crate::serve); the proxy appends it to `X-Forwarded-For`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::SocketAddr);

const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes hop-by-hop headers, and those named in `Connection`. For
/// upgrades `Connection: Upgrade` and `Upgrade` are kept.
pub(crate) fn strip_hop_by_hop(h: &mut HeaderMap, upgrade: bool) {
    // Most requests have none (HTTP/2 forbids them): one pass over the
    // names, no lookups. A header named in `Connection` needs a
    // `Connection` header, which is one of them.
    if !h.keys().any(|n| HOP_BY_HOP.contains(&n.as_str())) {
        return;
    }
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .filter(|n| !(upgrade && n == header::UPGRADE))
        .collect();
    for n in named {
        h.remove(n);
    }
    let upgrade_value = if upgrade { h.get(header::UPGRADE).cloned() } else { None };
    for n in HOP_BY_HOP {
        h.remove(n);
    }
    if let Some(v) = upgrade_value {
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, v);
    }
}

/// Whether a header carries identity the API server would believe:
/// credentials, impersonation and front-proxy (request-header) identity.
pub(crate) fn is_identity_header(name: &HeaderName) -> bool {
    let n = name.as_str();
    matches!(
        n,
        "authorization" | "proxy-authorization" | "x-remote-user" | "x-remote-uid" | "x-remote-group"
    ) || n.starts_with("impersonate-")
        || n.starts_with("x-remote-extra-")
}

/// Everything the client may not decide about how the API server sees it:
/// its credentials (unless `keep_credentials`) and any request-header
/// identity.
pub(crate) fn strip_client_identity(h: &mut HeaderMap, keep_credentials: bool) {
    let names: Vec<HeaderName> = h
        .keys()
        .filter(|n| is_identity_header(n) && !(keep_credentials && *n == header::AUTHORIZATION))
        .cloned()
        .collect();
    for n in names {
        h.remove(n);
    }
    if !keep_credentials {
        strip_websocket_bearer(h);
    }
    h.remove(header::HOST);
    h.remove(header::EXPECT);
}

/// Removes the `base64url.bearer.authorization.k8s.io.*` subprotocol (the
/// client's token) and keeps the real ones.
pub(crate) fn strip_websocket_bearer(h: &mut HeaderMap) {
    let values: Vec<String> = h
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty() && !p.starts_with(tollgate_oidc::WEBSOCKET_BEARER_PREFIX))
        .map(str::to_owned)
        .collect();
    h.remove(header::SEC_WEBSOCKET_PROTOCOL);
    if !values.is_empty()
        && let Ok(v) = HeaderValue::from_str(&values.join(", "))
    {
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, v);
    }
}

/// The `Impersonate-*` headers a client sent, sorted and comma-joined.
pub(crate) fn client_impersonation(h: &HeaderMap) -> Option<String> {
    let mut names: Vec<&str> = h
        .keys()
        .map(HeaderName::as_str)
        .filter(|n| n.starts_with("impersonate-"))
        .collect();
    names.sort_unstable();
    (!names.is_empty()).then(|| names.join(", "))
}

/// Characters `url.PathEscape` would escape in an extra key, plus uppercase
/// (keys are lowercased first, as the API server does).
const EXTRA_KEY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

fn value(v: &str, what: &str) -> Result<HeaderValue, Error> {
    HeaderValue::from_str(v)
        .map_err(|_| Error::BadRequest(format!("the {what} {v:?} cannot be sent as an HTTP header")))
}

/// Adds the `Impersonate-*` headers.
pub(crate) fn add_impersonation(h: &mut HeaderMap, who: &Impersonation) -> Result<(), Error> {
    if who.user.is_empty() {
        return Err(Error::BadRequest("cannot impersonate an empty user name".to_owned()));
    }
    h.insert("impersonate-user", value(&who.user, "user name")?);
    if let Some(uid) = &who.uid {
        h.insert("impersonate-uid", value(uid, "uid")?);
    }
    for g in &who.groups {
        h.append("impersonate-group", value(g, "group")?);
    }
    for (k, vs) in &who.extra {
        let key = utf8_percent_encode(&k.to_lowercase(), EXTRA_KEY).to_string();
        let name = HeaderName::from_bytes(format!("impersonate-extra-{key}").as_bytes())
            .map_err(|_| Error::BadRequest(format!("the extra key {k:?} cannot be sent as an HTTP header")))?;
        for v in vs {
            h.append(name.clone(), value(v, "extra value")?);
        }
    }
    Ok(())
}

/// Built `Impersonate-*` headers, for one identity.
type Built = std::sync::Arc<[(HeaderName, HeaderValue)]>;

/// The most identities a thread keeps the headers of; past it the memo
/// starts over.
const MEMO_IDENTITIES: usize = 1024;

thread_local! {
    /// The headers built for the identities this thread forwarded for,
    /// by a hash of the user name, issuer and subject; an entry is reused
    /// only when every field it was built from is equal.
    static MEMO: std::cell::RefCell<std::collections::HashMap<u64, Vec<(ImpersonationKey, Built)>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// Adds the `Impersonate-*` headers for `id`, as
/// [`add_impersonation`]`(h, &Impersonation::from_identity(id))` does; the
/// headers of an identity seen before on this thread are reused (a CI job
/// sends many requests with one token), never those of another identity.
pub(crate) fn add_identity_impersonation(h: &mut HeaderMap, id: &tollgate_kube::Identity) -> Result<(), Error> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (&id.username, &id.issuer, &id.subject).hash(&mut hasher);
    let hash = hasher.finish();
    // A hit is appended straight from the memo, copying nothing but the
    // headers' shared bytes.
    let hit = MEMO.with_borrow(|m| {
        let Some((_, built)) = m.get(&hash).and_then(|list| list.iter().find(|(k, _)| k.is(id))) else {
            return false;
        };
        h.reserve(built.len());
        for (n, v) in built.iter() {
            h.append(n.clone(), v.clone());
        }
        true
    });
    if hit {
        return Ok(());
    }
    let mut fresh = HeaderMap::new();
    add_impersonation(&mut fresh, &Impersonation::from_identity(id))?;
    let built: Built = fresh.iter().map(|(n, v)| (n.clone(), v.clone())).collect();
    for (n, v) in built.iter() {
        h.append(n.clone(), v.clone());
    }
    MEMO.with_borrow_mut(|m| {
        if m.len() >= MEMO_IDENTITIES {
            m.clear();
        }
        m.entry(hash).or_default().push((ImpersonationKey::of(id), built));
    });
    Ok(())
}

/// Sets `Audit-ID` to `id`, as a value HTTP/2 never indexes
/// ([`AuditId::header_value`]: a per-request value in the connection's
/// HPACK table would push out the headers that repeat).
pub(crate) fn set_audit_id(h: &mut HeaderMap, id: &tollgate_kube::AuditId) {
    if let Some(v) = id.header_value() {
        h.insert(tollgate_kube::AuditId::HEADER, v);
    }
}

/// Appends the client's address to `X-Forwarded-For`.
pub(crate) fn append_forwarded_for(h: &mut HeaderMap, ip: IpAddr) {
    const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
    let joined = match h.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(prev) if !prev.trim().is_empty() => format!("{prev}, {ip}"),
        // The usual case (a client's own is dropped unless its peer is a
        // trusted proxy): the address alone, as this thread last wrote it.
        _ => {
            if let Some(v) = address_value(ip) {
                h.insert(X_FORWARDED_FOR, v);
            }
            return;
        }
    };
    if let Ok(v) = HeaderValue::from_str(&joined) {
        h.insert(X_FORWARDED_FOR, v);
    }
}

/// `ip` as a header value, kept per thread for the last address: a
/// connection's requests come from one, and writing an address out costs
/// ~2,000 instructions (`Ipv4Addr`'s `Display`).
fn address_value(ip: IpAddr) -> Option<HeaderValue> {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(IpAddr, HeaderValue)>> = const { std::cell::RefCell::new(None) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        match &*last {
            Some((seen, v)) if *seen == ip => Some(v.clone()),
            _ => {
                // Digits, dots and colons only: always a valid value.
                let v = HeaderValue::from_maybe_shared(bytes::Bytes::from(ip.to_string())).ok()?;
                *last = Some((ip, v.clone()));
                Some(v)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ID replaces any other, and goes as a never-indexed value.
    #[test]
    fn the_audit_id_replaces_the_clients_and_is_never_indexed() {
        let mut h = HeaderMap::new();
        h.insert("audit-id", HeaderValue::from_static("chosen-by-client"));
        let id = tollgate_kube::AuditId::random();
        set_audit_id(&mut h, &id);
        let all: Vec<_> = h.get_all("audit-id").iter().collect();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0], id.as_str());
        assert!(all[0].is_sensitive());
    }

    /// The headers `add_identity_impersonation` sends: those built fresh
    /// for the identity, also when they come from the thread's memo, and
    /// never another identity's (each field the headers are made of is
    /// changed in turn).
    #[test]
    fn memoized_impersonation_is_always_the_identitys_own() {
        let fresh = |id: &tollgate_kube::Identity| {
            let mut h = HeaderMap::new();
            add_impersonation(&mut h, &Impersonation::from_identity(id)).unwrap();
            h
        };
        let memo = |id: &tollgate_kube::Identity| {
            let mut h = HeaderMap::new();
            add_identity_impersonation(&mut h, id).unwrap();
            h
        };
        let mut id = tollgate_kube::Identity::new("ci:acme/web");
        id.issuer = "https://issuer.example".into();
        id.subject = "repo:acme/web".into();
        id.groups = vec!["ci".into()];
        id.extra.insert("Scopes".into(), vec!["a".into(), "b".into()]);
        let mut variants = vec![id.clone()];
        let mut v = id.clone();
        v.groups.push("system:masters".into());
        variants.push(v);
        let mut v = id.clone();
        v.uid = "u-2".into();
        variants.push(v);
        let mut v = id.clone();
        v.extra.insert("scopes-2".into(), vec!["c".into()]);
        variants.push(v);
        let mut v = id.clone();
        v.owner.name = "payments".into();
        variants.push(v);
        let mut v = id.clone();
        v.username = "ci:acme/other".into();
        variants.push(v);
        for _ in 0..2 {
            for v in &variants {
                assert_eq!(memo(v), fresh(v), "{v:?}");
            }
        }
        assert_ne!(memo(&variants[1]), memo(&variants[0]));
        let mut bad = id.clone();
        bad.username = "a\nb".into();
        assert!(add_identity_impersonation(&mut HeaderMap::new(), &bad).is_err());
    }

    #[test]
    fn strips_identity_in_any_case() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("Authorization", "Bearer x"),
            ("IMPERSONATE-USER", "admin"),
            ("Impersonate-Group", "system:masters"),
            ("impersonate-extra-scopes", "x"),
            ("X-Remote-User", "admin"),
            ("X-Remote-Extra-Foo", "x"),
            ("Proxy-Authorization", "x"),
            ("Accept", "application/json"),
        ] {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_static(v),
            );
        }
        assert_eq!(
            client_impersonation(&h).as_deref(),
            Some("impersonate-extra-scopes, impersonate-group, impersonate-user")
        );
        strip_client_identity(&mut h, false);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("accept"));
    }

    #[test]
    fn websocket_bearer_is_stripped() {
        let mut h = HeaderMap::new();
        h.insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("base64url.bearer.authorization.k8s.io.dG9r, v5.channel.k8s.io"),
        );
        strip_websocket_bearer(&mut h);
        assert_eq!(h["sec-websocket-protocol"], "v5.channel.k8s.io");
    }

    #[test]
    fn hop_by_hop() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("close, x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("te", HeaderValue::from_static("trailers"));
        h.insert("upgrade", HeaderValue::from_static("websocket"));
        let mut up = h.clone();
        strip_hop_by_hop(&mut h, false);
        assert!(h.is_empty());
        strip_hop_by_hop(&mut up, true);
        assert_eq!(up["connection"], "Upgrade");
        assert_eq!(up["upgrade"], "websocket");
        assert!(!up.contains_key("x-secret"));
        // Each alone (the early return looks for any of them), and a
        // request with none keeps everything.
        for n in HOP_BY_HOP {
            let mut one = HeaderMap::new();
            one.insert(n, HeaderValue::from_static("x"));
            one.insert("accept", HeaderValue::from_static("application/json"));
            strip_hop_by_hop(&mut one, false);
            assert_eq!(one.len(), 1, "{n}");
            assert!(one.contains_key("accept"));
        }
    }

    #[test]
    fn impersonation_headers() {
        let mut h = HeaderMap::new();
        let who = Impersonation::user("u")
            .group("a")
            .group("b")
            .extra("Example.com/Team", "x y")
            .uid("1");
        add_impersonation(&mut h, &who).unwrap();
        assert_eq!(h.get_all("impersonate-group").iter().count(), 2);
        assert_eq!(h["impersonate-extra-example.com%2Fteam"], "x y");
        assert!(add_impersonation(&mut h, &Impersonation::user("a\nb")).is_err());
    }

    #[test]
    fn forwarded_for() {
        let mut h = HeaderMap::new();
        append_forwarded_for(&mut h, "10.0.0.1".parse().unwrap());
        append_forwarded_for(&mut h, "127.0.0.1".parse().unwrap());
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
    }

    /// The address remembered for the thread is the one asked for: each
    /// request's header names its own client, through changes of address
    /// and family.
    #[test]
    fn forwarded_for_names_each_requests_own_address() {
        for ip in [
            "10.0.0.1",
            "10.0.0.1",
            "10.0.0.2",
            "::1",
            "::1",
            "fd00::7",
            "10.0.0.1",
            "192.168.255.254",
        ] {
            let mut h = HeaderMap::new();
            append_forwarded_for(&mut h, ip.parse().unwrap());
            assert_eq!(h["x-forwarded-for"], ip);
            assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
        }
    }
}
