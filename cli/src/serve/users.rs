//! The users API: JSON documents keyed by `username`, every write guarded by the store's CAS.

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_LOCATION, CONTENT_TYPE, ETAG};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use optimist::http::{
    Evaluation, Guard, PreconditionPolicy, Preconditions, Problem, Rejection, Reply,
};
use optimist::{Commit, Expect, VersionedStore};

use super::AppState;
use super::body::{JSON, MERGE_PATCH, read_json};
use super::document::Document;
use super::email;
use super::error::{ApiError, title};
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
pub fn is_valid_username(name: &str) -> bool {
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

/// `/api/users/{username}`.
fn user_uri(username: &str) -> String {
    format!("/api/users/{username}")
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

/// `doc` as a `200 OK` JSON response.
fn representation(doc: &Document) -> Response {
    let mut response = doc.text().to_owned().into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

/// The guard's reply (status, `ETag`, `Last-Modified`, `Location`) with the stored
/// document as its body and `Content-Location` naming the user: the body is the user's
/// representation exactly as a GET now returns it, so the validators are that
/// representation's (RFC 9110 8.7, 8.8, 9.3.4).
fn written<T>(reply: Reply<T>, username: &str, doc: &Document) -> Response {
    let (status, headers, _) = reply.into_parts();
    let mut response = representation(doc);
    *response.status_mut() = status;
    response.headers_mut().extend(headers);
    // A valid username is ASCII letters, digits and `_.-`: always a valid header value.
    if let Ok(uri) = HeaderValue::try_from(user_uri(username)) {
        response.headers_mut().insert(CONTENT_LOCATION, uri);
    }
    response
}

/// POST's preconditions (RFC 9110 13.1.1) are about its target, `/api/users`, which has no
/// current representation (GET on it lists users, but has no validators): `If-Match` is
/// false, `If-None-Match` true, the dates are ignored. A malformed one was refused with 400
/// already.
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

/// 501 when a write needs several keys changed in one step (an email moves) and the store
/// cannot do that: an email is then never stored unindexed.
fn needs_commit(state: &AppState, commit: &Commit<Document>) -> Result<(), Rejection> {
    let max = state.store.capabilities().max_commit_keys;
    if commit.len() > 1 && max < commit.len() {
        return Err(Problem::new(
            StatusCode::NOT_IMPLEMENTED,
            format!(
                "this store cannot change a user and its email index entry in one atomic step \
                 (it does not support multi-key commits of {} keys), so users with an email \
                 cannot be created, changed or deleted on it; users without one can",
                commit.len()
            ),
        )
        .with_title(title(StatusCode::NOT_IMPLEMENTED))
        .into());
    }
    Ok(())
}

/// The commit that stores `doc` for `username` (expecting `expect` of it) and moves its
/// email index entry from `old` to `new` (normalised addresses): the old entry is released,
/// the new one claimed create-only. The document is pinned to the version its `old` was
/// read from, so the old entry is the user's own.
fn user_commit(
    username: &str,
    doc: Option<Document>,
    expect: Expect,
    old: Option<String>,
    new: Option<&str>,
) -> Commit<Document> {
    let mut commit = match doc {
        Some(doc) => Commit::new().put(username, doc, expect),
        None => Commit::new().delete(username, expect),
    };
    if old.as_deref() != new {
        if let Some(old) = old {
            commit = commit.delete(email::index_key(&old), Expect::Any);
        }
        if let Some(new) = new {
            commit = commit.put(
                email::index_key(new),
                email::index_value(username),
                Expect::Absent,
            );
        }
    }
    commit
}

/// `POST /api/users`: create; a taken username or email is 409 naming the field.
pub async fn create(
    State(state): State<AppState>,
    guard: Guard,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    check_post_preconditions(guard.preconditions())?;
    let value = read_json(&headers, body, &state, JSON).await?;
    let Checked {
        username, members, ..
    } = into_document(value, None)?;
    let new_email = email::of_request(&members)?;
    let doc = Document::new(&members);
    let commit = user_commit(
        &username,
        Some(doc.clone()),
        Expect::Absent,
        None,
        new_email.as_deref(),
    );
    needs_commit(&state, &commit)?;
    // The request's preconditions were about the collection (above); the user itself is
    // created only if absent.
    let create = Guard::from_preconditions(
        Method::POST,
        Preconditions::default(),
        &PreconditionPolicy::default(),
    );
    let reply = create
        .commit(&*state.store, &username, |_| commit)
        .field("username")
        .unique_prefix(email::INDEX_PREFIX, "email")
        .location(user_uri(&username))
        .await
        .map_err(logged)?;
    tracing::info!(%username, etag = ?reply.headers().get(ETAG), "created");
    Ok(written(reply, &username, &doc))
}

/// `GET` / `HEAD /api/users/{username}`: 200 with validators, or 304 / 412 / 404.
pub async fn read(
    State(state): State<AppState>,
    UserPath(username): UserPath,
    guard: Guard,
) -> Result<Response, ApiError> {
    if !is_valid_username(&username) {
        return Err(ApiError::not_found(&username));
    }
    let reply = guard.read(&*state.store, &username).await.map_err(logged)?;
    let (_, headers, doc) = reply.into_parts();
    let mut response = doc
        .as_ref()
        .map_or_else(|| StatusCode::OK.into_response(), representation);
    response.headers_mut().extend(headers);
    Ok(response)
}

/// The guard for a write that also takes the ETag from a `_version` member. A
/// lost-update-safe header takes precedence: `_version` is then ignored (not even its type
/// is checked); otherwise it must be a string (422).
fn write_guard(guard: Guard, version: Option<&Json>) -> Result<Guard, ApiError> {
    if guard.preconditions().is_lost_update_safe() {
        return Ok(guard.with_body_version(None));
    }
    match version {
        None => Ok(guard.with_body_version(None)),
        Some(Json::String(tag)) => Ok(guard.with_body_version(Some(tag))),
        Some(_) => Err(ApiError::invalid_field(
            VERSION_MEMBER,
            "_version must be a string holding an ETag, e.g. \"\\\"42\\\"\"",
        )),
    }
}

/// `PUT /api/users/{username}`: replace (`If-Match` or `_version`) or create-only
/// (`If-None-Match: *`); the email index entry moves with the document.
pub async fn replace(
    State(state): State<AppState>,
    UserPath(username): UserPath,
    guard: Guard,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if !is_valid_username(&username) {
        return Err(invalid_username());
    }
    let value = read_json(&headers, body, &state, JSON).await?;
    let Checked {
        members, version, ..
    } = into_document(value, Some(&username))?;
    let new_email = email::of_request(&members)?;
    let guard = write_guard(guard, version.as_ref())?;
    let doc = Document::new(&members);
    let stored = doc.clone();
    let reply = guard
        .modify_commit(&*state.store, &username, |current, expect| {
            let old = current.as_ref().and_then(|c| email::of_stored(&c.value));
            let commit = user_commit(&username, Some(stored), expect, old, new_email.as_deref());
            needs_commit(&state, &commit)?;
            Ok(commit)
        })
        .unique_prefix(email::INDEX_PREFIX, "email")
        .await
        .map_err(logged)?;
    tracing::info!(%username, etag = ?reply.headers().get(ETAG), status = %reply.status(), "replaced");
    Ok(written(reply, &username, &doc))
}

/// `PATCH /api/users/{username}` with a JSON Merge Patch: read, check the precondition
/// against what was read, apply, and commit pinned to the version read (with the email
/// index entry when the email changes).
pub async fn patch(
    State(state): State<AppState>,
    UserPath(username): UserPath,
    guard: Guard,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if !is_valid_username(&username) {
        return Err(ApiError::not_found(&username));
    }
    let mut patch = read_json(&headers, body, &state, MERGE_PATCH).await?;
    let version = match &mut patch {
        Json::Object(members) => members.shift_remove(VERSION_MEMBER),
        _ => None,
    };
    let guard = write_guard(guard, version.as_ref())?;
    let mut patched = None;
    let reply = guard
        .modify_commit(&*state.store, &username, |current, expect| {
            // The guard answers 404 for a PATCH of nothing before building.
            let Some(current) = current else {
                return Err(Rejection::not_found(&username));
            };
            let members = current.value.members().map_err(|e| {
                tracing::error!(%username, error = %e, "a stored document does not parse");
                Rejection::Internal {
                    detail: format!("the stored document of {username:?} does not parse: {e}"),
                }
            })?;
            let mut value = Json::Object(members);
            merge_patch::apply(&mut value, &patch);
            let members = into_document(value, Some(&username))?.members;
            let new_email = email::of_request(&members)?;
            let doc = Document::new(&members);
            patched = Some(doc.clone());
            let old = email::of_stored(&current.value);
            let commit = user_commit(&username, Some(doc), expect, old, new_email.as_deref());
            needs_commit(&state, &commit)?;
            Ok(commit)
        })
        .unique_prefix(email::INDEX_PREFIX, "email")
        .await
        .map_err(logged)?;
    let doc = patched.ok_or_else(|| Rejection::Internal {
        detail: "a PATCH was committed without a document".to_owned(),
    })?;
    tracing::info!(%username, etag = ?reply.headers().get(ETAG), "patched");
    Ok(written(reply, &username, &doc))
}

/// `DELETE /api/users/{username}`: needs `If-Match`; 204, 404, 412 or 428. The email index
/// entry goes with the user, in the same commit.
pub async fn remove(
    State(state): State<AppState>,
    UserPath(username): UserPath,
    guard: Guard,
) -> Result<StatusCode, ApiError> {
    guard.gate()?;
    if !is_valid_username(&username) {
        return Err(ApiError::not_found(&username));
    }
    let reply = guard
        .modify_commit(&*state.store, &username, |current, expect| {
            let old = current.as_ref().and_then(|c| email::of_stored(&c.value));
            let commit = user_commit(&username, None, expect, old, None);
            needs_commit(&state, &commit)?;
            Ok(commit)
        })
        .await
        .map_err(logged)?;
    tracing::info!(%username, "deleted");
    Ok(reply.status())
}

/// Logs a write whose outcome is unknown (the client gets a 503 and no detail).
fn logged(r: Rejection) -> Rejection {
    if let Rejection::Indeterminate { key } = &r {
        tracing::warn!(%key, "the write's outcome is unknown: 503");
    }
    r
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
}
