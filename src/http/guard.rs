//! The guard: a request's method, preconditions and policy, with one operation per job that
//! answers the whole request against any store (or any validators).

use std::future::IntoFuture;
use std::marker::PhantomData;

use http::request::Parts;
use http::{HeaderMap, Method, StatusCode};

use super::expected::Expected;
use super::policy::PreconditionPolicy;
use super::preconditions::{Evaluation, Preconditions, WriteCondition};
use super::rejection::{Origin, Rejection};
use super::reply::Reply;
use super::validators::{EntityTag, Validators};
use crate::{
    Applied, BoxFuture, Commit, CommitConflict, ConflictKind, Expect, Meta, Op, StoreError,
    Versioned, VersionedStore,
};

/// A version the client carried in the request body, if the handler accepts one.
#[derive(Clone, Debug, PartialEq, Eq)]
enum BodyVersion {
    /// The handler takes no version from the body.
    NotAccepted,
    /// Accepted, but the body had none.
    Absent,
    /// The body's version, parsed as an entity-tag (`None`: not a tag at all, never matches).
    Sent(Option<EntityTag>),
}

/// A request's preconditions, method and policy, ready to answer it against a
/// [`VersionedStore`] (or against any validators of your own) in one call.
///
/// Build it from the request (the `axum` and `actix` features make it an extractor), then
/// call the one operation the handler does. Each operation evaluates the preconditions in
/// the RFC 9110 13.2.2 order, hands the store the expectation that enforces them in its
/// compare-and-swap (never "read, compare, then write"), and returns the complete answer:
/// a [`Reply`] (status, `ETag`, `Last-Modified`, `Location`, body) or a [`Rejection`]
/// (304 / 400 / 404 / 409 / 412 / 428 / 503 with a problem body).
///
/// | job | call | answers |
/// |---|---|---|
/// | GET / HEAD a stored value | [`read`](Self::read) | 200, 304, 404, 412 |
/// | PUT: replace, or create where `If-None-Match: *` | [`put`](Self::put) | 200, 201, 404, 409, 412, 428 |
/// | DELETE | [`delete`](Self::delete) | 204, 404, 412, 428 |
/// | PATCH: read, change, write pinned to what was read | [`modify`](Self::modify) | 200, 404, 409, 412, 428 |
/// | POST: create only if absent, 409 naming the field | [`create`](Self::create) | 201, 409, 412 |
/// | a write of several keys (unique fields as index entries) | [`commit`](Self::commit) | as `put` / `create`, 409 naming the field |
/// | a read-modify-write of several keys (PUT / PATCH / DELETE moving a unique value) | [`modify_commit`](Self::modify_commit) | as `modify`, 409 naming the field |
/// | your own resource, any ETag scheme | [`check`](Self::check), [`reply`](Self::reply) | 304, 404, 409, 412, 428 |
/// | the store expectation only, for your own write | [`write_expect`](Self::write_expect) + [`refusal`](Self::refusal) | |
///
/// The policy (by default PUT, PATCH and DELETE) decides which methods must carry a
/// lost-update-safe precondition: `If-Match`, `If-None-Match: *`, or a version in the body
/// ([`with_body_version`](Self::with_body_version)). Anything else is refused with 428
/// before the store is touched.
///
/// ```
/// use http::{HeaderMap, Method, StatusCode};
/// use optimist::http::Guard;
/// use optimist::{Expect, MemoryStore};
///
/// # futures_executor::block_on(async {
/// let store = MemoryStore::new();
/// let v1 = store.put_sync("doc", "a".to_string(), Expect::Absent).unwrap().version;
///
/// // PUT without a precondition: 428.
/// let guard = Guard::new(&Method::PUT, &HeaderMap::new()).unwrap();
/// assert_eq!(guard.put(&store, "doc", "b".to_string()).await.unwrap_err().status(), 428);
///
/// // PUT with the ETag read: 200, with the new ETag and Last-Modified.
/// let mut headers = HeaderMap::new();
/// headers.insert("if-match", v1.header_value());
/// let guard = Guard::new(&Method::PUT, &headers).unwrap();
/// let reply = guard.put(&store, "doc", "b".to_string()).await.unwrap();
/// assert_eq!(reply.status(), 200);
/// assert!(reply.headers().contains_key("last-modified"));
///
/// // The same request again: the ETag is stale now, 412 with the current one.
/// let refused = guard.put(&store, "doc", "c".to_string()).await.unwrap_err();
/// assert_eq!(refused.status(), 412);
/// assert_eq!(refused.current_etag().unwrap().to_string(), reply.headers()["etag"]);
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct Guard {
    method: Method,
    preconditions: Preconditions,
    required: bool,
    body: BodyVersion,
}

fn creates(method: &Method) -> bool {
    method == Method::PUT || method == Method::POST
}

impl Guard {
    /// The guard for a request with `method` and `headers`, under the default policy
    /// (PUT, PATCH and DELETE need a lost-update-safe precondition). A malformed `If-Match`
    /// or `If-None-Match` is `Err` with 400.
    pub fn new(method: &Method, headers: &HeaderMap) -> Result<Self, Rejection> {
        Self::with_policy(method, headers, &PreconditionPolicy::default())
    }

    /// The guard for a request under `policy`.
    ///
    /// ```
    /// use http::{HeaderMap, Method, StatusCode};
    /// use optimist::http::{Guard, PreconditionPolicy};
    /// let guard = Guard::with_policy(&Method::PUT, &HeaderMap::new(), &PreconditionPolicy::none()).unwrap();
    /// assert!(!guard.requires_precondition());
    /// ```
    pub fn with_policy(
        method: &Method,
        headers: &HeaderMap,
        policy: &PreconditionPolicy,
    ) -> Result<Self, Rejection> {
        let preconditions = Preconditions::from_headers(headers)?;
        Ok(Self::from_preconditions(
            method.clone(),
            preconditions,
            policy,
        ))
    }

    /// The guard for a request's head: the policy is the [`PreconditionPolicy`] in its
    /// extensions (the tower layer puts one there), else the default.
    ///
    /// ```
    /// let (parts, ()) = http::Request::delete("/notes/1").body(()).unwrap().into_parts();
    /// let guard = optimist::http::Guard::from_parts(&parts).unwrap();
    /// assert!(guard.requires_precondition());
    /// ```
    pub fn from_parts(parts: &Parts) -> Result<Self, Rejection> {
        match parts.extensions.get::<PreconditionPolicy>() {
            Some(policy) => Self::with_policy(&parts.method, &parts.headers, policy),
            None => Self::new(&parts.method, &parts.headers),
        }
    }

    /// The guard for already parsed preconditions.
    pub fn from_preconditions(
        method: Method,
        preconditions: Preconditions,
        policy: &PreconditionPolicy,
    ) -> Self {
        Self {
            required: policy.requires(&method),
            method,
            preconditions,
            body: BodyVersion::NotAccepted,
        }
    }

    /// Takes the version the client carried in the request body (the ETag it read, e.g. a
    /// `_version` member), `None` when the body had none.
    ///
    /// A body version is a lost-update-safe precondition (it satisfies the 428 gate); a
    /// stale one is **409** (not 412: it is not a header, RFC 9110 13.1). A lost-update-safe
    /// header (`If-Match`, `If-None-Match: *`) takes precedence and the body version is then
    /// ignored; other headers (`If-Unmodified-Since`, `If-None-Match` tags) are evaluated as
    /// well. Text that is not an entity-tag never matches.
    ///
    /// ```
    /// use http::{HeaderMap, Method, StatusCode};
    /// use optimist::http::Guard;
    /// use optimist::{Expect, MemoryStore};
    /// # futures_executor::block_on(async {
    /// let store = MemoryStore::new();
    /// let v1 = store.put_sync("doc", 1, Expect::Absent).unwrap().version;
    /// let guard = Guard::new(&Method::PUT, &HeaderMap::new()).unwrap();
    /// let ok = guard.clone().with_body_version(Some(&v1.etag())).put(&store, "doc", 2).await;
    /// assert_eq!(ok.unwrap().status(), 200);
    /// let stale = guard.with_body_version(Some(&v1.etag())).put(&store, "doc", 3).await;
    /// assert_eq!(stale.unwrap_err().status(), 409);
    /// # });
    /// ```
    pub fn with_body_version(mut self, version: Option<&str>) -> Self {
        self.body = match version {
            Some(text) => BodyVersion::Sent(text.parse().ok()),
            None => BodyVersion::Absent,
        };
        self
    }

    /// The request's method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request's parsed preconditions.
    pub fn preconditions(&self) -> &Preconditions {
        &self.preconditions
    }

    /// Whether the policy requires this request to carry a lost-update-safe precondition.
    pub fn requires_precondition(&self) -> bool {
        self.required
    }

    /// Where the expectation of this request's write comes from, which decides 412 against
    /// 409: a lost-update-safe header, else the body's version, else any other header, else
    /// the server.
    pub fn origin(&self) -> Origin {
        if self.preconditions.is_lost_update_safe() {
            Origin::Header
        } else if matches!(self.body, BodyVersion::Sent(_)) {
            Origin::Body
        } else if self.preconditions.has_write_condition() {
            Origin::Header
        } else {
            Origin::Server
        }
    }

    /// The 428 gate: `Err` when the policy requires a lost-update-safe precondition for this
    /// method and the request has none (RFC 6585 3). The detail says what to send, for the
    /// method. Every write operation of the guard runs it first.
    ///
    /// ```
    /// use http::{HeaderMap, Method, StatusCode};
    /// use optimist::http::Guard;
    /// let mut h = HeaderMap::new();
    /// h.insert("if-unmodified-since", "Tue, 14 Nov 2023 22:13:20 GMT".parse().unwrap());
    /// let refused = Guard::new(&Method::PUT, &h).unwrap().gate().unwrap_err();
    /// assert_eq!(refused.status(), 428);
    /// assert!(refused.problem().unwrap().detail.contains("If-Match"));
    /// ```
    pub fn gate(&self) -> Result<(), Rejection> {
        let safe =
            self.preconditions.is_lost_update_safe() || matches!(self.body, BodyVersion::Sent(_));
        if self.required && !safe {
            return Err(Rejection::PreconditionRequired {
                method: self.method.clone(),
                sent: self.preconditions.unsafe_condition(),
                body_version: self.body != BodyVersion::NotAccepted,
            });
        }
        Ok(())
    }

    /// The answer for a store error of this request's write: 412 when its expectation came
    /// from a header, 409 from the body or the server, 404 for DELETE / PATCH of a missing
    /// key; see [`Rejection::from_store_error`].
    pub fn refusal(&self, err: StoreError) -> Rejection {
        Rejection::from_store_error(err, &self.method, self.origin())
    }

    /// The body's version as the store's expectation: `OneOf([])` (never passes) for text
    /// that is not a strong tag of ours.
    fn body_expect(tag: Option<&EntityTag>) -> Expect {
        match tag.and_then(EntityTag::strong_version) {
            Some(v) => Expect::Version(v),
            None => Expect::OneOf(Vec::new()),
        }
    }

    /// Checks the request against the current state it read (`None`: absent): header
    /// preconditions (412), then the body's version (409). For writes.
    fn check_write(&self, key: &str, current: Option<&Validators>) -> Result<(), Rejection> {
        match self.preconditions.evaluate(&self.method, current) {
            Evaluation::Proceed => {}
            Evaluation::NotModified => {
                return Err(Rejection::not_modified(
                    current.cloned().unwrap_or_default(),
                ));
            }
            Evaluation::Failed(header) => {
                return Err(Rejection::precondition_failed(
                    key,
                    &self.preconditions,
                    header,
                    current.and_then(|c| c.etag().cloned()),
                ));
            }
        }
        if let (Origin::Body, BodyVersion::Sent(tag)) = (self.origin(), &self.body) {
            let now = current.and_then(Validators::etag);
            let matches = matches!((tag, now), (Some(t), Some(n)) if t.strong_eq(n));
            if !matches {
                let kind = if current.is_some() {
                    ConflictKind::Stale
                } else {
                    ConflictKind::Missing
                };
                return Err(Rejection::Conflict {
                    key: key.to_owned(),
                    kind,
                    field: None,
                    expected: Some(Expected::Tags(tag.iter().cloned().collect())),
                    current: now.cloned(),
                    unique: false,
                });
            }
        }
        Ok(())
    }

    /// The expectation under which this request's write of `key` (a PUT that replaces, or a
    /// DELETE) must run so the store's compare-and-swap enforces the request: the 428 gate,
    /// then what the headers (or the body's version) require. Reads the key's metadata only
    /// when the headers cannot be enforced as they are ([`WriteCondition::NeedsCurrent`]):
    /// then a false precondition is 412 at once (404 for DELETE and PATCH of a missing key,
    /// RFC 9110 13.2.1), and a change between that read and the write makes the CAS fail.
    ///
    /// Use it with [`refusal`](Self::refusal) for a write of your own; the guard's
    /// operations use it themselves.
    ///
    /// ```
    /// use http::{HeaderMap, Method, StatusCode};
    /// use optimist::http::Guard;
    /// use optimist::{Expect, MemoryStore};
    /// # futures_executor::block_on(async {
    /// let store = MemoryStore::<u8>::new();
    /// let mut h = HeaderMap::new();
    /// h.insert("if-none-match", "*".parse().unwrap());
    /// let guard = Guard::new(&Method::PUT, &h).unwrap();
    /// assert_eq!(guard.write_expect(&store, "k").await.unwrap(), Expect::Absent);
    /// # });
    /// ```
    pub async fn write_expect<V, S>(&self, store: &S, key: &str) -> Result<Expect, Rejection>
    where
        S: VersionedStore<V> + ?Sized,
    {
        self.gate()?;
        let from_body = match (self.origin(), &self.body) {
            (Origin::Body, BodyVersion::Sent(tag)) => Some(Self::body_expect(tag.as_ref())),
            _ => None,
        };
        let condition = self.preconditions.write_condition();
        match (from_body, condition) {
            (Some(expect), WriteCondition::None) => Ok(expect),
            (None, WriteCondition::None) => Ok(Expect::Any),
            (None, WriteCondition::Enforce(expect)) => Ok(expect),
            // Headers that need the current state (with or without a body version).
            (_, _) => {
                let current = store.head(key).await.map_err(|e| self.refusal(e))?;
                if current.is_none() && !creates(&self.method) {
                    return Err(Rejection::not_found(key));
                }
                self.check_write(key, current.map(Validators::from).as_ref())?;
                Ok(Expect::from(current.map(|m| m.version)))
            }
        }
    }

    /// **GET / HEAD**: reads `key` and answers 200 with its `ETag`, `Last-Modified` and
    /// value; 304 for a matching `If-None-Match` / `If-Modified-Since`; 412 for a false
    /// `If-Match` / `If-Unmodified-Since`; 404 when absent. GET and HEAD get the same
    /// headers (frameworks drop the body of a HEAD).
    ///
    /// ```
    /// use http::{HeaderMap, Method, StatusCode};
    /// use optimist::http::Guard;
    /// use optimist::{Expect, MemoryStore};
    /// # futures_executor::block_on(async {
    /// let store = MemoryStore::new();
    /// let v = store.put_sync("doc", "hello", Expect::Absent).unwrap().version;
    /// let guard = Guard::new(&Method::GET, &HeaderMap::new()).unwrap();
    /// let reply = guard.read(&store, "doc").await.unwrap();
    /// assert_eq!((reply.status().as_u16(), reply.body()), (200, Some(&"hello")));
    ///
    /// let mut h = HeaderMap::new();
    /// h.insert("if-none-match", v.header_value());
    /// let guard = Guard::new(&Method::GET, &h).unwrap();
    /// assert_eq!(guard.read(&store, "doc").await.unwrap_err().status(), 304);
    /// assert_eq!(guard.read(&store, "nope").await.unwrap_err().status(), 404);
    /// # });
    /// ```
    pub async fn read<V, S>(&self, store: &S, key: &str) -> Result<Reply<V>, Rejection>
    where
        S: VersionedStore<V> + ?Sized,
    {
        let doc = store
            .get(key)
            .await
            .map_err(|e| self.refusal(e))?
            .ok_or_else(|| Rejection::not_found(key))?;
        let validators = Validators::from(doc.meta());
        self.evaluate_read(key, &validators)?;
        Ok(Reply::ok(doc.value).with_validators(&validators))
    }

    /// 304 / 412 for a read of an existing representation.
    fn evaluate_read(&self, key: &str, current: &Validators) -> Result<(), Rejection> {
        match self.preconditions.evaluate(&self.method, Some(current)) {
            Evaluation::Proceed => Ok(()),
            Evaluation::NotModified => Err(Rejection::not_modified(current.clone())),
            Evaluation::Failed(header) => Err(Rejection::precondition_failed(
                key,
                &self.preconditions,
                header,
                current.etag().cloned(),
            )),
        }
    }

    /// **PUT**: writes `value` under `key` under the request's preconditions, enforced by the
    /// store's compare-and-swap. 200 (replaced) or 201 (created), each with the new `ETag`
    /// and `Last-Modified` from the write itself (no second read) and the value as body;
    /// 428 without a lost-update-safe precondition; 412 when a header precondition is false
    /// or the write loses a race (409 for a body version); 404 never (PUT creates).
    ///
    /// Without any precondition (a policy that does not require one), the write is
    /// unconditional; it is first tried as a create so that 201 is only ever answered for a
    /// write that did create.
    pub async fn put<V, S>(&self, store: &S, key: &str, value: V) -> Result<Reply<V>, Rejection>
    where
        V: Clone,
        S: VersionedStore<V> + ?Sized,
    {
        let expect = self.write_expect(store, key).await?;
        let (meta, created) = if expect == Expect::Any {
            match store.put(key, value.clone(), Expect::Absent).await {
                Ok(meta) => (meta, true),
                Err(StoreError::Conflict(c)) if c.kind() == ConflictKind::AlreadyExists => {
                    let meta = store
                        .put(key, value.clone(), Expect::Any)
                        .await
                        .map_err(|e| self.refusal(e))?;
                    (meta, false)
                }
                Err(e) => return Err(self.refusal(e)),
            }
        } else {
            let created = expect == Expect::Absent;
            let meta = store
                .put(key, value.clone(), expect)
                .await
                .map_err(|e| self.refusal(e))?;
            (meta, created)
        };
        let reply = if created {
            Reply::created(value)
        } else {
            Reply::ok(value)
        };
        Ok(reply.with_validators(&Validators::from(meta)))
    }

    /// **DELETE**: removes `key` under the request's preconditions. 204; 404 when absent
    /// (whatever `If-Match` says, RFC 9110 13.2.1); 412 for a false precondition or a lost
    /// race; 428 without a lost-update-safe precondition.
    ///
    /// ```
    /// use http::{HeaderMap, Method, StatusCode};
    /// use optimist::http::Guard;
    /// use optimist::{Expect, MemoryStore};
    /// # futures_executor::block_on(async {
    /// let store = MemoryStore::new();
    /// let v = store.put_sync("doc", 1, Expect::Absent).unwrap().version;
    /// let mut h = HeaderMap::new();
    /// h.insert("if-match", v.header_value());
    /// let guard = Guard::new(&Method::DELETE, &h).unwrap();
    /// assert_eq!(guard.delete(&store, "doc").await.unwrap().status(), 204);
    /// assert_eq!(guard.delete(&store, "doc").await.unwrap_err().status(), 404);
    /// # });
    /// ```
    pub async fn delete<V, S>(&self, store: &S, key: &str) -> Result<Reply<()>, Rejection>
    where
        S: VersionedStore<V> + ?Sized,
    {
        let expect = self.write_expect(store, key).await?;
        match store.delete(key, expect).await {
            Ok(Some(_)) => Ok(Reply::no_content()),
            Ok(None) => Err(Rejection::not_found(key)),
            Err(e) => Err(self.refusal(e)),
        }
    }

    /// **PATCH** (any read-modify-write): reads `key`, checks the request's preconditions
    /// against what it read, hands the value to `change`, and writes the result **pinned to
    /// the version it read**, so a change made in between is never overwritten. 200 with the
    /// new `ETag`, `Last-Modified` and value; 404 when absent; 412 for a false header
    /// precondition, or when the write loses a race and the request's expectation came from
    /// a header; 409 when it came from the body's version or the server; 428 without a
    /// lost-update-safe precondition (where required). `change` refuses with any
    /// [`Rejection`] (a [`Problem`](super::Problem) converts with `?`): nothing is written.
    ///
    /// ```
    /// use http::{HeaderMap, Method, StatusCode};
    /// use optimist::http::Guard;
    /// use optimist::{Expect, MemoryStore};
    /// # futures_executor::block_on(async {
    /// let store = MemoryStore::new();
    /// let v = store.put_sync("counter", 41, Expect::Absent).unwrap().version;
    /// let mut h = HeaderMap::new();
    /// h.insert("if-match", v.header_value());
    /// let guard = Guard::new(&Method::PATCH, &h).unwrap();
    /// let reply = guard.modify(&store, "counter", |n| Ok(n + 1)).await.unwrap();
    /// assert_eq!(reply.body(), Some(&42));
    /// // The same If-Match again is stale: 412, nothing applied.
    /// assert_eq!(guard.modify(&store, "counter", |n| Ok(n + 1)).await.unwrap_err().status(), 412);
    /// # });
    /// ```
    pub async fn modify<V, S, F>(
        &self,
        store: &S,
        key: &str,
        change: F,
    ) -> Result<Reply<V>, Rejection>
    where
        V: Clone,
        S: VersionedStore<V> + ?Sized,
        F: FnOnce(V) -> Result<V, Rejection>,
    {
        self.gate()?;
        let current = store
            .get(key)
            .await
            .map_err(|e| self.refusal(e))?
            .ok_or_else(|| Rejection::not_found(key))?;
        let read = current.meta();
        self.check_write(key, Some(&Validators::from(read)))?;
        let value = change(current.value)?;
        let meta = store
            .put(key, value.clone(), Expect::Version(read.version))
            .await
            .map_err(|e| self.refusal(e))?;
        Ok(Reply::ok(value).with_validators(&Validators::from(meta)))
    }

    /// **POST that creates** `key`: writes `value` only if the key does not exist. 201 with
    /// `ETag`, `Last-Modified`, the value, and `Location` if given; a taken key is **409**
    /// naming the field given with `.field(...)` (the seeds' "duplicate username -> 409 with
    /// field `username`"), with the existing resource's `ETag`. Header preconditions are
    /// evaluated too (a false one is 412; `If-None-Match: *` losing is 412). The 428 gate
    /// does not apply: a create-only write cannot overwrite anything. Await it:
    ///
    /// ```
    /// use http::{HeaderMap, Method, StatusCode};
    /// use optimist::http::Guard;
    /// use optimist::MemoryStore;
    /// # futures_executor::block_on(async {
    /// let store = MemoryStore::new();
    /// let guard = Guard::new(&Method::POST, &HeaderMap::new()).unwrap();
    /// let created = guard.create(&store, "john_doe", "John").location("/api/users/john_doe").await.unwrap();
    /// assert_eq!(created.status(), 201);
    /// assert_eq!(created.headers()["location"], "/api/users/john_doe");
    ///
    /// let taken = guard.create(&store, "john_doe", "Other").field("username").await.unwrap_err();
    /// let problem = taken.problem().unwrap();
    /// assert_eq!((taken.status().as_u16(), problem.field.as_deref()), (409, Some("username")));
    /// # });
    /// ```
    pub fn create<'a, V, S>(&'a self, store: &'a S, key: &'a str, value: V) -> Create<'a, V, S>
    where
        S: VersionedStore<V> + ?Sized,
    {
        Create {
            guard: self,
            store,
            key,
            value,
            field: None,
            location: None,
        }
    }

    /// **A write of several keys at once** (all or nothing, in one atomic step of the
    /// store), under the request's preconditions for its **target** `key`: the guard works
    /// out the target's expectation (as [`put`](Self::put) / [`delete`](Self::delete) do;
    /// for POST, create-only as [`create`](Self::create) does) and hands it to `build`,
    /// which returns the commit with the target's operation carrying it, plus whatever else
    /// must change with it (unique-value index entries, counters).
    ///
    /// Name the index entries with `.unique(index_key, field)`: when one of them refuses
    /// (the value is held by another resource) the answer is **409, field F is taken**
    /// naming the **target** and carrying the **target's** current `ETag` (none on a
    /// create), never the index entry's. A refusal of the target itself is answered as for
    /// a single write (412 / 409 / 404). The reply is 200 or 201 with the target's new
    /// validators (204 for a delete), without a body (add one with
    /// [`Reply::with_body`]).
    ///
    /// ```
    /// use http::{HeaderMap, Method, StatusCode};
    /// use optimist::http::Guard;
    /// use optimist::{Commit, Expect, MemoryStore};
    /// # futures_executor::block_on(async {
    /// let store = MemoryStore::new();
    /// store.put_sync("email:ann@example.com", "user:ann".to_string(), Expect::Absent).unwrap();
    /// let v = store.put_sync("user:bob", "bob@example.com".to_string(), Expect::Absent).unwrap().version;
    ///
    /// // Bob wants Ann's address: 409 naming Bob and Bob's ETag.
    /// let mut h = HeaderMap::new();
    /// h.insert("if-match", v.header_value());
    /// let guard = Guard::new(&Method::PUT, &h).unwrap();
    /// let refused = guard
    ///     .commit(&store, "user:bob", |expect| {
    ///         Commit::new()
    ///             .put("user:bob", "ann@example.com".to_string(), expect)
    ///             .put("email:ann@example.com", "user:bob".to_string(), Expect::Absent)
    ///     })
    ///     .unique("email:ann@example.com", "email")
    ///     .await
    ///     .unwrap_err();
    /// let response = refused.into_http_response();
    /// assert_eq!(response.status(), 409);
    /// assert_eq!(response.headers()["etag"], v.etag().as_str());
    /// let p = optimist::http::Problem::from_response(&response).unwrap();
    /// assert_eq!((p.key.as_deref(), p.field.as_deref()), (Some("user:bob"), Some("email")));
    /// # });
    /// ```
    pub fn commit<'a, V, S, F>(
        &'a self,
        store: &'a S,
        key: &'a str,
        build: F,
    ) -> GuardedCommit<'a, V, S, F>
    where
        S: VersionedStore<V> + ?Sized,
        F: FnOnce(Expect) -> Commit<V>,
    {
        GuardedCommit {
            guard: self,
            store,
            key,
            build,
            unique: Vec::new(),
            field: None,
            location: None,
            value: PhantomData,
        }
    }

    /// **A read-modify-write of several keys** (a PUT, PATCH or DELETE that moves a unique
    /// value): reads `key`, checks the request against what it read (428, 404 for PATCH /
    /// DELETE of a missing key, 412, 409 for a body version) as [`modify`](Self::modify)
    /// does, then hands `build` the value read (`None`: absent, a PUT creating it) and the
    /// expectation **pinned to the version read** (`Expect::Absent` when absent). `build`
    /// returns the commit, with the target's operation carrying that expectation, plus the
    /// index entries to release and claim (it may refuse with any [`Rejection`]; nothing is
    /// written). Because the target is pinned, what `build` saw of it (e.g. its old unique
    /// value) is exactly what the commit replaces.
    ///
    /// Answers as [`commit`](Self::commit): a refused index entry named with `.unique(..)`
    /// or `.unique_prefix(..)` is **409, field F is taken**, naming the target and carrying
    /// the version read (the target's own expectation held); a refusal of the target (a
    /// concurrent change) is 412 when the request's expectation came from a header, 409 from
    /// the body or the server. 200 / 201 with the target's new validators, 204 for a delete;
    /// no body (add one with [`Reply::with_body`]). A commit of the target's operation alone
    /// runs as a single-key write, so it works on stores without multi-key commits.
    ///
    /// ```
    /// use http::{HeaderMap, Method, StatusCode};
    /// use optimist::http::{Guard, Problem};
    /// use optimist::{Commit, Expect, MemoryStore};
    /// # futures_executor::block_on(async {
    /// let store = MemoryStore::new();
    /// store.put_sync("email:ann@example.com", "ann".to_string(), Expect::Absent).unwrap();
    /// store.put_sync("email:bob@example.com", "bob".to_string(), Expect::Absent).unwrap();
    /// let v = store.put_sync("bob", "bob@example.com".to_string(), Expect::Absent).unwrap().version;
    ///
    /// // Bob moves to ann@example.com: release his old entry, claim the new one.
    /// let mut h = HeaderMap::new();
    /// h.insert("if-match", v.header_value());
    /// let guard = Guard::new(&Method::PUT, &h).unwrap();
    /// let moved = |to: &'static str| guard
    ///     .modify_commit(&store, "bob", move |current, expect| {
    ///         let old = current.expect("bob exists").value;
    ///         Ok(Commit::new()
    ///             .put("bob", to.to_string(), expect)
    ///             .delete(format!("email:{old}"), Expect::Any)
    ///             .put(format!("email:{to}"), "bob".to_string(), Expect::Absent))
    ///     })
    ///     .unique_prefix("email:", "email");
    /// let refused = moved("ann@example.com").await.unwrap_err();
    /// let response = refused.into_http_response();
    /// assert_eq!(response.status(), 409);
    /// assert_eq!(response.headers()["etag"], v.etag().as_str()); // Bob's, not the entry's
    /// let p = Problem::from_response(&response).unwrap();
    /// assert_eq!((p.key.as_deref(), p.field.as_deref()), (Some("bob"), Some("email")));
    ///
    /// assert_eq!(moved("bob@example.org").await.unwrap().status(), 200);
    /// assert!(store.get_sync("email:bob@example.com").is_none());
    /// # });
    /// ```
    pub fn modify_commit<'a, V, S, F>(
        &'a self,
        store: &'a S,
        key: &'a str,
        build: F,
    ) -> ModifyCommit<'a, V, S, F>
    where
        S: VersionedStore<V> + ?Sized,
        F: FnOnce(Option<Versioned<V>>, Expect) -> Result<Commit<V>, Rejection>,
    {
        ModifyCommit {
            guard: self,
            store,
            key,
            build,
            unique: Vec::new(),
            field: None,
            location: None,
            value: PhantomData,
        }
    }

    /// The expectation and origin of a create-only write of `key`.
    async fn create_expect<V, S>(&self, store: &S, key: &str) -> Result<Origin, Rejection>
    where
        S: VersionedStore<V> + ?Sized,
    {
        match self.preconditions.write_condition() {
            WriteCondition::None => Ok(Origin::Server),
            WriteCondition::Enforce(Expect::Absent) => Ok(Origin::Header),
            _ => {
                let current = store.head(key).await.map_err(|e| self.refusal(e))?;
                self.check_write(key, current.map(Validators::from).as_ref())?;
                Ok(Origin::Server)
            }
        }
    }

    /// **Any validator**: checks this request against your own representation's current
    /// validators (`None`: it does not exist) — an entity-tag of any scheme (content hash,
    /// weak tag, an upstream's) and an optional modification time. In order: the 428 gate
    /// for writes; 404 when absent and the method would not create it (GET, HEAD, DELETE,
    /// PATCH); the preconditions (304 for GET/HEAD, else 412); the body's version (409).
    /// `Ok` means go on; your own write must then enforce the same state (its own
    /// compare-and-swap), as the crate's stores do.
    ///
    /// ```
    /// use http::{HeaderMap, Method, StatusCode};
    /// use optimist::http::{EntityTag, Guard, Validators};
    ///
    /// let current = Validators::from_etag(EntityTag::strong("sha256-9f86d08").unwrap());
    /// let mut h = HeaderMap::new();
    /// h.insert("if-match", "\"sha256-0000000\"".parse().unwrap());
    /// let guard = Guard::new(&Method::PUT, &h).unwrap();
    /// let refused = guard.check("/files/a", Some(&current)).unwrap_err();
    /// assert_eq!(refused.status(), 412);
    /// assert_eq!(refused.current_etag(), current.etag());
    /// ```
    pub fn check(&self, key: &str, current: Option<&Validators>) -> Result<(), Rejection> {
        let writes = !(self.method == Method::GET || self.method == Method::HEAD);
        if writes {
            self.gate()?;
        }
        if current.is_none() && !creates(&self.method) {
            return Err(Rejection::not_found(key));
        }
        match current {
            Some(c) if !writes => self.evaluate_read(key, c),
            _ => self.check_write(key, current),
        }
    }

    /// **Any validator, reads**: [`check`](Self::check) against `current`, then 200 with
    /// `body` and `current`'s `ETag` and `Last-Modified`.
    ///
    /// ```
    /// use http::{HeaderMap, Method, StatusCode};
    /// use optimist::http::{EntityTag, Guard, Validators};
    ///
    /// let current = Validators::from_etag(EntityTag::weak("listing-7").unwrap());
    /// let mut h = HeaderMap::new();
    /// h.insert("if-none-match", "\"listing-7\"".parse().unwrap()); // weak comparison
    /// let guard = Guard::new(&Method::GET, &h).unwrap();
    /// assert_eq!(guard.reply("/notes", current, vec!["a", "b"]).unwrap_err().status(), 304);
    /// ```
    pub fn reply<T>(&self, key: &str, current: Validators, body: T) -> Result<Reply<T>, Rejection> {
        self.check(key, Some(&current))?;
        Ok(Reply::ok(body).with_validators(&current))
    }

    /// The target's current tag after a refused commit in which the target's own
    /// expectation held: exact when it named one version, absent for a create, otherwise
    /// read right after (a hint, like every current version a refusal reports).
    async fn target_current<V, S>(&self, store: &S, key: &str, expect: &Expect) -> Option<EntityTag>
    where
        S: VersionedStore<V> + ?Sized,
    {
        match expect {
            Expect::Version(v) => Some(EntityTag::from(*v)),
            Expect::Absent => None,
            _ => store
                .head(key)
                .await
                .ok()
                .flatten()
                .map(|m: Meta| EntityTag::from(m.version)),
        }
    }
}

/// A create-only write of one key; see [`Guard::create`]. Set options, then `.await` it.
#[must_use = "a Create does nothing until it is awaited"]
pub struct Create<'a, V, S: ?Sized> {
    guard: &'a Guard,
    store: &'a S,
    key: &'a str,
    value: V,
    field: Option<String>,
    location: Option<String>,
}

impl<V, S: ?Sized> Create<'_, V, S> {
    /// The request field the key stands for (e.g. `username`): a taken key is a 409 naming it.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// The `Location` of the created resource, sent with the 201.
    pub fn location(mut self, uri: impl Into<String>) -> Self {
        self.location = Some(uri.into());
        self
    }
}

impl<'a, V, S> IntoFuture for Create<'a, V, S>
where
    V: Clone + Send + 'a,
    S: VersionedStore<V> + ?Sized + 'a,
{
    type Output = Result<Reply<V>, Rejection>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let Create {
                guard,
                store,
                key,
                value,
                field,
                location,
            } = self;
            let origin = guard.create_expect(store, key).await?;
            let meta = store
                .put(key, value.clone(), Expect::Absent)
                .await
                .map_err(|e| {
                    let r = Rejection::from_store_error(e, guard.method(), origin);
                    match field {
                        Some(f) => r.with_field(f),
                        None => r,
                    }
                })?;
            let reply = Reply::created(value).with_validators(&Validators::from(meta));
            Ok(match location {
                Some(uri) => reply.with_location(uri),
                None => reply,
            })
        })
    }
}

/// A multi-key write under a request's preconditions for its target; see [`Guard::commit`].
/// Name the unique-value index entries, then `.await` it.
#[must_use = "a GuardedCommit does nothing until it is awaited"]
pub struct GuardedCommit<'a, V, S: ?Sized, F> {
    guard: &'a Guard,
    store: &'a S,
    key: &'a str,
    build: F,
    unique: Vec<(Unique, String)>,
    field: Option<String>,
    location: Option<String>,
    value: PhantomData<fn() -> V>,
}

impl<V, S: ?Sized, F> GuardedCommit<'_, V, S, F> {
    /// `index_key` is an entry that holds a unique value for field `field` (e.g.
    /// `email:ann@example.com` for `email`): when it refuses, the answer is 409 naming the
    /// target resource and `field`.
    pub fn unique(mut self, index_key: impl Into<String>, field: impl Into<String>) -> Self {
        self.unique
            .push((Unique::Key(index_key.into()), field.into()));
        self
    }

    /// Every key starting with `prefix` is an index entry of field `field` (e.g. `email:`
    /// for `email`).
    pub fn unique_prefix(mut self, prefix: impl Into<String>, field: impl Into<String>) -> Self {
        self.unique
            .push((Unique::Prefix(prefix.into()), field.into()));
        self
    }

    /// The request field the **target's** key stands for (a create finding it taken).
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// The `Location` sent with a 201.
    pub fn location(mut self, uri: impl Into<String>) -> Self {
        self.location = Some(uri.into());
        self
    }
}

impl<'a, V, S, F> IntoFuture for GuardedCommit<'a, V, S, F>
where
    V: Send + 'a,
    S: VersionedStore<V> + ?Sized + 'a,
    F: FnOnce(Expect) -> Commit<V> + Send + 'a,
{
    type Output = Result<Reply<()>, Rejection>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let GuardedCommit {
                guard,
                store,
                key,
                build,
                unique,
                field,
                location,
                value: PhantomData,
            } = self;
            let (expect, origin) = if guard.method() == Method::POST {
                (Expect::Absent, guard.create_expect(store, key).await?)
            } else {
                (guard.write_expect(store, key).await?, guard.origin())
            };
            let commit = build(expect.clone());
            let labels = Labels {
                unique: &unique,
                field,
                location,
            };
            run_commit(guard, store, key, commit, &expect, origin, labels).await
        })
    }
}

/// A read-modify-write of several keys; see [`Guard::modify_commit`]. Name the unique-value
/// index entries, then `.await` it.
#[must_use = "a ModifyCommit does nothing until it is awaited"]
pub struct ModifyCommit<'a, V, S: ?Sized, F> {
    guard: &'a Guard,
    store: &'a S,
    key: &'a str,
    build: F,
    unique: Vec<(Unique, String)>,
    field: Option<String>,
    location: Option<String>,
    value: PhantomData<fn() -> V>,
}

impl<V, S: ?Sized, F> ModifyCommit<'_, V, S, F> {
    /// `index_key` is an entry that holds a unique value for field `field`: when it refuses,
    /// the answer is 409 naming the target resource and `field`.
    pub fn unique(mut self, index_key: impl Into<String>, field: impl Into<String>) -> Self {
        self.unique
            .push((Unique::Key(index_key.into()), field.into()));
        self
    }

    /// Every key starting with `prefix` is an index entry of field `field` (e.g. `email:`
    /// for `email`), for when the entry's key is only known once the current value is read.
    pub fn unique_prefix(mut self, prefix: impl Into<String>, field: impl Into<String>) -> Self {
        self.unique
            .push((Unique::Prefix(prefix.into()), field.into()));
        self
    }

    /// The request field the **target's** key stands for (a create finding it taken).
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// The `Location` sent with a 201.
    pub fn location(mut self, uri: impl Into<String>) -> Self {
        self.location = Some(uri.into());
        self
    }
}

impl<'a, V, S, F> IntoFuture for ModifyCommit<'a, V, S, F>
where
    V: Send + 'a,
    S: VersionedStore<V> + ?Sized + 'a,
    F: FnOnce(Option<Versioned<V>>, Expect) -> Result<Commit<V>, Rejection> + Send + 'a,
{
    type Output = Result<Reply<()>, Rejection>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let ModifyCommit {
                guard,
                store,
                key,
                build,
                unique,
                field,
                location,
                value: PhantomData,
            } = self;
            guard.gate()?;
            let current = store.get(key).await.map_err(|e| guard.refusal(e))?;
            if current.is_none() && !creates(guard.method()) {
                return Err(Rejection::not_found(key));
            }
            let validators = current.as_ref().map(|c| Validators::from(c.meta()));
            guard.check_write(key, validators.as_ref())?;
            let expect = Expect::from(current.as_ref().map(|c| c.version));
            let commit = build(current, expect.clone())?;
            let labels = Labels {
                unique: &unique,
                field,
                location,
            };
            run_commit(guard, store, key, commit, &expect, guard.origin(), labels).await
        })
    }
}

/// Which keys of a commit are unique-value index entries.
#[derive(Clone, Debug)]
enum Unique {
    /// Exactly this key.
    Key(String),
    /// Every key with this prefix.
    Prefix(String),
}

impl Unique {
    fn names(&self, key: &str) -> bool {
        match self {
            Unique::Key(k) => k == key,
            Unique::Prefix(p) => key.starts_with(p.as_str()),
        }
    }
}

/// How a guarded commit's answer names things.
struct Labels<'u> {
    unique: &'u [(Unique, String)],
    field: Option<String>,
    location: Option<String>,
}

/// Runs `commit` (whose operation on `key` carries `expect`) and answers it: the target's
/// refusal as a single write's, an index entry's as "409, field F is taken" naming the
/// target and its current tag. A commit of the target's operation alone runs as the
/// single-key write it is (on any store, at single-key speed).
async fn run_commit<V, S>(
    guard: &Guard,
    store: &S,
    key: &str,
    commit: Commit<V>,
    expect: &Expect,
    origin: Origin,
    labels: Labels<'_>,
) -> Result<Reply<()>, Rejection>
where
    S: VersionedStore<V> + ?Sized,
{
    let Labels {
        unique,
        field,
        location,
    } = labels;
    let Some(target) = commit.keys().position(|k| k == key) else {
        return Err(Rejection::Internal {
            detail: format!("the commit has no operation on its target key {key:?}"),
        });
    };
    let own_refusal = |e: StoreError| {
        let r = Rejection::from_store_error(e, guard.method(), origin);
        match &field {
            Some(f) => r.with_field(f.clone()),
            None => r,
        }
    };
    if commit.len() == 1 {
        let applied = match commit.into_ops().pop() {
            Some(Op::Put { value, expect, .. }) => {
                Applied::Put(store.put(key, value, expect).await.map_err(own_refusal)?)
            }
            Some(Op::Delete { expect, .. }) => match store.delete(key, expect).await {
                Ok(Some(v)) => Applied::Deleted(Some(v)),
                Ok(None) => return Err(Rejection::not_found(key)),
                Err(e) => return Err(own_refusal(e)),
            },
            Some(Op::Check { expect, .. }) => {
                let now = store.head(key).await.map_err(|e| guard.refusal(e))?;
                let now = now.map(|m| m.version);
                if !expect.admits(now) {
                    return Err(own_refusal(crate::Conflict::new(key, expect, now).into()));
                }
                Applied::Checked(now)
            }
            None => unreachable!("a commit of length 1 has one operation"),
        };
        return Ok(committed(Some(&applied), expect, location));
    }
    let refused = match store.commit(commit).await {
        Ok(applied) => return Ok(committed(applied.get(target), expect, location)),
        Err(StoreError::CommitConflict(c)) => c,
        Err(other) => return Err(Rejection::from_store_error(other, guard.method(), origin)),
    };
    if let Some(own) = refused.get(key) {
        return Err(own_refusal(own.clone().into()));
    }
    let current = guard.target_current(store, key, expect).await;
    Err(taken(key, &refused, unique, current))
}

/// The reply for a commit that applied, from what it did to the target.
fn committed(target: Option<&Applied>, expect: &Expect, location: Option<String>) -> Reply<()> {
    match target {
        Some(Applied::Put(meta)) => {
            let created = *expect == Expect::Absent;
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let reply = Reply::empty(status).with_validators(&Validators::from(*meta));
            match (created, location) {
                (true, Some(uri)) => reply.with_location(uri),
                _ => reply,
            }
        }
        _ => Reply::no_content(),
    }
}

/// The 409 for a commit refused by keys other than its target.
fn taken(
    key: &str,
    refused: &CommitConflict,
    unique: &[(Unique, String)],
    current: Option<EntityTag>,
) -> Rejection {
    let labelled = refused.conflicts().iter().find_map(|c| {
        unique
            .iter()
            .find(|(index, _)| index.names(c.key()))
            .map(|(_, field)| field)
    });
    match labelled {
        Some(field) => Rejection::taken(key, field.clone(), current),
        None => {
            let kind = refused
                .conflicts()
                .first()
                .map_or(ConflictKind::Stale, |c| c.kind());
            Rejection::Conflict {
                key: key.to_owned(),
                kind,
                field: None,
                expected: None,
                current,
                unique: false,
            }
        }
    }
}
