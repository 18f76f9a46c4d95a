//! Our own parser for entity-tag lists (`If-Match`, `If-None-Match`), RFC 9110 8.8.3 and 5.6.1.
//!
//! The `etag` crate parses one tag and, in release builds, silently truncates long ones; it
//! cannot split a list. This parser splits correctly (a comma inside quotes belongs to the
//! tag), keeps every byte, and costs one pass over the input.

use std::fmt;

/// One entity-tag as written by the client, borrowed from the header value.
///
/// ```
/// use optimist::http::EntityTagRef;
/// let tags: Vec<_> = optimist::http::entity_tags(br#""a,b", W/"c""#).collect::<Result<_, _>>().unwrap();
/// assert_eq!(tags, vec![EntityTagRef { weak: false, opaque: b"a,b" }, EntityTagRef { weak: true, opaque: b"c" }]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntityTagRef<'a> {
    /// Whether it was prefixed by `W/`.
    pub weak: bool,
    /// The bytes between the quotes, exactly as sent (may include obs-text bytes >= 0x80).
    pub opaque: &'a [u8],
}

impl EntityTagRef<'_> {
    /// The version of ours this tag names, whether weak or strong; `None` if it is not one.
    ///
    /// ```
    /// use optimist::http::EntityTagRef;
    /// assert_eq!(EntityTagRef { weak: true, opaque: b"5" }.version().map(|v| v.get()), Some(5));
    /// ```
    pub fn version(&self) -> Option<crate::Version> {
        crate::Version::from_opaque(self.opaque)
    }

    /// Converts to an owned [`etag::EntityTag`], refusing (instead of truncating) tags the
    /// `etag` crate cannot hold and non-ASCII tags.
    ///
    /// ```
    /// use optimist::http::EntityTagRef;
    /// assert!(EntityTagRef { weak: false, opaque: b"abc" }.to_etag().is_ok());
    /// assert!(EntityTagRef { weak: false, opaque: &[b'x'; 300] }.to_etag().is_err());
    /// ```
    pub fn to_etag(&self) -> Result<etag::EntityTag, etag::ParseError> {
        let text = std::str::from_utf8(self.opaque).map_err(|_| etag::ParseError::NotAscii)?;
        etag::EntityTag::checked_new(self.weak, text)
    }
}

impl fmt::Display for EntityTagRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.weak {
            f.write_str("W/")?;
        }
        write!(f, "\"{}\"", self.opaque.escape_ascii())
    }
}

/// Why an entity-tag list is malformed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TagListError {
    /// A list element does not start with `"` or `W/"`.
    #[error("expected an entity-tag (\"...\" or W/\"...\") at byte {at}")]
    ExpectedTag {
        /// Byte offset in the field value.
        at: usize,
    },
    /// A quoted tag is not closed.
    #[error("entity-tag starting at byte {at} has no closing quote")]
    Unterminated {
        /// Byte offset of the opening quote.
        at: usize,
    },
    /// A byte that is not allowed inside an entity-tag.
    #[error("byte 0x{byte:02x} at {at} is not allowed in an entity-tag")]
    InvalidByte {
        /// The byte.
        byte: u8,
        /// Its offset.
        at: usize,
    },
    /// Two elements without a comma between them.
    #[error("expected ',' between entity-tags at byte {at}")]
    ExpectedComma {
        /// Byte offset in the field value.
        at: usize,
    },
    /// `*` together with entity-tags or another `*`.
    #[error("'*' must be the whole field value, not part of a list")]
    StarInList,
}

/// Iterates over the entity-tags of one field value (`#entity-tag`), tolerating empty list
/// elements and optional whitespace. `*` is not an entity-tag: see [`parse_tag_list`].
///
/// Linear in the input; allocates nothing.
///
/// ```
/// let tags: Vec<_> = optimist::http::entity_tags(b" , \"1\" ,, W/\"2\",").map(Result::unwrap).collect();
/// assert_eq!(tags.len(), 2);
/// assert!(optimist::http::entity_tags(b"\"1\" \"2\"").any(|t| t.is_err()));
/// ```
pub fn entity_tags(value: &[u8]) -> EntityTags<'_> {
    EntityTags {
        value,
        pos: 0,
        need_comma: false,
        failed: false,
    }
}

/// The iterator returned by [`entity_tags`]. It stops after the first error.
#[derive(Clone, Debug)]
pub struct EntityTags<'a> {
    value: &'a [u8],
    pos: usize,
    need_comma: bool,
    failed: bool,
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// etagc = %x21 / %x23-7E / obs-text
fn is_etagc(b: u8) -> bool {
    b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80
}

impl<'a> EntityTags<'a> {
    fn fail(&mut self, e: TagListError) -> Option<Result<EntityTagRef<'a>, TagListError>> {
        self.failed = true;
        Some(Err(e))
    }
}

impl<'a> Iterator for EntityTags<'a> {
    type Item = Result<EntityTagRef<'a>, TagListError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let v = self.value;
        // Skip OWS and empty elements; a comma is owed between two elements.
        loop {
            while self.pos < v.len() && is_ows(v[self.pos]) {
                self.pos += 1;
            }
            match v.get(self.pos) {
                None => return None,
                Some(b',') => {
                    self.pos += 1;
                    self.need_comma = false;
                }
                Some(_) if self.need_comma => {
                    return self.fail(TagListError::ExpectedComma { at: self.pos });
                }
                Some(_) => break,
            }
        }
        let start = self.pos;
        let weak = v[start..].starts_with(b"W/");
        let quote = if weak { start + 2 } else { start };
        if v.get(quote) != Some(&b'"') {
            if v[start] == b'*' {
                return self.fail(TagListError::StarInList);
            }
            return self.fail(TagListError::ExpectedTag { at: start });
        }
        let body = quote + 1;
        let mut end = body;
        while end < v.len() && v[end] != b'"' {
            if !is_etagc(v[end]) {
                return self.fail(TagListError::InvalidByte {
                    byte: v[end],
                    at: end,
                });
            }
            end += 1;
        }
        if end == v.len() {
            return self.fail(TagListError::Unterminated { at: quote });
        }
        self.pos = end + 1;
        self.need_comma = true;
        Some(Ok(EntityTagRef {
            weak,
            opaque: &v[body..end],
        }))
    }
}

/// Whether a field value, trimmed of optional whitespace (SP / HTAB, as between list
/// elements), is exactly `*`.
pub(crate) fn is_star(value: &[u8]) -> bool {
    let start = value
        .iter()
        .position(|&b| !is_ows(b))
        .unwrap_or(value.len());
    value[start..]
        .strip_prefix(b"*")
        .is_some_and(|rest| rest.iter().copied().all(is_ows))
}

/// A parsed `If-Match` / `If-None-Match`: `*`, or the list of tags over all field lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TagList<'a> {
    /// `*`: any current representation.
    Any,
    /// The listed tags, in order (possibly empty when every line was empty).
    Tags(Vec<EntityTagRef<'a>>),
}

/// Parses every line of a list-valued precondition field into one [`TagList`] (RFC 9110 5.3:
/// repeated lines form one list). `*` must stand alone.
///
/// ```
/// use optimist::http::{parse_tag_list, TagList};
/// assert_eq!(parse_tag_list([&b"*"[..]]).unwrap(), TagList::Any);
/// let TagList::Tags(tags) = parse_tag_list([&b"\"a\""[..], b"\"b\", \"c\""]).unwrap() else { panic!() };
/// assert_eq!(tags.len(), 3);
/// assert!(parse_tag_list([&b"*"[..], b"\"a\""]).is_err());
/// ```
pub fn parse_tag_list<'a>(
    lines: impl IntoIterator<Item = &'a [u8]>,
) -> Result<TagList<'a>, TagListError> {
    let mut tags = Vec::new();
    let star = visit_tag_list(lines, |tag| tags.push(tag))?;
    Ok(if star {
        TagList::Any
    } else {
        TagList::Tags(tags)
    })
}

/// Walks every tag of every line, handing each to `visit`; returns whether the list was `*`.
/// One pass, no allocation of its own.
pub(crate) fn visit_tag_list<'a>(
    lines: impl IntoIterator<Item = &'a [u8]>,
    mut visit: impl FnMut(EntityTagRef<'a>),
) -> Result<bool, TagListError> {
    let mut star = false;
    let mut any_tag = false;
    for line in lines {
        if is_star(line) {
            if star || any_tag {
                return Err(TagListError::StarInList);
            }
            star = true;
            continue;
        }
        for tag in entity_tags(line) {
            let tag = tag?;
            if star {
                return Err(TagListError::StarInList);
            }
            any_tag = true;
            visit(tag);
        }
    }
    Ok(star)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(v: &[u8]) -> Result<Vec<(bool, Vec<u8>)>, TagListError> {
        entity_tags(v)
            .map(|t| t.map(|t| (t.weak, t.opaque.to_vec())))
            .collect()
    }

    #[test]
    fn splits_lists_and_keeps_commas_inside_quotes() {
        assert_eq!(
            tags(br#""a,b" ,W/"c",,  "d""#).unwrap(),
            vec![
                (false, b"a,b".to_vec()),
                (true, b"c".to_vec()),
                (false, b"d".to_vec())
            ]
        );
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(tags(b"abc"), Err(TagListError::ExpectedTag { at: 0 }));
        assert_eq!(tags(b"\"abc"), Err(TagListError::Unterminated { at: 0 }));
        assert_eq!(tags(b"w/\"a\""), Err(TagListError::ExpectedTag { at: 0 }));
        assert_eq!(
            tags(b"\"a\" \"b\""),
            Err(TagListError::ExpectedComma { at: 4 })
        );
        assert_eq!(
            tags(b"\"a b\""),
            Err(TagListError::InvalidByte { byte: b' ', at: 2 })
        );
        assert_eq!(tags(b"\"a\", *"), Err(TagListError::StarInList));
    }

    #[test]
    fn empty_and_whitespace_only_values_have_no_tags() {
        assert_eq!(tags(b"").unwrap(), vec![]);
        assert_eq!(tags(b" , ,\t").unwrap(), vec![]);
    }

    #[test]
    fn obs_text_and_backslashes_are_kept_verbatim() {
        assert_eq!(
            tags(b"\"\\\xe9\"").unwrap(),
            vec![(false, b"\\\xe9".to_vec())]
        );
    }
}
