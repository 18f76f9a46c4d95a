//! The client-side problem+json parser (`conflict_from_response`, `Problem::from_response`),
//! with the properties of `tests/reference/check.rs` (shared with `tests/fuzz_properties.rs`).
//!
//! First byte even: a response with arbitrary body bytes. The next three bytes pick the
//! status, the content type and the `ETag` header from small tables; the rest is the body.
//! It must never panic, and what it returns must be consistent with the body.
//!
//! First byte odd: the rest drives a structured round trip. A real `Conflict` becomes a
//! `Rejection` (`from_store_error`), then a response (`into_http_response`), then a `Conflict`
//! again (`conflict_from_response`, then `to_conflict`): key, kind, current version and
//! expectation survive.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use http::{Method, StatusCode};
use libfuzzer_sys::fuzz_target;
use optimist::http::{Expected, Origin, Problem};
use optimist::{Conflict, Expect, Version};

#[path = "../../tests/reference/mod.rs"]
mod reference;

use reference::check;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        if let [s, c, e, body @ ..] = rest {
            check::problem_response(
                pick(&check::STATUSES, *s),
                pick(&check::CONTENT_TYPES, *c),
                pick(&check::ETAGS, *e),
                body,
            );
        }
    } else {
        let _ = round_trip(&mut Unstructured::new(rest));
    }
});

fn pick<T: Copy>(table: &[T], b: u8) -> T {
    table[usize::from(b) % table.len()]
}

fn version(u: &mut Unstructured<'_>) -> arbitrary::Result<Version> {
    Ok(Version::new(u64::arbitrary(u)?.max(1)).expect("non-zero"))
}

fn expect(u: &mut Unstructured<'_>) -> arbitrary::Result<Expect> {
    Ok(match u.int_in_range(0..=4u8)? {
        0 => Expect::Any,
        1 => Expect::Absent,
        2 => Expect::Exists,
        3 => Expect::Version(version(u)?),
        _ => {
            let n = u.int_in_range(0..=4usize)?;
            Expect::OneOf((0..n).map(|_| version(u)).collect::<Result<_, _>>()?)
        }
    })
}

fn round_trip(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let key = String::arbitrary(u)?;
    let expected = expect(u)?;
    let current = if bool::arbitrary(u)? {
        Some(version(u)?)
    } else {
        None
    };
    let method = u
        .choose(&[Method::PUT, Method::POST, Method::DELETE, Method::PATCH])?
        .clone();
    let origin = *u.choose(&[Origin::Header, Origin::Body, Origin::Server])?;
    let field = Option::<String>::arbitrary(u)?;
    check::conflict_round_trip(
        Conflict::new(key, expected, current),
        &method,
        origin,
        field,
    );

    let mut p = Problem::new(StatusCode::CONFLICT, String::arbitrary(u)?);
    p.type_uri = String::arbitrary(u)?;
    p.title = String::arbitrary(u)?;
    p.status = u16::arbitrary(u)?;
    p.key = Option::arbitrary(u)?;
    p.field = Option::arbitrary(u)?;
    p.header = Option::arbitrary(u)?;
    p.expected = if bool::arbitrary(u)? {
        Some(Expected::from(expect(u)?))
    } else {
        None
    };
    p.current_etag = Option::arbitrary(u)?;
    check::problem_round_trip(p);
    Ok(())
}
