//! [`Client`]: the small outbound HTTP client for webhooks (the audit
//! webhook sink, approval notifications) and the approvals command — not the
//! proxy. A receiver is named the way the API server names its webhooks, by
//! a kubeconfig-format file ([`Upstream`]): server URL (its path is the
//! endpoint), CA, client certificate and token. Every request carries the
//! file's own credentials and nothing a client sent: no impersonation, no
//! forwarded headers. Each call is bounded in time and response size.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::{Error, Upstream};

/// The largest response body read (a webhook's answer, an approvals list).
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Sends requests to one receiver with its kubeconfig's credentials.
///
/// ```no_run
/// # async fn f() -> Result<(), tollgate_proxy::Error> {
/// use tollgate_proxy::{Client, Upstream};
/// let hook = Client::new(Upstream::from_kubeconfig("slack.kubeconfig".as_ref(), None)?);
/// let res = hook.post_json("", r#"{"text":"hello"}"#.into()).await?;
/// assert!(res.status.is_success());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    upstream: Upstream,
    http: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

/// A response, read whole (at most [`MAX_RESPONSE_BYTES`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: http::HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Client {
    /// A client for `upstream`; each call (connect, response, body) is
    /// bounded by 10 s unless [`Client::timeout`] says otherwise.
    pub fn new(upstream: Upstream) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_secs(10)));
        http.set_nodelay(true);
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*upstream.tls).clone())
            .https_or_http();
        let builder = match upstream
            .server_name
            .as_ref()
            .and_then(|n| rustls_pki_types::ServerName::try_from(n.clone()).ok())
        {
            Some(n) => builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(n)),
            None => builder,
        };
        let connector = builder.enable_http1().enable_http2().wrap_connector(http);
        Client {
            upstream,
            http: HyperClient::builder(TokioExecutor::new()).build(connector),
            timeout: Duration::from_secs(10),
        }
    }

    /// The longest a call may take in all.
    #[must_use]
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// The receiver's URL, for messages.
    pub fn url(&self) -> &str {
        self.upstream.url()
    }

    /// `POST` a JSON body to `path` under the server URL (`""`: the URL
    /// itself).
    ///
    /// # Errors
    /// As [`Client::send`].
    pub async fn post_json(&self, path: &str, body: Bytes) -> Result<ClientResponse, Error> {
        self.send(Method::POST, path, Some(("application/json", body))).await
    }

    /// `GET` `path` under the server URL.
    ///
    /// # Errors
    /// As [`Client::send`].
    pub async fn get(&self, path: &str) -> Result<ClientResponse, Error> {
        self.send(Method::GET, path, None).await
    }

    /// One request with the receiver's credentials, `Accept:
    /// application/json`, and `body` with its content type; any status
    /// comes back as a response.
    ///
    /// # Errors
    /// [`Error::Receiver`] when the receiver cannot be reached, does not
    /// answer in time or sends a body over [`MAX_RESPONSE_BYTES`];
    /// [`Error::File`] when
    /// the token file cannot be read; [`Error::BadRequest`] for a `path`
    /// that is not a URL path.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&'static str, Bytes)>,
    ) -> Result<ClientResponse, Error> {
        self.send_with(method, path, body, &http::HeaderMap::new()).await
    }

    /// [`Client::send`] with more headers (a signature, say); they cannot
    /// replace `Authorization`, `Content-Type` or `Accept`.
    ///
    /// # Errors
    /// As [`Client::send`].
    pub async fn send_with(
        &self,
        method: Method,
        path: &str,
        body: Option<(&'static str, Bytes)>,
        headers: &http::HeaderMap,
    ) -> Result<ClientResponse, Error> {
        let up = &self.upstream;
        let url = self.url().to_owned();
        let uri = Uri::builder()
            .scheme(up.scheme.clone())
            .authority(up.authority.clone())
            .path_and_query(match (up.base_path.as_str(), path) {
                ("", "") => "/".to_owned(),
                (base, p) => format!("{base}{p}"),
            })
            .build()
            .map_err(|e| Error::BadRequest(format!("{path:?} is not a path under {url}: {e}")))?;
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::ACCEPT, HeaderValue::from_static("application/json"));
        let body = match body {
            Some((content_type, bytes)) => {
                req = req.header(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
                bytes
            }
            None => Bytes::new(),
        };
        if let Some(auth) = up.credentials.authorization()? {
            req = req.header(header::AUTHORIZATION, auth);
        }
        for (name, value) in headers {
            if name != header::AUTHORIZATION && name != header::CONTENT_TYPE && name != header::ACCEPT {
                req = req.header(name, value);
            }
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| Error::BadRequest(e.to_string()))?;
        let call = async {
            let res = self
                .http
                .request(req)
                .await
                .map_err(|e| receiver(&url, crate::proxy::error_chain(&e)))?;
            let status = res.status();
            let headers = res.headers().clone();
            let body = Limited::new(res.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| receiver(&url, format!("reading the response: {e}")))?
                .to_bytes();
            Ok(ClientResponse { status, headers, body })
        };
        tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| receiver(&url, format!("no answer within {:?}", self.timeout)))?
    }
}

fn receiver(url: &str, message: String) -> Error {
    Error::Receiver {
        url: url.to_owned(),
        message,
    }
}
