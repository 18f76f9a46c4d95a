//! `GET /api/users?after=&limit=`: the users, a page at a time, in username order.
//!
//! The page is `{"users": [{"username": ..., "etag": ...}, ...], "next": URI}` (`next` only
//! when more users follow), with `Link: <URI>; rel="next"` (RFC 8288) to the same place.
//! `after` is the last username of the previous page; `limit` is 1 to [`MAX_LIMIT`]
//! (default [`DEFAULT_LIMIT`]). The email index entries share the store but are never
//! listed: the walk skips their range.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_TYPE, LINK};
use http::{HeaderValue, StatusCode, Uri};
use optimist::http::{EntityTag, Guard, Rejection, Validators};
use optimist::{ListRequest, Meta, VersionedStore};

use super::AppState;
use super::body::JSON;
use super::email;
use super::error::ApiError;
use super::users::is_valid_username;

/// Users per page when the request gives no `limit`.
pub const DEFAULT_LIMIT: usize = 50;
/// The largest `limit` accepted.
pub const MAX_LIMIT: usize = 500;

/// The query of a listing request.
#[derive(Debug, PartialEq, Eq)]
struct Query {
    after: Option<String>,
    limit: usize,
}

fn bad_query(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, detail)
}

/// Parses `after` (a username) and `limit` (1 to [`MAX_LIMIT`]); anything else, a
/// parameter given twice, or a value out of range is 400.
fn parse_query(query: Option<&str>) -> Result<Query, ApiError> {
    let mut after = None;
    let mut limit = None;
    for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match &*name {
            "after" if after.is_none() => {
                if !is_valid_username(&value) {
                    return Err(bad_query(format!(
                        "after must be a username (the last one of the previous page), \
                         not {value:?}"
                    )));
                }
                after = Some(value.into_owned());
            }
            "limit" if limit.is_none() => {
                let n = value.parse::<usize>().ok().filter(|n| {
                    (1..=MAX_LIMIT).contains(n) && value.bytes().all(|b| b.is_ascii_digit())
                });
                match n {
                    Some(n) => limit = Some(n),
                    None => {
                        return Err(bad_query(format!(
                            "limit must be a whole number from 1 to {MAX_LIMIT}, not {value:?}"
                        )));
                    }
                }
            }
            "after" | "limit" => {
                return Err(bad_query(format!("the query gives {name} more than once")));
            }
            other => {
                return Err(bad_query(format!(
                    "unknown query parameter {other:?}; a listing takes after and limit"
                )));
            }
        }
    }
    Ok(Query {
        after,
        limit: limit.unwrap_or(DEFAULT_LIMIT),
    })
}

/// One listed user.
#[derive(serde::Serialize)]
struct Entry<'a> {
    username: &'a str,
    etag: String,
}

/// A page of the listing: the users, and the next page's URI while more follow.
#[derive(serde::Serialize)]
struct Page<'a> {
    users: Vec<Entry<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<&'a str>,
}

/// The URI of the page after `last`.
fn next_uri(last: &str, limit: usize) -> String {
    format!("/api/users?after={last}&limit={limit}")
}

/// `GET` / `HEAD /api/users`: a page of users.
pub async fn list(
    State(state): State<AppState>,
    guard: Guard,
    uri: Uri,
) -> Result<Response, ApiError> {
    let query = parse_query(uri.query())?;
    if !state.store.capabilities().list {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "this store cannot list its keys, so GET /api/users is not available on it",
        ));
    }
    // The listing has no validators: preconditions are evaluated against a representation
    // that exists but has neither an ETag nor a modification time.
    guard.check("/api/users", Some(&Validators::default()))?;
    let (users, more) = page(&state, &guard, &query).await?;
    let next = more
        .then(|| users.last().map(|(name, _)| next_uri(name, query.limit)))
        .flatten();
    let body = Page {
        users: users
            .iter()
            .map(|(username, meta)| Entry {
                username,
                etag: EntityTag::from(meta.version).to_string(),
            })
            .collect(),
        next: next.as_deref(),
    };
    let body = serde_json::to_string(&body).map_err(|e| Rejection::Internal {
        detail: format!("a listing does not serialize: {e}"),
    })?;
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    if let Some(link) =
        next.and_then(|n| HeaderValue::try_from(format!("<{n}>; rel=\"next\"")).ok())
    {
        response.headers_mut().insert(LINK, link);
    }
    Ok(response)
}

/// Up to `limit` users after the cursor, and whether more follow. Reads store pages until
/// it has `limit + 1` users or the store has no more keys; jumps over the email index's
/// range, and skips any other key that is not a username.
async fn page(
    state: &AppState,
    guard: &Guard,
    query: &Query,
) -> Result<(Vec<(String, Meta)>, bool), ApiError> {
    let want = query.limit + 1;
    let mut users = Vec::with_capacity(want);
    let mut cursor = query.after.clone();
    'pages: loop {
        let mut request = ListRequest::prefix("").limit(want - users.len());
        if let Some(after) = &cursor {
            request = request.after(after.clone());
        }
        let page = state
            .store
            .list(request)
            .await
            .map_err(|e| ApiError::from(guard.refusal(e)))?;
        for entry in page.entries {
            if is_valid_username(&entry.key) {
                users.push((entry.key, entry.meta));
                if users.len() == want {
                    break 'pages;
                }
            } else if entry.key.starts_with(email::INDEX_PREFIX) {
                cursor = Some(email::AFTER_INDEX.to_owned());
                continue 'pages;
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let more = users.len() == want;
    users.truncate(query.limit);
    Ok((users, more))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        assert_eq!(
            parse_query(None).unwrap(),
            Query {
                after: None,
                limit: DEFAULT_LIMIT
            }
        );
        assert_eq!(
            parse_query(Some("after=ann&limit=2")).unwrap(),
            Query {
                after: Some("ann".into()),
                limit: 2
            }
        );
        assert_eq!(
            parse_query(Some("after=a%2Eb")).unwrap().after.as_deref(),
            Some("a.b")
        );
        for bad in [
            "limit=0",
            "limit=501",
            "limit=-1",
            "limit=+5",
            "limit=x",
            "limit=",
            "after=",
            "after=a:b",
            "after=..",
            "limit=1&limit=2",
            "page=2",
        ] {
            assert!(parse_query(Some(bad)).is_err(), "{bad}");
        }
    }
}
