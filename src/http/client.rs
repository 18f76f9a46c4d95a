//! The client side: a 409 or 412 problem response read back as the conflict it reports.

use http::header::ETAG;
use http::{Response, StatusCode};

use super::expected::Expected;
use super::precondition::Precondition;
use super::problem::{Problem, ProblemError};
use super::problem_type::ProblemType;
use super::validators::EntityTag;
use crate::{Conflict, ConflictKind, Expect, Version};

/// A conflict as a server reported it in a 409 or 412 problem response: what a client needs
/// to reconcile (re-read, merge) and retry with the current entity-tag.
///
/// The current tag is kept as sent, of any scheme: a server with content-hash ETags gives a
/// `Stale` conflict with that tag, never a `Missing` one. [`to_conflict`](Self::to_conflict)
/// gives the crate's [`Conflict`] when the tags are this crate's own.
///
/// ```
/// use optimist::http::{ReportedConflict, Problem};
/// use optimist::ConflictKind;
/// let p: Problem = serde_json::from_str(r#"{"status":412,"key":"a.txt",
///     "expected":["\"sha-1\""],"current_etag":"\"sha-2\""}"#).unwrap();
/// let c = ReportedConflict::from_problem(&p, http::StatusCode::PRECONDITION_FAILED, None).unwrap();
/// assert_eq!(c.kind(), ConflictKind::Stale);
/// assert_eq!(c.current_etag().unwrap().to_string(), "\"sha-2\"");
/// assert_eq!(c.current_version(), None); // not one of the crate's tags
/// assert!(c.to_conflict().is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportedConflict {
    status: StatusCode,
    kind: ConflictKind,
    problem_type: Option<ProblemType>,
    key: Option<String>,
    field: Option<String>,
    header: Option<Precondition>,
    expected: Option<Expected>,
    current: Option<EntityTag>,
}

/// A tag as a server wrote it; text that is not one entity-tag is ignored.
fn read_tag(text: &str) -> Option<EntityTag> {
    text.parse().ok()
}

impl ReportedConflict {
    /// The conflict `problem` reports, for a response with `status` (used when the body has
    /// no `status`) and `ETag` header `etag_header` (used when the body has no
    /// `current_etag`); `None` when it is neither a 409 nor a 412.
    pub fn from_problem(
        problem: &Problem,
        status: StatusCode,
        etag_header: Option<&str>,
    ) -> Option<Self> {
        let status = match problem.status {
            0 => status,
            n => StatusCode::from_u16(n).ok()?,
        };
        if status != StatusCode::CONFLICT && status != StatusCode::PRECONDITION_FAILED {
            return None;
        }
        let current = problem
            .current_etag
            .as_deref()
            .and_then(read_tag)
            .or_else(|| etag_header.and_then(read_tag));
        let problem_type = problem.problem_type();
        let kind = problem.conflict.unwrap_or(match (problem_type, &current) {
            (Some(ProblemType::AlreadyExists), _) => ConflictKind::AlreadyExists,
            (Some(ProblemType::Missing), _) => ConflictKind::Missing,
            (Some(ProblemType::Stale), _) | (_, Some(_)) => ConflictKind::Stale,
            (_, None) => ConflictKind::Missing,
        });
        Some(Self {
            status,
            kind,
            problem_type,
            key: problem.key.clone(),
            field: problem.field.clone(),
            header: problem.header.as_deref().and_then(Precondition::from_name),
            expected: problem.expected.clone(),
            current,
        })
    }

    /// 409 or 412.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Why the write was refused.
    pub fn kind(&self) -> ConflictKind {
        self.kind
    }

    /// The crate's problem type, if the server used one.
    pub fn problem_type(&self) -> Option<ProblemType> {
        self.problem_type
    }

    /// The target resource's key, if the body names it.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The request field the conflict is about (e.g. `username`), if any.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// The precondition header found false, if the body names it.
    pub fn header(&self) -> Option<Precondition> {
        self.header
    }

    /// What the refused write expected, if the body says.
    pub fn expected(&self) -> Option<&Expected> {
        self.expected.as_ref()
    }

    /// The target's current entity-tag, as sent (`None`: it does not exist).
    pub fn current_etag(&self) -> Option<&EntityTag> {
        self.current.as_ref()
    }

    /// The current entity-tag as a version of the crate's stores, if it is one of theirs.
    pub fn current_version(&self) -> Option<Version> {
        self.current.as_ref().and_then(EntityTag::strong_version)
    }

    /// The crate's [`Conflict`], when the report can be said with its versions: `None` when
    /// the current tag is not one of the crate's (a `Conflict` could only call it absent).
    pub fn to_conflict(&self) -> Option<Conflict> {
        if self.current.is_some() && self.current_version().is_none() {
            return None;
        }
        let expected = match &self.expected {
            Some(e) => e.to_expect(),
            None => match self.kind {
                ConflictKind::AlreadyExists => Expect::Absent,
                ConflictKind::Stale | ConflictKind::Missing => Expect::Exists,
            },
        };
        Some(Conflict::new(
            self.key.as_deref().unwrap_or_default(),
            expected,
            self.current_version(),
        ))
    }
}

/// Client side: reads a 409 or 412 `application/problem+json` response back into the
/// conflict it reports, so a client can reconcile (re-read, merge) and retry with the current
/// ETag. Reads bodies of any server (foreign tags, members of the wrong type ignored) and of
/// every version of this crate.
///
/// ```
/// use http::{HeaderMap, Method};
/// use optimist::http::{Guard, conflict_from_response};
/// use optimist::{ConflictKind, Expect, MemoryStore};
///
/// # futures_executor::block_on(async {
/// let store = MemoryStore::new();
/// let v = store.put_sync("u", 1, Expect::Absent).unwrap().version;
/// let guard = Guard::new(&Method::POST, &HeaderMap::new()).unwrap();
/// let response = guard.create(&store, "u", 2).await.unwrap_err().into_http_response();
/// let conflict = conflict_from_response(&response).unwrap();
/// assert_eq!(conflict.kind(), ConflictKind::AlreadyExists);
/// assert_eq!(conflict.current_version(), Some(v));
/// assert_eq!(conflict.key(), Some("u"));
/// # });
/// ```
pub fn conflict_from_response<B: AsRef<[u8]>>(
    response: &Response<B>,
) -> Result<ReportedConflict, ProblemError> {
    let problem = Problem::from_response(response)?;
    let etag = response.headers().get(ETAG).and_then(|v| v.to_str().ok());
    ReportedConflict::from_problem(&problem, response.status(), etag).ok_or(
        ProblemError::NotAConflict {
            status: response.status(),
        },
    )
}
