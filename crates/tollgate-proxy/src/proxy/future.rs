use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use tollgate_kube::ResponseBody;

type Inner = Pin<Box<dyn Future<Output = Response<ResponseBody<super::UpstreamBody>>> + Send>>;

/// The response future of [`Proxy`](super::Proxy). Never fails: upstream
/// errors become `Status` responses.
pub struct ResponseFuture {
    pub(super) inner: Inner,
}

impl std::fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<ResponseBody<super::UpstreamBody>>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx).map(Ok)
    }
}
