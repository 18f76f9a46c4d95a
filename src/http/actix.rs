//! The actix-web adapter (feature `actix`): [`Guard`] as a `FromRequest` extractor,
//! `Responder` for [`Reply`], and `ResponseError` for [`Rejection`] and [`Problem`]. The core
//! knows nothing of it.
//!
//! actix-web 4 uses version 0.2 of the `http` crate; the adapter copies the four
//! precondition headers and the method into this crate's (`http` 1) types, and the answer's
//! status and headers back.

use std::future::{Ready, ready};

use actix_web::body::BoxBody;
use actix_web::dev::Payload;
use actix_web::http::StatusCode as ActixStatus;
use actix_web::http::header::{HeaderName as ActixName, HeaderValue as ActixValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, Responder, ResponseError};
use http::{HeaderMap, HeaderValue, Method, Response};

use super::{Guard, Precondition, PreconditionPolicy, Problem, Rejection, Reply};

/// The request's method and precondition headers in `http` 1 types.
fn request_head(req: &HttpRequest) -> Result<(Method, HeaderMap), Rejection> {
    let method =
        Method::from_bytes(req.method().as_str().as_bytes()).map_err(|e| Rejection::Internal {
            detail: format!("unreadable method: {e}"),
        })?;
    let mut headers = HeaderMap::new();
    for p in Precondition::ALL {
        for value in req.headers().get_all(p.as_str()) {
            if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
                headers.append(p.header_name(), v);
            }
        }
    }
    Ok((method, headers))
}

/// Extracts the request's guard (policy: a [`PreconditionPolicy`] registered with
/// `App::app_data`, else the default). A malformed `If-Match` / `If-None-Match` is answered
/// 400 before the handler runs.
///
/// ```
/// use actix_web::{App, web};
/// use optimist::MemoryStore;
/// use optimist::http::{Guard, Rejection, Reply};
///
/// async fn read(store: web::Data<MemoryStore<String>>, id: web::Path<String>, guard: Guard)
///     -> Result<Reply<String>, Rejection> {
///     guard.read(&**store, &id).await
/// }
/// let app = App::new()
///     .app_data(web::Data::new(MemoryStore::<String>::new()))
///     .route("/notes/{id}", web::get().to(read));
/// # let _ = app;
/// ```
impl FromRequest for Guard {
    type Error = Rejection;
    type Future = Ready<Result<Self, Rejection>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(request_head(req).and_then(|(method, headers)| {
            match req.app_data::<PreconditionPolicy>() {
                Some(policy) => Guard::with_policy(&method, &headers, policy),
                None => Guard::new(&method, &headers),
            }
        }))
    }
}

/// An actix response with the status, headers and body of an `http` 1 response.
fn to_actix(response: Response<Vec<u8>>) -> HttpResponse {
    let (parts, body) = response.into_parts();
    let status =
        ActixStatus::from_u16(parts.status.as_u16()).unwrap_or(ActixStatus::INTERNAL_SERVER_ERROR);
    let mut builder = HttpResponse::build(status);
    for (name, value) in &parts.headers {
        if let (Ok(n), Ok(v)) = (
            ActixName::from_bytes(name.as_str().as_bytes()),
            ActixValue::from_bytes(value.as_bytes()),
        ) {
            builder.append_header((n, v));
        }
    }
    builder.body(body)
}

/// Answers with the rejection's status, headers and problem+json body.
impl ResponseError for Rejection {
    fn status_code(&self) -> ActixStatus {
        ActixStatus::from_u16(self.status().as_u16()).unwrap_or(ActixStatus::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        to_actix(self.clone().into_http_response())
    }
}

/// Answers with the problem's status and problem+json body.
impl ResponseError for Problem {
    fn status_code(&self) -> ActixStatus {
        ActixStatus::from_u16(self.status_code().as_u16())
            .unwrap_or(ActixStatus::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        to_actix(self.clone().into_http_response())
    }
}

/// Answers with the reply's status and headers, and its body as `application/json` (no
/// body for 204).
impl<T: serde::Serialize> Responder for Reply<T> {
    type Body = BoxBody;

    fn respond_to(self, _req: &HttpRequest) -> HttpResponse<BoxBody> {
        to_actix(self.into_json_response())
    }
}
