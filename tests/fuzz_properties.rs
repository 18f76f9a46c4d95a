//! The fuzz targets' properties (`fuzz/`) as proptests that run in CI.
//!
//! The checks live in `tests/reference/check.rs` and compare the crate with the simple
//! reference parser and evaluator in `tests/reference/mod.rs`; the fuzz targets include the
//! same files. Here proptest drives them with a few hundred structured cases each, and the
//! deterministic tests below pin linear cost (by counting work, never by timing), the
//! round trip of our own ETags, and the reproducers of what the fuzzers found.
//!
//! CI runs 384 cases per property (about 3 s). Long mode, about a minute:
//! `OPTIMIST_PROPTEST_CASES=200000 cargo test --release --test fuzz_properties`; for hours,
//! the fuzz targets themselves (`fuzz/README.md`).

#[path = "reference/mod.rs"]
mod reference;

use std::cell::Cell;
use std::time::{Duration, UNIX_EPOCH};

use http::header::{ETAG, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_UNMODIFIED_SINCE};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use optimist::http::{
    Evaluation, Expected, Origin, PROBLEM_JSON, Precondition, Preconditions, Problem, Rejection,
    TagList, TagListError, Validators, WriteCondition, conflict_from_response, entity_tags,
    parse_tag_list, set_validators,
};
use optimist::{Conflict, ConflictKind, Expect, Meta, Version};
use proptest::collection::vec;
use proptest::prelude::*;
use reference::check;

fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("OPTIMIST_PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn v(n: u64) -> Version {
    Version::new(n).expect("non-zero")
}

fn meta(n: u64) -> Meta {
    Meta {
        version: v(n),
        last_modified: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// Pieces a header value is made of, weighted so that well-formed lists are common.
fn token() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => Just(b"\"".to_vec()),
        2 => Just(b"W/".to_vec()),
        3 => Just(b",".to_vec()),
        2 => Just(b" ".to_vec()),
        1 => Just(b"\t".to_vec()),
        1 => Just(b"*".to_vec()),
        3 => "[1-9][0-9]{0,2}".prop_map(String::into_bytes),
        1 => Just(b"0".to_vec()),
        1 => Just(b"18446744073709551615".to_vec()),
        1 => Just(b"18446744073709551616".to_vec()),
        2 => "[a-zA-Z/]{1,3}".prop_map(String::into_bytes),
        1 => Just(b"w/".to_vec()),
        1 => Just(vec![0xe9]),
        1 => prop_oneof![Just(b"\r".to_vec()), Just(b"\n".to_vec()), Just(b"\x0c".to_vec())],
        1 => any::<u8>().prop_map(|b| vec![b]),
    ]
}

fn tag_value() -> impl Strategy<Value = Vec<u8>> {
    vec(token(), 0..16).prop_map(|parts| parts.concat())
}

/// HTTP-dates in the three formats around a few instants, or junk.
fn date_value() -> impl Strategy<Value = Vec<u8>> {
    let instant = prop_oneof![
        Just(0u64),
        Just(1u64),
        Just(784_111_777u64),
        Just(1_700_000_000u64),
        0u64..253_402_300_799,
    ];
    prop_oneof![
        3 => instant.prop_map(|s| httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(s)).into_bytes()),
        1 => Just(b"Sunday, 06-Nov-94 08:49:37 GMT".to_vec()),
        1 => Just(b"Sun Nov  6 08:49:37 1994".to_vec()),
        1 => Just(b" Thu, 01 Jan 1970 00:00:01 GMT\t".to_vec()),
        1 => tag_value(),
    ]
}

/// Up to 6 `(header index, value)` lines, as the fuzz target reads its input.
fn request_lines() -> impl Strategy<Value = Vec<(usize, Vec<u8>)>> {
    vec(
        (0usize..4, tag_value(), date_value())
            .prop_map(|(h, tags, date)| (h, if h < 2 { tags } else { date })),
        0..6,
    )
}

/// One element of a well-formed list.
#[derive(Clone, Debug)]
enum Element {
    Strong(u64),
    Weak(u64),
    Foreign(String),
    Empty,
}

impl Element {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Element::Strong(n) => out.extend_from_slice(format!("\"{n}\"").as_bytes()),
            Element::Weak(n) => out.extend_from_slice(format!("W/\"{n}\"").as_bytes()),
            Element::Foreign(s) => out.extend_from_slice(format!("\"{s}\"").as_bytes()),
            Element::Empty => {}
        }
    }

    fn is_tag(&self) -> bool {
        !matches!(self, Element::Empty)
    }
}

fn element() -> impl Strategy<Value = Element> {
    prop_oneof![
        3 => prop_oneof![1u64..20, Just(u64::MAX), any::<u64>().prop_map(|n| n.max(1))].prop_map(Element::Strong),
        2 => (1u64..20).prop_map(Element::Weak),
        2 => "[!#-~]{0,12}".prop_map(Element::Foreign),
        1 => Just(Element::Empty),
    ]
}

fn separator() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just(","),
        Just(", "),
        Just(" ,\t"),
        Just(",,"),
        Just(" , , ")
    ]
}

/// A list-valued line: `*` (with OWS, or with whitespace that is not OWS and that no
/// `HeaderValue` accepts), or elements joined by separators.
fn list_line() -> impl Strategy<Value = Vec<u8>> {
    let star = prop_oneof![
        4 => prop_oneof![Just("*"), Just(" *"), Just("*\t"), Just("\t * ")],
        1 => prop_oneof![Just("*\r"), Just("\n*"), Just("\x0c * ")],
    ];
    prop_oneof![
        1 => star.prop_map(|s| s.as_bytes().to_vec()),
        6 => vec((element(), separator()), 0..8).prop_map(|items| {
            let mut out = Vec::new();
            for (i, (e, sep)) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(sep.as_bytes());
                }
                e.write(&mut out);
            }
            out
        }),
    ]
}

fn expect_strategy() -> impl Strategy<Value = Expect> {
    let version = any::<u64>().prop_map(|n| v(n.max(1)));
    prop_oneof![
        Just(Expect::Any),
        Just(Expect::Absent),
        Just(Expect::Exists),
        version.clone().prop_map(Expect::Version),
        vec(version, 0..4).prop_map(Expect::OneOf),
    ]
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::PUT),
        Just(Method::POST),
        Just(Method::DELETE),
        Just(Method::PATCH),
    ]
}

fn origin() -> impl Strategy<Value = Origin> {
    prop_oneof![
        Just(Origin::Header),
        Just(Origin::Body),
        Just(Origin::Server)
    ]
}

/// A body that is often a problem object with members of the right or wrong types.
fn problem_body() -> impl Strategy<Value = Vec<u8>> {
    let member = prop_oneof![
        Just("type"),
        Just("title"),
        Just("status"),
        Just("detail"),
        Just("key"),
        Just("field"),
        Just("header"),
        Just("conflict"),
        Just("expected"),
        Just("current_etag"),
        Just("extra"),
    ];
    let json_value = prop_oneof![
        Just("409".to_owned()),
        Just("412".to_owned()),
        Just("200".to_owned()),
        Just("70000".to_owned()),
        Just("409.0".to_owned()),
        Just("-1".to_owned()),
        Just("null".to_owned()),
        Just("\"stale\"".to_owned()),
        Just("\"already_exists\"".to_owned()),
        Just("\"missing\"".to_owned()),
        Just("\"absent\"".to_owned()),
        Just("\"exists\"".to_owned()),
        Just("\"any\"".to_owned()),
        Just(r#"["\"3\""]"#.to_owned()),
        Just(r#"["\"3\"", "\"4\""]"#.to_owned()),
        Just(r#"["3"]"#.to_owned()),
        Just("[]".to_owned()),
        Just(r#""\"7\"""#.to_owned()),
        Just(r#""W/\"7\"""#.to_owned()),
        Just("{}".to_owned()),
        any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
    ];
    prop_oneof![
        4 => vec((member, json_value), 0..8).prop_map(|members| {
            let inner: Vec<String> = members.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            format!("{{{}}}", inner.join(",")).into_bytes()
        }),
        1 => vec(any::<u8>(), 0..64),
    ]
}

// ---------------------------------------------------------------------------------------------
// The fuzz targets' properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cases(384))]

    /// Header parsing and evaluation (GET/HEAD/PUT/DELETE/PATCH/POST/OPTIONS against absent
    /// and several current states), `write_condition`, `expect_for` and `check_read` agree
    /// with the reference; no panic; an invalid list names its header.
    #[test]
    fn request_headers_agree_with_the_reference(lines in request_lines()) {
        let raw: Vec<(usize, &[u8])> = lines.iter().map(|(h, v)| (*h, v.as_slice())).collect();
        check::raw_lines(&raw);
    }

    /// Any bytes at all, also those no `HeaderValue` accepts (then only the tag-list parser
    /// sees them).
    #[test]
    fn arbitrary_bytes_agree_with_the_reference(
        lines in vec((0usize..4, vec(any::<u8>(), 0..48)), 0..6),
    ) {
        let raw: Vec<(usize, &[u8])> = lines.iter().map(|(h, v)| (*h, v.as_slice())).collect();
        check::raw_lines(&raw);
    }

    /// Well-formed lists: `*`, strong, weak, foreign tags, empty elements and OWS over
    /// several lines of If-Match and If-None-Match.
    #[test]
    fn star_list_and_weak_handling_agree_with_the_reference(
        lines in vec((0usize..2, list_line()), 0..5),
        dates in vec((2usize..4, date_value()), 0..2),
    ) {
        let raw: Vec<(usize, &[u8])> = lines
            .iter()
            .chain(&dates)
            .map(|(h, v)| (*h, v.as_slice()))
            .collect();
        check::raw_lines(&raw);
    }

    /// A response with any body: the client-side parser never panics and is consistent.
    #[test]
    fn problem_responses_never_panic(
        s in any::<u8>(), c in any::<u8>(), e in any::<u8>(),
        body in problem_body(),
    ) {
        let pick = |len: usize, b: u8| usize::from(b) % len;
        check::problem_response(
            check::STATUSES[pick(check::STATUSES.len(), s)],
            check::CONTENT_TYPES[pick(check::CONTENT_TYPES.len(), c)],
            check::ETAGS[pick(check::ETAGS.len(), e)],
            &body,
        );
    }

    /// A conflict survives Rejection -> response -> `conflict_from_response`, whatever its
    /// key (any Unicode), expectation, current version, method, origin and field.
    #[test]
    fn conflicts_round_trip_through_problem_json(
        key in any::<String>(),
        expected in expect_strategy(),
        current in proptest::option::of(any::<u64>().prop_map(|n| v(n.max(1)))),
        method in method(),
        origin in origin(),
        field in proptest::option::of(any::<String>()),
    ) {
        check::conflict_round_trip(Conflict::new(key, expected, current), &method, origin, field);
    }

    /// Any problem of ours survives serialization through a response.
    #[test]
    fn problems_round_trip(
        strings in vec(any::<String>(), 4),
        status in any::<u16>(),
        optional in vec(proptest::option::of(any::<String>()), 4),
        expected in proptest::option::of(expect_strategy()),
    ) {
        let mut p = Problem::new(StatusCode::CONFLICT, strings[0].clone());
        p.type_uri = strings[1].clone();
        p.title = strings[2].clone();
        p.status = status;
        p.key = optional[0].clone();
        p.field = optional[1].clone();
        p.header = optional[2].clone();
        p.current_etag = optional[3].clone();
        p.expected = expected.map(Expected::from);
        check::problem_round_trip(p);
    }

    /// Every version's ETag round-trips: `etag` -> `from_etag`, through the tag parser, and
    /// through If-Match (`Enforce(Version(v))`) and If-None-Match; its weak form never
    /// satisfies If-Match but does match If-None-Match.
    #[test]
    fn every_version_etag_round_trips(
        n in prop_oneof![
            Just(1u64), Just(9), Just(10), Just(u64::MAX), Just(u64::MAX - 1),
            (0u32..20).prop_map(|e| 10u64.pow(e)),
            any::<u64>(),
        ].prop_map(|n| n.max(1)),
    ) {
        let version = v(n);
        etag_round_trip(version);
    }

    /// Linear cost without timing: a list of n tags over k lines yields exactly n tags,
    /// pulls each line exactly once, and the same list twice yields 2n; the If-Match
    /// expectation holds exactly the strong tags of ours.
    #[test]
    fn tag_counts_are_linear(
        elements in vec(element(), 0..400),
        seps in vec(separator(), 1..8),
        lines in 1usize..8,
    ) {
        let tags: Vec<&Element> = elements.iter().filter(|e| e.is_tag()).collect();
        let n = tags.len();
        // Split the elements over `lines` lines, joining each with the separators in turn.
        let chunk = elements.len().div_ceil(lines).max(1);
        let mut values: Vec<Vec<u8>> = Vec::new();
        for (l, part) in elements.chunks(chunk).enumerate() {
            let mut value = Vec::new();
            for (i, e) in part.iter().enumerate() {
                if i > 0 {
                    value.extend_from_slice(seps[(l + i) % seps.len()].as_bytes());
                }
                e.write(&mut value);
            }
            values.push(value);
        }
        let one_line = values.join(&b", "[..]);
        prop_assert_eq!(entity_tags(&one_line).count(), n);
        prop_assert!(entity_tags(&one_line).all(|t| t.is_ok()));
        let twice = [one_line.as_slice(), one_line.as_slice()].join(&b","[..]);
        prop_assert_eq!(entity_tags(&twice).count(), 2 * n);

        let pulled = Cell::new(0usize);
        let counted = values.iter().map(|l| {
            pulled.set(pulled.get() + 1);
            l.as_slice()
        });
        let TagList::Tags(list) = parse_tag_list(counted).unwrap() else {
            panic!("no star here");
        };
        prop_assert_eq!(list.len(), n);
        prop_assert_eq!(pulled.get(), values.len(), "each line is read once");

        let mut headers = HeaderMap::new();
        for value in &values {
            headers.append(IF_MATCH, HeaderValue::from_bytes(value).unwrap());
        }
        let pre = Preconditions::from_headers(&headers).unwrap();
        let strong_ours: Vec<Version> = tags
            .iter()
            .filter_map(|e| match e {
                Element::Strong(n) => Some(v(*n)),
                // A foreign-looking tag may still be one of ours ("5").
                Element::Foreign(s) => Version::from_etag(&format!("\"{s}\"")),
                _ => None,
            })
            .collect();
        let want = match (n, strong_ours.as_slice()) {
            (0, _) => WriteCondition::None,
            (_, [one]) => WriteCondition::Enforce(Expect::Version(*one)),
            _ => WriteCondition::Enforce(Expect::OneOf(strong_ours.clone())),
        };
        prop_assert_eq!(pre.write_condition(), want);
    }
}

fn etag_round_trip(version: Version) {
    let etag = version.etag();
    assert_eq!(Version::from_etag(&etag), Some(version));
    assert_eq!(version.to_string(), etag);
    assert_eq!(etag.parse::<Version>().ok(), Some(version));
    assert_eq!(version.header_value(), etag.as_str());
    assert_eq!(
        Version::from_entity_tag(&version.entity_tag()),
        Some(version)
    );
    let weak = format!("W/{etag}");
    assert_eq!(Version::from_etag(&weak), None);

    let tags: Vec<_> = entity_tags(etag.as_bytes()).collect();
    assert_eq!(tags.len(), 1);
    let tag = tags[0].clone().unwrap();
    assert!(!tag.weak);
    assert_eq!(tag.version(), Some(version));

    // The ETag a response carries (set_validators) comes back as If-Match / If-None-Match.
    let current = Meta {
        version,
        last_modified: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    };
    let mut response_headers = HeaderMap::new();
    set_validators(&mut response_headers, &current);
    let sent = response_headers[ETAG].clone();
    let last_modified = response_headers[http::header::LAST_MODIFIED].clone();
    let other = Meta {
        version: Version::new(version.get().wrapping_add(1).max(1)).unwrap(),
        ..current
    };

    let mut h = HeaderMap::new();
    h.insert(IF_MATCH, sent.clone());
    let pre = Preconditions::from_headers(&h).unwrap();
    assert_eq!(
        pre.write_condition(),
        WriteCondition::Enforce(Expect::Version(version))
    );
    assert_eq!(
        pre.evaluate(&Method::PUT, Some(&Validators::from(&current))),
        Evaluation::Proceed
    );
    assert_eq!(
        pre.evaluate(&Method::PUT, Some(&Validators::from(&other))),
        Evaluation::Failed(Precondition::IfMatch)
    );

    let mut h = HeaderMap::new();
    h.insert(IF_NONE_MATCH, sent.clone());
    h.insert(IF_MODIFIED_SINCE, last_modified.clone());
    let pre = Preconditions::from_headers(&h).unwrap();
    assert_eq!(pre.write_condition(), WriteCondition::NeedsCurrent);
    assert_eq!(
        pre.evaluate(&Method::GET, Some(&Validators::from(&current))),
        Evaluation::NotModified
    );
    assert_eq!(
        pre.evaluate(&Method::GET, Some(&Validators::from(&other))),
        Evaluation::Proceed
    );
    assert_eq!(
        pre.expect_for(Some(&current)),
        Err(Precondition::IfNoneMatch)
    );

    // Its Last-Modified as If-Unmodified-Since passes a read of the same state, but not a
    // write: the date cannot tell a second change in the same second apart (issue 10).
    let mut h = HeaderMap::new();
    h.insert(IF_UNMODIFIED_SINCE, last_modified);
    let pre = Preconditions::from_headers(&h).unwrap();
    assert_eq!(
        pre.evaluate(&Method::GET, Some(&Validators::from(&current))),
        Evaluation::Proceed
    );
    assert_eq!(
        pre.expect_for(Some(&current)),
        Err(Precondition::IfUnmodifiedSince)
    );
    let before = Meta {
        last_modified: current.last_modified - Duration::from_millis(1),
        ..current
    };
    assert_eq!(
        pre.expect_for(Some(&before)),
        Ok(Some(Expect::Version(version)))
    );

    // The weak form: never If-Match (strong comparison), always If-None-Match (weak).
    let weak_value = HeaderValue::from_str(&weak).unwrap();
    let mut h = HeaderMap::new();
    h.insert(IF_MATCH, weak_value.clone());
    let pre = Preconditions::from_headers(&h).unwrap();
    assert_eq!(
        pre.write_condition(),
        WriteCondition::Enforce(Expect::OneOf(vec![]))
    );
    let mut h = HeaderMap::new();
    h.insert(IF_NONE_MATCH, weak_value);
    let pre = Preconditions::from_headers(&h).unwrap();
    assert_eq!(
        pre.evaluate(&Method::GET, Some(&Validators::from(&current))),
        Evaluation::NotModified
    );

    // The 412 of a lost race carries it back to the client.
    let conflict = Conflict::new("k", Expect::Version(other.version), Some(version));
    let response = Rejection::from_store_error(conflict.into(), &Method::PUT, Origin::Header)
        .into_http_response();
    assert_eq!(response.headers()[ETAG], sent);
    assert_eq!(
        conflict_from_response(&response).unwrap().current_version(),
        Some(version)
    );
}

// ---------------------------------------------------------------------------------------------
// Linear cost on pathological inputs (counts, no timing: a quadratic parser would not finish)
// ---------------------------------------------------------------------------------------------

#[test]
fn pathological_values_complete_with_the_right_counts() {
    const MIB: usize = 1 << 20;

    // A megabyte of empty list elements: no tag, no error.
    let commas = vec![b','; MIB];
    assert_eq!(entity_tags(&commas).count(), 0);
    assert_eq!(
        parse_tag_list([&commas[..]]).unwrap(),
        TagList::Tags(vec![])
    );

    // A megabyte-long tag, closed or not.
    let mut long = vec![b'a'; MIB];
    long.insert(0, b'"');
    assert_eq!(
        entity_tags(&long).collect::<Vec<_>>(),
        vec![Err(TagListError::Unterminated { at: 0 })]
    );
    long.push(b'"');
    let tags: Vec<_> = entity_tags(&long).collect::<Result<_, _>>().unwrap();
    assert_eq!(tags.len(), 1);
    assert_eq!(tags[0].opaque.len(), MIB);
    assert_eq!(tags[0].version(), None);

    // `*` after a megabyte of whitespace is still `*`.
    let mut star = vec![b' '; MIB];
    star.push(b'*');
    assert_eq!(parse_tag_list([&star[..]]).unwrap(), TagList::Any);

    // 100,000 weak tags in one value, and the value twice.
    let weak: Vec<u8> = (0..100_000)
        .flat_map(|i| format!("W/\"{i}\",").into_bytes())
        .collect();
    assert_eq!(entity_tags(&weak).count(), 100_000);
    let twice = [weak.as_slice(), weak.as_slice()].concat();
    assert_eq!(entity_tags(&twice).count(), 200_000);
    // An error at the very end is found after every tag before it.
    let mut bad = weak.clone();
    bad.extend_from_slice(b"\"x\" \"y\"");
    let items: Vec<_> = entity_tags(&bad).collect();
    assert_eq!(items.len(), 100_002);
    assert_eq!(
        items.last(),
        Some(&Err(TagListError::ExpectedComma { at: bad.len() - 3 }))
    );
}

#[test]
fn ten_thousand_if_match_lines_form_one_list() {
    // 10,000 tags of ours, one per header line (the single-line case is in
    // tests/rfc_preconditions.rs).
    let mut headers = HeaderMap::new();
    for n in 1..=10_000u64 {
        headers.append(IF_MATCH, v(n).header_value());
    }
    let pre = Preconditions::from_headers(&headers).unwrap();
    let WriteCondition::Enforce(Expect::OneOf(all)) = pre.write_condition() else {
        panic!("a list of ours is Enforce(OneOf)");
    };
    assert_eq!(all.len(), 10_000);
    assert_eq!(all.first(), Some(&v(1)));
    assert_eq!(all.last(), Some(&v(10_000)));
    assert_eq!(
        pre.evaluate(&Method::PUT, Some(&Validators::from(&meta(10_000)))),
        Evaluation::Proceed
    );
    assert_eq!(
        pre.evaluate(&Method::PUT, Some(&Validators::from(&meta(10_001)))),
        Evaluation::Failed(Precondition::IfMatch)
    );

    // Each line is pulled exactly once by the list parser.
    let pulled = Cell::new(0usize);
    let lines = headers.get_all(IF_MATCH).iter().map(|value| {
        pulled.set(pulled.get() + 1);
        value.as_bytes()
    });
    let TagList::Tags(tags) = parse_tag_list(lines).unwrap() else {
        panic!("no star here");
    };
    assert_eq!((tags.len(), pulled.get()), (10_000, 10_000));

    // And the same through the reference-checked path (fewer current states, same answer).
    check::preconditions(&headers);
}

// ---------------------------------------------------------------------------------------------
// What the fuzzers found (minimized reproducers)
// ---------------------------------------------------------------------------------------------

/// Fuzz finding 1 (`preconditions`, input `1*\r`): `*` followed by CR (or LF / FF) was read
/// as `*`, because the star check trimmed all ASCII whitespace while the list parser only
/// skips OWS (SP / HTAB). `*\r` is now malformed like `\r"a"` is.
#[test]
fn fuzz_regression_star_is_trimmed_of_ows_only() {
    check::raw_lines(&[(1, b"*\r")]);
    for value in [&b"*\r"[..], b"\r*", b"*\n", b"\x0c*", b"*\r\r\r"] {
        assert!(
            parse_tag_list([value]).is_err(),
            "{:?}",
            value.escape_ascii().to_string()
        );
    }
    assert!(parse_tag_list([&b"\r\"a\""[..]]).is_err());
    for value in [&b"*"[..], b" *", b"*\t", b" \t* \t"] {
        assert_eq!(parse_tag_list([value]).unwrap(), TagList::Any);
    }
}

/// Fuzz finding 2 (`problem`, input `\0\x01\0\0{}`): a 412 problem+json whose body has no
/// `status` member (optional in RFC 9457 3.1.2) was refused as "status 412 is not a
/// conflict". The response's status now stands in for a missing `status` member.
#[test]
fn fuzz_regression_problem_without_status_uses_the_response_status() {
    check::problem_response(412, Some(PROBLEM_JSON), None, b"{}");
    let response = |status: StatusCode, etag: Option<&'static str>| {
        let mut r = Response::new(br#"{"title":"Precondition Failed","key":"k"}"#.to_vec());
        *r.status_mut() = status;
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_JSON),
        );
        if let Some(tag) = etag {
            r.headers_mut().insert(ETAG, HeaderValue::from_static(tag));
        }
        r
    };
    let c =
        conflict_from_response(&response(StatusCode::PRECONDITION_FAILED, Some("\"7\""))).unwrap();
    assert_eq!(
        (c.key(), c.kind(), c.current_version()),
        (Some("k"), ConflictKind::Stale, Version::new(7))
    );
    let c = conflict_from_response(&response(StatusCode::CONFLICT, None)).unwrap();
    assert_eq!(c.kind(), ConflictKind::Missing);
    // Any other status is still not a conflict.
    assert!(conflict_from_response(&response(StatusCode::BAD_REQUEST, None)).is_err());
}
