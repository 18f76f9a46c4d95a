//! HTTP on the `http` crate's types: guard a handler in one call, for any store and any
//! ETag scheme, with the statuses of RFC 9110 section 13, RFC 6585 and RFC 9457.
//!
//! A handler builds a [`Guard`] from its request (an extractor with the `axum` or `actix`
//! feature, or [`Guard::from_parts`] / [`Guard::new`] without a framework) and calls the one
//! operation it does; the answer is a complete [`Reply`] or [`Rejection`]:
//!
//! ```
//! use http::{HeaderMap, Method};
//! use optimist::http::{Guard, Rejection, Reply};
//! use optimist::MemoryStore;
//!
//! async fn replace(store: &MemoryStore<String>, method: &Method, headers: &HeaderMap,
//!                  id: &str, body: String) -> Result<Reply<String>, Rejection> {
//!     Guard::new(method, headers)?.put(store, id, body).await
//! }
//! # futures_executor::block_on(async {
//! let store = MemoryStore::new();
//! let r = replace(&store, &Method::PUT, &HeaderMap::new(), "doc", "x".into()).await;
//! assert_eq!(r.unwrap_err().status(), 428);
//! # });
//! ```
//!
//! # Which call do I use
//!
//! | job | call |
//! |---|---|
//! | GET / HEAD a stored value (200 / 304 / 404 / 412) | [`Guard::read`] |
//! | PUT: replace, or create with `If-None-Match: *` (200 / 201 / 412 / 428) | [`Guard::put`] |
//! | DELETE (204 / 404 / 412 / 428) | [`Guard::delete`] |
//! | PATCH / any read-modify-write pinned to the version read (200 / 404 / 409 / 412 / 428) | [`Guard::modify`] |
//! | POST that creates, a taken key answered 409 naming the field (201 / 409) | [`Guard::create`] |
//! | a write of several keys, unique fields as index entries, 409 naming the field and the target | [`Guard::commit`] |
//! | the version comes in the body (`_version`): stale is 409, and it satisfies the 428 gate | [`Guard::with_body_version`], then any of the above |
//! | your own resource, any ETag (content hash, weak, upstream's) | [`Guard::check`], [`Guard::reply`] |
//! | your own store write under the request's preconditions | [`Guard::write_expect`], [`Guard::refusal`] |
//! | 428 and 400 for every route of a router | `PreconditionLayer` (feature `tower`) |
//! | answer a problem of your own (422, 403, ...) | [`Problem`], returned or with `?` (it converts into [`Rejection`]) |
//! | a client reading a 409 / 412 back | [`conflict_from_response`] |
//! | the pieces: parse and evaluate headers, map store errors | [`Preconditions`], [`Rejection::from_store_error`] |
//!
//! # The rules
//!
//! - Evaluation follows RFC 9110 13.2.2 (`If-Match`, `If-Unmodified-Since`,
//!   `If-None-Match`, `If-Modified-Since`), with strong comparison for `If-Match` and weak
//!   for `If-None-Match`, against any current validators ([`Validators`]).
//! - `If-Unmodified-Since` on a write is false when the resource changed within the second
//!   the date names, or later: a one-second date is a weak validator (8.8.2.2) and cannot
//!   tell two changes in one second apart (8.8.1); reads keep the plain rule.
//! - The 428 gate ([`PreconditionPolicy`], RFC 6585 3) asks for a precondition that
//!   prevents a lost update: `If-Match` (tags or `*`), `If-None-Match: *`, or a version in
//!   the body. `If-Unmodified-Since` or an `If-None-Match` tag list alone are answered 428
//!   with a detail saying what to send.
//! - The store's compare-and-swap enforces the preconditions (never "evaluate, then write"):
//!   a write that loses a race after the headers were evaluated is 412 (409 when the
//!   expectation came from the body or the server, RFC 5789 2.2).
//! - Every refusal is `application/problem+json` with a stable `type` ([`ProblemType`]);
//!   409 and 412 carry the target's current `ETag`.

#[cfg(feature = "actix")]
mod actix;
#[cfg(feature = "axum")]
mod axum;
mod client;
mod entity_tag;
mod expected;
mod guard;
#[cfg(feature = "tower")]
mod layer;
mod policy;
mod precondition;
mod preconditions;
mod problem;
mod problem_type;
mod rejection;
mod reply;
mod validators;

pub use client::{ReportedConflict, conflict_from_response};
pub use entity_tag::{
    EntityTagRef, EntityTags, TagList, TagListError, entity_tags, parse_tag_list,
};
pub use expected::Expected;
pub use guard::{Create, Guard, GuardedCommit};
#[cfg(feature = "tower")]
pub use layer::{PreconditionFuture, PreconditionLayer, PreconditionService};
pub use policy::PreconditionPolicy;
pub use precondition::Precondition;
pub use preconditions::{Evaluation, InvalidPrecondition, Preconditions, WriteCondition};
pub use problem::{PROBLEM_JSON, Problem, ProblemError};
pub use problem_type::{PROBLEM_TYPE_BASE, ProblemType};
pub use rejection::{Origin, Rejection};
pub use reply::Reply;
pub use validators::{EntityTag, InvalidEntityTag, Validators};

use http::HeaderMap;

use crate::Meta;

/// Sets the validators of a successful response from a store's metadata: `ETag` (strong)
/// and `Last-Modified`. (For any other validators, [`Validators::set_headers`].)
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
    Validators::from(meta).set_headers(headers);
}
