//! RFC 9110 section 13 table tests for `optimist::http::Preconditions`: parsing
//! (`from_headers`), evaluation order (13.2.2), the expectation handed to the store
//! (`write_condition`, `expect_for`), the 428 gate (`Guard::gate`: a lost-update-safe
//! precondition) and conditional reads (`Guard::check`).
//!
//! Each rule is one row of a table; the row's description is printed on failure.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use optimist::http::{
    EntityTagRef, Evaluation, Guard, Precondition, PreconditionPolicy, Preconditions, Problem,
    Rejection, TagList, TagListError, Validators, WriteCondition, entity_tags, parse_tag_list,
};
use optimist::{Expect, Meta, Version};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// A whole second, so HTTP-dates round-trip exactly.
fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

fn v(n: u64) -> Version {
    Version::new(n).unwrap()
}

/// Version `n`, last modified at `t0() + offset` (negative offsets are "before").
fn meta_at(n: u64, t: SystemTime) -> Meta {
    Meta {
        version: v(n),
        last_modified: t,
    }
}

fn meta(n: u64) -> Meta {
    meta_at(n, t0())
}

/// Header lines in order; a name may repeat.
type Lines = Vec<(HeaderName, HeaderValue)>;

/// One header line, possibly with obs-text bytes.
fn line(name: &'static str, value: impl AsRef<[u8]>) -> (HeaderName, HeaderValue) {
    (
        HeaderName::from_static(name),
        HeaderValue::from_bytes(value.as_ref()).expect("a valid header value"),
    )
}

/// Builds a header map, appending (never replacing) so repeated names become several lines.
fn headers(lines: &[(HeaderName, HeaderValue)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in lines {
        map.append(name.clone(), value.clone());
    }
    map
}

fn parse(lines: &[(HeaderName, HeaderValue)]) -> Preconditions {
    Preconditions::from_headers(&headers(lines))
        .unwrap_or_else(|e| panic!("headers {lines:?} should parse, got {e}"))
}

/// `evaluate` against a store's metadata (the crate's own strong tags and write times).
trait EvalMeta {
    fn eval(&self, method: &Method, current: Option<&Meta>) -> Evaluation;
}

impl EvalMeta for Preconditions {
    fn eval(&self, method: &Method, current: Option<&Meta>) -> Evaluation {
        self.evaluate(method, current.map(Validators::from).as_ref())
    }
}

/// The guard's 428 gate for `pre` under `policy`.
fn require(
    pre: &Preconditions,
    method: &Method,
    policy: &PreconditionPolicy,
) -> Result<(), Rejection> {
    Guard::from_preconditions(method.clone(), pre.clone(), policy).gate()
}

/// A conditional read of an existing resource through the guard's any-validator path.
fn check_read(
    pre: &Preconditions,
    method: &Method,
    key: &str,
    current: &Meta,
) -> Result<(), Rejection> {
    Guard::from_preconditions(method.clone(), pre.clone(), &PreconditionPolicy::none())
        .check(key, Some(&Validators::from(current)))
}

/// `expect_for`, a false precondition answered as the guard does (412).
fn expect_for(
    pre: &Preconditions,
    key: &str,
    current: Option<&Meta>,
) -> Result<Option<Expect>, Rejection> {
    pre.expect_for(current).map_err(|header| {
        Rejection::precondition_failed(key, pre, header, current.map(|m| m.version.into()))
    })
}

const IM: &str = "if-match";
const INM: &str = "if-none-match";
const IMS: &str = "if-modified-since";
const IUS: &str = "if-unmodified-since";

use Evaluation::{Failed, NotModified, Proceed};
use Precondition::{IfMatch, IfNoneMatch, IfUnmodifiedSince};

struct Case {
    what: &'static str,
    headers: Lines,
    method: Method,
    current: Option<Meta>,
    expected: Evaluation,
}

fn case(
    what: &'static str,
    headers: Lines,
    method: Method,
    current: Option<Meta>,
    expected: Evaluation,
) -> Case {
    Case {
        what,
        headers,
        method,
        current,
        expected,
    }
}

fn run(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for c in &cases {
        let pre = parse(&c.headers);
        let got = pre.eval(&c.method, c.current.as_ref());
        if got != c.expected {
            failures.push(format!(
                "{}: {} {:?} with current {:?}: expected {:?}, got {:?}",
                c.what, c.method, c.headers, c.current, c.expected, got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Evaluation (RFC 9110 13.1 and 13.2.2)
// ---------------------------------------------------------------------------------------------

#[test]
#[rustfmt::skip]
fn if_match_uses_strong_comparison() {
    let p = Method::PUT;
    run(vec![
        case("matching strong tag passes", vec![line(IM, r#""5""#)], p.clone(), Some(meta(5)), Proceed),
        case("weak tag never matches If-Match (strong comparison), PUT", vec![line(IM, r#"W/"5""#)], p.clone(), Some(meta(5)), Failed(IfMatch)),
        case("weak tag never matches If-Match (strong comparison), GET", vec![line(IM, r#"W/"5""#)], Method::GET, Some(meta(5)), Failed(IfMatch)),
        case("weak and strong tag of the same version: the strong one matches", vec![line(IM, r#"W/"5", "5""#)], p.clone(), Some(meta(5)), Proceed),
        case("other version fails", vec![line(IM, r#""4""#)], p.clone(), Some(meta(5)), Failed(IfMatch)),
        case("one of a list matches", vec![line(IM, r#""3", "4", "5""#)], p.clone(), Some(meta(5)), Proceed),
        case("none of a list matches", vec![line(IM, r#""3", "4", "6""#)], p.clone(), Some(meta(5)), Failed(IfMatch)),
        case("a foreign tag never matches", vec![line(IM, r#""abc""#)], p.clone(), Some(meta(5)), Failed(IfMatch)),
        case("leading zero is not our canonical tag", vec![line(IM, r#""05""#)], p.clone(), Some(meta(5)), Failed(IfMatch)),
        case("tag with a trailing suffix is not ours", vec![line(IM, r#""5x""#)], p.clone(), Some(meta(5)), Failed(IfMatch)),
        case("empty opaque tag is valid but never matches", vec![line(IM, r#""""#)], p.clone(), Some(meta(5)), Failed(IfMatch)),
        case("a tag on the absent resource fails", vec![line(IM, r#""5""#)], p.clone(), None, Failed(IfMatch)),
        case("If-Match: * on an absent resource fails (412)", vec![line(IM, "*")], p.clone(), None, Failed(IfMatch)),
        case("If-Match: * on an absent resource fails for GET too", vec![line(IM, "*")], Method::GET, None, Failed(IfMatch)),
        case("If-Match: * on an existing resource passes", vec![line(IM, "*")], p.clone(), Some(meta(5)), Proceed),
        case("If-Match: * with surrounding OWS", vec![line(IM, " \t* ")], p.clone(), Some(meta(5)), Proceed),
        case("\"*\" quoted is a tag, not the wildcard", vec![line(IM, r#""*""#)], p.clone(), Some(meta(5)), Failed(IfMatch)),
        case("lines combine: match on the second line", vec![line(IM, r#""4""#), line(IM, r#""5""#)], p.clone(), Some(meta(5)), Proceed),
        case("lines combine: match on the first line", vec![line(IM, r#""5""#), line(IM, r#""6""#)], p.clone(), Some(meta(5)), Proceed),
        case("comma inside the quotes is part of ONE tag", vec![line(IM, r#""4,5""#)], p.clone(), Some(meta(5)), Failed(IfMatch)),
        case("empty list elements and OWS tolerated", vec![line(IM, r#", "5" ,"#)], p.clone(), Some(meta(5)), Proceed),
        case("obs-text in a tag never matches", vec![line(IM, b"\"5\xff\"")], p.clone(), Some(meta(5)), Failed(IfMatch)),
        case("backslash is an ordinary byte, not an escape", vec![line(IM, r#""\5""#)], p.clone(), Some(meta(5)), Failed(IfMatch)),
        case("DELETE uses the same rule", vec![line(IM, r#""4""#)], Method::DELETE, Some(meta(5)), Failed(IfMatch)),
        case("PATCH uses the same rule", vec![line(IM, r#""5""#)], Method::PATCH, Some(meta(5)), Proceed),
        case("POST uses the same rule", vec![line(IM, r#""4""#)], Method::POST, Some(meta(5)), Failed(IfMatch)),
    ]);
}

#[test]
#[rustfmt::skip]
fn if_none_match_uses_weak_comparison() {
    run(vec![
        case("weak tag matches (weak comparison) on GET -> 304", vec![line(INM, r#"W/"5""#)], Method::GET, Some(meta(5)), NotModified),
        case("weak tag matches on HEAD -> 304", vec![line(INM, r#"W/"5""#)], Method::HEAD, Some(meta(5)), NotModified),
        case("weak tag matches on PUT -> 412", vec![line(INM, r#"W/"5""#)], Method::PUT, Some(meta(5)), Failed(IfNoneMatch)),
        case("strong tag matches on GET -> 304", vec![line(INM, r#""5""#)], Method::GET, Some(meta(5)), NotModified),
        case("strong tag matches on DELETE -> 412", vec![line(INM, r#""5""#)], Method::DELETE, Some(meta(5)), Failed(IfNoneMatch)),
        case("other version: proceed", vec![line(INM, r#""4""#)], Method::GET, Some(meta(5)), Proceed),
        case("other version on PUT: proceed", vec![line(INM, r#""4", W/"6""#)], Method::PUT, Some(meta(5)), Proceed),
        case("match anywhere in the list", vec![line(INM, r#""1", "2", W/"5""#)], Method::GET, Some(meta(5)), NotModified),
        case("lines combine: match on the second line", vec![line(INM, r#""1""#), line(INM, r#""5""#)], Method::GET, Some(meta(5)), NotModified),
        case("leading zero does not match", vec![line(INM, r#""05""#)], Method::GET, Some(meta(5)), Proceed),
        case("a tag on the absent resource: proceed", vec![line(INM, r#""5""#)], Method::PUT, None, Proceed),
        case("If-None-Match: * on GET of existing -> 304", vec![line(INM, "*")], Method::GET, Some(meta(5)), NotModified),
        case("If-None-Match: * on HEAD of existing -> 304", vec![line(INM, "*")], Method::HEAD, Some(meta(5)), NotModified),
        case("If-None-Match: * on PUT of existing -> 412", vec![line(INM, "*")], Method::PUT, Some(meta(5)), Failed(IfNoneMatch)),
        case("If-None-Match: * on POST of existing -> 412", vec![line(INM, "*")], Method::POST, Some(meta(5)), Failed(IfNoneMatch)),
        case("If-None-Match: * on DELETE of existing -> 412", vec![line(INM, "*")], Method::DELETE, Some(meta(5)), Failed(IfNoneMatch)),
        case("If-None-Match: * on PUT of absent -> proceed", vec![line(INM, "*")], Method::PUT, None, Proceed),
        case("If-None-Match: * on GET of absent -> proceed", vec![line(INM, "*")], Method::GET, None, Proceed),
        case("comma inside quotes: one tag, no match", vec![line(INM, r#""4,5""#)], Method::GET, Some(meta(5)), Proceed),
        case("obs-text tag does not match", vec![line(INM, b"\"\x805\"")], Method::GET, Some(meta(5)), Proceed),
    ]);
}

#[test]
#[rustfmt::skip]
fn if_unmodified_since_rules() {
    let p = Method::PUT;
    let at = date(t0());
    run(vec![
        case("GET: modified exactly at the date: proceed", vec![line(IUS, &at)], Method::GET, Some(meta_at(5, t0())), Proceed),
        case("PUT: modified in the second the date names: 412 (a weak date cannot tell two writes in it apart)", vec![line(IUS, &at)], p.clone(), Some(meta_at(5, t0())), Failed(IfUnmodifiedSince)),
        case("DELETE: modified in the second the date names: 412", vec![line(IUS, &at)], Method::DELETE, Some(meta_at(5, t0() + Duration::from_millis(400))), Failed(IfUnmodifiedSince)),
        case("PUT: modified a nanosecond before the date: proceed", vec![line(IUS, &at)], p.clone(), Some(meta_at(5, t0() - Duration::from_nanos(1))), Proceed),
        case("PUT: a date one second after the modification's second: proceed", vec![line(IUS, date(t0() + Duration::from_secs(1)))], p.clone(), Some(meta_at(5, t0() + Duration::from_millis(999))), Proceed),
        case("modified before the date: proceed", vec![line(IUS, &at)], p.clone(), Some(meta_at(5, t0() - Duration::from_secs(60))), Proceed),
        case("modified one second after the date -> 412", vec![line(IUS, &at)], p.clone(), Some(meta_at(5, t0() + Duration::from_secs(1))), Failed(IfUnmodifiedSince)),
        case("modified long after the date -> 412", vec![line(IUS, &at)], p.clone(), Some(meta_at(5, t0() + Duration::from_secs(86_400))), Failed(IfUnmodifiedSince)),
        case("GET: sub-second nanos in the same second are NOT modified after (1s granularity)", vec![line(IUS, &at)], Method::GET, Some(meta_at(5, t0() + Duration::from_nanos(999_999_999))), Proceed),
        case("HEAD: a few ms in the same second are not modified after", vec![line(IUS, &at)], Method::HEAD, Some(meta_at(5, t0() + Duration::from_millis(3))), Proceed),
        case("PUT: the last nanosecond of the date's second: 412", vec![line(IUS, &at)], p.clone(), Some(meta_at(5, t0() + Duration::from_nanos(999_999_999))), Failed(IfUnmodifiedSince)),
        case("PATCH: a few ms in the date's second: 412", vec![line(IUS, &at)], Method::PATCH, Some(meta_at(5, t0() + Duration::from_millis(3))), Failed(IfUnmodifiedSince)),
        case("POST: in the date's second: 412", vec![line(IUS, &at)], Method::POST, Some(meta_at(5, t0())), Failed(IfUnmodifiedSince)),
        case("fails for GET as well (412, not 304)", vec![line(IUS, &at)], Method::GET, Some(meta_at(5, t0() + Duration::from_secs(5))), Failed(IfUnmodifiedSince)),
        case("fails for DELETE", vec![line(IUS, &at)], Method::DELETE, Some(meta_at(5, t0() + Duration::from_secs(5))), Failed(IfUnmodifiedSince)),
        case("ignored when If-Match is present (and If-Match passes)", vec![line(IM, r#""5""#), line(IUS, &at)], p.clone(), Some(meta_at(5, t0() + Duration::from_secs(100))), Proceed),
        case("ignored when If-Match: * is present", vec![line(IUS, &at), line(IM, "*")], p.clone(), Some(meta_at(5, t0() + Duration::from_secs(100))), Proceed),
        case("If-Match decides when both fail", vec![line(IM, r#""4""#), line(IUS, &at)], p.clone(), Some(meta_at(5, t0() + Duration::from_secs(100))), Failed(IfMatch)),
        case("If-Match decides even when IUS would pass", vec![line(IM, r#""4""#), line(IUS, &at)], p.clone(), Some(meta_at(5, t0())), Failed(IfMatch)),
        case("ignored when the date is invalid", vec![line(IUS, "yesterday")], p.clone(), Some(meta_at(5, t0() + Duration::from_secs(100))), Proceed),
        case("ignored when the date is a bare number", vec![line(IUS, "1700000000")], p.clone(), Some(meta_at(5, t0() + Duration::from_secs(100))), Proceed),
        case("ignored when the date is empty", vec![line(IUS, "")], p.clone(), Some(meta_at(5, t0() + Duration::from_secs(100))), Proceed),
        case("ignored when the resource is absent", vec![line(IUS, &at)], p.clone(), None, Proceed),
        case("two lines are not one valid date: ignored", vec![line(IUS, &at), line(IUS, &at)], p.clone(), Some(meta_at(5, t0() + Duration::from_secs(100))), Proceed),
        case("obsolete RFC 850 date format is still a valid HTTP-date", vec![line(IUS, "Tuesday, 14-Nov-23 22:13:20 GMT")], p.clone(), Some(meta_at(5, t0() + Duration::from_secs(1))), Failed(IfUnmodifiedSince)),
        case("checked before If-None-Match (step 2 before step 3)", vec![line(IUS, &at), line(INM, r#""5""#)], Method::GET, Some(meta_at(5, t0() + Duration::from_secs(1))), Failed(IfUnmodifiedSince)),
        case("passing IUS then If-None-Match decides", vec![line(IUS, &at), line(INM, "*")], p.clone(), Some(meta_at(5, t0() - Duration::from_secs(1))), Failed(IfNoneMatch)),
    ]);
}

#[test]
#[rustfmt::skip]
fn if_modified_since_rules() {
    let at = date(t0());
    let g = Method::GET;
    run(vec![
        case("not modified since the date on GET -> 304", vec![line(IMS, &at)], g.clone(), Some(meta_at(5, t0())), NotModified),
        case("not modified since the date on HEAD -> 304", vec![line(IMS, &at)], Method::HEAD, Some(meta_at(5, t0())), NotModified),
        case("modified before the date -> 304", vec![line(IMS, &at)], g.clone(), Some(meta_at(5, t0() - Duration::from_secs(3600))), NotModified),
        case("sub-second nanos in the same second -> still 304", vec![line(IMS, &at)], g.clone(), Some(meta_at(5, t0() + Duration::from_nanos(999_999_999))), NotModified),
        case("modified one second after the date: proceed", vec![line(IMS, &at)], g.clone(), Some(meta_at(5, t0() + Duration::from_secs(1))), Proceed),
        case("ignored when If-None-Match is present (no match)", vec![line(INM, r#""4""#), line(IMS, &at)], g.clone(), Some(meta_at(5, t0())), Proceed),
        case("ignored when If-None-Match is present (weak non-match)", vec![line(IMS, &at), line(INM, r#"W/"4""#)], Method::HEAD, Some(meta_at(5, t0())), Proceed),
        case("ignored on PUT", vec![line(IMS, &at)], Method::PUT, Some(meta_at(5, t0())), Proceed),
        case("ignored on POST", vec![line(IMS, &at)], Method::POST, Some(meta_at(5, t0())), Proceed),
        case("ignored on DELETE", vec![line(IMS, &at)], Method::DELETE, Some(meta_at(5, t0())), Proceed),
        case("ignored on PATCH", vec![line(IMS, &at)], Method::PATCH, Some(meta_at(5, t0())), Proceed),
        case("invalid date ignored", vec![line(IMS, "not a date")], g.clone(), Some(meta_at(5, t0())), Proceed),
        case("date with trailing garbage ignored", vec![line(IMS, format!("{at} x"))], g.clone(), Some(meta_at(5, t0())), Proceed),
        case("two If-Modified-Since lines -> ignored", vec![line(IMS, &at), line(IMS, &at)], g.clone(), Some(meta_at(5, t0())), Proceed),
        case("absent resource: proceed (the handler answers 404)", vec![line(IMS, &at)], g.clone(), None, Proceed),
        case("If-Match passes, then IMS applies", vec![line(IM, r#""5""#), line(IMS, &at)], g.clone(), Some(meta_at(5, t0())), NotModified),
    ]);
}

#[test]
#[rustfmt::skip]
fn combinations_follow_the_13_2_2_order() {
    run(vec![
        case("If-Match passes, If-None-Match matches on GET -> 304", vec![line(IM, r#""5""#), line(INM, r#""5""#)], Method::GET, Some(meta(5)), NotModified),
        case("If-Match passes, If-None-Match: * on PUT -> 412 If-None-Match", vec![line(IM, r#""5""#), line(INM, "*")], Method::PUT, Some(meta(5)), Failed(IfNoneMatch)),
        case("If-Match fails before If-None-Match is looked at", vec![line(IM, r#""4""#), line(INM, r#""5""#)], Method::GET, Some(meta(5)), Failed(IfMatch)),
        case("If-Match: * and If-None-Match: * on existing PUT", vec![line(IM, "*"), line(INM, "*")], Method::PUT, Some(meta(5)), Failed(IfNoneMatch)),
        case("If-Match: * and If-None-Match: * on absent PUT: If-Match fails first", vec![line(IM, "*"), line(INM, "*")], Method::PUT, None, Failed(IfMatch)),
        case("all four, all passing", vec![line(IM, r#""5""#), line(IUS, date(t0())), line(INM, r#""4""#), line(IMS, date(t0() - Duration::from_secs(10)))], Method::GET, Some(meta(5)), Proceed),
        case("no preconditions at all", vec![], Method::PUT, Some(meta(5)), Proceed),
        case("no preconditions, absent", vec![], Method::DELETE, None, Proceed),
    ]);
}

#[test]
#[rustfmt::skip]
fn preconditions_are_ignored_for_options_trace_connect() {
    let at = date(t0());
    let later = Some(meta_at(5, t0() + Duration::from_secs(10)));
    let mut cases = Vec::new();
    for method in [Method::OPTIONS, Method::TRACE, Method::CONNECT] {
        cases.push(case("failing If-Match ignored", vec![line(IM, r#""4""#)], method.clone(), Some(meta(5)), Proceed));
        cases.push(case("If-Match: * on absent ignored", vec![line(IM, "*")], method.clone(), None, Proceed));
        cases.push(case("matching If-None-Match: * ignored", vec![line(INM, "*")], method.clone(), Some(meta(5)), Proceed));
        cases.push(case("matching If-None-Match tag ignored", vec![line(INM, r#""5""#)], method.clone(), Some(meta(5)), Proceed));
        cases.push(case("failing If-Unmodified-Since ignored", vec![line(IUS, &at)], method.clone(), later, Proceed));
        cases.push(case("If-Modified-Since ignored", vec![line(IMS, &at)], method.clone(), Some(meta(5)), Proceed));
    }
    run(cases);
}

// ---------------------------------------------------------------------------------------------
// Parsing: lists, commas in quotes, errors (RFC 9110 5.3, 5.6.1, 8.8.3)
// ---------------------------------------------------------------------------------------------

#[test]
fn comma_inside_quotes_is_one_tag() {
    let tags: Vec<_> = entity_tags(br#""a,b""#).collect::<Result<_, _>>().unwrap();
    assert_eq!(
        tags,
        vec![EntityTagRef {
            weak: false,
            opaque: b"a,b"
        }]
    );
    assert_eq!(
        parse_tag_list([&br#""a,b""#[..]]).unwrap(),
        TagList::Tags(vec![EntityTagRef {
            weak: false,
            opaque: b"a,b"
        }])
    );
    // Several commas, weak, in a list.
    let tags: Vec<_> = entity_tags(br#"W/",,", "x,y,z""#)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tags.len(), 2);
    assert_eq!(
        tags[0],
        EntityTagRef {
            weak: true,
            opaque: b",,"
        }
    );
    assert_eq!(tags[1].opaque, b"x,y,z");
}

#[test]
fn a_list_over_one_line_and_over_two_lines_is_the_same_list() {
    let one = parse_tag_list([&br#""1", "2""#[..]]).unwrap();
    let two = parse_tag_list([&br#""1""#[..], br#""2""#]).unwrap();
    let expected = TagList::Tags(vec![
        EntityTagRef {
            weak: false,
            opaque: b"1",
        },
        EntityTagRef {
            weak: false,
            opaque: b"2",
        },
    ]);
    assert_eq!(one, expected);
    assert_eq!(two, expected);

    for name in [IM, INM] {
        let one_line = parse(&[line(name, r#""1", "2""#)]);
        let two_lines = parse(&[line(name, r#""1""#), line(name, r#""2""#)]);
        assert_eq!(one_line, two_lines, "{name}: one line vs two lines");
        // And both lines really count: the second line's tag matches.
        let current = meta(2);
        let want = if name == IM { Proceed } else { NotModified };
        assert_eq!(two_lines.eval(&Method::GET, Some(&current)), want, "{name}");
    }
    // Three lines, the last one holding two tags.
    let pre = parse(&[
        line(IM, r#""1""#),
        line(IM, r#""2""#),
        line(IM, r#""3", "4""#),
    ]);
    assert_eq!(
        pre.write_condition(),
        WriteCondition::Enforce(Expect::OneOf(vec![v(1), v(2), v(3), v(4)]))
    );
}

#[test]
#[rustfmt::skip]
fn star_mixed_with_tags_is_rejected() {
    let cases: Vec<(&str, Lines, Precondition)> = vec![
        ("If-Match star then tag, same line", vec![line(IM, r#"*, "1""#)], IfMatch),
        ("If-Match tag then star, same line", vec![line(IM, r#""1", *"#)], IfMatch),
        ("If-Match star, star", vec![line(IM, "*, *")], IfMatch),
        ("If-Match star then tag, separate lines", vec![line(IM, "*"), line(IM, r#""1""#)], IfMatch),
        ("If-Match tag then star, separate lines", vec![line(IM, r#""1""#), line(IM, "*")], IfMatch),
        ("If-Match star twice on two lines", vec![line(IM, "*"), line(IM, "*")], IfMatch),
        ("If-None-Match star then tag, same line", vec![line(INM, r#"*, W/"1""#)], IfNoneMatch),
        ("If-None-Match tag then star, separate lines", vec![line(INM, r#""1""#), line(INM, "*")], IfNoneMatch),
        ("If-None-Match star then tag, separate lines", vec![line(INM, "*"), line(INM, r#""1""#)], IfNoneMatch),
        ("valid If-Match, mixed If-None-Match", vec![line(IM, r#""1""#), line(INM, r#"*, "2""#)], IfNoneMatch),
    ];
    for (what, lines, header) in cases {
        let err = Preconditions::from_headers(&headers(&lines))
            .expect_err(what);
        assert_eq!(err.header, header, "{what}");
        assert_eq!(err.reason, TagListError::StarInList, "{what}");
        assert_eq!(Rejection::from(err).status(), 400, "{what}");
    }
}

#[test]
fn malformed_values_are_400_naming_the_header() {
    let bad: &[(&str, &[u8])] = &[
        ("bare token", b"abc"),
        ("bare number", b"5"),
        ("unterminated quote", b"\"abc"),
        ("unterminated second tag", b"\"1\", \"2"),
        ("two tags without comma", b"\"a\" \"b\""),
        ("lowercase weak prefix", b"w/\"a\""),
        ("W/ without quote", b"W/a"),
        ("space inside a tag", b"\"a b\""),
        ("tab inside a tag", b"\"a\tb\""),
        ("backslash-escaped quote ends the tag early", b"\"a\\\"b\""),
        ("semicolon list", b"\"1\"; \"2\""),
        ("garbage after a valid tag", b"\"1\" x"),
        ("weak star", b"W/*"),
    ];
    for &(what, value) in bad {
        for (name, header) in [(IM, IfMatch), (INM, IfNoneMatch)] {
            let map = headers(&[line(name, value)]);
            let err = Preconditions::from_headers(&map)
                .expect_err(&format!("{name} {what} should be rejected"));
            assert_eq!(err.header, header, "{name}: {what}");
            assert!(
                err.to_string().contains(header.as_str()),
                "{name}: {what}: message {err} names the header"
            );
            let rejection = Rejection::from(err);
            assert_eq!(rejection.status(), 400, "{name}: {what}");
            let problem = rejection.problem().expect("a 400 has a problem body");
            assert_eq!(problem.status, 400);
            assert_eq!(
                problem.header.as_deref(),
                Some(header.as_str()),
                "{name}: {what}"
            );
            assert!(problem.detail.contains(header.as_str()), "{name}: {what}");

            let response = rejection.into_http_response();
            assert_eq!(response.status(), 400);
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json"
            );
            assert!(response.headers().get("etag").is_none());
            let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
            assert_eq!(body["status"], 400);
            assert_eq!(body["header"], header.as_str(), "{name}: {what}");
            let detail = body["detail"].as_str().unwrap();
            assert!(detail.contains(header.as_str()), "{name}: {what}: {detail}");
            // Round trip through the public problem type, too.
            let parsed = Problem::from_response(&response).unwrap();
            assert_eq!(parsed.header.as_deref(), Some(header.as_str()));
        }
    }
}

#[test]
fn malformed_on_one_line_of_several_is_still_an_error() {
    // A valid first line must not hide an invalid second one (a malformed If-Match never
    // lets a write proceed).
    let err =
        Preconditions::from_headers(&headers(&[line(IM, r#""1""#), line(IM, "oops")])).unwrap_err();
    assert_eq!(err.header, IfMatch);
    assert!(matches!(err.reason, TagListError::ExpectedTag { .. }));
}

#[test]
fn tag_list_errors_say_what_and_where() {
    let first_error = |v: &[u8]| entity_tags(v).find_map(Result::err);
    assert_eq!(
        first_error(b"abc"),
        Some(TagListError::ExpectedTag { at: 0 })
    );
    assert_eq!(
        first_error(b"  \"abc"),
        Some(TagListError::Unterminated { at: 2 })
    );
    assert_eq!(
        first_error(b"\"a\" \"b\""),
        Some(TagListError::ExpectedComma { at: 4 })
    );
    assert_eq!(
        first_error(b"w/\"a\""),
        Some(TagListError::ExpectedTag { at: 0 })
    );
    // The iterator stops after its first error.
    assert_eq!(entity_tags(b"abc, \"1\"").count(), 1);
}

#[test]
fn empty_elements_and_ows_are_tolerated() {
    let tags: Vec<_> = entity_tags(br#", "5" ,"#)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        tags,
        vec![EntityTagRef {
            weak: false,
            opaque: b"5"
        }]
    );
    let tags: Vec<_> = entity_tags(b" ,\t,\"1\",,, W/\"2\" \t, ,")
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tags.len(), 2);
    assert!(tags[1].weak);

    let pre = parse(&[line(IM, r#", "5" ,"#)]);
    assert_eq!(
        pre.write_condition(),
        WriteCondition::Enforce(Expect::Version(v(5)))
    );
    assert_eq!(pre.eval(&Method::PUT, Some(&meta(5))), Proceed);
    let pre = parse(&[line(INM, "\t,  W/\"5\"  ,\t")]);
    assert_eq!(pre.eval(&Method::GET, Some(&meta(5))), NotModified);
}

#[test]
fn an_empty_field_value_counts_as_absent() {
    let policy = PreconditionPolicy::default();
    let empties: &[&str] = &["", " ", "\t", ",", " , ,\t,", ",,,,"];
    for &value in empties {
        for name in [IM, INM] {
            let pre = parse(&[line(name, value)]);
            assert!(pre.is_empty(), "{name}: {value:?} counts as absent");
            assert!(!pre.has_write_condition(), "{name}: {value:?}");
            assert_eq!(
                pre.write_condition(),
                WriteCondition::None,
                "{name}: {value:?}"
            );
            assert_eq!(pre, Preconditions::default(), "{name}: {value:?}");
            let rejection = require(&pre, &Method::PUT, &policy)
                .expect_err("428 for a PUT with only an empty precondition");
            assert_eq!(rejection.status(), 428, "{name}: {value:?}");
            // Absent If-Match on an absent resource does not fail.
            assert_eq!(pre.eval(&Method::PUT, None), Proceed);
        }
    }
    // Several empty lines are still absent.
    let pre = parse(&[line(IM, ""), line(IM, " , "), line(INM, ",")]);
    assert!(pre.is_empty());
    assert_eq!(
        require(&pre, &Method::DELETE, &policy)
            .unwrap_err()
            .status(),
        428
    );
    // An empty line next to a real one does not hide it.
    let pre = parse(&[line(IM, ""), line(IM, r#""7""#)]);
    assert_eq!(
        pre.write_condition(),
        WriteCondition::Enforce(Expect::Version(v(7)))
    );
    // An empty line next to `*` keeps the `*`.
    let pre = parse(&[line(IM, "*"), line(IM, " ")]);
    assert_eq!(
        pre.write_condition(),
        WriteCondition::Enforce(Expect::Exists)
    );
}

// ---------------------------------------------------------------------------------------------
// Robustness: long tags, many tags, obs-text, leading zeros
// ---------------------------------------------------------------------------------------------

#[test]
fn a_300_character_tag_is_kept_whole_and_never_matches() {
    let opaque = "7".repeat(300);
    let value = format!("\"{opaque}\"");
    let tags: Vec<_> = entity_tags(value.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tags.len(), 1);
    assert_eq!(tags[0].opaque.len(), 300, "no truncation");
    assert_eq!(tags[0].opaque, opaque.as_bytes());
    assert_eq!(tags[0].version(), None);
    // The etag crate cannot hold it: refused, not truncated.
    assert!(tags[0].to_etag().is_err());

    // A long tag made of a version's digits repeated: still no match, also not of its
    // 20-character prefix.
    let prefix = v(77_777_777_777_777_777);
    for name in [IM, INM] {
        let pre = parse(&[line(name, &value)]);
        let current = meta(prefix.get());
        let got = pre.eval(&Method::GET, Some(&current));
        let want = if name == IM { Failed(IfMatch) } else { Proceed };
        assert_eq!(got, want, "{name}");
    }
    // Other long tags, with letters and obs-text.
    let long_mixed = format!("W/\"{}é\"", "ab".repeat(200));
    let tags: Vec<_> = entity_tags(long_mixed.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tags[0].opaque.len(), 402);
}

#[test]
fn a_tag_that_extends_one_of_ours_does_not_match() {
    // 20 digits is our longest tag; the same 20 digits followed by more are a different tag.
    let ours = v(12_345_678_901_234_567_890);
    let ours_tag = ours.etag();
    assert_eq!(ours_tag.len(), 22);
    let current = meta(ours.get());
    let nines = "9".repeat(500);
    for suffix in ["1", "0", "x", "12345", nines.as_str()] {
        let longer = format!("\"{}{suffix}\"", ours.get());
        let pre = parse(&[line(IM, &longer)]);
        assert_eq!(
            pre.eval(&Method::PUT, Some(&current)),
            Failed(IfMatch),
            "If-Match {longer}"
        );
        assert_eq!(
            pre.write_condition(),
            WriteCondition::Enforce(Expect::OneOf(vec![])),
            "If-Match {longer}"
        );
        let pre = parse(&[line(INM, &longer)]);
        assert_eq!(
            pre.eval(&Method::GET, Some(&current)),
            Proceed,
            "If-None-Match {longer}"
        );
    }
    // The exact tag does match.
    let pre = parse(&[line(IM, &ours_tag)]);
    assert_eq!(pre.eval(&Method::PUT, Some(&current)), Proceed);
    // u64::MAX is ours; one more is not (overflow is not a match of anything).
    let max = v(u64::MAX);
    let pre = parse(&[line(IM, max.etag())]);
    assert_eq!(pre.eval(&Method::PUT, Some(&meta(u64::MAX))), Proceed);
    let pre = parse(&[line(IM, r#""18446744073709551616""#)]);
    assert_eq!(
        pre.write_condition(),
        WriteCondition::Enforce(Expect::OneOf(vec![]))
    );
}

/// `n` foreign-but-plausible tags (`"x0"`, `"x1"`, ...), then `last`.
fn many_tags(n: usize, last: &str) -> String {
    let mut value = String::with_capacity(n * 8 + last.len());
    for i in 0..n {
        value.push_str(&format!("\"x{i}\", "));
    }
    value.push_str(last);
    value
}

#[test]
fn thousands_of_tags_parse_and_the_last_one_still_matches() {
    // No timing assertions (project rule): the parser is one pass; this only proves it
    // finishes, keeps every tag and does not stop early.
    for n in [2_000usize, 10_000] {
        let current = meta(424_242);
        let value = many_tags(n - 1, &current.version.etag());

        // Every element is seen, in order, by the public iterator.
        let tags: Vec<_> = entity_tags(value.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(tags.len(), n);
        assert_eq!(tags[0].opaque, b"x0");
        assert_eq!(tags[n - 1].opaque, b"424242");
        let TagList::Tags(list) = parse_tag_list([value.as_bytes()]).unwrap() else {
            panic!("not a star");
        };
        assert_eq!(list.len(), n);

        let if_match = parse(&[line(IM, &value)]);
        assert_eq!(
            if_match.eval(&Method::PUT, Some(&current)),
            Proceed,
            "n={n}"
        );
        assert_eq!(
            if_match.write_condition(),
            WriteCondition::Enforce(Expect::Version(current.version)),
            "only tags of ours end up in the expectation, n={n}"
        );
        assert_eq!(
            if_match.eval(&Method::PUT, Some(&meta(424_243))),
            Failed(IfMatch)
        );

        let if_none_match = parse(&[line(INM, &value)]);
        assert_eq!(
            if_none_match.eval(&Method::GET, Some(&current)),
            NotModified,
            "n={n}"
        );

        // The same list spread over n header lines.
        let lines: Vec<_> = value.split(", ").map(|t| line(IM, t)).collect();
        assert_eq!(lines.len(), n);
        let spread = parse(&lines);
        assert_eq!(spread, if_match, "one line or n lines, n={n}");

        // Linear-cost sanity check, without timing: doubling the input doubles the
        // number of elements seen and nothing else changes.
        let doubled = format!("{value}, {value}");
        assert_eq!(entity_tags(doubled.as_bytes()).count(), 2 * n);
    }
}

#[test]
fn many_tags_of_ours_all_count() {
    // 2,000 distinct versions of ours, current is the last one.
    let value = (1..=2_000u64)
        .map(|n| v(n).etag())
        .collect::<Vec<_>>()
        .join(",");
    let pre = parse(&[line(IM, &value)]);
    assert_eq!(pre.eval(&Method::PUT, Some(&meta(2_000))), Proceed);
    assert_eq!(pre.eval(&Method::PUT, Some(&meta(2_001))), Failed(IfMatch));
    let WriteCondition::Enforce(Expect::OneOf(all)) = pre.write_condition() else {
        panic!("If-Match with a list is Enforce(OneOf)");
    };
    assert_eq!(all.len(), 2_000);
    assert_eq!(all.last(), Some(&v(2_000)));
}

#[test]
fn obs_text_tags_parse_and_do_not_match() {
    let values: &[&[u8]] = &[
        b"\"\x80\"",
        b"\"5\xff\"",
        b"W/\"\xe9t\xe9\"",
        b"\"\xc3\xa9\", \"5\x80\"",
    ];
    for &value in values {
        let tags: Vec<_> = entity_tags(value)
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{:?}: {e}", value.escape_ascii().to_string()));
        assert!(!tags.is_empty());
        for tag in &tags {
            assert!(tag.opaque.iter().any(|&b| b >= 0x80), "bytes kept verbatim");
            assert_eq!(tag.version(), None);
            assert!(tag.to_etag().is_err(), "non-ASCII is refused by to_etag");
        }
        let current = meta(5);
        let pre = parse(&[line(IM, value)]);
        assert_eq!(pre.eval(&Method::PUT, Some(&current)), Failed(IfMatch));
        let pre = parse(&[line(INM, value)]);
        assert_eq!(pre.eval(&Method::GET, Some(&current)), Proceed);
    }
    // The bytes are exactly the ones sent.
    let tags: Vec<_> = entity_tags(b"\"\xfe\xff\"")
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tags[0].opaque, b"\xfe\xff");
}

#[test]
fn only_the_canonical_tag_matches() {
    let current = meta(5);
    for other in [
        r#""05""#,
        r#""005""#,
        r#""+5""#,
        r#""5.0""#,
        r#"" 5""#,
        r#""0x5""#,
        r#""five""#,
    ] {
        let Ok(pre) = Preconditions::from_headers(&headers(&[line(IM, other)])) else {
            continue; // `" 5"` is not even a valid tag; that is fine too
        };
        assert_eq!(
            pre.eval(&Method::PUT, Some(&current)),
            Failed(IfMatch),
            "If-Match {other}"
        );
        let pre = parse(&[line(INM, other)]);
        assert_eq!(
            pre.eval(&Method::GET, Some(&current)),
            Proceed,
            "If-None-Match {other}"
        );
    }
    let pre = parse(&[line(IM, r#""5""#)]);
    assert_eq!(pre.eval(&Method::PUT, Some(&current)), Proceed);
    // "0" is never a version.
    let pre = parse(&[line(IM, r#""0""#)]);
    assert_eq!(
        pre.write_condition(),
        WriteCondition::Enforce(Expect::OneOf(vec![]))
    );
}

// ---------------------------------------------------------------------------------------------
// What the store must enforce: write_condition / expect_for
// ---------------------------------------------------------------------------------------------

#[test]
#[rustfmt::skip]
fn write_condition_table() {
    let at = date(t0());
    let rows: Vec<(&str, Lines, WriteCondition)> = vec![
        ("none", vec![], WriteCondition::None),
        ("only If-Modified-Since (GET-only)", vec![line(IMS, &at)], WriteCondition::None),
        ("invalid If-Unmodified-Since is ignored", vec![line(IUS, "nope")], WriteCondition::None),
        ("If-Match one tag -> Version", vec![line(IM, r#""4""#)], WriteCondition::Enforce(Expect::Version(v(4)))),
        ("If-Match list -> OneOf", vec![line(IM, r#""4", "9""#)], WriteCondition::Enforce(Expect::OneOf(vec![v(4), v(9)]))),
        ("If-Match list over two lines -> OneOf", vec![line(IM, r#""4""#), line(IM, r#""9""#)], WriteCondition::Enforce(Expect::OneOf(vec![v(4), v(9)]))),
        ("If-Match: * -> Exists", vec![line(IM, "*")], WriteCondition::Enforce(Expect::Exists)),
        ("If-Match weak and strong: only the strong one", vec![line(IM, r#"W/"3", "4""#)], WriteCondition::Enforce(Expect::Version(v(4)))),
        ("If-Match foreign and ours: only ours", vec![line(IM, r#""abc", "4", "05""#)], WriteCondition::Enforce(Expect::Version(v(4)))),
        ("If-Match only weak tags -> OneOf([]) admits nothing", vec![line(IM, r#"W/"4", W/"5""#)], WriteCondition::Enforce(Expect::OneOf(vec![]))),
        ("If-Match only foreign tags -> OneOf([])", vec![line(IM, r#""abc""#)], WriteCondition::Enforce(Expect::OneOf(vec![]))),
        ("If-None-Match: * -> Absent", vec![line(INM, "*")], WriteCondition::Enforce(Expect::Absent)),
        ("If-None-Match with tags -> NeedsCurrent", vec![line(INM, r#""4""#)], WriteCondition::NeedsCurrent),
        ("If-None-Match weak tag -> NeedsCurrent", vec![line(INM, r#"W/"4""#)], WriteCondition::NeedsCurrent),
        ("If-Unmodified-Since alone -> NeedsCurrent", vec![line(IUS, &at)], WriteCondition::NeedsCurrent),
        ("If-None-Match: * and If-Unmodified-Since -> NeedsCurrent", vec![line(INM, "*"), line(IUS, &at)], WriteCondition::NeedsCurrent),
        ("If-Match and If-None-Match -> NeedsCurrent", vec![line(IM, r#""4""#), line(INM, r#""5""#)], WriteCondition::NeedsCurrent),
        ("If-Match and If-None-Match: * -> NeedsCurrent", vec![line(IM, "*"), line(INM, "*")], WriteCondition::NeedsCurrent),
        ("If-Match + If-Unmodified-Since -> Enforce (IUS ignored)", vec![line(IM, r#""4""#), line(IUS, &at)], WriteCondition::Enforce(Expect::Version(v(4)))),
        ("If-Match: * + If-Unmodified-Since -> Exists", vec![line(IUS, &at), line(IM, "*")], WriteCondition::Enforce(Expect::Exists)),
        ("If-Match + If-Modified-Since -> Enforce", vec![line(IM, r#""4""#), line(IMS, &at)], WriteCondition::Enforce(Expect::Version(v(4)))),
        ("If-None-Match: * + If-Modified-Since -> Absent", vec![line(INM, "*"), line(IMS, &at)], WriteCondition::Enforce(Expect::Absent)),
    ];
    let mut failures = Vec::new();
    for (what, lines, want) in &rows {
        let pre = parse(lines);
        let got = pre.write_condition();
        if &got != want {
            failures.push(format!("{what}: expected {want:?}, got {got:?}"));
        }
        // `has_write_condition` agrees with `write_condition`.
        if pre.has_write_condition() != (*want != WriteCondition::None) {
            failures.push(format!("{what}: has_write_condition disagrees"));
        }
        // `is_create_only` is exactly Enforce(Absent).
        if pre.is_create_only() != (*want == WriteCondition::Enforce(Expect::Absent)) {
            failures.push(format!("{what}: is_create_only disagrees"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn an_enforced_expectation_agrees_with_evaluate() {
    // Where write_condition says Enforce(e), e.admits(current) must be exactly
    // "evaluate(PUT, current) == Proceed", for every current state.
    let headers_sets: Vec<Lines> = vec![
        vec![line(IM, r#""4""#)],
        vec![line(IM, r#""4", "5""#)],
        vec![line(IM, "*")],
        vec![line(IM, r#"W/"4""#)],
        vec![line(IM, r#""abc""#)],
        vec![line(INM, "*")],
        vec![line(IM, r#""5""#), line(IUS, date(t0()))],
    ];
    let states = [None, Some(meta(4)), Some(meta(5)), Some(meta(6))];
    for lines in &headers_sets {
        let pre = parse(lines);
        let WriteCondition::Enforce(expect) = pre.write_condition() else {
            panic!("{lines:?} should be enforceable");
        };
        for current in &states {
            let admitted = expect.admits(current.map(|m| m.version));
            let proceeds = pre.eval(&Method::PUT, current.as_ref()) == Proceed;
            assert_eq!(admitted, proceeds, "{lines:?} with {current:?}: {expect:?}");
        }
    }
    // OneOf([]) admits nothing.
    for current in [None, Some(v(1)), Some(v(u64::MAX))] {
        assert!(!Expect::OneOf(vec![]).admits(current));
    }
}

#[test]
#[rustfmt::skip]
fn expect_for_pins_the_snapshot_or_fails_with_412() {
    let at = date(t0());
    let later = meta_at(9, t0() + Duration::from_secs(30));
    struct Row {
        what: &'static str,
        lines: Lines,
        current: Option<Meta>,
        /// Ok(expect) or Err(header that failed).
        want: Result<Option<Expect>, Precondition>,
    }
    let rows = vec![
        Row { what: "no precondition: nothing to pin", lines: vec![], current: Some(meta(5)), want: Ok(None) },
        Row { what: "only If-Modified-Since: nothing to pin", lines: vec![line(IMS, &at)], current: Some(meta(5)), want: Ok(None) },
        Row { what: "If-None-Match tags, not matching: pin Version(current)", lines: vec![line(INM, r#""1", "2""#)], current: Some(meta(5)), want: Ok(Some(Expect::Version(v(5)))) },
        Row { what: "If-None-Match tags on absent: pin Absent", lines: vec![line(INM, r#""1""#)], current: None, want: Ok(Some(Expect::Absent)) },
        Row { what: "If-None-Match matching weakly: 412", lines: vec![line(INM, r#"W/"5""#)], current: Some(meta(5)), want: Err(IfNoneMatch) },
        Row { what: "If-None-Match: * on existing: 412", lines: vec![line(INM, "*")], current: Some(meta(5)), want: Err(IfNoneMatch) },
        Row { what: "If-None-Match: * on absent: pin Absent", lines: vec![line(INM, "*")], current: None, want: Ok(Some(Expect::Absent)) },
        Row { what: "If-Match matching: pin Version(current)", lines: vec![line(IM, r#""4", "5""#)], current: Some(meta(5)), want: Ok(Some(Expect::Version(v(5)))) },
        Row { what: "If-Match: * on existing: pin Version(current)", lines: vec![line(IM, "*")], current: Some(meta(5)), want: Ok(Some(Expect::Version(v(5)))) },
        Row { what: "If-Match not matching: 412", lines: vec![line(IM, r#""4""#)], current: Some(meta(5)), want: Err(IfMatch) },
        Row { what: "If-Match on absent: 412", lines: vec![line(IM, r#""4""#)], current: None, want: Err(IfMatch) },
        Row { what: "If-Match: * on absent: 412", lines: vec![line(IM, "*")], current: None, want: Err(IfMatch) },
        Row { what: "If-Unmodified-Since, modified before the date: pin", lines: vec![line(IUS, &at)], current: Some(meta_at(5, t0() - Duration::from_secs(1))), want: Ok(Some(Expect::Version(v(5)))) },
        Row { what: "If-Unmodified-Since, modified in the date's second: 412 for a write", lines: vec![line(IUS, &at)], current: Some(meta(5)), want: Err(IfUnmodifiedSince) },
        Row { what: "If-Unmodified-Since, modified after: 412", lines: vec![line(IUS, &at)], current: Some(later), want: Err(IfUnmodifiedSince) },
        Row { what: "If-Unmodified-Since on absent: pin Absent", lines: vec![line(IUS, &at)], current: None, want: Ok(Some(Expect::Absent)) },
        Row { what: "If-Match and If-None-Match both pass: pin", lines: vec![line(IM, r#""9""#), line(INM, r#""5""#)], current: Some(later), want: Ok(Some(Expect::Version(v(9)))) },
        Row { what: "If-Match passes, If-Unmodified-Since ignored: pin", lines: vec![line(IM, r#""9""#), line(IUS, &at)], current: Some(later), want: Ok(Some(Expect::Version(v(9)))) },
    ];
    for row in rows {
        let pre = parse(&row.lines);
        let got = expect_for(&pre, "doc", row.current.as_ref());
        match (got, row.want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{}", row.what),
            (Err(rejection), Err(header)) => {
                assert_eq!(rejection.status(), 412, "{}", row.what);
                let current = row.current.map(|m| m.version);
                assert_eq!(rejection.current_version(), current, "{}", row.what);
                let problem = rejection.problem().unwrap();
                assert_eq!(problem.header.as_deref(), Some(header.as_str()), "{}", row.what);
                assert_eq!(problem.key.as_deref(), Some("doc"), "{}", row.what);
                assert_eq!(problem.current_etag, current.map(Version::etag), "{}", row.what);
                let response = rejection.into_http_response();
                assert_eq!(response.status(), 412, "{}", row.what);
                assert_eq!(
                    response.headers().get("etag").map(|h| h.to_str().unwrap().to_owned()),
                    current.map(Version::etag),
                    "{}: the 412 carries the current ETag exactly when the resource exists",
                    row.what
                );
                assert_eq!(response.headers()["content-type"], "application/problem+json");
            }
            (got, want) => panic!("{}: expected {want:?}, got {got:?}", row.what),
        }
    }
}

#[test]
fn expect_for_pins_against_a_real_store() {
    use optimist::MemoryStore;
    let store = MemoryStore::new();
    let v1 = store.put_sync("doc", "a", Expect::Absent).unwrap().version;
    let pre = parse(&[line(INM, r#""999999""#)]);
    assert_eq!(pre.write_condition(), WriteCondition::NeedsCurrent);
    let snapshot = store.head_sync("doc");
    let expect = expect_for(&pre, "doc", snapshot.as_ref()).unwrap().unwrap();
    assert_eq!(expect, Expect::Version(v1));
    // Someone else writes between the read and our write: the pinned CAS refuses.
    let v2 = store.put_sync("doc", "b", Expect::Any).unwrap().version;
    let err = store.put_sync("doc", "c", expect).unwrap_err();
    assert_eq!(err.as_conflict().unwrap().current(), Some(v2));
    assert_eq!(store.get_sync("doc").unwrap().value, "b");

    // If-None-Match on a missing key pins Absent: a concurrent create wins, ours fails.
    let snapshot = store.head_sync("new");
    let expect = expect_for(&pre, "new", snapshot.as_ref()).unwrap().unwrap();
    assert_eq!(expect, Expect::Absent);
    store.put_sync("new", "first", Expect::Absent).unwrap();
    assert!(store.put_sync("new", "second", expect).is_err());
}

// ---------------------------------------------------------------------------------------------
// 428 and conditional reads
// ---------------------------------------------------------------------------------------------

#[test]
#[rustfmt::skip]
fn require_table() {
    let at = date(t0());
    let default = PreconditionPolicy::default();
    let none = PreconditionPolicy::none();
    let post_policy = PreconditionPolicy::methods([Method::POST]);
    let rows: Vec<(&str, Lines, Method, &PreconditionPolicy, Option<u16>)> = vec![
        ("PUT without precondition", vec![], Method::PUT, &default, Some(428)),
        ("PATCH without precondition", vec![], Method::PATCH, &default, Some(428)),
        ("DELETE without precondition", vec![], Method::DELETE, &default, Some(428)),
        ("POST is not required by default", vec![], Method::POST, &default, None),
        ("GET is not required", vec![], Method::GET, &default, None),
        ("PUT with only If-Modified-Since (does not apply to writes)", vec![line(IMS, &at)], Method::PUT, &default, Some(428)),
        ("PUT with an invalid If-Unmodified-Since (ignored)", vec![line(IUS, "garbage")], Method::PUT, &default, Some(428)),
        ("PUT with an empty If-Match", vec![line(IM, "")], Method::PUT, &default, Some(428)),
        ("PUT with If-Match", vec![line(IM, r#""1""#)], Method::PUT, &default, None),
        ("PUT with If-Match: *", vec![line(IM, "*")], Method::PUT, &default, None),
        ("PUT with If-None-Match: *", vec![line(INM, "*")], Method::PUT, &default, None),
        ("PUT with a weak-only If-Match (present, it will just fail)", vec![line(IM, r#"W/"1""#)], Method::PUT, &default, None),
        ("DELETE with only If-Unmodified-Since: a date cannot prevent a lost update", vec![line(IUS, &at)], Method::DELETE, &default, Some(428)),
        ("PUT with only If-Unmodified-Since", vec![line(IUS, &at)], Method::PUT, &default, Some(428)),
        ("PUT with only a future If-Unmodified-Since", vec![line(IUS, "Fri, 01 Jan 2100 00:00:00 GMT")], Method::PUT, &default, Some(428)),
        ("PATCH with only If-None-Match tags", vec![line(INM, r#""1", "2""#)], Method::PATCH, &default, Some(428)),
        ("PUT with only a weak If-None-Match tag", vec![line(INM, r#"W/"1""#)], Method::PUT, &default, Some(428)),
        ("PUT with If-None-Match tags and If-Unmodified-Since", vec![line(INM, r#""1""#), line(IUS, &at)], Method::PUT, &default, Some(428)),
        ("PUT with If-Match and If-Unmodified-Since", vec![line(IM, r#""1""#), line(IUS, &at)], Method::PUT, &default, None),
        ("DELETE with If-Match: * and If-None-Match tags", vec![line(IM, "*"), line(INM, r#""1""#)], Method::DELETE, &default, None),
        ("POST with only If-Unmodified-Since under a POST policy", vec![line(IUS, &at)], Method::POST, &post_policy, Some(428)),
        ("PUT under the none policy", vec![], Method::PUT, &none, None),
        ("DELETE under the none policy", vec![], Method::DELETE, &none, None),
        ("POST under a POST policy", vec![], Method::POST, &post_policy, Some(428)),
        ("PUT under a POST policy", vec![], Method::PUT, &post_policy, None),
    ];
    for (what, lines, method, policy, want) in rows {
        let pre = parse(&lines);
        match (require(&pre, &method, policy), want) {
            (Ok(()), None) => {}
            (Err(r), Some(status)) => {
                assert_eq!(r.status(), status, "{what}");
                let response = r.into_http_response();
                assert_eq!(response.headers()["cache-control"], "no-store", "{what}");
                let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
                let detail = body["detail"].as_str().unwrap();
                assert!(detail.contains(method.as_str()), "{what}: {detail}");
                assert!(detail.contains("If-Match"), "{what}: {detail}");
            }
            (got, want) => panic!("{what}: expected {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn check_read_answers_304_or_412() {
    let current = meta(5);
    // Proceed: Ok.
    let pre = parse(&[line(INM, r#""4""#)]);
    assert!(check_read(&pre, &Method::GET, "doc", &current).is_ok());
    let pre = parse(&[]);
    assert!(check_read(&pre, &Method::GET, "doc", &current).is_ok());

    // 304 with the ETag and no body.
    for (lines, method) in [
        (vec![line(INM, r#"W/"5""#)], Method::GET),
        (vec![line(INM, "*")], Method::HEAD),
        (vec![line(IMS, date(t0()))], Method::GET),
    ] {
        let pre = parse(&lines);
        let rejection = check_read(&pre, &method, "doc", &current).unwrap_err();
        assert_eq!(rejection.status(), 304, "{lines:?}");
        assert!(rejection.problem().is_none());
        let response = rejection.into_http_response();
        assert_eq!(response.status(), 304);
        assert_eq!(response.headers()["etag"], "\"5\"");
        assert!(response.headers().get("content-type").is_none());
        assert!(response.body().is_empty());
    }

    // 412 on a read: failed If-Match / If-Unmodified-Since, with the current ETag.
    for (lines, header) in [
        (vec![line(IM, r#""4""#)], IfMatch),
        (vec![line(IM, r#"W/"5""#)], IfMatch),
        (
            vec![line(IUS, date(t0() - Duration::from_secs(1)))],
            IfUnmodifiedSince,
        ),
    ] {
        let pre = parse(&lines);
        let rejection = check_read(&pre, &Method::GET, "doc", &current).unwrap_err();
        assert_eq!(rejection.status(), 412, "{lines:?}");
        let problem = rejection.problem().unwrap();
        assert_eq!(problem.header.as_deref(), Some(header.as_str()));
        assert_eq!(problem.current_etag.as_deref(), Some("\"5\""));
        let response = rejection.into_http_response();
        assert_eq!(response.headers()["etag"], "\"5\"");
    }

    // If-Match is evaluated first: a GET failing it is 412 even though If-None-Match: * would
    // have answered 304. OPTIONS ignores everything.
    let pre = parse(&[line(IM, r#""4""#), line(INM, "*")]);
    assert_eq!(
        check_read(&pre, &Method::GET, "doc", &current)
            .unwrap_err()
            .status(),
        412
    );
    assert!(check_read(&pre, &Method::OPTIONS, "doc", &current).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

fn foreign_tag() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z!#-~&&[^\"0-9]][!#-~&&[^\"]]{0,30}".prop_map(|s| format!("\"{s}\"")),
        "0[0-9]{0,5}".prop_map(|s| format!("\"{s}\"")),
        "[1-9][0-9]{20,40}".prop_map(|s| format!("\"{s}\"")),
        (1u64..1000).prop_map(|n| format!("W/\"{n}\"")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Parsing never panics, whatever bytes a client sends in a header value.
    #[test]
    fn parsing_arbitrary_bytes_never_panics(
        im in proptest::collection::vec(any::<u8>(), 0..200),
        inm in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut map = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_bytes(&im) {
            map.append(http::header::IF_MATCH, value);
        }
        if let Ok(value) = HeaderValue::from_bytes(&inm) {
            map.append(http::header::IF_NONE_MATCH, value);
        }
        match Preconditions::from_headers(&map) {
            Ok(pre) => {
                let _ = pre.eval(&Method::PUT, Some(&meta(1)));
                let _ = pre.write_condition();
            }
            Err(e) => prop_assert_eq!(Rejection::from(e).status(), 400),
        }
    }

    /// Our tag placed anywhere in a list of foreign tags, over any split into lines, is
    /// found by If-Match (strong) and If-None-Match (weak); without it, nothing matches.
    #[test]
    fn our_tag_is_found_anywhere_in_a_list(
        foreign in proptest::collection::vec(foreign_tag(), 0..50),
        at in any::<prop::sample::Index>(),
        split in any::<prop::sample::Index>(),
        n in 1000u64..u64::MAX,
    ) {
        let current = meta(n);
        let mut tags = foreign.clone();
        tags.insert(at.index(tags.len() + 1), current.version.etag());
        let cut = split.index(tags.len() + 1);
        let (first, second) = tags.split_at(cut);
        let mut lines = Vec::new();
        for part in [first, second] {
            if !part.is_empty() {
                lines.push(part.join(", "));
            }
        }
        for name in [IM, INM] {
            let with: Vec<_> = lines.iter().map(|l| line(name, l)).collect();
            let pre = parse(&with);
            let want = if name == IM { Proceed } else { NotModified };
            prop_assert_eq!(pre.eval(&Method::GET, Some(&current)), want);

            if !foreign.is_empty() {
                let without = line(name, foreign.join(","));
                let pre = parse(&[without]);
                let want = if name == IM { Failed(IfMatch) } else { Proceed };
                prop_assert_eq!(pre.eval(&Method::GET, Some(&current)), want);
            }
        }
    }
}
