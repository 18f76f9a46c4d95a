//! Combining a request's preconditions with a store: the expectation a write must carry.

use http::Method;

use super::preconditions::{Preconditions, WriteCondition};
use super::rejection::{Origin, Rejection};
use crate::{Expect, VersionedStore};

impl Preconditions {
    /// The expectation under which a write that **replaces** the value (PUT, DELETE) must
    /// run so the store's compare-and-swap enforces this request's preconditions; `None`
    /// when the request has none that applies to writes (decide yourself: 428, a version
    /// from the body, or unconditional).
    ///
    /// Reads the key's metadata only when the headers cannot be enforced as they are (see
    /// [`WriteCondition::NeedsCurrent`]); then a false precondition is a 412 right away
    /// (a 404 for DELETE and PATCH of a missing key, RFC 9110 13.2.1), and a change between
    /// that read and the write makes the CAS fail (412 as well).
    ///
    /// ```
    /// use http::{HeaderMap, Method};
    /// use optimist::http::Preconditions;
    /// use optimist::{Expect, MemoryStore};
    ///
    /// # futures_executor::block_on(async {
    /// let store = MemoryStore::new();
    /// let v = store.put_sync("k", 1, Expect::Absent).unwrap().version;
    /// let mut h = HeaderMap::new();
    /// h.insert("if-none-match", "\"999\"".parse().unwrap()); // needs the current state
    /// let pre = Preconditions::from_headers(&h).unwrap();
    /// let expect = pre.write_expect(&store, "k", &Method::PUT).await.unwrap();
    /// assert_eq!(expect, Some(Expect::Version(v)));
    /// # });
    /// ```
    pub async fn write_expect<V, S>(
        &self,
        store: &S,
        key: &str,
        method: &Method,
    ) -> Result<Option<Expect>, Rejection>
    where
        S: VersionedStore<V> + ?Sized,
    {
        match self.write_condition() {
            WriteCondition::None => Ok(None),
            WriteCondition::Enforce(expect) => Ok(Some(expect)),
            WriteCondition::NeedsCurrent => {
                let current = store
                    .head(key)
                    .await
                    .map_err(|e| Rejection::from_store_error(e, method, Origin::Header))?;
                if current.is_none() && (method == Method::DELETE || method == Method::PATCH) {
                    // RFC 9110 13.2.1: without its preconditions the request would be a 404.
                    return Err(Rejection::NotFound {
                        key: key.to_owned(),
                    });
                }
                self.expect_for(key, current.as_ref())
            }
        }
    }
}
