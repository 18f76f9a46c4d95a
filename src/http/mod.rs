//! HTTP helpers on the `http` crate's types only: precondition parsing and evaluation
//! (RFC 9110 section 13), the status decision (412 / 428 / 409 / 304), and
//! `application/problem+json` responses (RFC 9457). No web framework is needed; the
//! `axum` feature adds an extractor and `IntoResponse`.
//!
//! A guarded write in four steps:
//!
//! ```
//! use http::{HeaderMap, Method};
//! use optimist::http::{Origin, PreconditionPolicy, Preconditions, Rejection};
//! use optimist::{Expect, MemoryStore, VersionedStore};
//!
//! async fn put(store: &MemoryStore<String>, key: &str, headers: &HeaderMap, body: String)
//!     -> Result<optimist::Meta, Rejection>
//! {
//!     let pre = Preconditions::from_headers(headers)?;                  // 400 if malformed
//!     pre.require(&Method::PUT, &PreconditionPolicy::default())?;       // 428 if none
//!     let expect = pre.write_expect(store, key, &Method::PUT).await?     // 412 if false
//!         .unwrap_or(Expect::Any);
//!     store.put(key, body, expect).await                                // the CAS enforces it
//!         .map_err(|e| Rejection::from_store_error(e, &Method::PUT, Origin::Header)) // 412 on a lost race
//! }
//!
//! # futures_executor::block_on(async {
//! let store = MemoryStore::new();
//! let v1 = store.put_sync("doc", "a".to_string(), Expect::Absent).unwrap().version;
//! let mut headers = HeaderMap::new();
//! assert_eq!(put(&store, "doc", &headers, "b".into()).await.unwrap_err().status(), 428);
//! headers.insert("if-match", v1.header_value());
//! let v2 = put(&store, "doc", &headers, "b".into()).await.unwrap();
//! assert_eq!(put(&store, "doc", &headers, "c".into()).await.unwrap_err().status(), 412);
//! # let _ = v2;
//! # });
//! ```

#[cfg(feature = "axum")]
mod axum;
mod entity_tag;
mod guard;
mod preconditions;
mod problem;
mod rejection;

pub use entity_tag::{
    EntityTagRef, EntityTags, TagList, TagListError, entity_tags, parse_tag_list,
};
pub use preconditions::{
    Evaluation, InvalidPrecondition, Precondition, PreconditionPolicy, Preconditions,
    WriteCondition,
};
pub use problem::{PROBLEM_JSON, PROBLEM_TYPE_BASE, Problem, ProblemError, conflict_from_response};
pub use rejection::{Origin, Rejection};

use http::HeaderMap;
use http::header::{ETAG, LAST_MODIFIED};

use crate::Meta;

/// Sets the validators of a successful response: `ETag` (strong) and `Last-Modified`.
///
/// ```
/// use optimist::{Meta, Version};
/// let mut headers = http::HeaderMap::new();
/// let meta = Meta { version: Version::new(3).unwrap(), last_modified: std::time::UNIX_EPOCH };
/// optimist::http::set_validators(&mut headers, &meta);
/// assert_eq!(headers["etag"], "\"3\"");
/// assert_eq!(headers["last-modified"], "Thu, 01 Jan 1970 00:00:00 GMT");
/// ```
pub fn set_validators(headers: &mut HeaderMap, meta: &Meta) {
    headers.insert(ETAG, meta.version.header_value());
    let date = httpdate::fmt_http_date(meta.last_modified);
    headers.insert(
        LAST_MODIFIED,
        date.parse().expect("an HTTP-date is a valid header value"),
    );
}
