//! Building records from what the request carries: the identity, the
//! policy's decision, the body (always redacted), the client's address.

use std::sync::{Arc, Mutex, PoisonError};

use http::HeaderMap;
use http::request::Parts;
use serde_json::Value;
use tollgate_kube::Identity;
use tollgate_kube::time::MicroTime;
use tollgate_kube::{AuditId, BodyFormat, RequestBody, RequestInfo};
use tollgate_oidc::AuthnFailure;
use tollgate_redact::{Redactor, kind_of_resource};
use tollgate_rules::{Action, Decision};

use crate::json_line::Text;
use crate::{AuditLevel, AuditPolicy, Event, Level, ObjectReference, Recorder, RequestAttributes, Stage, UserInfo};

/// What both audit layers share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) recorder: Recorder,
    /// Replaced whole on reload ([`crate::AuditLayer::set_policy`]).
    pub(crate) policy: std::sync::RwLock<Arc<AuditPolicy>>,
    pub(crate) redactor: Arc<Redactor>,
    /// The most response bytes kept for `responseObject` / `responseStatus`.
    pub(crate) capture_limit: usize,
    pub(crate) sessions: Option<crate::SessionOptions>,
    /// Whether anything is recorded at all.
    pub(crate) enabled: bool,
    /// The bounded path of records of unauthenticated refusals.
    pub(crate) refusals: Arc<super::refusals::Refusals>,
}

/// The record of one request while it is handled, shared by the outer
/// layer (which opened it) and the inner one (which takes it over when the
/// request gets that far).
#[derive(Debug, Clone)]
pub(crate) struct Draft(pub(crate) Arc<Mutex<DraftState>>);

#[derive(Debug)]
pub(crate) struct DraftState {
    /// Shared with the request's extensions, not copied.
    pub(crate) audit_id: AuditId,
    pub(crate) received: MicroTime,
    pub(crate) request_uri: String,
    pub(crate) user_agent: String,
    pub(crate) source_ips: Vec<String>,
    pub(crate) taken_over: bool,
}

impl Draft {
    pub(crate) fn open(shared: &Shared, parts: &Parts, audit_id: &AuditId) -> Self {
        Draft(Arc::new(Mutex::new(DraftState {
            audit_id: audit_id.clone(),
            received: MicroTime::now(),
            request_uri: cut_uri(redact_uri(
                &shared.redactor,
                parts.uri.path_and_query().map_or("/", |p| p.as_str()),
            )),
            user_agent: user_agent(&parts.headers),
            source_ips: source_ips(&parts.headers, parts.extensions.get::<tollgate_proxy::ClientAddr>()),
            taken_over: false,
        })))
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, DraftState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The most bytes of a request URI a record keeps (a longer URI is refused
/// with 414 by the gateway's default limit; a record of it keeps its start).
pub(crate) const MAX_RECORDED_URI_BYTES: usize = tollgate_kube::limits::DEFAULT_MAX_URI_BYTES;

/// `uri` cut to [`MAX_RECORDED_URI_BYTES`] at a character boundary.
fn cut_uri(mut uri: String) -> String {
    if uri.len() > MAX_RECORDED_URI_BYTES {
        let mut end = MAX_RECORDED_URI_BYTES;
        while !uri.is_char_boundary(end) {
            end -= 1;
        }
        let more = uri.len() - end;
        uri.truncate(end);
        uri.push_str(&format!("…({more} more bytes)"));
    }
    uri
}

/// The request URI with secret-shaped query values (exec `command=`
/// arguments, tokens in selectors) masked.
pub(crate) fn redact_uri(r: &Redactor, uri: &str) -> String {
    let Some((path, query)) = uri.split_once('?') else {
        return uri.to_owned();
    };
    let mut changed = false;
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded = percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned();
            match r.redact_text(&decoded) {
                Some(masked) => {
                    changed = true;
                    format!(
                        "{k}={}",
                        percent_encoding::utf8_percent_encode(&masked, percent_encoding::NON_ALPHANUMERIC)
                    )
                }
                None => pair.to_owned(),
            }
        })
        .collect();
    if changed {
        format!("{path}?{}", pairs.join("&"))
    } else {
        uri.to_owned()
    }
}

fn user_agent(h: &HeaderMap) -> String {
    let ua = h
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ua.len() > 1024 {
        let mut cut = 1024;
        while !ua.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}...TRUNCATED", &ua[..cut])
    } else {
        ua.to_owned()
    }
}

/// `X-Forwarded-For`, then `X-Real-Ip` if not listed, then the peer if not
/// equal to the last (as the API server builds `sourceIPs`).
fn source_ips(h: &HeaderMap, peer: Option<&tollgate_proxy::ClientAddr>) -> Vec<String> {
    // Named once: a header named by a string is parsed at every lookup.
    const X_FORWARDED_FOR: http::HeaderName = http::HeaderName::from_static("x-forwarded-for");
    const X_REAL_IP: http::HeaderName = http::HeaderName::from_static("x-real-ip");
    let mut ips: Vec<String> = h
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| s.parse::<std::net::IpAddr>().is_ok())
        .map(str::to_owned)
        .collect();
    if let Some(real) = h.get(&X_REAL_IP).and_then(|v| v.to_str().ok()).map(str::trim)
        && real.parse::<std::net::IpAddr>().is_ok()
        && !ips.iter().any(|i| i == real)
    {
        ips.push(real.to_owned());
    }
    if let Some(p) = peer {
        let ip = peer_text(p.0.ip());
        if ips.last() != Some(&ip) {
            ips.push(ip);
        }
    }
    ips
}

/// `ip` as text; the last one written on this thread is remembered (a
/// connection's requests come from one address, and formatting one costs
/// more than copying it).
fn peer_text(ip: std::net::IpAddr) -> String {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(std::net::IpAddr, String)>> = const { std::cell::RefCell::new(None) };
    }
    LAST.with_borrow_mut(|last| match last {
        Some((a, text)) if *a == ip => text.clone(),
        _ => {
            let text = ip.to_string();
            *last = Some((ip, text.clone()));
            text
        }
    })
}

fn user_of(id: &Identity) -> UserInfo {
    let mut u = UserInfo::new(id.username.clone(), id.groups.clone());
    u.uid = id.uid.clone();
    u.extra = id.extra.clone();
    u
}

/// The audit policy's level for a request.
pub(crate) fn level_for(shared: &Shared, info: &RequestInfo, id: Option<&Identity>) -> AuditLevel {
    let (user, groups): (&str, &[String]) = match id {
        Some(i) => (&i.username, &i.groups),
        None => ("", &[]),
    };
    let policy = match shared.policy.read() {
        Ok(p) => p.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    policy.evaluate(&RequestAttributes::from_info(info, user, groups))
}

/// What a record says of who sent a request and what became of it: the
/// identity, the policy's decision, why authentication failed, the
/// approval, the command. Both ways of writing a record ([`event`],
/// [`received_line`]) take their annotations from it ([`annotations`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Facts<'a> {
    pub(crate) identity: Option<&'a Identity>,
    pub(crate) decision: Option<&'a Decision>,
    pub(crate) failure: Option<&'a AuthnFailure>,
    pub(crate) approval: Option<&'a tollgate_rules::ApprovalNote>,
    pub(crate) command: Option<&'a str>,
}

/// A record with everything but the stage-specific parts.
pub(crate) fn event(draft: &DraftState, info: &RequestInfo, level: Level, stage: Stage, facts: Facts<'_>) -> Event {
    let mut e = Event::new(draft.audit_id.as_str(), level, stage);
    e.request_received_timestamp = draft.received.to_string();
    e.request_uri = draft.request_uri.clone();
    e.verb = info.verb.clone();
    e.user_agent = draft.user_agent.clone();
    e.source_ips = draft.source_ips.clone();
    if info.is_resource_request {
        e.object_ref = Some(ObjectReference {
            resource: info.resource.clone(),
            namespace: info.namespace.clone(),
            name: info.name.clone(),
            api_group: info.api_group.clone(),
            api_version: info.api_version.clone(),
            subresource: info.subresource.clone(),
            ..ObjectReference::default()
        });
    }
    let mut joined = Default::default();
    e.annotations = annotations(facts, Plain::default(), &mut joined)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned_string()))
        .collect();
    if let Some(id) = facts.identity {
        e.user = user_of(id);
        if !id.username.is_empty() && !id.issuer.is_empty() {
            let imp = tollgate_proxy::Impersonation::from_identity(id);
            let mut u = UserInfo::new(imp.user, imp.groups);
            u.uid = imp.uid.unwrap_or_default();
            u.extra = imp.extra;
            e.impersonated_user = Some(u);
        }
    }
    e
}

/// The request body for `requestObject`, redacted; the redacted paths go
/// into an annotation. Protobuf and CBOR bodies cannot be read: a note says
/// so instead.
pub(crate) fn request_object(
    shared: &Shared,
    info: &RequestInfo,
    body: Option<&RequestBody>,
    omit_managed_fields: bool,
    e: &mut Event,
) {
    let Some(body) = body.filter(|b| !b.is_empty()) else {
        return;
    };
    if !info.is_resource_request {
        return;
    }
    // Protobuf of a built-in kind is decoded for the record (a preflight,
    // where one ran, already put the API server's JSON here instead).
    let decoded = (body.format() == BodyFormat::Protobuf)
        .then(|| tollgate_kube::protobuf::decode(body.bytes()))
        .flatten();
    let value = match (body.json(), decoded) {
        (_, Some(v)) => v,
        (Ok(Some(v)), None) => v.clone(),
        (Ok(None) | Err(_), None) => {
            e.annotations.insert(
                "tollgate.dev/request-object".to_owned(),
                format!(
                    "not recorded: a {} body of {} bytes cannot be read",
                    body.format().as_str(),
                    body.bytes().len()
                ),
            );
            return;
        }
    };
    let mut value = value;
    let kind = kind_of_resource(&info.resource, &info.subresource);
    let report = if body.format() == BodyFormat::JsonPatch {
        shared.redactor.redact_json_patch(&mut value, kind)
    } else {
        shared.redactor.redact_as(&mut value, kind)
    };
    if omit_managed_fields {
        strip_managed_fields(&mut value);
    }
    let size = json_size(&value);
    if size > shared.capture_limit {
        // As the API server's truncating backend: the object goes, the
        // record stays and says so.
        e.annotations
            .insert("audit.k8s.io/truncated".to_owned(), "true".to_owned());
        e.annotations.insert(
            "tollgate.dev/truncated".to_owned(),
            format!("requestObject: {size} bytes"),
        );
        return;
    }
    if !report.is_empty() {
        e.annotations.insert(
            "tollgate.dev/redacted-paths".to_owned(),
            serde_json::to_string(
                &report
                    .paths
                    .iter()
                    .map(|p| format!("requestObject{}", p.trim_start_matches('$')))
                    .collect::<Vec<_>>(),
            )
            .unwrap_or_default(),
        );
    }
    e.request_object = Some(value);
}

/// The bytes `v` takes as compact JSON, counted without writing it out.
fn json_size(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

/// Drops `metadata.managedFields` from an object or the items of a list.
pub(crate) fn strip_managed_fields(v: &mut Value) {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.shift_remove("managedFields");
    }
    if let Some(items) = v.get_mut("items").and_then(Value::as_array_mut) {
        items.iter_mut().for_each(strip_managed_fields);
    }
    if let Some(o) = v.get_mut("object") {
        strip_managed_fields(o);
    }
}

/// `{"metadata":{},"code":N}` on success, the whole `Status` on errors.
pub(crate) fn response_status(code: u16, body: Option<&[u8]>) -> Value {
    if code < 400 {
        return serde_json::json!({"metadata": {}, "code": code});
    }
    match body.and_then(|b| serde_json::from_slice::<Value>(b).ok()) {
        Some(s) if s.get("kind").and_then(Value::as_str) == Some("Status") => {
            let mut s = s;
            if let Some(o) = s.as_object_mut() {
                o.shift_remove("kind");
                o.shift_remove("apiVersion");
            }
            s
        }
        _ => serde_json::json!({"metadata": {}, "status": "Failure", "code": code}),
    }
}

/// A `RequestReceived` record written straight from the request's data
/// (no [`Event`] built), with where its later stage's parts go: what the
/// audit layer keeps of a small request (`Metadata`, or `Request` without
/// a body) until its `ResponseComplete`, which is spliced from these bytes
/// ([`crate::json_line::restage`]).
#[derive(Debug)]
pub(crate) struct ReceivedLine {
    pub(crate) bytes: Vec<u8>,
    pub(crate) marks: crate::json_line::Marks,
}

impl ReceivedLine {
    /// The record's audit ID (for a log line when it cannot be written).
    pub(crate) fn audit_id(&self) -> &str {
        const KEY: &[u8] = b"\"auditID\":\"";
        let start = self
            .bytes
            .windows(KEY.len())
            .position(|w| w == KEY)
            .map_or(self.bytes.len(), |p| p + KEY.len());
        let rest = &self.bytes[start..];
        let end = rest.iter().position(|&c| c == b'"').unwrap_or(rest.len());
        std::str::from_utf8(&rest[..end]).unwrap_or_default()
    }
}

/// The request's annotations from `facts`: `tollgate.dev/` keys and their
/// values (borrowed; `joined` holds those made here), in key order —
/// written in that order, not sorted afterwards (a test holds it).
fn annotations<'a>(facts: Facts<'a>, plain: Plain, joined: &'a mut [String; 5]) -> Vec<(&'static str, Text<'a>)> {
    let Facts {
        identity,
        decision,
        failure,
        approval,
        command,
    } = facts;
    let [dry, matched, approvers, requested, decided] = joined;
    if let Some(d) = decision {
        let names = |dry_run: bool, into: &mut String| {
            for m in d.matched.iter().filter(|m| m.dry_run == dry_run) {
                if !into.is_empty() {
                    into.push(',');
                }
                into.push_str(&m.name);
            }
        };
        names(true, dry);
        names(false, matched);
    }
    if let Some(n) = approval {
        *approvers = n.approvers.join(",");
        let at = |secs: u64| crate::micro_time(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs));
        if n.requested_at > 0 {
            *requested = at(n.requested_at);
        }
        if let Some(d) = n.decided_at {
            *decided = at(d);
        }
    }
    let (dry, matched, approvers, requested, decided): (&str, &str, &str, &str, &str) =
        (dry, matched, approvers, requested, decided);
    // A failed authentication's "unauthenticated" stands.
    let decided_as = match (failure, decision) {
        (Some(_), _) => "unauthenticated",
        (None, Some(d)) => match d.action {
            Action::RequireApproval if approval.is_some_and(|n| n.state == "approved") => "approved",
            Action::RequireApproval => "approval-required",
            other => other.as_str(),
        },
        (None, None) => "",
    };
    let decided_as: &'static str = decided_as;
    let mut a: Vec<(&'static str, Text<'a>)> = Vec::with_capacity(16);
    // Written whatever they hold (`Some`), or only when not empty.
    let mut put = |k: &'static str, v: Option<Text<'a>>, always: bool| {
        if let Some(v) = v.filter(|v| always || !v.is_empty()) {
            a.push((k, v));
        }
    };
    let any = |s: &'a str| Text::Any(s);
    let approval_time = |t: &'a str| approval.map(|_| any(t)).filter(|t| !t.is_empty());
    put("tollgate.dev/approval-decided", approval_time(decided), true);
    put("tollgate.dev/approval-id", approval.map(|n| any(&n.id)), true);
    put("tollgate.dev/approval-reason", approval.map(|n| any(&n.reason)), false);
    put("tollgate.dev/approval-requested", approval_time(requested), true);
    put("tollgate.dev/approval-state", approval.map(|n| any(&n.state)), true);
    put("tollgate.dev/approvers", approval.map(|_| any(approvers)), false);
    put(
        "tollgate.dev/authentication-failure",
        failure.map(|f| any(&f.reason)),
        false,
    );
    put("tollgate.dev/command", command.map(any), true);
    put("tollgate.dev/decision", Some(Text::word(decided_as)), false);
    put("tollgate.dev/dry-run-rules", decision.map(|_| any(dry)), false);
    put(
        "tollgate.dev/issuer",
        identity.map(|i| Text::checked(&i.issuer, plain.issuer)),
        false,
    );
    put("tollgate.dev/matched-rules", decision.map(|_| any(matched)), false);
    put(
        "tollgate.dev/owner",
        identity.map(|i| Text::checked(&i.owner.name, plain.owner)),
        false,
    );
    put(
        "tollgate.dev/owner-contact",
        identity.map(|i| Text::checked(&i.owner.contact, plain.contact)),
        false,
    );
    put(
        "tollgate.dev/owner-mapped",
        identity.filter(|i| !i.owner.mapped).map(|_| Text::word("false")),
        false,
    );
    put(
        "tollgate.dev/owner-team",
        identity.map(|i| Text::checked(&i.owner.team, plain.team)),
        false,
    );
    put(
        "tollgate.dev/preflight",
        decision.and_then(|d| d.preflight.as_deref()).map(any),
        false,
    );
    put(
        "tollgate.dev/rule",
        decision.and_then(|d| d.rule.as_deref()).map(any),
        false,
    );
    put(
        "tollgate.dev/subject",
        identity.map(|i| Text::checked(&i.subject, plain.subject)),
        false,
    );
    debug_assert!(a.is_sorted_by_key(|(k, _)| *k), "annotations out of order: {a:?}");
    a
}

/// The `RequestReceived` record of a request that reached the proxy, as
/// [`event`] would build and serialize it, without building it.
pub(crate) fn received_line(
    draft: &DraftState,
    info: &RequestInfo,
    level: Level,
    facts: Facts<'_>,
) -> Result<ReceivedLine, serde_json::Error> {
    let identity = facts.identity;
    use crate::json_line::{Annotations, EventRef, ObjectRef, UserRef, Users};
    let now = MicroTime::now();
    let write = |users: Users<'_>, plain: Plain| {
        let mut joined: [String; 5] = Default::default();
        let notes = annotations(facts, plain, &mut joined);
        let record = EventRef {
            level,
            audit_id: draft.audit_id.as_str(),
            stage: Stage::RequestReceived,
            request_uri: &draft.request_uri,
            verb: &info.verb,
            users,
            source_ips: &draft.source_ips,
            user_agent: &draft.user_agent,
            object_ref: info.is_resource_request.then(|| ObjectRef {
                resource: &info.resource,
                namespace: &info.namespace,
                name: &info.name,
                api_group: &info.api_group,
                api_version: &info.api_version,
                subresource: &info.subresource,
                ..ObjectRef::default()
            }),
            response_status: None,
            request_object: None,
            response_object: None,
            request_received_timestamp: Text::time(&draft.received),
            stage_timestamp: Text::time(&now),
            annotations: Annotations::Sorted(&notes),
        };
        let mut bytes = Vec::with_capacity(1536);
        let marks = crate::json_line::write_ref(&record, &mut bytes)?;
        Ok(ReceivedLine { bytes, marks })
    };
    let Some(id) = identity else {
        static NO_EXTRA: std::sync::LazyLock<std::collections::BTreeMap<String, Vec<String>>> =
            std::sync::LazyLock::new(Default::default);
        let anonymous = UserRef {
            username: "",
            uid: "",
            groups: &[],
            extra: &NO_EXTRA,
            more: &[],
        };
        return write(Users::Refs(anonymous, None), Plain::default());
    };
    // What an identity's records share is written (users) or checked
    // (annotations) once per thread, and reused for each of its records.
    USERS.with_borrow_mut(|memo| {
        let remembered = match memo {
            Some(m) if m.is(id) => m,
            _ => memo.insert(Remembered::of(id)),
        };
        write(Users::Written(&remembered.users), remembered.plain)
    })
}

/// Which of an identity's annotation values need no escaping: checked once
/// per identity and thread ([`Remembered`]), not per record. All `false`
/// (check every time) by default.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Plain {
    issuer: bool,
    owner: bool,
    contact: bool,
    team: bool,
    subject: bool,
}

impl Plain {
    fn of(id: &Identity) -> Self {
        use tollgate_kube::json_text::is_plain;
        Plain {
            issuer: is_plain(&id.issuer),
            owner: is_plain(&id.owner.name),
            contact: is_plain(&id.owner.contact),
            team: is_plain(&id.owner.team),
            subject: is_plain(&id.subject),
        }
    }
}

/// What a thread remembers of the identity it last wrote a record for.
struct Remembered {
    /// The users are made of it (owner, issuer and subject included).
    key: tollgate_kube::ImpersonationKey,
    /// Not in the key; [`Plain`] holds for them too.
    contact: String,
    team: String,
    /// Its `user` and `impersonatedUser` members, written.
    users: Vec<u8>,
    plain: Plain,
}

impl Remembered {
    fn of(id: &Identity) -> Self {
        let mut users = Vec::with_capacity(768);
        write_users(id, &mut users);
        Remembered {
            key: tollgate_kube::ImpersonationKey::of(id),
            contact: id.owner.contact.clone(),
            team: id.owner.team.clone(),
            users,
            plain: Plain::of(id),
        }
    }

    /// Whether this is `id`'s: every field the users and the checked
    /// values come from is the same.
    fn is(&self, id: &Identity) -> bool {
        self.key.is(id) && self.contact == id.owner.contact && self.team == id.owner.team
    }
}

/// `id`'s `user` and `impersonatedUser` members, the latter as
/// `Impersonation::from_identity` builds it for the proxy.
fn write_users(id: &Identity, out: &mut Vec<u8>) {
    use crate::json_line::UserRef;
    let user = UserRef {
        username: &id.username,
        uid: &id.uid,
        groups: &id.groups,
        extra: &id.extra,
        more: &[],
    };
    let mut more = vec![
        ("tollgate.dev/issuer", id.issuer.as_str()),
        ("tollgate.dev/owner", &id.owner.name),
    ];
    if !id.subject.is_empty() {
        more.push(("tollgate.dev/subject", &id.subject));
    }
    let impersonated = (!id.username.is_empty() && !id.issuer.is_empty()).then_some(UserRef { more: &more, ..user });
    crate::json_line::users(&user, impersonated.as_ref(), out);
}

thread_local! {
    /// The `user` and `impersonatedUser` members last written on this
    /// thread, and the identity they were written for.
    static USERS: std::cell::RefCell<Option<Remembered>> =
        const { std::cell::RefCell::new(None) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The record of each identity in turn, written with the thread's
    /// memo of users (remembered from the identity before, or not), is
    /// the record written without it — also when the identities differ in
    /// one field the users are made of.
    #[test]
    fn remembered_users_are_the_identitys_own() {
        let draft = DraftState {
            audit_id: AuditId::random(),
            received: MicroTime::since_epoch(std::time::Duration::from_secs(1_796_320_800)),
            request_uri: "/api/v1/namespaces/a/pods/x".to_owned(),
            user_agent: "kubectl/v1.32.0".to_owned(),
            source_ips: vec!["10.0.0.1".to_owned()],
            taken_over: false,
        };
        let info = RequestInfo::parse(&http::Method::GET, &"/api/v1/namespaces/a/pods/x".parse().unwrap()).unwrap();
        let mut base = Identity::new("repo:acme/app");
        base.issuer = "https://issuer.example".to_owned();
        base.subject = "repo:acme/app:ref:refs/heads/main".to_owned();
        base.groups = vec!["org:acme".to_owned()];
        base.extra.insert(
            "authentication.kubernetes.io/credential-id".to_owned(),
            vec!["JTI=1".to_owned()],
        );
        base.owner = tollgate_kube::Owner::new("payments", "payments-platform", "oncall@example.com");
        // The last four put a byte JSON escapes into an annotation value
        // the thread remembers as needing no escaping.
        let changed: [fn(&mut Identity); 12] = [
            |_| {},
            |i| i.username.push('x'),
            |i| i.uid = "u-1".to_owned(),
            |i| i.groups.push("admins".to_owned()),
            |i| {
                i.extra.insert("k".to_owned(), vec!["v".to_owned()]);
            },
            |i| i.issuer.push('x'),
            |i| i.owner.name.push('x'),
            |i| i.subject.clear(),
            |i| i.owner.contact.push('"'),
            |i| i.owner.team.push('\n'),
            |i| i.issuer.push('\\'),
            |i| i.subject.push('"'),
        ];
        let without_timestamp = |line: ReceivedLine| {
            let ts = line.marks.stage_timestamp.clone();
            [&line.bytes[..ts.start], &line.bytes[ts.end..]].concat()
        };
        fn facts(id: Option<&Identity>) -> Facts<'_> {
            Facts {
                identity: id,
                decision: None,
                failure: None,
                approval: None,
                command: None,
            }
        }
        let mut ids: Vec<Option<Identity>> = Vec::new();
        for change in changed {
            let mut id = base.clone();
            change(&mut id);
            ids.extend([Some(id.clone()), Some(id), Some(base.clone())]);
        }
        ids.extend([None, Some(Identity::anonymous()), Some(base.clone())]);
        for id in &ids {
            let got = received_line(&draft, &info, Level::Metadata, facts(id.as_ref())).unwrap();
            USERS.with_borrow_mut(|memo| *memo = None);
            let want = received_line(&draft, &info, Level::Metadata, facts(id.as_ref())).unwrap();
            let event = event(
                &draft,
                &info,
                Level::Metadata,
                Stage::RequestReceived,
                facts(id.as_ref()),
            );
            let parsed: serde_json::Value = serde_json::from_slice(&got.bytes).unwrap();
            assert_eq!(parsed["user"], serde_json::to_value(&event.user).unwrap());
            assert_eq!(
                parsed.get("annotations"),
                (!event.annotations.is_empty())
                    .then(|| serde_json::to_value(&event.annotations).unwrap())
                    .as_ref(),
                "{id:?}"
            );
            assert_eq!(
                parsed.get("impersonatedUser"),
                event
                    .impersonated_user
                    .map(|u| serde_json::to_value(u).unwrap())
                    .as_ref()
            );
            assert_eq!(
                String::from_utf8(without_timestamp(got)).unwrap(),
                String::from_utf8(without_timestamp(want)).unwrap(),
                "{id:?}"
            );
        }
    }

    /// Every combination of facts gives its annotations in key order (the
    /// record writer relies on it), with the keys each fact stands for.
    #[test]
    fn annotations_are_written_in_key_order() {
        let policy = tollgate_rules::parse_policy(
            "apiVersion: tollgate.dev/v1alpha1\nkind: Policy\nrules:\n\
             - name: watch-it\n  mode: dryrun\n  match: {verbs: [delete]}\n  action: deny\n  message: watched\n\
             - name: ask\n  match: {verbs: [delete]}\n  action: require_approval\n  approval: {approvers: {groups: [ops]}}\n",
            "p.yaml",
        )
        .unwrap();
        let info = RequestInfo::parse(&http::Method::DELETE, &"/api/v1/namespaces/a/pods/x".parse().unwrap()).unwrap();
        let mut id = Identity::new("repo:acme/app");
        id.issuer = "https://issuer.example".to_owned();
        id.subject = "repo:acme/app:ref:refs/heads/main".to_owned();
        id.owner = tollgate_kube::Owner::new("payments", "payments-platform", "oncall@example.com");
        let mut unmapped = id.clone();
        unmapped.owner.mapped = false;
        let decision = policy
            .evaluate(&tollgate_rules::RequestView::new(&info, Some(&id), None))
            .unwrap();
        let failure = AuthnFailure::new(&tollgate_oidc::Error::BadSignature);
        let mut approval =
            tollgate_rules::ApprovalNote::new("ap-1", "approved", vec!["alice".to_owned(), "bob".to_owned()]);
        approval.reason = "change 42".to_owned();
        approval.requested_at = 1_700_000_000;
        approval.decided_at = Some(1_700_000_060);
        let mut seen = std::collections::BTreeSet::new();
        for mask in 0..64u32 {
            let on = |bit: u32| mask & (1 << bit) != 0;
            let facts = Facts {
                identity: on(0).then_some(if on(5) { &unmapped } else { &id }),
                decision: on(1).then_some(&decision),
                failure: on(2).then_some(&failure),
                approval: on(3).then_some(&approval),
                command: on(4).then_some("kubectl delete pod x -n a"),
            };
            let mut joined = Default::default();
            let a = annotations(facts, Plain::default(), &mut joined);
            assert!(a.is_sorted_by_key(|(k, _)| *k), "{mask:#b}: {a:?}");
            let has = |k: &str| a.iter().find(|(key, _)| *key == k).map(|(_, v)| v.as_str());
            assert_eq!(has("tollgate.dev/owner").is_some(), on(0), "{a:?}");
            assert_eq!(has("tollgate.dev/owner-mapped"), (on(0) && on(5)).then_some("false"));
            assert_eq!(has("tollgate.dev/approval-id"), on(3).then_some("ap-1"));
            assert_eq!(has("tollgate.dev/command").is_some(), on(4));
            assert_eq!(
                has("tollgate.dev/decision"),
                match (on(2), on(1), on(3)) {
                    (true, _, _) => Some("unauthenticated"),
                    (false, true, true) => Some("approved"),
                    (false, true, false) => Some("approval-required"),
                    (false, false, _) => None,
                }
            );
            if on(1) {
                assert_eq!(has("tollgate.dev/dry-run-rules"), Some("watch-it"));
                assert_eq!(has("tollgate.dev/matched-rules"), Some("ask"));
                assert_eq!(has("tollgate.dev/rule"), Some("ask"));
            }
            if on(3) {
                assert_eq!(has("tollgate.dev/approvers"), Some("alice,bob"));
                assert_eq!(
                    has("tollgate.dev/approval-decided"),
                    Some("2023-11-14T22:14:20.000000Z")
                );
            }
            seen.extend(a.iter().map(|(k, _)| *k));
        }
        assert_eq!(seen.len(), 18, "every key written by some combination: {seen:?}");
    }

    #[test]
    fn a_remembered_peer_is_the_same_text_and_a_new_one_replaces_it() {
        let a: std::net::IpAddr = "10.0.0.1".parse().unwrap();
        let b: std::net::IpAddr = "2001:db8::1".parse().unwrap();
        for ip in [a, a, b, a, b, b] {
            assert_eq!(peer_text(ip), ip.to_string());
        }
    }
}
