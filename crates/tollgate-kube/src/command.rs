//! A kubectl-like command line for a request, to help a human reviewer read
//! a record: `kubectl delete deployment web -n prod`.

use crate::RequestInfo;
use serde_json::Value;

/// The command a reviewer would type for this request (an approximation:
/// kubectl does not say which command it runs). `body` is the request's
/// JSON, when there is one (for `scale`).
///
/// ```
/// # use http::{Method, Uri};
/// use tollgate_kube::RequestInfo;
/// let info = RequestInfo::parse(&Method::DELETE, &Uri::from_static("/apis/apps/v1/namespaces/prod/deployments/web"))?;
/// assert_eq!(tollgate_kube::command_line(&info, None, None), "kubectl delete deployment web -n prod");
/// let info = RequestInfo::parse(&Method::GET, &Uri::from_static("/api/v1/namespaces/a/pods/x/exec?command=sh&command=-c&command=echo%20hi&container=c"))?;
/// assert_eq!(tollgate_kube::command_line(&info, None, None), "kubectl exec x -n a -c c -- sh -c 'echo hi'");
/// # Ok::<_, tollgate_kube::Error>(())
/// ```
pub fn command_line(info: &RequestInfo, content_type: Option<&str>, body: Option<&Value>) -> String {
    let mut w = Words(String::with_capacity(64));
    w.word("kubectl");
    if !info.is_resource_request {
        // kubectl's `--raw` commands: GET, POST (`create`), PUT
        // (`replace`) and DELETE; any other method is named as it is,
        // quoted: the client chose it, and a method may hold characters a
        // shell acts on (`|`, `&`, `` ` ``, `$`).
        match info.verb.as_str() {
            "get" | "head" => w.word("get"),
            "post" => w.word("create"),
            "put" => w.word("replace"),
            "delete" => w.word("delete"),
            other => w.quoted(other),
        }
        w.word("--raw");
        w.quoted(&raw_uri(info));
        return w.0;
    }
    let kind = singular(&info.resource, &info.api_group);
    let name = info.name.as_str();
    let q = &info.query;
    let ns = |w: &mut Words| {
        // A Namespace object's namespace is its own name.
        if !info.namespace.is_empty() && info.resource != "namespaces" {
            w.word("-n");
            w.quoted(&info.namespace);
        }
    };
    match (info.verb.as_str(), info.subresource.as_str()) {
        (_, sub @ ("exec" | "attach")) => {
            w.word(sub);
            w.quoted(name);
            ns(&mut w);
            if let Some(c) = q.first("container") {
                w.word("-c");
                w.quoted(c);
            }
            let flag = |k: &str| q.first(k).is_some_and(|v| v == "true" || v == "1");
            match (flag("stdin"), flag("tty")) {
                (true, true) => w.word("-it"),
                (true, false) => w.word("-i"),
                (false, true) => w.word("-t"),
                _ => {}
            }
            if sub == "exec" {
                w.word("--");
                q.all("command").for_each(|c| w.quoted(c));
            }
        }
        (_, "log") => {
            w.word("logs");
            w.quoted(name);
            ns(&mut w);
            if let Some(c) = q.first("container") {
                w.word("-c");
                w.quoted(c);
            }
            if q.first("follow").is_some_and(|v| v == "true") {
                w.word("-f");
            }
        }
        (_, "portforward") => {
            w.word("port-forward");
            w.quoted(&format!("pod/{name}"));
            ns(&mut w);
            q.all("ports").for_each(|p| w.quoted(p));
        }
        (_, "scale") if matches!(info.verb.as_str(), "update" | "patch") => {
            w.word("scale");
            w.quoted(&kind);
            w.quoted(name);
            ns(&mut w);
            if let Some(n) = body.and_then(|b| b.pointer("/spec/replicas")).and_then(Value::as_i64) {
                w.word(&format!("--replicas={n}"));
            }
        }
        (verb, sub) => {
            let apply = content_type.is_some_and(|c| c.starts_with("application/apply-patch"))
                || q.first("fieldManager")
                    .is_some_and(|m| m.starts_with("kubectl-client-side-apply"));
            w.word(match verb {
                "get" | "list" | "watch" => "get",
                "create" if apply => "apply",
                "create" => "create",
                "update" => "replace",
                "patch" if apply => "apply",
                "patch" => "patch",
                "delete" | "deletecollection" => "delete",
                other => other,
            });
            w.quoted(&kind);
            if !sub.is_empty() {
                // One word: the kind and its subresource.
                w.0.push_str(" (subresource ");
                quote_into(&mut w.0, sub);
                w.0.push(')');
            }
            if !name.is_empty() {
                w.quoted(name);
            }
            if verb == "deletecollection" {
                w.word("--all");
            }
            if info.namespace.is_empty()
                && matches!(verb, "list" | "watch" | "deletecollection")
                && namespaced(&info.resource)
            {
                w.word("-A");
            }
            ns(&mut w);
            if !info.label_selector.is_empty() {
                w.word("-l");
                w.quoted(&info.label_selector);
            }
            if verb == "watch" {
                w.word("-w");
            }
            if q.first("dryRun").is_some() {
                w.word("--dry-run=server");
            }
        }
    }
    w.0
}

/// A command line being written, a space between words.
struct Words(String);

impl Words {
    /// A word as it is (one of ours: `kubectl`, `-n`).
    fn word(&mut self, word: &str) {
        self.space();
        self.0.push_str(word);
    }

    /// A word from the request, quoted for the shell where it needs it.
    fn quoted(&mut self, word: &str) {
        self.space();
        quote_into(&mut self.0, word);
    }

    fn space(&mut self) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
    }
}

/// The path and, when there is one, the query: what `--raw` takes. The
/// query is written from its decoded pairs, a character that would change
/// how it splits (`&`, `#`, `%`, `+`, a space, `=` in a key) escaped again.
fn raw_uri(info: &RequestInfo) -> String {
    let pairs = info.query.pairs();
    if pairs.is_empty() {
        return info.path.clone();
    }
    let mut uri = String::with_capacity(info.path.len() + 32);
    uri.push_str(&info.path);
    for (i, (k, v)) in pairs.iter().enumerate() {
        uri.push(if i == 0 { '?' } else { '&' });
        escape_query(&mut uri, k, true);
        if !v.is_empty() {
            uri.push('=');
            escape_query(&mut uri, v, false);
        }
    }
    uri
}

fn escape_query(out: &mut String, s: &str, key: bool) {
    for c in s.chars() {
        if matches!(c, '&' | '#' | '%' | '+' | ' ') || c.is_control() || (key && c == '=') {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                use std::fmt::Write as _;
                let _ = write!(out, "%{b:02X}");
            }
        } else {
            out.push(c);
        }
    }
}

fn namespaced(resource: &str) -> bool {
    !matches!(
        resource,
        "namespaces"
            | "nodes"
            | "persistentvolumes"
            | "clusterroles"
            | "clusterrolebindings"
            | "customresourcedefinitions"
            | "storageclasses"
            | "priorityclasses"
            | "apiservices"
            | "certificatesigningrequests"
            | "mutatingwebhookconfigurations"
            | "validatingwebhookconfigurations"
    )
}

/// `deployments` → `deployment`; a group outside Kubernetes' own is kept
/// as a suffix (`widgets.example.com` → `widget.example.com`).
fn singular<'a>(resource: &'a str, group: &str) -> std::borrow::Cow<'a, str> {
    use std::borrow::Cow;
    let one: Cow<'a, str> = if resource == "endpoints" {
        Cow::Borrowed(resource)
    } else if let Some(stem) = resource.strip_suffix("ies") {
        Cow::Owned(format!("{stem}y"))
    } else if ["sses", "shes", "ches", "xes"].iter().any(|s| resource.ends_with(s)) {
        Cow::Borrowed(&resource[..resource.len() - 2])
    } else if let Some(stem) = resource.strip_suffix('s') {
        Cow::Borrowed(stem)
    } else {
        Cow::Borrowed(resource)
    };
    if group.contains('.') && !group.ends_with(".k8s.io") {
        Cow::Owned(format!("{one}.{group}"))
    } else {
        one
    }
}

/// The bytes a word may hold and still be written without quotes: ASCII
/// letters and digits and `-_./=:,@%+` (none is a control character or
/// one a shell acts on).
const BARE: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'/' | b'=' | b':' | b',' | b'@' | b'%' | b'+');
        c += 1;
    }
    t
};

/// Shell quoting for a word that needs it, appended to `out`; control
/// characters (a newline in a name would forge a line for a reviewer) are
/// written as escapes.
fn quote_into(out: &mut String, s: &str) {
    // Nearly every word (a name, a namespace) is written as it is: one
    // look-up a byte, before anything slower.
    if !s.is_empty() && s.bytes().all(|c| BARE[usize::from(c)]) {
        out.push_str(s);
    } else {
        quote_slow(out, s);
    }
}

/// [`quote_into`] without the table: the whole rule, byte by byte and
/// character by character (what a test compares the table with).
fn quote_slow(out: &mut String, s: &str) {
    if s.chars().any(char::is_control) {
        out.push_str("$'");
        for c in s.chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '\\' => out.push_str("\\\\"),
                '\'' => out.push_str("\\'"),
                c if c.is_control() => {
                    use std::fmt::Write as _;
                    let _ = write!(out, "\\x{:02x}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        out.push('\'');
        return;
    }
    if !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&c))
    {
        out.push_str(s);
    } else {
        out.push('\'');
        for (i, part) in s.split('\'').enumerate() {
            if i > 0 {
                out.push_str(r"'\''");
            }
            out.push_str(part);
        }
        out.push('\'');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Method, Uri};

    fn cmd(m: Method, uri: &'static str) -> String {
        let info = RequestInfo::parse(&m, &Uri::from_static(uri)).unwrap();
        command_line(&info, None, None)
    }

    #[test]
    fn reads_like_kubectl() {
        assert_eq!(cmd(Method::GET, "/api/v1/namespaces/a/pods"), "kubectl get pod -n a");
        assert_eq!(cmd(Method::GET, "/api/v1/pods?watch=true"), "kubectl get pod -A -w");
        assert_eq!(
            cmd(Method::GET, "/api/v1/namespaces/a/pods/x/log?follow=true&container=c"),
            "kubectl logs x -n a -c c -f"
        );
        assert_eq!(
            cmd(Method::DELETE, "/api/v1/namespaces/a/pods"),
            "kubectl delete pod --all -n a"
        );
        assert_eq!(
            cmd(Method::GET, "/apis/networking.k8s.io/v1/ingresses"),
            "kubectl get ingress -A"
        );
        assert_eq!(
            cmd(Method::GET, "/apis/example.com/v1/widgets"),
            "kubectl get widget.example.com -A"
        );
        assert_eq!(cmd(Method::GET, "/healthz"), "kubectl get --raw /healthz");
        assert_eq!(
            cmd(
                Method::POST,
                "/api/v1/namespaces/a/pods/x/exec?command=echo&command=it's&stdin=true&tty=true"
            ),
            "kubectl exec x -n a -it -- echo 'it'\\''s'"
        );
        let info = RequestInfo::parse(
            &Method::PATCH,
            &Uri::from_static("/apis/apps/v1/namespaces/p/deployments/web/scale"),
        )
        .unwrap();
        let body = serde_json::json!({"spec": {"replicas": 0}});
        assert_eq!(
            command_line(&info, None, Some(&body)),
            "kubectl scale deployment web -n p --replicas=0"
        );
        let info = RequestInfo::parse(
            &Method::PATCH,
            &Uri::from_static("/api/v1/namespaces/p/secrets/db?fieldManager=kubectl-client-side-apply"),
        )
        .unwrap();
        assert_eq!(command_line(&info, None, None), "kubectl apply secret db -n p");
        assert_eq!(
            cmd(Method::GET, "/api/v1/namespaces/a/pods/x%0Ay"),
            "kubectl get pod $'x\\ny' -n a"
        );
        // Every branch, as it reads today (held across the rewrite into
        // one buffer).
        for (m, uri, want) in [
            (
                Method::POST,
                "/api/v1/namespaces/a/pods/x/attach?container=c&stdin=1",
                "kubectl attach x -n a -c c -i",
            ),
            (
                Method::POST,
                "/api/v1/namespaces/a/pods/x/exec?tty=true&command=ls",
                "kubectl exec x -n a -t -- ls",
            ),
            (
                Method::POST,
                "/api/v1/namespaces/a/pods/x/portforward?ports=8080&ports=9090",
                "kubectl port-forward pod/x -n a 8080 9090",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/a/pods/x/status",
                "kubectl get pod (subresource status) x -n a",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/a/pods?labelSelector=app%3Dweb,tier%20in%20(a)",
                "kubectl get pod -n a -l 'app=web,tier in (a)'",
            ),
            (
                Method::POST,
                "/api/v1/namespaces/a/configmaps?dryRun=All",
                "kubectl create configmap -n a --dry-run=server",
            ),
            (
                Method::DELETE,
                "/api/v1/namespaces/prod",
                "kubectl delete namespace prod",
            ),
            (Method::GET, "/api/v1/nodes", "kubectl get node"),
            (
                Method::GET,
                "/api/v1/namespaces/a/endpoints/web",
                "kubectl get endpoints web -n a",
            ),
            (
                Method::GET,
                "/apis/networking.k8s.io/v1/namespaces/a/networkpolicies",
                "kubectl get networkpolicy -n a",
            ),
            (
                Method::GET,
                "/apis/example.com/v1/namespaces/a/boxes",
                "kubectl get box.example.com -n a",
            ),
            (
                Method::PUT,
                "/apis/apps/v1/namespaces/a/deployments/web/scale",
                "kubectl scale deployment web -n a",
            ),
            (
                Method::PUT,
                "/api/v1/namespaces/a/secrets/s",
                "kubectl replace secret s -n a",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/a/pods/it's",
                "kubectl get pod 'it'\\''s' -n a",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/a/pods/x%09y",
                "kubectl get pod $'x\\ty' -n a",
            ),
            (Method::GET, "/logs/a%20b", "kubectl get --raw '/logs/a b'"),
        ] {
            let info = RequestInfo::parse(&m, &uri.parse::<Uri>().unwrap()).unwrap();
            assert_eq!(command_line(&info, None, None), want, "{m} {uri}");
        }
    }

    /// `--raw` takes the query too, and kubectl's other `--raw` commands
    /// name the method: a reviewer can run what the record says.
    #[test]
    fn raw_requests_keep_their_query_and_method() {
        for (m, uri, want) in [
            (Method::GET, "/version?x=1", "kubectl get --raw '/version?x=1'"),
            (Method::GET, "/healthz?verbose", "kubectl get --raw '/healthz?verbose'"),
            (
                Method::GET,
                "/livez?exclude=etcd&exclude=ping",
                "kubectl get --raw '/livez?exclude=etcd&exclude=ping'",
            ),
            // Decoded, then escaped again where it would split otherwise.
            (
                Method::GET,
                "/logs/x?q=a%26b%3Dc%20d&k%3D1=v",
                "kubectl get --raw '/logs/x?q=a%26b=c%20d&k%3D1=v'",
            ),
            (Method::POST, "/metrics/reset", "kubectl create --raw /metrics/reset"),
            (Method::PUT, "/configz", "kubectl replace --raw /configz"),
            (Method::DELETE, "/debug/x", "kubectl delete --raw /debug/x"),
            (Method::PATCH, "/debug/x", "kubectl patch --raw /debug/x"),
            (Method::HEAD, "/healthz", "kubectl get --raw /healthz"),
        ] {
            let info = RequestInfo::parse(&m, &uri.parse::<Uri>().unwrap()).unwrap();
            assert_eq!(command_line(&info, None, None), want, "{m} {uri}");
        }
    }

    /// Whether `line` holds, outside quotes and not after a backslash, a
    /// character a shell acts on. Quotes are single quotes and the ANSI-C
    /// quoting `quote_into` writes control characters in (`$'a\nb'`, in
    /// which a backslash escapes the next character, a quote too).
    fn shell_acts_on(line: &str) -> bool {
        #[derive(PartialEq)]
        enum In {
            Word,
            Single,
            AnsiC,
        }
        let (mut state, mut escaped) = (In::Word, false);
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if escaped {
                escaped = false;
                continue;
            }
            match (&state, c) {
                (In::Word | In::AnsiC, '\\') => escaped = true,
                (In::Word, '$') if chars.peek() == Some(&'\'') => {
                    chars.next();
                    state = In::AnsiC;
                }
                (In::Word, '\'') => state = In::Single,
                (In::Single | In::AnsiC, '\'') => state = In::Word,
                (In::Word, '|' | '&' | ';' | '$' | '`' | '<' | '>' | '\n' | '*' | '?' | '~' | '#') => return true,
                _ => {}
            }
        }
        state != In::Word || escaped
    }

    /// The oracle itself: words in any quoting pass, anything a shell would
    /// act on outside them does not.
    #[test]
    fn the_shell_oracle_tells_words_from_actions() {
        for words in [r"kubectl get --raw $'/\n'", r"a 'b|c' $'d\'; e' f\;g", "x"] {
            assert!(!shell_acts_on(words), "{words}");
        }
        for acts in [r"a $(b)", r"$'a' ; b", r"'a'$b", r"$'a\'", "'a", r"a\", "a\nb"] {
            assert!(shell_acts_on(acts), "{acts}");
        }
        let info = RequestInfo::parse(&Method::GET, &"/%0a".parse::<Uri>().unwrap()).unwrap();
        assert_eq!(command_line(&info, None, None), r"kubectl get --raw $'/\n'");
    }

    proptest::proptest! {
        #[test]
        fn the_table_quotes_as_the_whole_rule_does(s in proptest::prop_oneof![
            "[a-c0-9._/ '$\\\\-]{0,8}",
            "[ -~]{0,12}",
            proptest::prelude::any::<String>(),
        ]) {
            let (mut now, mut before) = (String::new(), String::new());
            quote_into(&mut now, &s);
            quote_slow(&mut before, &s);
            proptest::prop_assert_eq!(now, before);
        }
    }

    proptest::proptest! {
        /// Whatever the method, path and query of a request outside the
        /// API (`--raw`), its command line gives a shell nothing to act on
        /// but words.
        #[test]
        fn a_raw_command_line_is_only_words(
            method in "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}",
            path in "(/[!-~&&[^?#]]{0,12}){1,4}",
            query in proptest::option::of("[ -~]{0,30}"),
        ) {
            let Ok(method) = Method::from_bytes(method.as_bytes()) else { return Ok(()) };
            let uri = match &query {
                Some(q) => format!("{path}?{q}"),
                None => path.clone(),
            };
            let Ok(uri) = uri.parse::<Uri>() else { return Ok(()) };
            let Ok(info) = RequestInfo::parse(&method, &uri) else { return Ok(()) };
            if info.is_resource_request {
                return Ok(());
            }
            let line = command_line(&info, None, None);
            proptest::prop_assert!(!shell_acts_on(&line), "{line}");
        }
    }

    /// A method is the client's choice, and an HTTP method may hold
    /// characters a shell acts on (`|`, `&`, `` ` ``, `$`, `'`): one a
    /// reviewer pastes from the record must not run anything but kubectl.
    #[test]
    fn a_methods_shell_characters_are_quoted() {
        for (m, want) in [
            ("X|SH", "kubectl 'x|sh' --raw /x"),
            ("`ID`", "kubectl '`id`' --raw /x"),
            ("A&&B", "kubectl 'a&&b' --raw /x"),
            ("$(ID)", "kubectl '$(id)' --raw /x"),
            ("IT'S", r#"kubectl 'it'\''s' --raw /x"#),
            ("OPTIONS", "kubectl options --raw /x"),
        ] {
            let Ok(method) = Method::from_bytes(m.as_bytes()) else {
                // Not a method `http` accepts: nothing to record.
                assert!(m.contains(['(', ')']), "{m} should be a valid method");
                continue;
            };
            let info = RequestInfo::parse(&method, &"/x".parse::<Uri>().unwrap()).unwrap();
            assert_eq!(command_line(&info, None, None), want, "{m}");
        }
    }
}
