//! `RequestInfo`: what a request means to the Kubernetes API server.
//!
//! The parser follows `RequestInfoFactory.NewRequestInfo` of
//! `k8s.io/apiserver` rule for rule (see `docs/request-info.md`): if Tollgate
//! and the API server disagreed on a URL, a rule written against one meaning
//! could be bypassed with the other. [`RequestInfoLayer`] runs it for every
//! request, buffers the request body (bounded) and puts both into the
//! request's extensions.
//!
//! ```
//! use tollgate_kube::RequestInfo;
//!
//! let uri = "/api/v1/namespaces/prod/pods?watch=1&fieldSelector=metadata.name%3Dweb-0";
//! let info = RequestInfo::parse(&http::Method::GET, &uri.parse()?)?;
//! assert_eq!(info.verb, "watch");
//! assert_eq!(info.namespace, "prod");
//! assert_eq!(info.resource, "pods");
//! assert_eq!(info.name, "web-0");
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

#[cfg(feature = "layer")]
mod future;
#[cfg(feature = "layer")]
mod layer;
pub(crate) mod query;
mod selector;
#[cfg(feature = "layer")]
mod service;

#[cfg(feature = "layer")]
pub use future::ResponseFuture;
#[cfg(feature = "layer")]
pub use layer::RequestInfoLayer;
pub use query::Query;
#[cfg(feature = "layer")]
pub use service::RequestInfoService;

use http::{Method, Uri};
use percent_encoding::percent_decode;

use crate::Error;

/// Verbs that may appear as a path segment after the version.
const SPECIAL_VERBS: [&str; 2] = ["watch", "proxy"];
/// The only two namespace subresources.
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];
/// Subresources kube-apiserver treats as long-running.
const LONG_RUNNING_SUBRESOURCES: [&str; 5] = ["attach", "exec", "proxy", "log", "portforward"];

/// The attributes the API server derives from a request's method and URL.
///
/// Field for field the same as `k8s.io/apiserver/pkg/endpoints/request.RequestInfo`,
/// plus the decoded [`Query`] so later layers can read parameters such as
/// exec's `command=` without decoding the URL again.
///
/// ```
/// use tollgate_kube::RequestInfo;
///
/// let info = RequestInfo::parse(&http::Method::DELETE, &"/apis/apps/v1/namespaces/a/deployments".parse()?)?;
/// assert!(info.is_resource_request);
/// assert_eq!(info.verb, "deletecollection");
/// assert_eq!(info.api_group, "apps");
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestInfo {
    /// False for non-resource URLs such as `/healthz` or `/apis/apps/v1`.
    pub is_resource_request: bool,
    /// The percent-decoded URL path.
    pub path: String,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`, `proxy`; for non-resource URLs the lowercase method.
    pub verb: String,
    /// `api` or `apis` (also set on some non-resource requests, as upstream does).
    pub api_prefix: String,
    /// The API group, `""` for the legacy core group.
    pub api_group: String,
    /// The API version, e.g. `v1`.
    pub api_version: String,
    /// The namespace; for a Namespace object, its own name.
    pub namespace: String,
    /// The resource, e.g. `pods`.
    pub resource: String,
    /// The subresource, e.g. `exec`, `status`, `scale`.
    pub subresource: String,
    /// The object name, also taken from an exact `metadata.name` field selector.
    pub name: String,
    /// The path segments from the resource on.
    pub parts: Vec<String>,
    /// The raw `fieldSelector` for list, watch and deletecollection.
    pub field_selector: String,
    /// The raw `labelSelector` for list, watch and deletecollection.
    pub label_selector: String,
    /// The decoded query string.
    pub query: Query,
}

impl RequestInfo {
    /// The request's `RequestInfo`, from its extensions: one put in by
    /// value (the `RequestInfoLayer` copies it there unless told not to),
    /// else the layer's shared `Arc<RequestInfo>`. Every Tollgate layer
    /// reads it this way.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tollgate_kube::RequestInfo;
    /// let mut req = http::Request::new(());
    /// assert!(RequestInfo::of(req.extensions()).is_none());
    /// let info = RequestInfo::parse(&http::Method::GET, &"/api/v1/pods".parse()?)?;
    /// req.extensions_mut().insert(Arc::new(info));
    /// assert_eq!(RequestInfo::of(req.extensions()).map(|i| i.verb.as_str()), Some("list"));
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    pub fn of(extensions: &http::Extensions) -> Option<&RequestInfo> {
        crate::get_shared(extensions)
    }

    /// Parses a request's method and URI like the API server's
    /// `RequestInfoFactory` (with the `api`/`apis` prefixes and the legacy
    /// `api` group).
    ///
    /// # Errors
    /// [`Error::MalformedUri`] when the path has a bad percent escape or is
    /// not UTF-8 (Go's HTTP server answers those with 400), and
    /// [`Error::UnresolvableRequestInfo`] for URLs the API server itself
    /// refuses with 500 (`/api/v1/watch`, `/apis/g/v/proxy`).
    pub fn parse(method: &Method, uri: &Uri) -> Result<Self, Error> {
        // The API server reports `RequestURI`: path and query, never the
        // scheme and authority an HTTP/2 request carries.
        let request_uri = uri.path_and_query().map_or("/", |pq| pq.as_str());
        let raw_path = uri.path();
        let path = decode_path(raw_path).ok_or_else(|| Error::MalformedUri {
            uri: request_uri.to_owned(),
        })?;
        let query = Query::parse(uri.query().unwrap_or(""));
        let mut info = RequestInfo {
            path: path.clone(),
            verb: method.as_str().to_ascii_lowercase(),
            ..RequestInfo::default()
        };

        let trimmed = path.trim_matches('/');
        let mut parts: Vec<&str> = trimmed.split('/').collect();
        if parts.len() < 3 || !matches!(parts[0], "api" | "apis") {
            info.query = query;
            return Ok(info);
        }
        info.api_prefix = parts[0].to_owned();
        parts.remove(0);
        if info.api_prefix != "api" {
            if parts.len() < 3 {
                info.query = query;
                return Ok(info);
            }
            info.api_group = parts.remove(0).to_owned();
        }
        info.is_resource_request = true;
        info.api_version = parts.remove(0).to_owned();

        let mut via_special_verb = false;
        if SPECIAL_VERBS.contains(&parts[0]) {
            if parts.len() < 2 {
                return Err(Error::UnresolvableRequestInfo {
                    uri: request_uri.to_owned(),
                });
            }
            info.verb = parts.remove(0).to_owned();
            via_special_verb = true;
        } else {
            info.verb = match method.as_str() {
                "POST" => "create",
                "GET" | "HEAD" => "get",
                "PUT" => "update",
                "PATCH" => "patch",
                "DELETE" => "delete",
                _ => "",
            }
            .to_owned();
        }

        if parts[0] == "namespaces" && parts.len() > 1 {
            info.namespace = parts[1].to_owned();
            // `namespaces/<ns>/<resource>…` is a namespaced resource, except
            // for the namespace's own `status` and `finalize`.
            if parts.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&parts[2]) {
                parts.drain(..2);
            }
        }

        info.parts = parts.iter().map(|p| (*p).to_owned()).collect();
        if info.parts.len() >= 3 && info.verb != "proxy" {
            info.subresource = info.parts[2].clone();
        }
        if info.parts.len() >= 2 {
            info.name = info.parts[1].clone();
        }
        if !info.parts.is_empty() {
            info.resource = info.parts[0].clone();
        }

        if info.name.is_empty() && info.verb == "get" {
            let opts = ListOptions::decode(&query);
            info.verb = if opts.watch { "watch" } else { "list" }.to_owned();
            if let Some(name) = opts.field_selector_name.filter(|n| valid_path_segment_name(n)) {
                info.name = name;
            }
        }
        if info.name.is_empty() && info.verb == "delete" {
            info.verb = "deletecollection".to_owned();
        }
        if !via_special_verb && matches!(info.verb.as_str(), "list" | "watch" | "deletecollection") {
            info.field_selector = query.first("fieldSelector").unwrap_or("").to_owned();
            info.label_selector = query.first("labelSelector").unwrap_or("").to_owned();
        }
        info.query = query;
        Ok(info)
    }

    /// Whether kube-apiserver treats the request as long-running (no request
    /// timeout; audit emits `ResponseStarted`): verbs `watch` and `proxy`, and
    /// the `attach`, `exec`, `proxy`, `log` and `portforward` subresources.
    ///
    /// ```
    /// use tollgate_kube::RequestInfo;
    /// let info = RequestInfo::parse(&http::Method::GET, &"/api/v1/namespaces/a/pods/p/log?follow=true".parse()?)?;
    /// assert!(info.is_long_running());
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_long_running(&self) -> bool {
        self.is_resource_request
            && (matches!(self.verb.as_str(), "watch" | "proxy")
                || LONG_RUNNING_SUBRESOURCES.contains(&self.subresource.as_str()))
    }

    /// The resource with its subresource, `pods/exec`, as RBAC and audit
    /// policies write it.
    pub fn resource_path(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

/// Decodes `%XX` escapes in a path like Go's `url.PathUnescape` (so `%2F`
/// becomes a separator); `None` for a bad escape or non-UTF-8 result.
fn decode_path(raw: &str) -> Option<String> {
    if !query::valid_escapes(raw.as_bytes()) {
        return None;
    }
    percent_decode(raw.as_bytes())
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// `content.IsValidPathSegmentName`: not `.`/`..`, no `/` or `%`.
fn valid_path_segment_name(name: &str) -> bool {
    name != "." && name != ".." && !name.contains(['/', '%'])
}

/// The part of `metav1.ListOptions` decoding that RequestInfo depends on.
struct ListOptions {
    watch: bool,
    field_selector_name: Option<String>,
}

impl ListOptions {
    fn decode(q: &Query) -> Self {
        let watch = q.first("watch").is_some_and(truthy);
        let decoded = (|| {
            for key in ["limit", "timeoutSeconds"] {
                if let Some(v) = q.first(key) {
                    go_parse_int(v).ok_or(())?;
                }
            }
            if q.first("labelSelector")
                .is_some_and(|ls| !selector::label_selector_valid(ls))
            {
                return Err(());
            }
            match q.first("fieldSelector") {
                Some(fs) => selector::field_exact_match(fs, "metadata.name"),
                None => Ok(None),
            }
        })();
        match decoded {
            Ok(name) => ListOptions {
                watch,
                field_selector_name: name,
            },
            // Any decoding error: no name, and `watch` still read from the raw value.
            Err(()) => ListOptions {
                watch,
                field_selector_name: None,
            },
        }
    }
}

/// Go's `Convert_Slice_string_To_bool`: `0` and `false` (any case) are false,
/// anything else, the empty string included, is true.
fn truthy(v: &str) -> bool {
    !(v == "0" || v.eq_ignore_ascii_case("false"))
}

/// `strconv.ParseInt(s, 10, 64)`: an optional sign, then decimal digits.
fn go_parse_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok()
}

#[cfg(test)]
mod tests;
