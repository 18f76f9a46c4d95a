//! The properties themselves, shared by the fuzz targets (`fuzz/fuzz_targets/`) and the
//! proptests (`tests/fuzz_properties.rs`): each function panics with a message when the
//! crate disagrees with the reference or breaks an invariant.

use std::time::{Duration, UNIX_EPOCH};

use http::header::{
    CONTENT_TYPE, ETAG, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_UNMODIFIED_SINCE,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use optimist::http::{
    EntityTag, Evaluation, Guard, Origin, PROBLEM_JSON, Precondition, PreconditionPolicy,
    Preconditions, Problem, ProblemError, Rejection, TagList, TagListError, Validators,
    WriteCondition, conflict_from_response, entity_tags, parse_tag_list,
};
use optimist::{Conflict, ConflictKind, Expect, Meta, StoreError, Version};

use super::{List, Request};

/// The four precondition headers, indexed by the fuzz input's selector (`byte % 4`).
pub const NAMES: [HeaderName; 4] = [
    IF_MATCH,
    IF_NONE_MATCH,
    IF_MODIFIED_SINCE,
    IF_UNMODIFIED_SINCE,
];

/// Response statuses, content types and `ETag`s the problem properties pick from.
pub const STATUSES: [u16; 8] = [409, 412, 400, 404, 200, 500, 304, 428];
pub const CONTENT_TYPES: [Option<&str>; 7] = [
    Some(PROBLEM_JSON),
    Some("application/problem+json; charset=utf-8"),
    Some("APPLICATION/PROBLEM+JSON"),
    Some(" application/problem+json ;x=y"),
    Some("application/json"),
    None,
    Some("text/plain"),
];
pub const ETAGS: [Option<&str>; 6] = [
    None,
    Some("\"7\""),
    Some("W/\"7\""),
    Some("\"07\""),
    Some("*"),
    Some("\"18446744073709551615\""),
];

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn is_etagc(b: u8) -> bool {
    b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80
}

fn shown(value: &[u8]) -> String {
    value.escape_ascii().to_string()
}

/// Everything about a request given as raw `(header index, value)` lines: the tag-list parser
/// on the raw bytes (line by line, per list, and all joined with ", "), then the values a
/// `HeaderMap` accepts as a request's preconditions.
pub fn raw_lines(raw: &[(usize, &[u8])]) {
    for &(_, value) in raw {
        line(value);
    }
    for which in 0..2 {
        list(raw.iter().filter(|(h, _)| *h == which).map(|(_, v)| *v));
    }
    let joined: Vec<u8> = raw
        .iter()
        .map(|(_, v)| *v)
        .collect::<Vec<_>>()
        .join(&b", "[..]);
    line(&joined);

    let mut headers = HeaderMap::new();
    for &(h, value) in raw {
        if let Ok(v) = HeaderValue::from_bytes(value) {
            headers.append(NAMES[h % 4].clone(), v);
        }
    }
    preconditions(&headers);
}

/// `entity_tags` yields exactly the reference's tags, fails exactly when it does, and the
/// error points at a byte that explains it.
pub fn line(value: &[u8]) {
    let (want, ok) = super::line_tags(value);
    let mut iter = entity_tags(value);
    let mut got = Vec::new();
    let mut error = None;
    for item in iter.by_ref() {
        match item {
            Ok(tag) => {
                // The version a tag names: only the canonical decimal form of a u64 >= 1.
                let canonical = super::version_number(tag.opaque)
                    .filter(|&n| n != 0 && super::names_version(tag.opaque, n));
                assert_eq!(tag.version().map(Version::get), canonical, "{tag:?}");
                // Conversion to the etag crate refuses rather than truncates.
                if let Ok(e) = tag.to_etag() {
                    assert_eq!(e.weak, tag.weak);
                    assert_eq!(e.tag().as_bytes(), tag.opaque);
                }
                let _ = tag.to_string();
                got.push((tag.weak, tag.opaque.to_vec()));
            }
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    assert_eq!(got, want, "tags of {:?}", shown(value));
    assert_eq!(error.is_none(), ok, "{:?}: {error:?}", shown(value));
    if let Some(e) = error {
        assert!(iter.next().is_none(), "the iterator stops after an error");
        let _ = e.to_string();
        match e {
            TagListError::ExpectedTag { at } | TagListError::ExpectedComma { at } => {
                assert!(at < value.len());
                assert!(!is_ows(value[at]) && value[at] != b',', "{e:?}");
            }
            TagListError::Unterminated { at } => assert_eq!(value[at], b'"'),
            TagListError::InvalidByte { byte, at } => {
                assert_eq!(value[at], byte);
                assert!(!is_etagc(byte) && byte != b'"');
            }
            TagListError::StarInList => assert!(value.contains(&b'*')),
        }
    }
}

/// `parse_tag_list` over several lines agrees with the reference.
pub fn list<'a>(lines: impl Iterator<Item = &'a [u8]> + Clone) {
    let want = super::tag_list(lines.clone());
    let got = parse_tag_list(lines.clone());
    match (&got, &want) {
        (Ok(TagList::Any), Ok(List::Star)) => {}
        (Ok(TagList::Tags(got)), Ok(List::Tags(want))) => {
            let got: Vec<_> = got.iter().map(|t| (t.weak, t.opaque.to_vec())).collect();
            assert_eq!(&got, want);
        }
        (Err(_), Err(())) => {}
        _ => panic!(
            "parse_tag_list {got:?}, reference {want:?}, lines {:?}",
            lines.map(shown).collect::<Vec<_>>()
        ),
    }
}

/// `Preconditions::from_headers` and everything computed from it agree with the reference.
pub fn preconditions(headers: &HeaderMap) {
    let got = Preconditions::from_headers(headers);
    let want = super::request(headers);
    let (pre, req) = match (got, want) {
        (Ok(pre), Ok(req)) => (pre, req),
        (Err(e), Err(header)) => {
            // The error names the malformed list header, If-Match first.
            assert_eq!(e.header, header);
            assert!(matches!(
                e.header,
                Precondition::IfMatch | Precondition::IfNoneMatch
            ));
            let rejection = Rejection::from(e);
            assert_eq!(rejection.status(), 400);
            let problem = rejection.problem().expect("400 has a body");
            assert_eq!(problem.header.as_deref(), Some(header.as_str()));
            return;
        }
        (got, want) => panic!("from_headers {got:?}, reference {want:?}, headers {headers:?}"),
    };

    assert_eq!(pre.has_write_condition(), req.has_write_condition());
    assert_eq!(
        pre.is_empty(),
        !req.has_write_condition() && req.if_modified_since.is_none()
    );
    write_condition(&pre, &req);

    for current in currents(&req) {
        let version = current.map(|m| m.version);
        let as_ref = current.map(|m| (m.version.get(), m.last_modified));
        let validators = current.map(Validators::from);
        for method in [
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::POST,
            Method::OPTIONS,
        ] {
            let got = pre.evaluate(&method, validators.as_ref());
            assert_eq!(
                got,
                req.evaluate(&method, as_ref),
                "{method} on {current:?} with {headers:?}"
            );
            if method == Method::GET || method == Method::HEAD {
                assert_ne!(got, Evaluation::Failed(Precondition::IfNoneMatch));
            } else {
                assert_ne!(got, Evaluation::NotModified, "{method}");
            }
        }
        let put = pre.evaluate(&Method::PUT, validators.as_ref());

        // What the CAS enforces agrees with the evaluation, for every current state.
        match pre.write_condition() {
            WriteCondition::Enforce(expect) => {
                assert_eq!(
                    expect.admits(version),
                    put == Evaluation::Proceed,
                    "{expect:?}"
                );
            }
            WriteCondition::None => assert_eq!(put, Evaluation::Proceed),
            WriteCondition::NeedsCurrent => assert!(pre.has_write_condition()),
        }

        // The guard's 428 gate agrees with the reference's reading of lost-update safety.
        for method in [Method::PUT, Method::DELETE, Method::PATCH, Method::GET] {
            let guard = Guard::from_preconditions(
                method.clone(),
                pre.clone(),
                &PreconditionPolicy::default(),
            );
            let refused = guard.gate().is_err();
            let required = PreconditionPolicy::default().requires(&method);
            assert_eq!(
                refused,
                required && !req.is_lost_update_safe(),
                "{method} {headers:?}"
            );
        }

        // expect_for pins the state it was given, or refuses with 412 naming the header.
        let expect_for = pre.expect_for(current.as_ref()).map_err(|header| {
            Rejection::precondition_failed("k", &pre, header, version.map(EntityTag::from))
        });
        match (expect_for, put) {
            (Ok(None), _) => assert!(!pre.has_write_condition()),
            (Ok(Some(expect)), Evaluation::Proceed) => {
                assert!(pre.has_write_condition());
                assert_eq!(expect, Expect::from(version));
                assert!(expect.admits(version));
            }
            (Err(rejection), Evaluation::Failed(header)) => {
                assert_eq!(rejection.status(), 412);
                assert_eq!(rejection.current_version(), version);
                let problem = rejection.problem().expect("412 has a body");
                assert_eq!(problem.header.as_deref(), Some(header.as_str()));
                assert_eq!(problem.key.as_deref(), Some("k"));
            }
            (got, put) => panic!("expect_for {got:?} but evaluate(PUT) {put:?}"),
        }

        if let Some(v) = &validators {
            let guard =
                Guard::from_preconditions(Method::GET, pre.clone(), &PreconditionPolicy::default());
            let got = guard.check("k", Some(v));
            match (got, pre.evaluate(&Method::GET, Some(v))) {
                (Ok(()), Evaluation::Proceed) => {}
                (Err(r), Evaluation::NotModified) => {
                    assert_eq!(r.status(), 304);
                    assert!(r.into_http_response().body().is_empty());
                }
                (Err(r), Evaluation::Failed(_)) => assert_eq!(r.status(), 412),
                (got, e) => panic!("check_read {got:?} but evaluate(GET) {e:?}"),
            }
        }
    }
}

/// The exact expectation of a header-only write, from the reference's reading.
fn write_condition(pre: &Preconditions, req: &Request) {
    let want = match (&req.if_match, &req.if_none_match) {
        (None, None) if req.if_unmodified_since.is_none() => WriteCondition::None,
        (Some(List::Star), None) => WriteCondition::Enforce(Expect::Exists),
        (Some(List::Tags(tags)), None) => {
            let strong: Vec<Version> = tags
                .iter()
                .filter(|(weak, _)| !weak)
                .filter_map(|(_, opaque)| {
                    let n = super::version_number(opaque)?;
                    super::names_version(opaque, n)
                        .then(|| Version::new(n))
                        .flatten()
                })
                .collect();
            WriteCondition::Enforce(match strong.as_slice() {
                [one] => Expect::Version(*one),
                _ => Expect::OneOf(strong),
            })
        }
        (None, Some(List::Star)) if req.if_unmodified_since.is_none() => {
            WriteCondition::Enforce(Expect::Absent)
        }
        _ => WriteCondition::NeedsCurrent,
    };
    assert_eq!(pre.write_condition(), want);
    assert_eq!(
        pre.is_create_only(),
        want == WriteCondition::Enforce(Expect::Absent)
    );
}

/// Absent, plus versions the request names (and their neighbours) at times around its dates.
fn currents(req: &Request) -> Vec<Option<Meta>> {
    let mut versions = vec![1u64, u64::MAX];
    for list in [&req.if_match, &req.if_none_match].into_iter().flatten() {
        if let List::Tags(tags) = list {
            for (_, opaque) in tags.iter().take(4) {
                if let Some(n) = super::version_number(opaque) {
                    versions.extend([n, n.wrapping_add(1)]);
                }
            }
        }
    }
    versions.retain(|&n| n != 0);
    versions.sort_unstable();
    versions.dedup();

    let mut times = vec![
        UNIX_EPOCH,
        UNIX_EPOCH + Duration::from_millis(1_500),
        UNIX_EPOCH + Duration::from_secs(784_111_777),
    ];
    if let Some(before) = UNIX_EPOCH.checked_sub(Duration::from_secs(1)) {
        times.push(before);
    }
    for since in [req.if_modified_since, req.if_unmodified_since]
        .into_iter()
        .flatten()
    {
        let at = UNIX_EPOCH + Duration::from_secs(since);
        times.extend([
            at,
            at + Duration::from_millis(999),
            at + Duration::from_secs(1),
        ]);
        if let Some(before) = at.checked_sub(Duration::from_secs(1)) {
            times.push(before);
        }
    }

    let mut all = vec![None];
    for &n in &versions {
        for &t in &times {
            all.push(Some(Meta {
                version: Version::new(n).expect("non-zero"),
                last_modified: t,
            }));
        }
    }
    all
}

/// A response with arbitrary body bytes: the client-side parser never panics, and what it
/// returns is consistent with the body.
pub fn problem_response(
    status: u16,
    content_type: Option<&'static str>,
    etag: Option<&'static str>,
    body: &[u8],
) {
    let mut response = Response::new(body.to_vec());
    *response.status_mut() = StatusCode::from_u16(status).expect("valid status");
    if let Some(ct) = content_type {
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    if let Some(tag) = etag {
        response
            .headers_mut()
            .insert(ETAG, HeaderValue::from_static(tag));
    }
    let says_problem = content_type.is_some_and(|ct| ct.to_ascii_lowercase().contains("problem"));

    let problem = Problem::from_response(&response);
    let conflict = conflict_from_response(&response);
    if let Err(e) = &conflict {
        let _ = e.to_string();
    }
    let problem = match (problem, &conflict) {
        (Err(ProblemError::NotProblem { .. }), Err(ProblemError::NotProblem { .. })) => {
            assert!(!says_problem, "{content_type:?}");
            return;
        }
        (Err(ProblemError::Json(_)), Err(ProblemError::Json(_))) => {
            assert!(says_problem, "{content_type:?}");
            return;
        }
        (Ok(p), _) => p,
        (p, c) => panic!("Problem::from_response {p:?} but conflict_from_response {c:?}"),
    };

    // A body that parses serializes back to the same problem.
    let again: Problem = serde_json::from_slice(&problem.to_json()).expect("own JSON parses");
    assert_eq!(again, problem);

    // RFC 9457 3.1.2: `status` is optional and advisory; when the body has none (or the
    // same as the response) the response's status decides whether this is a conflict.
    if problem.status == 0 || problem.status == status {
        assert_eq!(
            conflict.is_ok(),
            status == 409 || status == 412,
            "status {status}, body {problem:?}: {conflict:?}"
        );
    }
    if let Ok(c) = conflict {
        assert_eq!(c.key(), problem.key.as_deref());
        assert_eq!(c.field(), problem.field.as_deref());
        // The current tag: the body's member when it is a tag, else the ETag header.
        let member = problem
            .current_etag
            .as_deref()
            .and_then(|t| t.parse::<EntityTag>().ok());
        if let Some(tag) = &member {
            assert_eq!(c.current_etag(), Some(tag));
            assert_eq!(c.current_version(), Version::from_etag(&tag.to_string()));
        }
        if problem.current_etag.is_none() {
            let header = etag.and_then(|t| t.parse::<EntityTag>().ok());
            assert_eq!(c.current_etag(), header.as_ref());
        }
        match problem.conflict {
            Some(kind) => assert_eq!(c.kind(), kind),
            // Any current tag, ours or foreign, is a stale conflict, never a missing one.
            None if c.current_etag().is_some() && problem.problem_type().is_none() => {
                assert_eq!(c.kind(), ConflictKind::Stale)
            }
            None => {}
        }
        assert_eq!(c.expected(), problem.expected.as_ref());
        // As the crate's Conflict only when the current tag is one of ours (or absent).
        match c.to_conflict() {
            Some(own) => {
                assert_eq!(own.current(), c.current_version());
                assert_eq!(
                    own.kind(),
                    ConflictKind::classify(own.expected(), own.current())
                );
            }
            None => assert!(c.current_etag().is_some() && c.current_version().is_none()),
        }
    }
}

/// `OneOf([v])` is written like `Version(v)` in problem bodies and comes back as it.
pub fn normalized(e: &Expect) -> Expect {
    match e {
        Expect::OneOf(vs) if vs.len() == 1 => Expect::Version(vs[0]),
        other => other.clone(),
    }
}

/// A real conflict becomes a rejection, a response, and a conflict again: key, kind, current
/// version and expectation survive; the body is the problem that was sent.
pub fn conflict_round_trip(
    original: Conflict,
    method: &Method,
    origin: Origin,
    field: Option<String>,
) {
    let current = original.current();
    let mut rejection =
        Rejection::from_store_error(StoreError::Conflict(original.clone()), method, origin);
    if let Some(f) = field {
        rejection = rejection.with_field(f);
    }
    let _ = rejection.to_string();
    let problem = rejection.problem().expect("a conflict has a body");
    let response = rejection.into_http_response();

    assert_eq!(
        Problem::from_response(&response).expect("own body parses"),
        problem
    );
    assert_eq!(
        response.headers().get(ETAG).map(|v| v.as_bytes().to_vec()),
        current.map(|v| v.etag().into_bytes())
    );

    let not_found = original.kind() == ConflictKind::Missing
        && (method == Method::DELETE || method == Method::PATCH);
    if not_found {
        assert_eq!(response.status(), 404);
        assert!(matches!(
            conflict_from_response(&response),
            Err(ProblemError::NotAConflict { status }) if status == 404
        ));
        return;
    }
    let status = if origin == Origin::Header { 412 } else { 409 };
    assert_eq!(response.status(), status);
    let reported = conflict_from_response(&response).expect("own conflict parses back");
    assert_eq!(reported.key(), Some(original.key()));
    assert_eq!(reported.current_version(), original.current());
    let back = reported.to_conflict().expect("our own tags");
    assert_eq!(back.key(), original.key());
    assert_eq!(back.kind(), original.kind());
    assert_eq!(back.current(), original.current());
    assert_eq!(back.expected(), &normalized(original.expected()));
}

/// A problem of our own survives serialization through a response.
pub fn problem_round_trip(p: Problem) {
    let response = p.clone().into_http_response();
    assert_eq!(
        Problem::from_response(&response).expect("own body parses"),
        p
    );
}
