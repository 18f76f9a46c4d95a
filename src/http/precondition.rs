//! The four precondition header fields, by name.

use std::fmt;

use http::HeaderName;
use http::header::{IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_UNMODIFIED_SINCE};

/// One of the four precondition header fields (RFC 9110 13.1).
///
/// ```
/// use optimist::http::Precondition;
/// assert_eq!(Precondition::IfMatch.to_string(), "If-Match");
/// assert_eq!(Precondition::from_name("if-none-match"), Some(Precondition::IfNoneMatch));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Precondition {
    /// `If-Match`
    IfMatch,
    /// `If-None-Match`
    IfNoneMatch,
    /// `If-Modified-Since`
    IfModifiedSince,
    /// `If-Unmodified-Since`
    IfUnmodifiedSince,
}

impl Precondition {
    /// All four, in the order RFC 9110 13.2.2 evaluates them.
    pub const ALL: [Precondition; 4] = [
        Precondition::IfMatch,
        Precondition::IfUnmodifiedSince,
        Precondition::IfNoneMatch,
        Precondition::IfModifiedSince,
    ];

    /// The header's name.
    ///
    /// ```
    /// use optimist::http::Precondition;
    /// assert_eq!(Precondition::IfMatch.header_name(), http::header::IF_MATCH);
    /// ```
    pub fn header_name(self) -> HeaderName {
        match self {
            Precondition::IfMatch => IF_MATCH,
            Precondition::IfNoneMatch => IF_NONE_MATCH,
            Precondition::IfModifiedSince => IF_MODIFIED_SINCE,
            Precondition::IfUnmodifiedSince => IF_UNMODIFIED_SINCE,
        }
    }

    /// The header's name as usually written (`If-Match`).
    ///
    /// ```
    /// assert_eq!(optimist::http::Precondition::IfUnmodifiedSince.as_str(), "If-Unmodified-Since");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Precondition::IfMatch => "If-Match",
            Precondition::IfNoneMatch => "If-None-Match",
            Precondition::IfModifiedSince => "If-Modified-Since",
            Precondition::IfUnmodifiedSince => "If-Unmodified-Since",
        }
    }

    /// The field named `name`, compared case-insensitively (header names are).
    ///
    /// ```
    /// use optimist::http::Precondition;
    /// assert_eq!(Precondition::from_name("If-Match"), Some(Precondition::IfMatch));
    /// assert_eq!(Precondition::from_name("If-Range"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Precondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
