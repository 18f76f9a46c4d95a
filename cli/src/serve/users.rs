//! The users API: JSON documents keyed by `username`, every write guarded by the store's CAS.

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::response::{IntoResponse, Response};
use http::header::{ETAG, LOCATION};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use optimist::http::{
    Guard, Origin, PreconditionPolicy, Preconditions, Rejection, Validators, set_validators,
};
use optimist::{Conflict, Expect, StoreError, Version, VersionedStore};
use serde_json::{Map, Value};

use super::AppState;
use super::body::{JSON, MERGE_PATCH, read_json};
use super::error::ApiError;
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

/// Whether `name` matches `^[A-Za-z0-9_.-]{1,64}$`.
fn is_valid_username(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn invalid_username() -> ApiError {
    ApiError::invalid_field(
        "username",
        "username must be a string matching ^[A-Za-z0-9_.-]{1,64}$",
    )
}

/// A request's document, checked.
struct Document {
    /// Its valid `username`.
    username: String,
    /// The members to store (without `_version`).
    members: Map<String, Value>,
    /// The `_version` member, if it had one.
    version: Option<Value>,
}

/// The document as an object whose `username` is valid (and equals `path` when given).
fn into_document(value: Value, path: Option<&str>) -> Result<Document, ApiError> {
    let Value::Object(mut doc) = value else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the document must be a JSON object",
        ));
    };
    let version = doc.remove(VERSION_MEMBER);
    let username = check_username(&doc, path)?;
    Ok(Document {
        username,
        members: doc,
        version,
    })
}

fn check_username(doc: &Map<String, Value>, path: Option<&str>) -> Result<String, ApiError> {
    let username = match doc.get("username") {
        Some(Value::String(u)) if is_valid_username(u) => u,
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
fn body_expect(version: &Value) -> Result<Expect, ApiError> {
    match version {
        Value::String(tag) => Ok(match Version::from_etag(tag) {
            Some(v) => Expect::Version(v),
            None => Expect::OneOf(Vec::new()),
        }),
        _ => Err(ApiError::invalid_field(
            VERSION_MEMBER,
            "_version must be a string holding an ETag, e.g. \"\\\"42\\\"\"",
        )),
    }
}

fn store_error(e: StoreError, method: &Method, origin: Origin) -> ApiError {
    if let StoreError::Indeterminate { key, source } = &e {
        tracing::warn!(%key, error = %source, "the write's outcome is unknown: 503");
    }
    ApiError::Rejection(Rejection::from_store_error(e, method, origin))
}

/// 200/201 with the new `ETag` and the stored document.
fn written(status: StatusCode, version: Version, doc: Map<String, Value>) -> Response {
    let mut response = (status, axum::Json(Value::Object(doc))).into_response();
    response.headers_mut().insert(ETAG, version.header_value());
    response
}

/// `POST /api/users`: create; a taken username is 409 naming the field.
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let value = read_json(&headers, body, &state, JSON).await?;
    let Document {
        username,
        members: doc,
        ..
    } = into_document(value, None)?;
    let version = state
        .store
        .put(&username, Value::Object(doc.clone()), Expect::Absent)
        .await
        .map_err(|e| match store_error(e, &Method::POST, Origin::Server) {
            ApiError::Rejection(r) => ApiError::Rejection(r.with_field("username")),
            other => other,
        })?
        .version;
    tracing::info!(%username, etag = %version, "created");
    let mut response = written(StatusCode::CREATED, version, doc);
    let location = HeaderValue::try_from(format!("/api/users/{username}"))
        .expect("a valid username is a valid header value");
    response.headers_mut().insert(LOCATION, location);
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
    Guard::from_preconditions(method.clone(), pre, &PreconditionPolicy::none())
        .check(&username, Some(&Validators::from(doc.meta())))?;
    let meta = doc.meta();
    let mut response = axum::Json(doc.value).into_response();
    set_validators(response.headers_mut(), &meta);
    Ok(response)
}

/// Where a write's expectation comes from: the conditional headers (412 on failure), or
/// the body's `_version` (409); neither is 428.
fn write_origin(
    pre: &Preconditions,
    body_version: Option<&Value>,
    method: &Method,
) -> Result<Origin, ApiError> {
    if pre.has_write_condition() {
        Ok(Origin::Header)
    } else if body_version.is_some() {
        Ok(Origin::Body)
    } else {
        Err(Rejection::required(method.clone()).into())
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
    let Document {
        members: doc,
        version: body_version,
        ..
    } = into_document(value, Some(&username))?;
    let origin = write_origin(&pre, body_version.as_ref(), &method)?;
    let expect = match (origin, &body_version) {
        (Origin::Body, Some(v)) => body_expect(v)?,
        _ => {
            Guard::from_preconditions(method.clone(), pre, &PreconditionPolicy::none())
                .write_expect(&*state.store, &username)
                .await?
        }
    };
    let created = expect == Expect::Absent;
    let version = state
        .store
        .put(&username, Value::Object(doc.clone()), expect)
        .await
        .map_err(|e| store_error(e, &method, origin))?
        .version;
    tracing::info!(%username, etag = %version, created, "replaced");
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(written(status, version, doc))
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
    let body_version = patch.as_object_mut().and_then(|p| p.remove(VERSION_MEMBER));
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
                return Err(Rejection::conflict(conflict)
                    .with_field(VERSION_MEMBER)
                    .into());
            }
            Expect::Version(current.version)
        }
        _ => pre
            .expect_for(Some(&current.meta()))
            .map_err(|header| {
                Rejection::precondition_failed(
                    &username,
                    &pre,
                    header,
                    Some(current.version.into()),
                )
            })?
            .expect("a header precondition is present"),
    };
    let mut value = current.value;
    merge_patch::apply(&mut value, &patch);
    let doc = into_document(value, Some(&username))?.members;
    let version = state
        .store
        .put(&username, Value::Object(doc.clone()), pinned)
        .await
        .map_err(|e| store_error(e, &method, origin))?
        .version;
    tracing::info!(%username, etag = %version, "patched");
    Ok(written(StatusCode::OK, version, doc))
}

/// `DELETE /api/users/{username}`: needs `If-Match`; 204, 404, 412 or 428.
pub async fn remove(
    State(state): State<AppState>,
    UserPath(username): UserPath,
    pre: Preconditions,
) -> Result<StatusCode, ApiError> {
    let method = Method::DELETE;
    let guard = Guard::from_preconditions(method.clone(), pre, &PreconditionPolicy::default());
    guard.gate()?;
    if !is_valid_username(&username) {
        return Err(ApiError::not_found(&username));
    }
    let expect = guard.write_expect(&*state.store, &username).await?;
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
    }

    #[test]
    fn body_versions() {
        let v = Version::new(4).unwrap();
        assert_eq!(
            body_expect(&Value::String(v.etag())).unwrap(),
            Expect::Version(v)
        );
        assert_eq!(
            body_expect(&Value::String("nope".into())).unwrap(),
            Expect::OneOf(vec![])
        );
        assert!(body_expect(&Value::from(4)).is_err());
    }
}
