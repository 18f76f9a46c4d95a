//! Which methods must carry a lost-update-safe precondition.

use std::sync::Arc;

use http::Method;

/// Which methods must carry a lost-update-safe precondition, else **428 Precondition
/// Required** (RFC 6585 3).
///
/// The default requires one for PUT, PATCH and DELETE. What counts is `If-Match` (tags or
/// `*`), `If-None-Match: *`, or a version carried in the body where the handler accepts one
/// ([`Guard::with_body_version`](super::Guard::with_body_version)); `If-Unmodified-Since` or
/// an `If-None-Match` tag list alone do not (see
/// [`Preconditions::is_lost_update_safe`](super::Preconditions::is_lost_update_safe)).
///
/// A [`Guard`](super::Guard) takes the policy it is built with; the framework adapters find
/// it in the request's extensions (axum, the tower layer) or app data (actix-web), else use
/// the default. Cloning is cheap.
///
/// ```
/// use http::Method;
/// use optimist::http::PreconditionPolicy;
/// assert!(PreconditionPolicy::default().requires(&Method::DELETE));
/// assert!(!PreconditionPolicy::default().requires(&Method::POST));
/// assert!(!PreconditionPolicy::none().requires(&Method::DELETE));
/// assert!(PreconditionPolicy::methods([Method::POST]).requires(&Method::POST));
/// let webdav = Method::from_bytes(b"PROPPATCH").unwrap();
/// assert!(PreconditionPolicy::methods([webdav.clone()]).requires(&webdav));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreconditionPolicy {
    /// POST, PUT, PATCH, DELETE as bits 0..4.
    standard: u8,
    /// Any other methods.
    other: Option<Arc<[Method]>>,
}

fn bit(method: &Method) -> Option<u8> {
    match *method {
        Method::POST => Some(1),
        Method::PUT => Some(2),
        Method::PATCH => Some(4),
        Method::DELETE => Some(8),
        _ => None,
    }
}

impl Default for PreconditionPolicy {
    /// PUT, PATCH and DELETE.
    fn default() -> Self {
        Self {
            standard: 2 | 4 | 8,
            other: None,
        }
    }
}

impl PreconditionPolicy {
    /// Requires nothing: writes without preconditions are unconditional.
    pub fn none() -> Self {
        Self {
            standard: 0,
            other: None,
        }
    }

    /// Requires a precondition for exactly these methods.
    pub fn methods(methods: impl IntoIterator<Item = Method>) -> Self {
        let mut standard = 0;
        let mut other = Vec::new();
        for m in methods {
            match bit(&m) {
                Some(b) => standard |= b,
                None => other.push(m),
            }
        }
        Self {
            standard,
            other: (!other.is_empty()).then(|| other.into()),
        }
    }

    /// Whether `method` must carry a lost-update-safe precondition.
    pub fn requires(&self, method: &Method) -> bool {
        match bit(method) {
            Some(b) => self.standard & b != 0,
            None => self.other.as_deref().is_some_and(|o| o.contains(method)),
        }
    }
}
