//! A deliberately simple reference for RFC 9110 entity-tag lists and precondition evaluation,
//! shared by `tests/fuzz_properties.rs` and the fuzz targets in `fuzz/` (both include it with
//! `#[path = "..."] mod reference;`).
//!
//! It is written independently of `src/http/`: a byte-at-a-time state machine over the
//! grammar, strict about whitespace (OWS is only SP and HTAB), and a literal reading of the
//! RFC 9110 13.2.2 evaluation order. It is slow and allocates freely; only its answers matter.
//!
//! ```text
//! If-Match      = "*" / #entity-tag
//! If-None-Match = "*" / #entity-tag
//! entity-tag    = [ weak ] opaque-tag        weak = %s"W/"
//! opaque-tag    = DQUOTE *etagc DQUOTE
//! etagc         = %x21 / %x23-7E / obs-text  obs-text = %x80-FF
//! #rule         : elements separated by OWS "," OWS; empty elements are tolerated (5.6.1.2)
//! ```
//!
//! Several field lines of one name form one list (RFC 9110 5.3). A line that is exactly `*`
//! (up to OWS) is the `*` alternative; it may not be combined with any entity-tag or with a
//! second `*`. A field whose lines hold no element at all is absent.
#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_UNMODIFIED_SINCE};
use http::{HeaderMap, HeaderName, Method};
use optimist::http::{Evaluation, Precondition};

/// One entity-tag: (weak, opaque bytes between the quotes).
pub type Tag = (bool, Vec<u8>);

/// A parsed list-valued precondition field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum List {
    /// `*`
    Star,
    /// The entity-tags over all lines, in order (possibly none).
    Tags(Vec<Tag>),
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn is_etagc(b: u8) -> bool {
    b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Expecting OWS, a comma, or the start of an element.
    BeforeElement,
    /// After an element: expecting OWS or a comma.
    AfterElement,
    /// Read `W`, expecting `/`.
    AfterW,
    /// Read `W/`, expecting `"`.
    AfterWSlash,
    /// Inside the quotes.
    InTag,
}

/// One field line read as `#entity-tag` (no `*` alternative): the tags found before the
/// first error, and whether the whole line is well-formed.
pub fn line_tags(line: &[u8]) -> (Vec<Tag>, bool) {
    let mut tags = Vec::new();
    let mut state = State::BeforeElement;
    let mut weak = false;
    let mut opaque = Vec::new();
    for &b in line {
        state = match (state, b) {
            (State::BeforeElement, b) if is_ows(b) => State::BeforeElement,
            (State::BeforeElement, b',') => State::BeforeElement,
            (State::BeforeElement, b'"') => {
                weak = false;
                State::InTag
            }
            (State::BeforeElement, b'W') => State::AfterW,
            (State::AfterW, b'/') => State::AfterWSlash,
            (State::AfterWSlash, b'"') => {
                weak = true;
                State::InTag
            }
            (State::InTag, b'"') => {
                tags.push((weak, std::mem::take(&mut opaque)));
                State::AfterElement
            }
            (State::InTag, b) if is_etagc(b) => {
                opaque.push(b);
                State::InTag
            }
            (State::AfterElement, b) if is_ows(b) => State::AfterElement,
            (State::AfterElement, b',') => State::BeforeElement,
            _ => return (tags, false),
        };
    }
    let complete = matches!(state, State::BeforeElement | State::AfterElement);
    (tags, complete)
}

/// Whether a line is exactly `*` up to OWS (SP / HTAB only).
pub fn is_star_line(line: &[u8]) -> bool {
    let start = line.iter().position(|&b| !is_ows(b)).unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|&b| !is_ows(b))
        .map_or(start, |i| i + 1);
    &line[start..end] == b"*"
}

/// All lines of one field as one list; `Err(())` when malformed.
pub fn tag_list<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> Result<List, ()> {
    let mut stars = 0;
    let mut all = Vec::new();
    for line in lines {
        if is_star_line(line) {
            stars += 1;
            continue;
        }
        let (tags, ok) = line_tags(line);
        if !ok {
            return Err(());
        }
        all.extend(tags);
    }
    match stars {
        0 => Ok(List::Tags(all)),
        1 if all.is_empty() => Ok(List::Star),
        _ => Err(()),
    }
}

/// Whether a tag's opaque-tag is the decimal form of version `v` (how we write ETags).
pub fn names_version(opaque: &[u8], v: u64) -> bool {
    opaque == v.to_string().as_bytes()
}

/// The versions a tag could name: its opaque-tag read as a decimal number, if it is one
/// (used to pick interesting "current" versions, not to decide matches).
pub fn version_number(opaque: &[u8]) -> Option<u64> {
    std::str::from_utf8(opaque).ok()?.parse::<u64>().ok()
}

/// A request's four precondition fields as the reference reads them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// `None`: absent (no element in any line).
    pub if_match: Option<List>,
    pub if_none_match: Option<List>,
    /// Whole seconds since the epoch; `None` unless exactly one line holding a valid date.
    pub if_modified_since: Option<u64>,
    pub if_unmodified_since: Option<u64>,
}

/// Why the reference refuses a request: the malformed list header (If-Match is read first).
pub type Invalid = Precondition;

fn lines<'a>(headers: &'a HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'a [u8]> {
    headers.get_all(name).iter().map(|v| v.as_bytes())
}

fn present(list: List) -> Option<List> {
    match list {
        List::Tags(tags) if tags.is_empty() => None,
        other => Some(other),
    }
}

fn date(headers: &HeaderMap, name: &HeaderName) -> Option<u64> {
    let all: Vec<_> = headers.get_all(name).iter().collect();
    let [one] = all.as_slice() else {
        return None;
    };
    let text = one.to_str().ok()?.trim_matches([' ', '\t']);
    let t = httpdate::parse_http_date(text).ok()?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_secs())
}

/// Reads the request's preconditions.
pub fn request(headers: &HeaderMap) -> Result<Request, Invalid> {
    let if_match = tag_list(lines(headers, &IF_MATCH)).map_err(|()| Precondition::IfMatch)?;
    let if_none_match =
        tag_list(lines(headers, &IF_NONE_MATCH)).map_err(|()| Precondition::IfNoneMatch)?;
    Ok(Request {
        if_match: present(if_match),
        if_none_match: present(if_none_match),
        if_modified_since: date(headers, &IF_MODIFIED_SINCE),
        if_unmodified_since: date(headers, &IF_UNMODIFIED_SINCE),
    })
}

/// Last-Modified in whole seconds since the epoch (before the epoch counts as 0).
pub fn seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Request {
    /// Whether a precondition prevents a lost update: If-Match (tags or `*`) or
    /// `If-None-Match: *`.
    pub fn is_lost_update_safe(&self) -> bool {
        self.if_match.is_some() || self.if_none_match == Some(List::Star)
    }

    /// Whether anything applies to writes (If-Match, If-None-Match, valid If-Unmodified-Since).
    pub fn has_write_condition(&self) -> bool {
        self.if_match.is_some()
            || self.if_none_match.is_some()
            || self.if_unmodified_since.is_some()
    }

    /// RFC 9110 13.2.2, literally. `current`: (version, last-modified) or `None` if absent.
    pub fn evaluate(&self, method: &Method, current: Option<(u64, SystemTime)>) -> Evaluation {
        if [Method::OPTIONS, Method::CONNECT, Method::TRACE].contains(method) {
            return Evaluation::Proceed;
        }
        let safe = method == Method::GET || method == Method::HEAD;
        // Step 1: If-Match, strong comparison.
        if let Some(list) = &self.if_match {
            let pass = match (list, current) {
                (_, None) => false,
                (List::Star, Some(_)) => true,
                (List::Tags(tags), Some((v, _))) => tags
                    .iter()
                    .any(|(weak, opaque)| !weak && names_version(opaque, v)),
            };
            if !pass {
                return Evaluation::Failed(Precondition::IfMatch);
            }
        } else if let (Some(since), Some((_, modified))) = (self.if_unmodified_since, current) {
            // Step 2: If-Unmodified-Since, only without If-Match. For GET/HEAD: modified after
            // the date's second. For writes the date is a weak validator (RFC 9110 8.8.2.2):
            // also false when modified within that second, at full precision.
            let date = UNIX_EPOCH + std::time::Duration::from_secs(since);
            let false_ = if safe {
                seconds(modified) > since
            } else {
                modified >= date
            };
            if false_ {
                return Evaluation::Failed(Precondition::IfUnmodifiedSince);
            }
        }
        // Step 3: If-None-Match, weak comparison.
        if let Some(list) = &self.if_none_match {
            let matched = match (list, current) {
                (_, None) => false,
                (List::Star, Some(_)) => true,
                (List::Tags(tags), Some((v, _))) => {
                    tags.iter().any(|(_, opaque)| names_version(opaque, v))
                }
            };
            if matched {
                return if safe {
                    Evaluation::NotModified
                } else {
                    Evaluation::Failed(Precondition::IfNoneMatch)
                };
            }
        } else if let (true, Some(since), Some((_, modified))) =
            (safe, self.if_modified_since, current)
        {
            // Step 4: If-Modified-Since, GET/HEAD only, only without If-None-Match.
            if seconds(modified) <= since {
                return Evaluation::NotModified;
            }
        }
        Evaluation::Proceed
    }
}

pub mod check;
