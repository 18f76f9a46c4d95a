//! Unique emails over real TCP, on every backend (issue 12): a user's document and its index
//! entry `email:<normalised>` change in one multi-key commit, so a taken address is a 409
//! naming the **target** user with its own ETag, races never leave an address held twice or
//! by nobody, and a kill -9 never leaves an orphan.
//!
//! The index is not visible over HTTP (listing skips it); whether it agrees with the
//! documents is checked the way a client sees it: an address is taken exactly when some
//! user's document holds it (a probe POST with it is 409, else 201).

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::{Value, json};

fn user(name: &str, email: &str) -> Value {
    json!({"username": name, "email": email})
}

/// Asserts a 409 "email is taken" about `key`, carrying `etag` (the target's current ETag;
/// `None` on a create: no `ETag`, no `current_etag`).
#[track_caller]
fn taken(response: &Response, key: &str, etag: Option<&str>) {
    let problem = response.problem(409);
    assert_eq!(problem["field"], "email", "{problem}");
    assert_eq!(
        problem["key"], key,
        "the problem names the target user: {problem}"
    );
    match etag {
        Some(etag) => {
            assert_eq!(response.etag(), etag, "the target's ETag: {problem}");
            assert_eq!(problem["current_etag"], etag, "{problem}");
        }
        None => {
            assert!(response.header("etag").is_none(), "{problem}");
            assert!(problem.get("current_etag").is_none(), "{problem}");
        }
    }
}

/// Whether `email` is free: a probe user created with it gets 201 (then is deleted again)
/// rather than 409 field email.
fn is_free(server: &Server, email: &str) -> bool {
    let response = server
        .request("POST", "/api/users")
        .json(&user("probe", email))
        .send();
    match response.status {
        201 => {
            server
                .request("DELETE", "/api/users/probe")
                .header("If-Match", response.etag())
                .send()
                .assert_status(204);
            true
        }
        409 => {
            assert_eq!(response.problem(409)["field"], "email");
            false
        }
        other => panic!("probe for {email}: {other} {}", response.text()),
    }
}

/// The normalised address each of `users` holds, asserting no two hold the same one.
#[track_caller]
fn held_by(server: &Server, users: &[&str]) -> BTreeMap<String, String> {
    let mut held = BTreeMap::new();
    for name in users {
        let (doc, _) = fetch(server, name);
        if let Some(email) = doc["email"].as_str() {
            let normalised = email.trim().to_lowercase();
            let before = held.insert(normalised.clone(), name.to_string());
            assert!(
                before.is_none(),
                "{normalised} held by {before:?} and {name}"
            );
        }
    }
    held
}

/// Asserts that the index agrees with the documents for `users` over `emails`: every user
/// holds a distinct address, and an address is taken exactly when a user holds it. Reading
/// the documents and probing the addresses is not one snapshot, so the comparison counts
/// only when the documents read before and after the probes are the same (after a kill -9
/// the dead process's last transaction may still be finishing in the database).
#[track_caller]
fn index_agrees(server: &Server, users: &[&str], emails: &[&str]) -> BTreeMap<String, String> {
    for _ in 0..50 {
        let held = held_by(server, users);
        let free: Vec<bool> = emails.iter().map(|email| is_free(server, email)).collect();
        if held_by(server, users) != held {
            std::thread::sleep(std::time::Duration::from_millis(100));
            continue;
        }
        for (email, free) in emails.iter().zip(free) {
            assert_eq!(
                free,
                !held.contains_key(*email),
                "{email}: the index says {} but the documents say {held:?}",
                if free { "free" } else { "taken" },
            );
        }
        return held;
    }
    panic!("the documents kept changing while nothing wrote to them");
}

every_backend! {
    /// A taken email (compared trimmed and lowercased) on POST, PUT (If-Match, `_version`,
    /// If-None-Match: *) and PATCH: 409 field email naming the target and its own ETag
    /// (none on a create), nothing written; a user keeping its own address in another case
    /// is no conflict, and the stored document keeps what was sent.
    fn duplicate_email_is_409_naming_the_target(server) {
        let ann = create(server, &user("ann", "Ann@Example.com"));
        let bob = create(server, &user("bob", "bob@example.com"));

        let post = server
            .request("POST", "/api/users")
            .json(&user("carol", " ANN@example.COM\t"))
            .send();
        taken(&post, "carol", None);
        assert_absent(server, "carol");

        let put = server
            .request("PUT", "/api/users/bob")
            .header("If-Match", &bob)
            .json(&user("bob", "ann@example.com"))
            .send();
        taken(&put, "bob", Some(&bob));
        let mut versioned = user("bob", "ann@EXAMPLE.com");
        versioned["_version"] = json!(bob);
        taken(&server.request("PUT", "/api/users/bob").json(&versioned).send(), "bob", Some(&bob));
        let create_only = server
            .request("PUT", "/api/users/dave")
            .header("If-None-Match", "*")
            .json(&user("dave", "ann@example.com"))
            .send();
        taken(&create_only, "dave", None);
        assert_absent(server, "dave");

        let patch = server
            .request("PATCH", "/api/users/bob")
            .header("If-Match", &bob)
            .merge_patch(&json!({"email": "  ann@example.com"}))
            .send();
        taken(&patch, "bob", Some(&bob));
        assert_unchanged(server, "bob", &user("bob", "bob@example.com"), &bob);
        assert_unchanged(server, "ann", &user("ann", "Ann@Example.com"), &ann);

        // Ann's own address in another spelling: no conflict; the document keeps it as sent.
        let response = server
            .request("PUT", "/api/users/ann")
            .header("If-Match", &ann)
            .json(&user("ann", "ANN@example.com "))
            .send();
        response.assert_status(200);
        assert_eq!(response.json()["email"], "ANN@example.com ");
        assert!(!is_free(server, "ann@example.com"));

        // Not an address: 422 naming email.
        for bad in [json!(7), json!(""), json!("no-at-sign"), json!("a b@c")] {
            let response = server
                .request("POST", "/api/users")
                .json(&json!({"username": "erin", "email": bad}))
                .send();
            assert_eq!(response.problem(422)["field"], "email", "{bad}");
        }
        assert_absent(server, "erin");
    }

    /// After a delete, or a change of address, the old address is free again; removing the
    /// email (PATCH `null`) frees it too.
    fn released_emails_are_free(server) {
        let ann = create(server, &user("ann", "ann@example.com"));
        let bob = create(server, &user("bob", "bob@example.com"));
        let carol = create(server, &user("carol", "carol@example.com"));
        server
            .request("DELETE", "/api/users/ann")
            .header("If-Match", &ann)
            .send()
            .assert_status(204);
        assert!(is_free(server, "ann@example.com"));
        let response = server
            .request("PUT", "/api/users/bob")
            .header("If-Match", &bob)
            .json(&user("bob", "robert@example.com"))
            .send();
        response.assert_status(200);
        assert!(is_free(server, "bob@example.com"));
        assert!(!is_free(server, "robert@example.com"));
        server
            .request("PATCH", "/api/users/carol")
            .header("If-Match", &carol)
            .merge_patch(&json!({"email": null}))
            .send()
            .assert_status(200);
        assert!(is_free(server, "carol@example.com"));
        // The freed addresses can be taken by others.
        create(server, &user("dave", "ann@example.com"));
        create(server, &user("erin", "bob@example.com"));
        index_agrees(
            server,
            &["bob", "carol", "dave", "erin"],
            &["ann@example.com", "bob@example.com", "carol@example.com", "robert@example.com"],
        );
    }

    /// 50 concurrent creates of different users with one address: exactly one 201, every
    /// other a 409 field email; exactly one of the users exists.
    fn fifty_concurrent_creates_with_one_email(server) {
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..50)
                .map(|i| {
                    scope.spawn(move || {
                        let response = server
                            .request("POST", "/api/users")
                            .json(&user(&format!("u{i}"), "same@example.com"))
                            .send();
                        if response.status == 409 {
                            taken(&response, &format!("u{i}"), None);
                        }
                        response.status
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().expect("a client")).collect()
        });
        assert_eq!(statuses.iter().filter(|&&s| s == 201).count(), 1, "{statuses:?}");
        assert_eq!(statuses.iter().filter(|&&s| s == 409).count(), 49, "{statuses:?}");
        let existing = (0..50)
            .filter(|i| server.get(&user_path(&format!("u{i}"))).send().status == 200)
            .count();
        assert_eq!(existing, 1);
        assert!(!is_free(server, "same@example.com"));
    }

    /// Two users swapping addresses (through a third, free one) from two threads at once:
    /// whatever wins, the two never hold one address, and the index agrees with the
    /// documents after every round: no address held by both, none orphaned.
    fn concurrent_email_swaps_never_duplicate_or_orphan(server) {
        let emails = ["x@example.com", "y@example.com", "z@example.com"];
        create(server, &user("a", emails[0]));
        create(server, &user("b", emails[1]));
        for round in 0..12 {
            std::thread::scope(|scope| {
                for (name, shift) in [("a", 1), ("b", 2)] {
                    scope.spawn(move || {
                        let target = emails[(round + shift) % 3];
                        // PUT with If-Match: *, PATCH with the ETag read: both pinned.
                        let response = if round % 2 == 0 {
                            server
                                .request("PUT", &user_path(name))
                                .header("If-Match", "*")
                                .json(&user(name, target))
                                .send()
                        } else {
                            let (_, etag) = fetch(server, name);
                            server
                                .request("PATCH", &user_path(name))
                                .header("If-Match", etag)
                                .merge_patch(&json!({"email": target}))
                                .send()
                        };
                        match response.status {
                            200 => {}
                            409 => assert_eq!(response.problem(409)["field"], "email"),
                            other => panic!("{name} -> {target}: {other} {}", response.text()),
                        }
                    });
                }
            });
            let held = index_agrees(server, &["a", "b"], &emails);
            assert_eq!(held.len(), 2, "round {round}: each user holds one address: {held:?}");
        }
    }

    /// Listing never shows an index entry; pages of any size cover every user exactly once,
    /// in username order, with ETags that GET agrees with, and `Link: rel="next"` (and the
    /// `next` member) to follow; bad queries are 400.
    fn listing_pages_cover_every_user_once(server) {
        let mut names: Vec<String> = (0..23).map(|i| format!("user{i:02}")).collect();
        // Names around the index's range `email:...`.
        names.extend(["email", "email-x", "email.x", "email0", "emailz", "A", "zz"].map(String::from));
        let mut etags = BTreeMap::new();
        for (i, name) in names.iter().enumerate() {
            etags.insert(name.clone(), create(server, &user(name, &format!("e{i}@example.com"))));
        }
        for limit in [1, 4, 7, 50] {
            let listed = walk(server, Some(limit));
            let expected: Vec<(String, String)> =
                etags.iter().map(|(n, e)| (n.clone(), e.clone())).collect();
            assert_eq!(listed, expected, "limit {limit}");
        }
        // The default page holds them all (fewer than the default limit): no Link.
        let response = server.get("/api/users").send();
        response.assert_status(200);
        assert!(response.header("link").is_none());
        assert!(response.json().get("next").is_none());
        assert_eq!(response.json()["users"].as_array().unwrap().len(), names.len());
        for bad in ["limit=0", "limit=501", "limit=x", "after=a:b", "after=", "page=2", "limit=1&limit=2"] {
            server.get(&format!("/api/users?{bad}")).send().problem(400);
        }
    }

    /// Listing while users are created, changed (with their emails) and deleted: every user
    /// that exists, unchanged in name, throughout appears exactly once; no name repeats; the
    /// order is ascending.
    fn listing_during_writes_covers_stable_users_once(server) {
        let stable: Vec<String> = (0..20).map(|i| format!("s{i:02}")).collect();
        for (i, name) in stable.iter().enumerate() {
            create(server, &user(name, &format!("s{i}@example.com")));
        }
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let stop = &stop;
            let writers_stable = &stable;
            scope.spawn(move || {
                let mut n = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    // Churn: a user appears and goes again; a stable user's email changes.
                    let churn = format!("c{:02}", n % 40);
                    let created = server
                        .request("POST", "/api/users")
                        .json(&user(&churn, &format!("churn{n}@example.com")))
                        .send();
                    if created.status == 201 {
                        server
                            .request("DELETE", &user_path(&churn))
                            .header("If-Match", created.etag())
                            .send();
                    }
                    let target = &writers_stable[n as usize % writers_stable.len()];
                    server
                        .request("PATCH", &user_path(target))
                        .header("If-Match", "*")
                        .merge_patch(&json!({"email": format!("moved{n}@example.com")}))
                        .send();
                }
            });
            for _ in 0..5 {
                let listed = walk(server, Some(3));
                let names: Vec<&String> = listed.iter().map(|(n, _)| n).collect();
                assert!(names.windows(2).all(|w| w[0] < w[1]), "ascending, no repeats: {names:?}");
                for name in &stable {
                    assert_eq!(names.iter().filter(|n| **n == name).count(), 1, "{name} in {names:?}");
                }
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
    }
}

/// Follows `Link: rel="next"` from the first page (`limit` per page): every listed
/// `(username, etag)`. Checks that the `next` member and the `Link` agree.
fn walk(server: &Server, limit: Option<usize>) -> Vec<(String, String)> {
    let mut uri = match limit {
        Some(n) => format!("/api/users?limit={n}"),
        None => "/api/users".to_owned(),
    };
    let mut listed = Vec::new();
    for _ in 0..1000 {
        let response = server.get(&uri).send();
        response.assert_status(200);
        assert_eq!(response.media_type().as_deref(), Some("application/json"));
        let body = response.json();
        let users = body["users"].as_array().expect("a users array");
        if let Some(n) = limit {
            assert!(users.len() <= n, "{body}");
        }
        for entry in users {
            listed.push((
                entry["username"].as_str().expect("username").to_owned(),
                entry["etag"].as_str().expect("etag").to_owned(),
            ));
        }
        let next = body.get("next").and_then(Value::as_str).map(str::to_owned);
        match (response.header("link"), next) {
            (None, None) => return listed,
            (Some(link), Some(next)) => {
                assert_eq!(link, format!("<{next}>; rel=\"next\""));
                assert!(!users.is_empty(), "a page with a next link has users");
                uri = next;
            }
            (link, next) => panic!("Link {link:?} and next {next:?} disagree"),
        }
    }
    panic!("the listing did not end");
}

/// kill -9 during a stream of email changes, then a restart on the same data: every
/// acknowledged change is there, and the index agrees with the documents (no orphan, no
/// address held twice). On the backends that keep data across processes.
fn survives_kill_9(backend: Backend) {
    let Some(server) = serve_on(backend, &[]) else {
        return;
    };
    let emails: Vec<String> = (0..6).map(|i| format!("k{i}@example.com")).collect();
    let names = ["p", "q", "r"];
    for (name, email) in names.iter().zip(&emails) {
        create(&server, &user(name, email));
    }
    let pid = server.pid();
    // Per user: the last address a 200 acknowledged, and the one in flight when it died.
    let outcomes: Vec<(Option<String>, Option<String>)> = std::thread::scope(|scope| {
        let threads: Vec<_> = names
            .iter()
            .enumerate()
            .map(|(t, name)| {
                let server = &*server;
                let emails = &emails;
                scope.spawn(move || {
                    let mut acknowledged = None;
                    for n in 0.. {
                        let target = &emails[(t * 2 + n) % emails.len()];
                        let response = server
                            .request("PUT", &user_path(name))
                            .header("If-Match", "*")
                            .json(&user(name, target))
                            .try_send();
                        match response.map(|r| r.status) {
                            Some(200) => acknowledged = Some(target.clone()),
                            // Held by another user (or the server dying mid-answer).
                            Some(_) => {}
                            // Killed under us: this one may or may not have applied.
                            None => return (acknowledged, Some(target.clone())),
                        }
                    }
                    unreachable!("the loop ends when the server dies")
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let killed = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        threads
            .into_iter()
            .map(|t| t.join().expect("a writer"))
            .collect()
    });
    let args = server.store_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let restarted = Server::start_with(&args);
    let email_refs: Vec<&str> = emails.iter().map(String::as_str).collect();
    let held = index_agrees(&restarted, &names, &email_refs);
    assert_eq!(
        held.len(),
        names.len(),
        "every user still holds one address: {held:?}"
    );
    for (name, (acknowledged, in_flight)) in names.iter().zip(outcomes) {
        let (doc, _) = fetch(&restarted, name);
        let now = doc["email"].as_str().map(str::to_owned);
        if acknowledged.is_some() {
            assert!(
                now == acknowledged || now == in_flight,
                "{name}: acknowledged {acknowledged:?} (in flight {in_flight:?}), found {now:?}"
            );
        }
    }
}

#[test]
fn kill_9_during_email_changes_sqlite() {
    survives_kill_9(Backend::Sqlite);
}

#[test]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
fn kill_9_during_email_changes_postgres() {
    survives_kill_9(Backend::Postgres);
}
