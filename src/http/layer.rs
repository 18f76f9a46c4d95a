//! A tower layer (feature `tower`) that applies the precondition policy to every route of a
//! service: 400 for a malformed `If-Match` / `If-None-Match`, 428 for a write without a
//! lost-update-safe precondition, both as problem+json, before the handler runs.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::{PreconditionPolicy, Preconditions, Rejection};

/// Applies a [`PreconditionPolicy`] to every request of the wrapped service: a malformed
/// `If-Match` / `If-None-Match` is answered 400, a write the policy covers without a
/// lost-update-safe precondition 428 (problem+json, `Cache-Control: no-store`), and the
/// handler is not called. Other requests go through with the policy in their extensions, so
/// each handler's [`Guard`](super::Guard) uses the same one.
///
/// The layer cannot see a version carried in a request body: for routes that accept one
/// ([`Guard::with_body_version`](super::Guard::with_body_version)), leave the 428 to the
/// guard (in axum, add the layer with `route_layer` to the other routes only).
///
/// ```
/// use axum::{Router, routing::put};
/// use optimist::http::{PreconditionLayer, PreconditionPolicy};
/// use tower::ServiceExt;
///
/// # futures_executor::block_on(async {
/// let app = Router::new()
///     .route("/notes/{id}", put(|| async { "written" }))
///     .layer(PreconditionLayer::new(PreconditionPolicy::default()));
/// let request = http::Request::put("/notes/1").body(axum::body::Body::empty()).unwrap();
/// let response = app.oneshot(request).await.unwrap();
/// assert_eq!(response.status(), 428);
/// assert_eq!(response.headers()["content-type"], "application/problem+json");
/// # });
/// ```
#[derive(Clone, Debug, Default)]
pub struct PreconditionLayer {
    policy: PreconditionPolicy,
}

impl PreconditionLayer {
    /// A layer applying `policy`.
    pub fn new(policy: PreconditionPolicy) -> Self {
        Self { policy }
    }
}

impl<S> Layer<S> for PreconditionLayer {
    type Service = PreconditionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PreconditionService {
            inner,
            policy: self.policy.clone(),
        }
    }
}

/// The service of a [`PreconditionLayer`].
#[derive(Clone, Debug)]
pub struct PreconditionService<S> {
    inner: S,
    policy: PreconditionPolicy,
}

impl<S> PreconditionService<S> {
    /// The refusal for a request, if the policy refuses it.
    fn refusal<B>(&self, request: &Request<B>) -> Option<Rejection> {
        let pre = match Preconditions::from_headers(request.headers()) {
            Ok(pre) => pre,
            Err(e) => return Some(e.into()),
        };
        let method = request.method();
        if self.policy.requires(method) && !pre.is_lost_update_safe() {
            return Some(Rejection::PreconditionRequired {
                method: method.clone(),
                sent: pre.unsafe_condition(),
                body_version: false,
            });
        }
        None
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for PreconditionService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<Vec<u8>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = PreconditionFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        if let Some(refusal) = self.refusal(&request) {
            let response = refusal.into_http_response().map(ResBody::from);
            return PreconditionFuture::refused(response);
        }
        request.extensions_mut().insert(self.policy.clone());
        PreconditionFuture::inner(self.inner.call(request))
    }
}

pin_project_lite::pin_project! {
    /// The future of a [`PreconditionService`]: the refusal, or the wrapped service's answer.
    pub struct PreconditionFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project_lite::pin_project! {
    #[project = Projected]
    enum State<F, B> {
        Refused { response: Option<Response<B>> },
        Inner { #[pin] future: F },
    }
}

impl<F, B> PreconditionFuture<F, B> {
    fn refused(response: Response<B>) -> Self {
        Self {
            state: State::Refused {
                response: Some(response),
            },
        }
    }

    fn inner(future: F) -> Self {
        Self {
            state: State::Inner { future },
        }
    }
}

impl<F, B, E> Future for PreconditionFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            Projected::Refused { response } => Poll::Ready(Ok(response
                .take()
                .expect("a PreconditionFuture is not polled after it is ready"))),
            Projected::Inner { future } => future.poll(cx),
        }
    }
}
