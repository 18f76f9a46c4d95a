//! The users API: JSON documents keyed by `username`, every write guarded by the store's CAS.

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_LOCATION, CONTENT_TYPE, LOCATION};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use optimist::http::{
    Evaluation, Origin, PreconditionPolicy, Preconditions, Rejection, set_validators,
};
use optimist::{Conflict, Expect, Meta, StoreError, Version, VersionedStore};

use super::AppState;
use super::body::{JSON, MERGE_PATCH, read_json};
use super::document::Document;
use super::error::ApiError;
use super::json::{Json, Object};
use super::merge_patch;

/// The body member that may carry the ETag a write expects, instead of `If-Match`.
const VERSION_MEMBER: &str = "_version";

/// The `{username}` path segment. axum's own rejection (e.g. a segment that is not UTF-8
/// once percent-decoded) is plain text; this answers it as problem+json like every error.
pub struct UserPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for UserPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(username)) => Ok(UserPath(username)),
            Err(rejection) => Err(ApiError::new(rejection.status(), rejection.body_text())),
        }
    }
}

/// Whether `name` matches `^[A-Za-z0-9_.-]{1,64}$` and is not `.` or `..`: those are
/// dot-segments, which a client resolving `/api/users/..` removes (RFC 3986 5.2.4), so such a
/// user could never be addressed.
fn is_valid_username(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn invalid_username() -> ApiError {
    ApiError::invalid_field(
        "username",
        "username must be a string matching ^[A-Za-z0-9_.-]{1,64}$ other than \".\" and \"..\"",
    )
}

/// `/api/users/{username}`, as a header value.
fn user_uri(username: &str) -> HeaderValue {
    HeaderValue::try_from(format!("/api/users/{username}"))
        .expect("a valid username is a valid header value")
}

/// A request's document, checked.
struct Checked {
    /// Its valid `username`.
    username: String,
    /// The members to store (without `_version`).
    members: Object,
    /// The `_version` member, if it had one.
    version: Option<Json>,
}

/// The document as an object whose `username` is valid (and equals `path` when given).
fn into_document(value: Json, path: Option<&str>) -> Result<Checked, ApiError> {
    let Json::Object(mut doc) = value else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the document must be a JSON object",
        ));
    };
    let version = doc.shift_remove(VERSION_MEMBER);
    let username = check_username(&doc, path)?;
    Ok(Checked {
        username,
        members: doc,
        version,
    })
}

fn check_username(doc: &Object, path: Option<&str>) -> Result<String, ApiError> {
    let username = match doc.get("username") {
        Some(Json::String(u)) if is_valid_username(u) => u,
        _ => return Err(invalid_username()),
    };
    if let Some(path) = path.filter(|p| p != username) {
        return Err(ApiError::invalid_field(
            "username",
            format!("the body's username {username:?} differs from the path's {path:?}"),
        ));
    }
    Ok(username.clone())
}

/// The expectation a `_version` member stands for: its ETag's version, or a list that never
/// matches when it is not one of ours. Not a string: 422.
fn body_expect(version: &Json) -> Result<Expect, ApiError> {
    match version {
        Json::String(tag) => Ok(match Version::from_etag(tag) {
            Some(v) => Expect::Version(v),
            None => Expect::OneOf(Vec::new()),
        }),
        _ => Err(ApiError::invalid_field(
            VERSION_MEMBER,
            "_version must be a string holding an ETag, e.g. \"\\\"42\\\"\"",
        )),
    }
}

fn store_rejection(e: StoreError, method: &Method, origin: Origin) -> Rejection {
    if let StoreError::Indeterminate { key, source } = &e {
        tracing::warn!(%key, error = %source, "the write's outcome is unknown: 503");
    }
    Rejection::from_store_error(e, method, origin)
}

fn store_error(e: StoreError, method: &Method, origin: Origin) -> ApiError {
    store_rejection(e, method, origin).into()
}

/// `doc` as a `200 OK` JSON response.
fn representation(doc: &Document) -> Response {
    let mut response = doc.text().to_owned().into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

/// 200/201 with the stored document, its validators (`ETag`, `Last-Modified`), and
/// `Content-Location` naming the user: the body is the user's representation exactly as a
/// GET now returns it, so the validators are that representation's (RFC 9110 8.7, 8.8,
/// 9.3.4).
fn written(status: StatusCode, meta: &Meta, username: &str, doc: &Document) -> Response {
    let mut response = representation(doc);
    *response.status_mut() = status;
    set_validators(response.headers_mut(), meta);
    response
        .headers_mut()
        .insert(CONTENT_LOCATION, user_uri(username));
    response
}

/// POST's preconditions (RFC 9110 13.1.1) are about its target, `/api/users`, which has no
/// current representation (GET on it is 405): `If-Match` is false, `If-None-Match` true,
/// the dates are ignored (no Last-Modified). A malformed one was refused with 400 already.
fn check_post_preconditions(pre: &Preconditions) -> Result<(), ApiError> {
    match pre.evaluate(&Method::POST, None) {
        Evaluation::Failed(header) => Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            format!(
                "{} cannot hold on POST: its target /api/users has no current representation; \
                 to change an existing user, use PUT or PATCH on /api/users/{{username}}",
                header.as_str()
            ),
        )
        .with_problem_header(header.as_str())),
        Evaluation::Proceed | Evaluation::NotModified => Ok(()),
    }
}

/// `POST /api/users`: create; a taken username is 409 naming the field.
pub async fn create(
    State(state): State<AppState>,
    pre: Preconditions,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    check_post_preconditions(&pre)?;
    let value = read_json(&headers, body, &state, JSON).await?;
    let Checked {
        username, members, ..
    } = into_document(value, None)?;
    let doc = Document::new(&members);
    let meta = state
        .store
        .put(&username, doc.clone(), Expect::Absent)
        .await
        .map_err(|e| {
            ApiError::from(store_rejection(e, &Method::POST, Origin::Server).with_field("username"))
        })?;
    tracing::info!(%username, etag = %meta.version, "created");
    let mut response = written(StatusCode::CREATED, &meta, &username, &doc);
    response.headers_mut().insert(LOCATION, user_uri(&username));
    Ok(response)
}

/// `GET` / `HEAD /api/users/{username}`: 200 with validators, or 304 / 412 / 404.
pub async fn read(
    State(state): State<AppState>,
    UserPath(username): UserPath,
    method: Method,
    pre: Preconditions,
) -> Result<Response, ApiError> {
    if !is_valid_username(&username) {
        return Err(ApiError::not_found(&username));
    }
    let doc = state
        .store
        .get(&username)
        .await
        .map_err(|e| store_error(e, &method, Origin::Server))?
        .ok_or_else(|| ApiError::not_found(&username))?;
    pre.check_read(&method, &username, &doc.meta())?;
    let meta = doc.meta();
    let mut response = representation(&doc.value);
    set_validators(response.headers_mut(), &meta);
    Ok(response)
}

/// Where a write's expectation comes from: the conditional headers (412 on failure), or
/// the body's `_version` (409); neither is 428.
fn write_origin(
    pre: &Preconditions,
    body_version: Option<&Json>,
    method: &Method,
) -> Result<Origin, ApiError> {
    if pre.has_write_condition() {
        Ok(Origin::Header)
    } else if body_version.is_some() {
        Ok(Origin::Body)
    } else {
        Err(Rejection::PreconditionRequired {
            method: method.clone(),
        }
        .into())
    }
}

/// `PUT /api/users/{username}`: replace (`If-Match` or `_version`) or create-only
/// (`If-None-Match: *`).
pub async fn replace(
    State(state): State<AppState>,
    UserPath(username): UserPath,
    pre: Preconditions,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let method = Method::PUT;
    if !is_valid_username(&username) {
        return Err(invalid_username());
    }
    let value = read_json(&headers, body, &state, JSON).await?;
    let Checked {
        members,
        version: body_version,
        ..
    } = into_document(value, Some(&username))?;
    let origin = write_origin(&pre, body_version.as_ref(), &method)?;
    let expect = match (origin, &body_version) {
        (Origin::Body, Some(v)) => body_expect(v)?,
        _ => pre
            .write_expect(&*state.store, &username, &method)
            .await?
            .expect("a header precondition is present"),
    };
    let created = expect == Expect::Absent;
    let doc = Document::new(&members);
    let meta = state
        .store
        .put(&username, doc.clone(), expect)
        .await
        .map_err(|e| store_error(e, &method, origin))?;
    tracing::info!(%username, etag = %meta.version, created, "replaced");
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(written(status, &meta, &username, &doc))
}

/// `PATCH /api/users/{username}` with a JSON Merge Patch: read, check the precondition
/// against what was read, apply, and write pinned to the version read.
pub async fn patch(
    State(state): State<AppState>,
    UserPath(username): UserPath,
    pre: Preconditions,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let method = Method::PATCH;
    if !is_valid_username(&username) {
        return Err(ApiError::not_found(&username));
    }
    let mut patch = read_json(&headers, body, &state, MERGE_PATCH).await?;
    let body_version = match &mut patch {
        Json::Object(members) => members.shift_remove(VERSION_MEMBER),
        _ => None,
    };
    let origin = write_origin(&pre, body_version.as_ref(), &method)?;
    // A conditional header takes precedence: `_version` is then ignored, as on PUT.
    let body_expect = match (origin, &body_version) {
        (Origin::Body, Some(v)) => Some(body_expect(v)?),
        _ => None,
    };
    let current = state
        .store
        .get(&username)
        .await
        .map_err(|e| store_error(e, &method, origin))?
        .ok_or_else(|| ApiError::not_found(&username))?;
    let pinned = match body_expect {
        Some(expect) => {
            if !expect.admits(Some(current.version)) {
                let conflict = Conflict::new(&*username, expect, Some(current.version));
                return Err(Rejection::Conflict {
                    conflict,
                    field: Some(VERSION_MEMBER.to_owned()),
                }
                .into());
            }
            Expect::Version(current.version)
        }
        _ => pre
            .expect_for(&username, Some(&current.meta()))?
            .expect("a header precondition is present"),
    };
    let members = current.value.members().map_err(|e| {
        tracing::error!(%username, error = %e, "a stored document does not parse");
        ApiError::from(Rejection::Internal {
            detail: format!("the stored document of {username:?} does not parse: {e}"),
        })
    })?;
    let mut value = Json::Object(members);
    merge_patch::apply(&mut value, &patch);
    let members = into_document(value, Some(&username))?.members;
    let doc = Document::new(&members);
    let meta = state
        .store
        .put(&username, doc.clone(), pinned)
        .await
        .map_err(|e| store_error(e, &method, origin))?;
    tracing::info!(%username, etag = %meta.version, "patched");
    Ok(written(StatusCode::OK, &meta, &username, &doc))
}

/// `DELETE /api/users/{username}`: needs `If-Match`; 204, 404, 412 or 428.
pub async fn remove(
    State(state): State<AppState>,
    UserPath(username): UserPath,
    pre: Preconditions,
) -> Result<StatusCode, ApiError> {
    let method = Method::DELETE;
    pre.require(&method, &PreconditionPolicy::default())?;
    if !is_valid_username(&username) {
        return Err(ApiError::not_found(&username));
    }
    let expect = pre
        .write_expect(&*state.store, &username, &method)
        .await?
        .expect("require() made sure a precondition is present");
    match state.store.delete(&username, expect).await {
        Ok(Some(version)) => {
            tracing::info!(%username, etag = %version, "deleted");
            Ok(StatusCode::NO_CONTENT)
        }
        Ok(None) => Err(ApiError::not_found(&username)),
        Err(e) => Err(store_error(e, &method, Origin::Header)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(is_valid_username("john_doe"));
        assert!(is_valid_username("a.b-C_9"));
        assert!(is_valid_username(&"x".repeat(64)));
        assert!(!is_valid_username(&"x".repeat(65)));
        assert!(!is_valid_username(""));
        assert!(!is_valid_username("john doe"));
        assert!(!is_valid_username("jöhn"));
        assert!(!is_valid_username("a/b"));
        assert!(!is_valid_username("."));
        assert!(!is_valid_username(".."));
        assert!(is_valid_username("..."));
        assert!(is_valid_username(".a"));
    }

    #[test]
    fn body_versions() {
        let v = Version::new(4).unwrap();
        assert_eq!(
            body_expect(&Json::String(v.etag())).unwrap(),
            Expect::Version(v)
        );
        assert_eq!(
            body_expect(&Json::String("nope".into())).unwrap(),
            Expect::OneOf(vec![])
        );
        assert!(body_expect(&Json::Number("4".into())).is_err());
    }
}
