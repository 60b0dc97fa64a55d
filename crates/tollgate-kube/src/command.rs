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
    if !info.is_resource_request {
        return format!("kubectl get --raw {}", quote(&info.path));
    }
    let mut words: Vec<String> = vec!["kubectl".into()];
    let kind = singular(&info.resource, &info.api_group);
    let name = info.name.as_str();
    let q = &info.query;
    let ns = |w: &mut Vec<String>| {
        // A Namespace object's namespace is its own name.
        if !info.namespace.is_empty() && info.resource != "namespaces" {
            w.push("-n".into());
            w.push(quote(&info.namespace));
        }
    };
    match (info.verb.as_str(), info.subresource.as_str()) {
        (_, "exec" | "attach") => {
            words.push(info.subresource.clone());
            words.push(quote(name));
            ns(&mut words);
            if let Some(c) = q.first("container") {
                words.push("-c".into());
                words.push(quote(c));
            }
            let flag = |k: &str| q.first(k).is_some_and(|v| v == "true" || v == "1");
            match (flag("stdin"), flag("tty")) {
                (true, true) => words.push("-it".into()),
                (true, false) => words.push("-i".into()),
                (false, true) => words.push("-t".into()),
                _ => {}
            }
            if info.subresource == "exec" {
                words.push("--".into());
                words.extend(q.all("command").map(quote));
            }
        }
        (_, "log") => {
            words.push("logs".into());
            words.push(quote(name));
            ns(&mut words);
            if let Some(c) = q.first("container") {
                words.push("-c".into());
                words.push(quote(c));
            }
            if q.first("follow").is_some_and(|v| v == "true") {
                words.push("-f".into());
            }
        }
        (_, "portforward") => {
            words.push("port-forward".into());
            words.push(quote(&format!("pod/{name}")));
            ns(&mut words);
            words.extend(q.all("ports").map(quote));
        }
        (_, "scale") if matches!(info.verb.as_str(), "update" | "patch") => {
            words.push("scale".into());
            words.push(quote(&kind));
            words.push(quote(name));
            ns(&mut words);
            if let Some(n) = body.and_then(|b| b.pointer("/spec/replicas")).and_then(Value::as_i64) {
                words.push(format!("--replicas={n}"));
            }
        }
        (verb, sub) => {
            let apply = content_type.is_some_and(|c| c.starts_with("application/apply-patch"))
                || q.first("fieldManager")
                    .is_some_and(|m| m.starts_with("kubectl-client-side-apply"));
            let word = match verb {
                "get" | "list" | "watch" => "get",
                "create" if apply => "apply",
                "create" => "create",
                "update" => "replace",
                "patch" if apply => "apply",
                "patch" => "patch",
                "delete" | "deletecollection" => "delete",
                other => other,
            };
            words.push(word.into());
            words.push(if sub.is_empty() {
                quote(&kind)
            } else {
                format!("{} (subresource {})", quote(&kind), quote(sub))
            });
            if !name.is_empty() {
                words.push(quote(name));
            }
            if verb == "deletecollection" {
                words.push("--all".into());
            }
            if info.namespace.is_empty()
                && matches!(verb, "list" | "watch" | "deletecollection")
                && namespaced(&info.resource)
            {
                words.push("-A".into());
            }
            ns(&mut words);
            if !info.label_selector.is_empty() {
                words.push("-l".into());
                words.push(quote(&info.label_selector));
            }
            if verb == "watch" {
                words.push("-w".into());
            }
            if q.first("dryRun").is_some() {
                words.push("--dry-run=server".into());
            }
        }
    }
    words.join(" ")
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
fn singular(resource: &str, group: &str) -> String {
    let one = if resource == "endpoints" {
        resource.to_owned()
    } else if let Some(stem) = resource.strip_suffix("ies") {
        format!("{stem}y")
    } else if ["sses", "shes", "ches", "xes"].iter().any(|s| resource.ends_with(s)) {
        resource[..resource.len() - 2].to_owned()
    } else if let Some(stem) = resource.strip_suffix('s') {
        stem.to_owned()
    } else {
        resource.to_owned()
    };
    if group.contains('.') && !group.ends_with(".k8s.io") {
        format!("{one}.{group}")
    } else {
        one
    }
}

/// Shell quoting for a word that needs it; control characters (a newline
/// in a name would forge a line for a reviewer) are written as escapes.
fn quote(s: &str) -> String {
    if s.chars().any(char::is_control) {
        let mut out = String::from("$'");
        for c in s.chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '\\' => out.push_str("\\\\"),
                '\'' => out.push_str("\\'"),
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
                c => out.push(c),
            }
        }
        out.push('\'');
        return out;
    }
    if !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
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
    }
}
