//! The guard's operations against a store, one job each, and the defects of issue 10 that
//! live in the library's types: a unique-field 409 naming the target (3), `?` from store
//! errors and problems (4), Last-Modified on writes (5), foreign tags read back by a client
//! (6), and the body-carried version path.

use std::time::SystemTime;

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use optimist::http::{
    EntityTag, Expected, Guard, PreconditionPolicy, Problem, ProblemType, Rejection, Reply,
    ReportedConflict, conflict_from_response,
};
use optimist::{Commit, ConflictKind, Expect, MemoryStore, StoreError, Version, VersionedStore};

fn block<F: std::future::IntoFuture>(f: F) -> F::Output {
    futures_executor::block_on(f.into_future())
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        h.append(*name, HeaderValue::from_str(value).unwrap());
    }
    h
}

fn guard(method: Method, pairs: &[(&'static str, &str)]) -> Guard {
    Guard::new(&method, &headers(pairs)).unwrap()
}

fn etag(reply_or_headers: &HeaderMap) -> String {
    reply_or_headers["etag"].to_str().unwrap().to_owned()
}

// ---------------------------------------------------------------------------------------------
// Defect 3: "409, field F is taken" names the target and carries the target's ETag
// ---------------------------------------------------------------------------------------------

/// A store of notes with unique titles: `note:N` holds the title, `title:T` the note's key.
fn notes() -> (MemoryStore<String>, Version, Version) {
    let store = MemoryStore::new();
    let n1 = store
        .put_sync("note:1", "groceries".into(), Expect::Absent)
        .unwrap()
        .version;
    store
        .put_sync("title:groceries", "note:1".into(), Expect::Absent)
        .unwrap();
    let n2 = store
        .put_sync("note:2", "todo".into(), Expect::Absent)
        .unwrap()
        .version;
    store
        .put_sync("title:todo", "note:2".into(), Expect::Absent)
        .unwrap();
    (store, n1, n2)
}

/// PUT note:2 renamed to `title`, releasing its old title entry and claiming the new one.
fn rename(store: &MemoryStore<String>, guard: &Guard, title: &str) -> Result<Reply<()>, Rejection> {
    let claimed = format!("title:{title}");
    block(
        guard
            .commit(store, "note:2", |expect| {
                Commit::new()
                    .put("note:2", title.to_owned(), expect)
                    .delete("title:todo", Expect::Any)
                    .put(claimed.clone(), "note:2".to_owned(), Expect::Absent)
            })
            .unique(claimed.clone(), "title"),
    )
}

#[test]
fn a_taken_unique_field_is_409_naming_the_target_with_its_etag() {
    let (store, n1, n2) = notes();
    for pairs in [
        vec![("if-match", n2.etag())],
        vec![("if-match", "*".to_owned())],
    ] {
        let pairs: Vec<(&'static str, &str)> =
            pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let refused = rename(&store, &guard(Method::PUT, &pairs), "groceries").unwrap_err();
        assert_eq!(refused.status(), 409, "{pairs:?}");
        let response = refused.into_http_response();
        // The target's ETag, never the index entry's or note:1's.
        assert_eq!(response.headers()["etag"], n2.etag().as_str(), "{pairs:?}");
        let problem = Problem::from_response(&response).unwrap();
        assert_eq!(problem.key.as_deref(), Some("note:2"));
        assert_eq!(problem.field.as_deref(), Some("title"));
        assert_eq!(problem.current_etag.as_deref(), Some(n2.etag().as_str()));
        assert_eq!(problem.problem_type(), Some(ProblemType::AlreadyExists));
        assert!(problem.detail.contains("title"), "{}", problem.detail);
        assert!(
            !response.headers()["etag"]
                .to_str()
                .unwrap()
                .contains(&n1.get().to_string())
        );
        // A client retrying from the body targets a version note:2 really has.
        let reported = conflict_from_response(&response).unwrap();
        assert_eq!(reported.current_version(), Some(n2));
        assert_eq!(reported.key(), Some("note:2"));
        // Nothing was written.
        assert_eq!(store.get_sync("note:2").unwrap().value, "todo");
        assert_eq!(store.get_sync("title:todo").unwrap().value, "note:2");
    }
    // A free title: 200 with the new validators, index entries moved in the same step.
    let reply = rename(
        &store,
        &guard(Method::PUT, &[("if-match", &n2.etag())]),
        "chores",
    )
    .unwrap();
    assert_eq!(reply.status(), 200);
    let v = store.head_sync("note:2").unwrap();
    assert_eq!(etag(reply.headers()), v.version.etag());
    assert!(reply.headers().contains_key("last-modified"));
    assert!(store.get_sync("title:todo").is_none());
    assert_eq!(store.get_sync("title:chores").unwrap().value, "note:2");
    // The target's own precondition failing is a 412 about the target, not the field.
    let stale = rename(
        &store,
        &guard(Method::PUT, &[("if-match", &n2.etag())]),
        "x",
    )
    .unwrap_err();
    assert_eq!(stale.status(), 412);
    assert_eq!(stale.current_version(), Some(v.version));
}

#[test]
fn a_create_with_a_taken_unique_field_is_409_without_an_etag() {
    let (store, _, _) = notes();
    let post = guard(Method::POST, &[]);
    let create = |key: &str, title: &str| {
        let claimed = format!("title:{title}");
        block(
            post.commit(&store, key, |expect| {
                assert_eq!(expect, Expect::Absent, "POST creates");
                Commit::new()
                    .put(key.to_owned(), title.to_owned(), expect)
                    .put(claimed.clone(), key.to_owned(), Expect::Absent)
            })
            .unique(claimed.clone(), "title")
            .field("id")
            .location(format!("/notes/{key}")),
        )
    };
    let refused = create("note:3", "todo").unwrap_err().into_http_response();
    assert_eq!(refused.status(), 409);
    assert!(
        !refused.headers().contains_key("etag"),
        "the target does not exist yet"
    );
    let problem = Problem::from_response(&refused).unwrap();
    assert_eq!(
        (problem.key.as_deref(), problem.field.as_deref()),
        (Some("note:3"), Some("title"))
    );
    assert!(store.get_sync("note:3").is_none());
    // The target's own key taken: 409 naming the target's field.
    let taken = create("note:1", "fresh").unwrap_err();
    assert_eq!(taken.problem().unwrap().field.as_deref(), Some("id"));
    // Both free: 201 with Location.
    let created = create("note:3", "fresh").unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["location"], "/notes/note:3");
    assert!(created.headers().contains_key("etag"));
}

/// `modify_commit` on note:2: retitle it to `title` (release the old entry it read, claim
/// the new one), or delete it with its entry (`title == None`).
fn retitle(
    store: &MemoryStore<String>,
    guard: &Guard,
    title: Option<&str>,
) -> Result<Reply<()>, Rejection> {
    let title = title.map(str::to_owned);
    block(
        guard
            .modify_commit(store, "note:2", move |current, expect| {
                let old = current.map(|c| format!("title:{}", c.value));
                let mut commit = match &title {
                    Some(t) => Commit::new().put("note:2", t.clone(), expect).put(
                        format!("title:{t}"),
                        "note:2".to_owned(),
                        Expect::Absent,
                    ),
                    None => Commit::new().delete("note:2", expect),
                };
                if let Some(old) = old {
                    commit = commit.delete(old, Expect::Any);
                }
                Ok(commit)
            })
            .unique_prefix("title:", "title"),
    )
}

#[test]
fn modify_commit_pins_the_version_read_and_names_the_target() {
    let (store, _, n2) = notes();
    // 428 without a precondition, 404 for a PATCH of nothing; nothing written.
    assert_eq!(
        retitle(&store, &guard(Method::PUT, &[]), Some("x"))
            .unwrap_err()
            .status(),
        428
    );
    let patch_missing = block(guard(Method::PATCH, &[("if-match", "*")]).modify_commit(
        &store,
        "note:9",
        |_, _| unreachable!("nothing to build on"),
    ));
    assert_eq!(patch_missing.unwrap_err().status(), 404);

    // Taking note:1's title: 409 field title, key note:2, note:2's ETag; nothing written.
    let put = guard(Method::PUT, &[("if-match", "*")]);
    let refused = retitle(&store, &put, Some("groceries")).unwrap_err();
    let response = refused.into_http_response();
    assert_eq!(response.status(), 409);
    assert_eq!(response.headers()["etag"], n2.etag().as_str());
    let p = Problem::from_response(&response).unwrap();
    assert_eq!(
        (p.key.as_deref(), p.field.as_deref()),
        (Some("note:2"), Some("title"))
    );
    assert_eq!(store.get_sync("title:groceries").unwrap().value, "note:1");
    assert_eq!(store.get_sync("note:2").unwrap().version, n2);

    // A free title: 200 with the new ETag; the old entry released.
    let done = retitle(&store, &put, Some("chores")).unwrap();
    assert_eq!(done.status(), 200);
    assert!(store.get_sync("title:todo").is_none());
    assert_eq!(store.get_sync("title:chores").unwrap().value, "note:2");
    let v3 = store.get_sync("note:2").unwrap().version;
    assert_eq!(etag(done.headers()), v3.etag());

    // A stale If-Match is 412 before anything is built; a body version is 409.
    let stale = guard(Method::PUT, &[("if-match", &n2.etag())]);
    assert_eq!(
        retitle(&store, &stale, Some("y")).unwrap_err().status(),
        412
    );
    let body = guard(Method::PUT, &[]).with_body_version(Some(&n2.etag()));
    assert_eq!(retitle(&store, &body, Some("y")).unwrap_err().status(), 409);

    // DELETE: 204, the entry goes with the note.
    let delete = guard(Method::DELETE, &[("if-match", &v3.etag())]);
    assert_eq!(retitle(&store, &delete, None).unwrap().status(), 204);
    assert!(store.get_sync("note:2").is_none());
    assert!(store.get_sync("title:chores").is_none());
}

#[test]
fn modify_commit_creates_with_if_none_match_star_and_builds_on_nothing() {
    let store = MemoryStore::<String>::new();
    let put = guard(Method::PUT, &[("if-none-match", "*")]);
    let created = block(put.modify_commit(&store, "n", |current, expect| {
        assert!(current.is_none());
        assert_eq!(expect, Expect::Absent);
        Ok(Commit::new().put("n", "a".to_owned(), expect))
    }))
    .unwrap();
    assert_eq!(created.status(), 201);
    // Again: the note exists now, 412 before build runs.
    let again = block(put.modify_commit(&store, "n", |_, _| unreachable!("refused first")));
    assert_eq!(again.unwrap_err().status(), 412);
    // build may refuse: nothing is written.
    let put = guard(Method::PUT, &[("if-match", "*")]);
    let refused = block(put.modify_commit(&store, "n", |_, _| {
        Err(Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "no").into())
    }));
    assert_eq!(refused.unwrap_err().status(), 422);
    assert_eq!(store.get_sync("n").unwrap().value, "a");
}

#[test]
fn the_seeds_duplicate_username_is_409_with_field_username_in_one_call() {
    let store = MemoryStore::new();
    let post = guard(Method::POST, &[]);
    let first = block(
        post.create(&store, "john_doe", "John".to_owned())
            .field("username"),
    )
    .unwrap();
    let v = store.head_sync("john_doe").unwrap().version;
    assert_eq!(etag(first.headers()), v.etag());
    let dup = block(
        post.create(&store, "john_doe", "Johnny".to_owned())
            .field("username"),
    );
    let response = dup.unwrap_err().into_http_response();
    assert_eq!(response.status(), 409);
    assert_eq!(response.headers()["etag"], v.etag().as_str());
    let problem = Problem::from_response(&response).unwrap();
    assert_eq!(problem.field.as_deref(), Some("username"));
    assert_eq!(problem.key.as_deref(), Some("john_doe"));
    assert_eq!(problem.detail, "username \"john_doe\" is already taken");
    // With If-None-Match: * the same collision is a failed header precondition: 412.
    let inm = guard(Method::POST, &[("if-none-match", "*")]);
    let failed = block(
        inm.create(&store, "john_doe", "x".to_owned())
            .field("username"),
    );
    assert_eq!(failed.unwrap_err().status(), 412);
}

// ---------------------------------------------------------------------------------------------
// Defect 4: `?` from store errors and problems; no inherent `into_response`
// ---------------------------------------------------------------------------------------------

/// A handler of its own: store errors and problems go through `?`.
fn rename_user(store: &MemoryStore<String>, name: &str) -> Result<Reply<String>, Rejection> {
    if name.len() > 8 {
        Err(Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "name too long").with_field("name"))?;
    }
    let meta = store.put_sync(name, name.to_owned(), Expect::Absent)?;
    Ok(Reply::created(name.to_owned()).with_validators(&meta.into()))
}

#[test]
fn store_errors_and_problems_convert_with_question_mark() {
    let store = MemoryStore::new();
    assert_eq!(rename_user(&store, "ann").unwrap().status(), 201);
    let dup = rename_user(&store, "ann").unwrap_err();
    assert_eq!(dup.status(), 409);
    assert_eq!(
        dup.current_version(),
        store.head_sync("ann").map(|m| m.version)
    );
    let long = rename_user(&store, "annabelle-lee").unwrap_err();
    assert_eq!(long.status(), 422);
    let response = long.into_http_response();
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem = Problem::from_response(&response).unwrap();
    assert_eq!(problem.field.as_deref(), Some("name"));

    // Unavailable and indeterminate stores: 503; anything else 500, details kept out.
    let unavailable = Rejection::from(StoreError::Unavailable {
        source: "db.internal down".into(),
    });
    assert_eq!(unavailable.status(), 503);
    assert!(
        !String::from_utf8(unavailable.into_http_response().into_body())
            .unwrap()
            .contains("db.internal")
    );
}

#[cfg(feature = "axum")]
#[test]
fn rejections_problems_and_replies_are_axum_responses() {
    use axum::response::IntoResponse;
    // With the trait in scope, `into_response` is axum's (no inherent method shadows it).
    let r = Rejection::required(Method::PUT).into_response();
    assert_eq!(r.status(), 428);
    let p = Problem::new(StatusCode::FORBIDDEN, "read-only").into_response();
    assert_eq!(p.status(), 403);
    assert_eq!(p.headers()["content-type"], "application/problem+json");
    let ok = Reply::ok(serde_json::json!({"a": 1})).into_response();
    assert_eq!(ok.headers()["content-type"], "application/json");
    let none = Reply::<()>::no_content().into_response();
    assert_eq!(none.status(), 204);
    assert!(!none.headers().contains_key("content-type"));
    // A handler returning Result<Reply<_>, Rejection> is a valid axum handler.
    async fn handler() -> Result<Reply<String>, Rejection> {
        Err(Problem::new(StatusCode::IM_A_TEAPOT, "short and stout"))?
    }
    let _ = axum::Router::<()>::new().route("/", axum::routing::get(handler));
}

// ---------------------------------------------------------------------------------------------
// Defect 5: writes answer with the new Last-Modified (from the write, no second read)
// ---------------------------------------------------------------------------------------------

#[test]
fn every_write_answers_with_the_new_etag_and_last_modified() {
    let store = MemoryStore::new();
    let before = SystemTime::now() - std::time::Duration::from_secs(1);
    let created =
        block(guard(Method::PUT, &[("if-none-match", "*")]).put(&store, "doc", 1u32)).unwrap();
    assert_eq!(created.status(), 201);
    let check = |reply: &Reply<u32>| {
        let meta = store.head_sync("doc").unwrap();
        assert_eq!(etag(reply.headers()), meta.version.etag());
        let lm =
            httpdate::parse_http_date(reply.headers()["last-modified"].to_str().unwrap()).unwrap();
        assert_eq!(
            lm,
            httpdate::parse_http_date(&httpdate::fmt_http_date(meta.last_modified)).unwrap()
        );
        assert!(lm >= before);
    };
    check(&created);
    let v1 = store.head_sync("doc").unwrap().version;
    let replaced =
        block(guard(Method::PUT, &[("if-match", &v1.etag())]).put(&store, "doc", 2)).unwrap();
    assert_eq!(
        (replaced.status().as_u16(), replaced.body()),
        (200, Some(&2))
    );
    check(&replaced);
    let v2 = store.head_sync("doc").unwrap().version;
    let patched =
        block(
            guard(Method::PATCH, &[("if-match", &v2.etag())]).modify(&store, "doc", |n| Ok(n * 10)),
        )
        .unwrap();
    assert_eq!(patched.body(), Some(&20));
    check(&patched);
    let created = block(guard(Method::POST, &[]).create(&store, "other", 7)).unwrap();
    assert!(created.headers().contains_key("last-modified"));
}

// ---------------------------------------------------------------------------------------------
// Defect 6: a client reads foreign tags
// ---------------------------------------------------------------------------------------------

fn problem_response(status: u16, body: &str) -> http::Response<Vec<u8>> {
    let mut r = http::Response::new(body.as_bytes().to_vec());
    *r.status_mut() = StatusCode::from_u16(status).unwrap();
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/problem+json"),
    );
    r
}

#[test]
fn foreign_tags_in_a_problem_are_read_not_refused() {
    // A foreign tag in `expected` (content hash): the body still parses, the tag is kept.
    let r = problem_response(
        412,
        r#"{"type":"about:blank","status":412,"key":"a.txt","expected":["\"sha256-9f86\"", "W/\"x\""],"current_etag":"\"sha256-0a1b\""}"#,
    );
    let problem = Problem::from_response(&r).unwrap();
    let Some(Expected::Tags(tags)) = &problem.expected else {
        panic!("{problem:?}")
    };
    assert_eq!(tags[0], EntityTag::strong("sha256-9f86").unwrap());
    assert_eq!(tags[1], EntityTag::weak("x").unwrap());
    // A foreign current tag: still a stale conflict (not Missing), with the raw tag.
    let c = conflict_from_response(&r).unwrap();
    assert_eq!(c.kind(), ConflictKind::Stale);
    assert_eq!(
        c.current_etag(),
        Some(&EntityTag::strong("sha256-0a1b").unwrap())
    );
    assert_eq!(c.current_version(), None);
    assert_eq!(
        c.to_conflict(),
        None,
        "a Conflict could only call it absent"
    );
    // The same from the ETag header alone.
    let mut r = problem_response(409, r#"{"status":409,"key":"a.txt"}"#);
    r.headers_mut()
        .insert("etag", HeaderValue::from_static("W/\"rev-7\""));
    let c = conflict_from_response(&r).unwrap();
    assert_eq!(c.kind(), ConflictKind::Stale);
    assert_eq!(c.current_etag().unwrap().to_string(), "W/\"rev-7\"");
    // Members of the wrong type are ignored, not fatal (RFC 9457 3.1).
    let r = problem_response(
        409,
        r#"{"status":409,"key":7,"conflict":"locked","expected":{"x":1},"current_etag":5}"#,
    );
    let c = conflict_from_response(&r).unwrap();
    assert_eq!(
        (c.key(), c.kind(), c.current_etag()),
        (None, ConflictKind::Missing, None)
    );
}

#[test]
fn bodies_of_the_previous_version_still_read_back() {
    // As sent before issue 10: rustdoc-anchor types.
    let old = problem_response(
        412,
        r#"{"type":"https://docs.rs/optimist/latest/optimist/http/enum.Rejection.html#variant.PreconditionFailed","title":"Precondition Failed","status":412,"detail":"x","key":"john_doe","conflict":"stale","expected":["\"1\""],"current_etag":"\"28\""}"#,
    );
    let c = conflict_from_response(&old).unwrap();
    assert_eq!(c.problem_type(), Some(ProblemType::PreconditionFailed));
    assert_eq!(c.current_version(), Version::new(28));
    let own = c.to_conflict().unwrap();
    assert_eq!(own.expected(), &Expect::Version(Version::new(1).unwrap()));
    let old = problem_response(
        409,
        r#"{"type":"https://docs.rs/optimist/latest/optimist/enum.ConflictKind.html#variant.AlreadyExists","status":409,"key":"john_doe","field":"username"}"#,
    );
    let c = conflict_from_response(&old).unwrap();
    assert_eq!(
        c.kind(),
        ConflictKind::AlreadyExists,
        "the kind from the old type URI"
    );
    assert_eq!(c.field(), Some("username"));
    let _ = ReportedConflict::from_problem(
        &Problem::from_response(&old).unwrap(),
        StatusCode::CONFLICT,
        None,
    );
}

// ---------------------------------------------------------------------------------------------
// The body-carried version (`_version`-style)
// ---------------------------------------------------------------------------------------------

#[test]
fn a_body_version_is_409_when_stale_and_satisfies_the_gate() {
    let store = MemoryStore::new();
    let v1 = store.put_sync("doc", 1u32, Expect::Absent).unwrap().version;
    let bare = guard(Method::PUT, &[]);
    // No header, no body version: 428, and the detail mentions the body.
    let required = block(bare.clone().with_body_version(None).put(&store, "doc", 2)).unwrap_err();
    assert_eq!(required.status(), 428);
    assert!(required.problem().unwrap().detail.contains("body"));
    // The current version in the body: written.
    let ok = block(
        bare.clone()
            .with_body_version(Some(&v1.etag()))
            .put(&store, "doc", 2),
    )
    .unwrap();
    assert_eq!(ok.status(), 200);
    // Stale, foreign or not a tag at all: 409 with the current ETag, nothing written.
    let v2 = store.head_sync("doc").unwrap().version;
    for stale in [v1.etag(), "\"abc\"".to_owned(), "not a tag".to_owned()] {
        let refused = block(
            bare.clone()
                .with_body_version(Some(&stale))
                .put(&store, "doc", 3),
        )
        .unwrap_err();
        assert_eq!(refused.status(), 409, "{stale}");
        assert_eq!(refused.current_version(), Some(v2), "{stale}");
        let patch = guard(Method::PATCH, &[]).with_body_version(Some(&stale));
        let refused = block(patch.modify(&store, "doc", |n| Ok(n + 1))).unwrap_err();
        assert_eq!(refused.status(), 409, "PATCH {stale}");
    }
    assert_eq!(store.get_sync("doc").unwrap().value, 2);
    // A lost-update-safe header wins over the body's version.
    let both = guard(Method::PUT, &[("if-match", &v2.etag())]).with_body_version(Some(&v1.etag()));
    assert_eq!(block(both.put(&store, "doc", 4)).unwrap().status(), 200);
    // An If-Unmodified-Since next to a body version is evaluated too.
    let v3 = store.head_sync("doc").unwrap().version;
    let dated = guard(
        Method::PUT,
        &[("if-unmodified-since", "Sun, 06 Nov 1994 08:49:37 GMT")],
    )
    .with_body_version(Some(&v3.etag()));
    assert_eq!(
        block(dated.put(&store, "doc", 5)).unwrap_err().status(),
        412
    );
    // DELETE with the version in the body.
    let delete = guard(Method::DELETE, &[]).with_body_version(Some(&v3.etag()));
    assert_eq!(block(delete.delete(&store, "doc")).unwrap().status(), 204);
}

// ---------------------------------------------------------------------------------------------
// Each operation's status rows
// ---------------------------------------------------------------------------------------------

#[test]
fn put_statuses() {
    let store = MemoryStore::new();
    // Create-only, then replace; PUT never answers 404.
    assert_eq!(
        block(guard(Method::PUT, &[("if-none-match", "*")]).put(&store, "k", 1))
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        block(guard(Method::PUT, &[("if-none-match", "*")]).put(&store, "k", 1))
            .unwrap_err()
            .status(),
        412
    );
    assert_eq!(
        block(guard(Method::PUT, &[("if-match", "*")]).put(&store, "new", 1))
            .unwrap_err()
            .status(),
        412
    );
    assert_eq!(
        block(guard(Method::PUT, &[("if-match", "*")]).put(&store, "k", 2))
            .unwrap()
            .status(),
        200
    );
    // If-Match plus an If-None-Match tag list: evaluated against the current state.
    let v = store.head_sync("k").unwrap().version;
    let both = guard(
        Method::PUT,
        &[("if-match", &v.etag()), ("if-none-match", &v.etag())],
    );
    assert_eq!(block(both.put(&store, "k", 3)).unwrap_err().status(), 412);
    // Unconditional under a policy that allows it: 201 only when it really created.
    let free =
        Guard::with_policy(&Method::PUT, &HeaderMap::new(), &PreconditionPolicy::none()).unwrap();
    assert_eq!(block(free.put(&store, "k", 4)).unwrap().status(), 200);
    assert_eq!(block(free.put(&store, "fresh", 4)).unwrap().status(), 201);
    assert_eq!(block(free.put(&store, "fresh", 5)).unwrap().status(), 200);
}

#[test]
fn delete_and_modify_of_a_missing_key_are_404_whatever_the_preconditions() {
    let store = MemoryStore::<u8>::new();
    for pairs in [
        [("if-match", "*")],
        [("if-match", "\"7\"")],
        [("if-none-match", "\"7\"")],
    ] {
        let g = Guard::with_policy(
            &Method::DELETE,
            &headers(&pairs),
            &PreconditionPolicy::none(),
        )
        .unwrap();
        assert_eq!(
            block(g.delete(&store, "gone")).unwrap_err().status(),
            404,
            "{pairs:?}"
        );
        let g = Guard::with_policy(
            &Method::PATCH,
            &headers(&pairs),
            &PreconditionPolicy::none(),
        )
        .unwrap();
        assert_eq!(
            block(g.modify(&store, "gone", Ok)).unwrap_err().status(),
            404,
            "{pairs:?}"
        );
    }
}

#[test]
fn modify_is_pinned_to_the_version_it_read() {
    let store = MemoryStore::new();
    store.put_sync("n", 1u32, Expect::Absent).unwrap();
    // A concurrent write between the read and the write: the pinned write refuses.
    let free = Guard::with_policy(
        &Method::PATCH,
        &HeaderMap::new(),
        &PreconditionPolicy::none(),
    )
    .unwrap();
    let lost = block(free.modify(&store, "n", |n| {
        store.put_sync("n", 100, Expect::Any).unwrap(); // someone else, meanwhile
        Ok(n + 1)
    }))
    .unwrap_err();
    assert_eq!(
        lost.status(),
        409,
        "a server-side read-modify-write that lost: 409"
    );
    assert_eq!(store.get_sync("n").unwrap().value, 100);
    let v = store.head_sync("n").unwrap().version;
    let headed = guard(Method::PATCH, &[("if-match", &v.etag())]);
    let lost = block(headed.modify(&store, "n", |n| {
        store.put_sync("n", 200, Expect::Any).unwrap();
        Ok(n + 1)
    }))
    .unwrap_err();
    assert_eq!(lost.status(), 412, "expectation from If-Match: 412");
    assert_eq!(store.get_sync("n").unwrap().value, 200);
    // The change refuses: nothing is written.
    let v = store.head_sync("n").unwrap().version;
    let g = guard(Method::PATCH, &[("if-match", &v.etag())]);
    let r = block(g.modify(&store, "n", |_| {
        Err(Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "no").into())
    }));
    assert_eq!(r.unwrap_err().status(), 422);
    assert_eq!(store.head_sync("n").unwrap().version, v);
}

#[test]
fn read_answers_the_same_headers_for_get_and_head() {
    let store = MemoryStore::new();
    store.put_sync("d", "x".to_owned(), Expect::Absent).unwrap();
    let get = block(guard(Method::GET, &[]).read(&store, "d")).unwrap();
    let head = block(guard(Method::HEAD, &[]).read(&store, "d")).unwrap();
    assert_eq!(get.headers(), head.headers());
    assert_eq!(get.status(), head.status());
}

#[test]
fn a_shared_store_works_the_same() {
    let store: optimist::SharedStore<u32> = std::sync::Arc::new(MemoryStore::new());
    let created =
        block(guard(Method::PUT, &[("if-none-match", "*")]).put(&*store, "k", 1)).unwrap();
    let tag = etag(created.headers());
    let read = block(guard(Method::GET, &[("if-none-match", &tag)]).read(&*store, "k"));
    assert_eq!(read.unwrap_err().status(), 304);
    let _ = block(store.get("k"));
}
