//! The peer suites' precondition cases, as tables run through the crate's any-validator path
//! (`Guard::reply` for reads, `Guard::check` for writes) against resources whose ETags are
//! not the crate's: a content hash, a weak tag, a resource with only a modification time, and
//! one with no validator at all.
//!
//! The cases are restated from Django's `tests/conditional_processing/tests.py` (a view with
//! ETag `"b4246ffc4f62314ca13147c9d4f76974"` and Last-Modified 2007-10-21 23:21:47, its weak,
//! etag-only and last-modified-only variants) and Go's `net/http` `TestServeContent` cases
//! for `checkPreconditions` (`fs_test.go`: ETag `"foo"` / `"A"`, weak `W/"foo"` / `W/"A"`,
//! dates around a file's modification time). Where a peer deviates from RFC 9110 the row says
//! so and expects the RFC's answer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue, Method};
use optimist::http::{EntityTag, Guard, PreconditionPolicy, Validators};

/// Django's fixture validators.
const HASH: &str = "b4246ffc4f62314ca13147c9d4f76974";
const LM: &str = "Sun, 21 Oct 2007 23:21:47 GMT";
const LM_NEWER: &str = "Mon, 18 Oct 2010 16:56:23 GMT";
const LM_INVALID: &str = "Mon, 32 Oct 2010 16:56:23 GMT";
const LM_EXPIRED: &str = "Sat, 20 Oct 2007 23:21:47 GMT";
const EXPIRED_HASH: &str = "\"7fae4cd4b0f81e7d2914700043aa8ed6\"";

fn date(text: &str) -> SystemTime {
    httpdate::parse_http_date(text).unwrap()
}

fn strong(opaque: &str) -> EntityTag {
    EntityTag::strong(opaque).unwrap()
}

fn weak(opaque: &str) -> EntityTag {
    EntityTag::weak(opaque).unwrap()
}

/// The resource a row is evaluated against.
#[derive(Clone, Debug)]
enum Resource {
    /// ETag and Last-Modified.
    Full(EntityTag, SystemTime),
    /// Only an ETag.
    Tag(EntityTag),
    /// Only a Last-Modified.
    Dated(SystemTime),
    /// Exists, but has no validator.
    Bare,
}

impl Resource {
    fn validators(&self) -> Validators {
        match self {
            Resource::Full(t, m) => Validators::from_etag(t.clone()).with_last_modified(*m),
            Resource::Tag(t) => Validators::from_etag(t.clone()),
            Resource::Dated(m) => Validators::modified_at(*m),
            Resource::Bare => Validators::default(),
        }
    }
}

struct Row {
    source: &'static str,
    method: Method,
    resource: Resource,
    headers: Vec<(&'static str, String)>,
    status: u16,
}

fn row(
    source: &'static str,
    method: Method,
    resource: &Resource,
    headers: &[(&'static str, &str)],
    status: u16,
) -> Row {
    Row {
        source,
        method,
        resource: resource.clone(),
        headers: headers.iter().map(|(n, v)| (*n, (*v).to_owned())).collect(),
        status,
    }
}

/// The status the crate answers for a row, checking the validator headers it sends.
fn answer(r: &Row) -> u16 {
    let mut headers = HeaderMap::new();
    for (name, value) in &r.headers {
        headers.append(*name, HeaderValue::from_str(value).unwrap());
    }
    let guard = match Guard::with_policy(&r.method, &headers, &PreconditionPolicy::none()) {
        Ok(g) => g,
        Err(refusal) => return refusal.status().as_u16(),
    };
    let current = r.resource.validators();
    let outcome = if r.method == Method::GET || r.method == Method::HEAD {
        guard
            .reply("/condition/", current.clone(), "FULL")
            .map(|reply| {
                // A 200 carries every validator the resource has.
                assert_eq!(
                    reply.headers().get("etag").is_some(),
                    current.etag().is_some()
                );
                assert_eq!(
                    reply.headers().get("last-modified").is_some(),
                    current.last_modified().is_some()
                );
            })
    } else {
        guard.check("/condition/", Some(&current))
    };
    match outcome {
        Ok(()) => 200,
        Err(refusal) => {
            let status = refusal.status().as_u16();
            let response = refusal.into_http_response();
            match status {
                // 304: the ETag, or Last-Modified when there is no tag (RFC 9110 15.4.5).
                304 => {
                    assert_eq!(
                        response.headers().get("etag").is_some(),
                        current.etag().is_some()
                    );
                    assert_eq!(
                        response.headers().get("last-modified").is_some(),
                        current.etag().is_none() && current.last_modified().is_some()
                    );
                    assert!(response.body().is_empty());
                }
                // 412: the current tag, exactly as the resource has it.
                412 => assert_eq!(
                    response
                        .headers()
                        .get("etag")
                        .map(|v| v.to_str().unwrap().to_owned()),
                    current.etag().map(ToString::to_string)
                ),
                _ => {}
            }
            status
        }
    }
}

fn run(rows: Vec<Row>) {
    let failures: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            let got = answer(r);
            (got != r.status).then(|| {
                format!(
                    "{}: {} on {:?} with {:?}: expected {}, got {got}",
                    r.source, r.method, r.resource, r.headers, r.status
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

#[test]
#[rustfmt::skip]
fn django_conditional_processing() {
    let (get, put, head) = (Method::GET, Method::PUT, Method::HEAD);
    let tag = format!("\"{HASH}\"");
    let weak_tag = format!("W/\"{HASH}\"");
    let list = format!("{tag}, {EXPIRED_HASH}");
    let full = Resource::Full(strong(HASH), date(LM));
    let weak_res = Resource::Tag(weak(HASH));
    let etag_only = Resource::Tag(strong(HASH));
    let dated = Resource::Dated(date(LM));
    let bare = Resource::Bare;
    let (ims, ius, inm, im) = ("if-modified-since", "if-unmodified-since", "if-none-match", "if-match");
    run(vec![
        row("no conditions: full response", get.clone(), &full, &[], 200),
        // test_if_modified_since
        row("IMS = Last-Modified: 304", get.clone(), &full, &[(ims, LM)], 304),
        row("IMS is ignored on PUT", put.clone(), &full, &[(ims, LM)], 200),
        row("IMS newer than Last-Modified: 304", get.clone(), &full, &[(ims, LM_NEWER)], 304),
        row("IMS newer, PUT: ignored", put.clone(), &full, &[(ims, LM_NEWER)], 200),
        row("IMS invalid date: ignored", get.clone(), &full, &[(ims, LM_INVALID)], 200),
        row("IMS older than Last-Modified: full", get.clone(), &full, &[(ims, LM_EXPIRED)], 200),
        // test_if_unmodified_since (reads)
        row("IUS = Last-Modified on GET: full", get.clone(), &full, &[(ius, LM)], 200),
        row("IUS newer on GET: full", get.clone(), &full, &[(ius, LM_NEWER)], 200),
        row("IUS invalid date: ignored", get.clone(), &full, &[(ius, LM_INVALID)], 200),
        row("IUS older than Last-Modified: 412", get.clone(), &full, &[(ius, LM_EXPIRED)], 412),
        // The write side of the same date, by this crate's rule (issue 10): within or before
        // the date's second is not enough for a write.
        row("crate rule: IUS = Last-Modified on PUT: 412", put.clone(), &full, &[(ius, LM)], 412),
        row("crate rule: IUS newer on PUT: proceed", put.clone(), &full, &[(ius, LM_NEWER)], 200),
        // test_if_none_match
        row("INM = ETag on GET: 304", get.clone(), &full, &[(inm, &tag)], 304),
        row("INM = ETag on PUT: 412", put.clone(), &full, &[(inm, &tag)], 412),
        row("INM expired tag: full", get.clone(), &full, &[(inm, EXPIRED_HASH)], 200),
        row("INM list with the ETag: 304", get.clone(), &full, &[(inm, &list)], 304),
        // test_weak_if_none_match: weak comparison both ways
        row("INM strong tag, weak resource: 304", get.clone(), &weak_res, &[(inm, &tag)], 304),
        row("INM strong tag, weak resource, PUT: 412", put.clone(), &weak_res, &[(inm, &tag)], 412),
        row("INM weak tag, weak resource: 304", get.clone(), &weak_res, &[(inm, &weak_tag)], 304),
        row("INM weak tag, weak resource, PUT: 412", put.clone(), &weak_res, &[(inm, &weak_tag)], 412),
        row("INM weak tag, strong resource: 304", get.clone(), &full, &[(inm, &weak_tag)], 304),
        row("INM weak tag, strong resource, PUT: 412", put.clone(), &full, &[(inm, &weak_tag)], 412),
        // test_all_if_none_match
        row("INM * on GET: 304", get.clone(), &full, &[(inm, "*")], 304),
        row("INM * on PUT: 412", put.clone(), &full, &[(inm, "*")], 412),
        row("Django answers 200; RFC 9110 13.1.2: * matches any current representation, with or without validators: 304",
            get.clone(), &bare, &[(inm, "*")], 304),
        // test_if_match, test_weak_if_match: strong comparison
        row("If-Match = ETag on PUT: proceed", put.clone(), &full, &[(im, &tag)], 200),
        row("If-Match expired on PUT: 412", put.clone(), &full, &[(im, EXPIRED_HASH)], 412),
        row("If-Match strong tag, weak resource: 412", get.clone(), &weak_res, &[(im, &tag)], 412),
        row("If-Match weak tag, weak resource: 412", get.clone(), &weak_res, &[(im, &weak_tag)], 412),
        row("If-Match weak tag, strong resource: 412", get.clone(), &full, &[(im, &weak_tag)], 412),
        // test_all_if_match
        row("If-Match *: full", get.clone(), &full, &[(im, "*")], 200),
        row("Django answers 412; RFC 9110 13.1.1: * is true for any current representation: 200",
            get.clone(), &bare, &[(im, "*")], 200),
        // test_both_headers (RFC 9110 13.2.2: If-None-Match decides, If-Modified-Since ignored)
        row("IMS = LM and INM = ETag: 304", get.clone(), &full, &[(ims, LM), (inm, &tag)], 304),
        row("IMS older and INM = ETag: 304", get.clone(), &full, &[(ims, LM_EXPIRED), (inm, &tag)], 304),
        row("IMS = LM and INM expired: full", get.clone(), &full, &[(ims, LM), (inm, EXPIRED_HASH)], 200),
        row("IMS older and INM expired: full", get.clone(), &full, &[(ims, LM_EXPIRED), (inm, EXPIRED_HASH)], 200),
        // test_both_headers_2 (If-Match decides, If-Unmodified-Since ignored)
        row("IUS = LM and If-Match = ETag: full", get.clone(), &full, &[(ius, LM), (im, &tag)], 200),
        row("IUS older and If-Match = ETag: full", get.clone(), &full, &[(ius, LM_EXPIRED), (im, &tag)], 200),
        row("IUS older and If-Match expired: 412", get.clone(), &full, &[(ius, LM_EXPIRED), (im, EXPIRED_HASH)], 412),
        row("IUS = LM and If-Match expired: 412", get.clone(), &full, &[(ius, LM), (im, EXPIRED_HASH)], 412),
        // test_single_condition_*: resources with only one validator
        row("IMS = LM, last-modified-only resource: 304", get.clone(), &dated, &[(ims, LM)], 304),
        row("IMS, etag-only resource (no date to compare): full", get.clone(), &etag_only, &[(ims, LM)], 200),
        row("INM = ETag, etag-only resource: 304", get.clone(), &etag_only, &[(inm, &tag)], 304),
        row("INM, last-modified-only resource (no tag matches): full", get.clone(), &dated, &[(inm, &tag)], 200),
        row("IMS older, last-modified-only: full", get.clone(), &dated, &[(ims, LM_EXPIRED)], 200),
        row("INM expired, etag-only: full", get.clone(), &etag_only, &[(inm, EXPIRED_HASH)], 200),
        row("IUS older, last-modified-only: 412", get.clone(), &dated, &[(ius, LM_EXPIRED)], 412),
        row("Django answers 412; RFC 9110 13.1.4: no modification date, so IUS is ignored: full",
            get.clone(), &etag_only, &[(ius, LM_EXPIRED)], 200),
        row("IUS = LM, last-modified-only: full", get.clone(), &dated, &[(ius, LM)], 200),
        row("HEAD with IMS = LM: 304", head, &full, &[(ims, LM)], 304),
        // test_invalid_etag
        row("Django ignores it (200); a malformed If-None-Match is 400 here (never an unconditional write)",
            get, &etag_only, &[(inm, "\"\"\"")], 400),
    ]);
}

#[test]
#[rustfmt::skip]
fn go_net_http_check_preconditions() {
    let (get, head, put) = (Method::GET, Method::HEAD, Method::PUT);
    // A file's modification time, with nanoseconds as a file system gives it.
    let modtime = UNIX_EPOCH + Duration::new(1_403_716_338, 123);
    let modtime_str = httpdate::fmt_http_date(modtime);
    let two_before = httpdate::fmt_http_date(modtime - Duration::from_secs(2));
    let foo = Resource::Full(strong("foo"), modtime);
    let weak_foo = Resource::Tag(weak("foo"));
    let a = Resource::Tag(strong("A"));
    let weak_a = Resource::Tag(weak("A"));
    let dated = Resource::Dated(modtime);
    let mut rows = Vec::new();
    for m in [get.clone(), head.clone()] {
        rows.extend([
            row("not_modified_modtime: IMS = modtime with an ETag: 304", m.clone(), &foo, &[("if-modified-since", &modtime_str)], 304),
            row("not_modified_etag: INM = ETag: 304", m.clone(), &foo, &[("if-none-match", "\"foo\"")], 304),
            row("not_modified_etag_no_seek: weak resource, INM list with its weak tag: 304", m.clone(), &weak_foo, &[("if-none-match", "\"baz\", W/\"foo\"")], 304),
            row("if_none_match_mismatch: tags are case-sensitive: 200", m.clone(), &foo, &[("if-none-match", "\"Foo\"")], 200),
            row("if_none_match_malformed: an empty list counts as absent: 200", m.clone(), &foo, &[("if-none-match", ",")], 200),
            row("ifmatch_matches: one of a list: 200", m.clone(), &a, &[("if-match", "\"Z\", \"A\"")], 200),
            row("ifmatch_star: 200", m.clone(), &a, &[("if-match", "*")], 200),
            row("ifmatch_failed: 412", m.clone(), &a, &[("if-match", "\"B\"")], 412),
            row("ifmatch_fails_on_weak_etag: weak never matches If-Match: 412", m.clone(), &weak_a, &[("if-match", "W/\"A\"")], 412),
            row("if_unmodified_since_true: date of the modtime's second (nanoseconds truncated): 200", m.clone(), &dated, &[("if-unmodified-since", &modtime_str)], 200),
            row("if_unmodified_since_false: two seconds before: 412", m.clone(), &dated, &[("if-unmodified-since", &two_before)], 412),
        ]);
    }
    rows.extend([
        row("Go reads only the first If-None-Match line; RFC 9110 5.3: lines form one list: 304",
            get.clone(), &foo, &[("if-none-match", "\"x\""), ("if-none-match", "\"foo\"")], 304),
        row("If-Match across two lines: the second matches: proceed",
            put.clone(), &a, &[("if-match", "\"Z\""), ("if-match", "\"A\"")], 200),
        row("crate rule: IUS = modtime's second on a write: 412 (issue 10)",
            put.clone(), &dated, &[("if-unmodified-since", &modtime_str)], 412),
        row("crate rule: IUS two seconds before on a write: 412",
            put, &dated, &[("if-unmodified-since", &two_before)], 412),
    ]);
    run(rows);
}
