//! Faults between `optimist serve` and its PostgreSQL or Redis store, injected with a TCP
//! proxy in front of the store's server (`tests/common/proxy.rs`):
//!
//! 1. the server goes away (the proxy stops: listener and connections closed), then comes
//!    back on the same port;
//! 2. replies are lost (each connection is cut as soon as the server answers: a write is
//!    carried out but serve cannot know);
//! 3. the server hangs (every byte is held, then delivered when it "recovers").
//!
//! Each time serve must answer 503 `application/problem+json` with `Retry-After` (never hang:
//! every request here fails the test if it gets no answer within [`LIMIT`], while the
//! store's own timeouts are 5 s; never a 500, never a driver message, host or password in the
//! body), then serve again once the server is back, with the data intact: a write whose
//! outcome was unknown left the document in its state before or after that write, never
//! anything else.
//!
//! Runs when `OPTIMIST_PG_URL` / `OPTIMIST_REDIS_URL` are set (as `.ci/run` does); says loudly
//! that it skipped otherwise. Long mode: `OPTIMIST_FAULT_ROUNDS=N` repeats the whole cycle N
//! times (a new proxy and server each time).

mod common;
#[path = "../../tests/common/proxy.rs"]
mod proxy;

use std::time::Duration;

use common::*;
use proxy::{Mode, Proxy, rewrite_url};
use serde_json::{Value, json};

/// Every request's read timeout: no answer by then means serve hangs.
const LIMIT: Duration = Duration::from_secs(15);

/// A password that must never show in a response or a log line. The PostgreSQL URL gets it
/// when it has none (the server then trusts the connection and never asks for it).
const CANARY: &str = "canary-pw-7f3a9";

fn env_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            say_skipped(&format!(
                "{var} is not set, so the serve fault test did not run against it"
            ));
            None
        }
    }
}

/// A username unique to this run.
fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("faults-{tag}-{}-{nanos}", std::process::id())
}

/// What a 503 said the matter was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Why {
    /// Nothing was done: safe to retry.
    Unavailable,
    /// A write that may or may not have been applied.
    Indeterminate,
}

/// The words and addresses a 503 body must not contain.
struct Secrets {
    markers: Vec<String>,
}

impl Secrets {
    fn new(store_url: &str, proxy_port: u16, target_port: u16) -> Self {
        let mut markers: Vec<String> = [
            CANARY,
            "127.0.0.1",
            "localhost",
            "postgres",
            "redis",
            "tokio",
            "panick",
            "backtrace",
            "os error",
            "refused",
            "src/",
            ".rs:",
        ]
        .map(str::to_owned)
        .to_vec();
        markers.push(format!(":{proxy_port}"));
        markers.push(format!(":{target_port}"));
        markers.push(store_url.to_ascii_lowercase());
        Self { markers }
    }

    /// Asserts a 503 problem with `Retry-After` and nothing that names the backend; says
    /// whether the store was unavailable or the write's outcome is unknown.
    #[track_caller]
    fn check_503(&self, response: &Response) -> Why {
        let retry_after = response.header("retry-after").unwrap_or_else(|| {
            panic!(
                "{}: a 503 needs Retry-After: {response:?}",
                response.context
            )
        });
        assert!(
            retry_after.parse::<u64>().is_ok(),
            "{}: Retry-After {retry_after:?} is not delta-seconds",
            response.context
        );
        let text = response.text().to_ascii_lowercase();
        for marker in &self.markers {
            assert!(
                !text.contains(marker.as_str()),
                "{}: the 503 leaks {marker:?}: {text}",
                response.context
            );
        }
        if response.context.starts_with("HEAD") {
            response.assert_status(503);
            response.assert_no_body();
            return Why::Unavailable;
        }
        let problem = response.problem(503);
        let kind = problem["type"].as_str().unwrap_or_default();
        if kind.ends_with("#variant.Unavailable") {
            Why::Unavailable
        } else if kind.ends_with("#variant.Indeterminate") {
            Why::Indeterminate
        } else {
            panic!("{}: unexpected 503 problem {problem}", response.context)
        }
    }
}

/// The test's view of serve and its one user.
struct Client<'a> {
    server: &'a Server,
    name: String,
}

impl Client<'_> {
    fn doc(&self, n: u64) -> Value {
        json!({"username": self.name, "n": n})
    }

    fn path(&self) -> String {
        user_path(&self.name)
    }

    fn get(&self) -> Response {
        self.server.get(&self.path()).read_timeout(LIMIT).send()
    }

    fn put(&self, etag: &str, n: u64) -> Response {
        self.server
            .request("PUT", &self.path())
            .header("If-Match", etag)
            .json(&self.doc(n))
            .read_timeout(LIMIT)
            .send()
    }

    /// Polls GET until it answers 200 (the store is back); its document and ETag. Fails
    /// if serve keeps answering 503 for ~10 s after the server came back.
    #[track_caller]
    fn wait_until_served(&self, secrets: &Secrets) -> (Value, String) {
        for _ in 0..40 {
            let response = self.get();
            if response.status == 200 {
                return (response.json(), response.etag());
            }
            secrets.check_503(&response);
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("serve still answers 503 10 s after the store's server came back");
    }
}

/// Runs the three faults against the store named by `url`, through a proxy.
fn faults(url: &str, backend: &str) {
    let Some((target, _)) = rewrite_url(url, 0) else {
        eprintln!("SKIPPED: the fault test cannot put a proxy in front of {backend} ({url:?})");
        return;
    };
    let proxy = Proxy::start(target, 0);
    let port = proxy.port();
    let (_, mut store_url) = rewrite_url(url, port).unwrap();
    let userinfo = store_url
        .strip_prefix("postgres://")
        .and_then(|rest| rest.split_once('@'))
        .filter(|(user, _)| !user.contains(':'))
        .map(|(user, host)| (user.to_owned(), host.to_owned()));
    if let Some((user, host)) = userinfo {
        store_url = format!("postgres://{user}:{CANARY}@{host}");
    }
    let secrets = Secrets::new(&store_url, port, target.port());
    let mut server = Server::start_with(&["--store", &store_url]);
    let client = Client {
        server: &server,
        name: unique(&backend[..1]),
    };
    let mut outcomes: Vec<String> = Vec::new();

    let mut etag = create(&server, &client.doc(0));
    // A write first, so the connection serve keeps has the write path ready.
    let response = client.put(&etag, 1);
    response.assert_status(200);
    etag = response.etag();
    let mut current = client.doc(1);

    // ---- 1. the server goes away
    proxy.stop();
    let other = unique("other");
    let down = [
        server.get(&client.path()),
        server.request("HEAD", &client.path()),
        server
            .request("PUT", &client.path())
            .header("If-Match", &etag)
            .json(&client.doc(2)),
        server
            .request("PATCH", &client.path())
            .header("If-Match", &etag)
            .merge_patch(&json!({"n": 3})),
        server
            .request("DELETE", &client.path())
            .header("If-Match", &etag),
        server
            .request("POST", "/api/users")
            .json(&json!({"username": other})),
        server
            .request("PUT", &user_path(&other))
            .header("If-None-Match", "*")
            .json(&json!({"username": other})),
    ];
    for request in down {
        let response = request.read_timeout(LIMIT).send();
        let why = secrets.check_503(&response);
        outcomes.push(format!("server gone: {} -> 503 {why:?}", response.context));
    }
    // A burst at once: every one answered, none hangs on the pool.
    let burst: Vec<_> = (0..8)
        .map(|_| {
            let request = server.get(&client.path()).read_timeout(LIMIT);
            std::thread::spawn(move || request.send())
        })
        .collect();
    for response in burst {
        let response = response.join().unwrap();
        assert_eq!(secrets.check_503(&response), Why::Unavailable);
    }

    // ---- the server comes back on the same port
    let proxy = Proxy::start(target, port);
    let (doc, now) = client.wait_until_served(&secrets);
    assert_eq!(
        (&doc, &now),
        (&current, &etag),
        "nothing reached the server while it was gone"
    );
    assert_absent(&server, &other);
    let response = client.put(&etag, 4);
    response.assert_status(200);
    etag = response.etag();
    current = client.doc(4);
    outcomes.push("server back: GET 200 (data intact), PUT 200".into());

    // ---- 2. replies are lost: the write reaches the server, its answer never comes back
    proxy.set_mode(Mode::CutOnReply);
    let response = client.put(&etag, 5);
    let why = secrets.check_503(&response);
    let read = client.get();
    assert_eq!(secrets.check_503(&read), Why::Unavailable, "a read");
    proxy.set_mode(Mode::Forward);
    let (doc, now) = client.wait_until_served(&secrets);
    let applied = now != etag;
    match why {
        Why::Unavailable => assert_eq!(
            (&doc, &now),
            (&current, &etag),
            "a write reported Unavailable must not have been applied"
        ),
        Why::Indeterminate if applied => assert_eq!(doc, client.doc(5), "applied, whole"),
        Why::Indeterminate => assert_eq!(doc, current, "not applied, unchanged"),
    }
    outcomes.push(format!(
        "replies lost: PUT -> 503 {why:?} ({}), GET -> 503 Unavailable; {} proxy cuts",
        if applied {
            "it was applied"
        } else {
            "it was not applied"
        },
        proxy.cuts()
    ));
    let response = client.put(&now, 6);
    response.assert_status(200);
    etag = response.etag();
    current = client.doc(6);

    // ---- 3. the server hangs: nothing comes back until the store's timeouts expire
    proxy.set_mode(Mode::Hold);
    let get = {
        let request = server.get(&client.path()).read_timeout(LIMIT);
        std::thread::spawn(move || request.send())
    };
    let put = {
        let request = server
            .request("PUT", &client.path())
            .header("If-Match", &etag)
            .json(&client.doc(7))
            .read_timeout(LIMIT);
        std::thread::spawn(move || request.send())
    };
    let get = get.join().unwrap();
    let put = put.join().unwrap();
    assert_eq!(secrets.check_503(&get), Why::Unavailable, "a read");
    let why = secrets.check_503(&put);
    // The held bytes are delivered now: the write may land late, and then only once (its
    // expectation no longer holds afterwards). Reads see the state before or after it.
    proxy.set_mode(Mode::Forward);
    let mut landed = false;
    let mut written = false;
    for _ in 0..10 {
        let (doc, now) = client.wait_until_served(&secrets);
        if now == etag {
            assert_eq!(doc, current);
        } else {
            assert_eq!(
                doc,
                client.doc(7),
                "only the held write can have changed it"
            );
            assert_eq!(why, Why::Indeterminate, "an Unavailable write was applied");
            landed = true;
        }
        let response = client.put(&now, 8);
        if response.status == 412 {
            continue; // the held write landed between the read and this write
        }
        response.assert_status(200);
        etag = response.etag();
        current = client.doc(8);
        written = true;
        break;
    }
    assert!(written, "the store never settled after the hang");
    outcomes.push(format!(
        "server hung: GET -> 503 Unavailable, PUT -> 503 {why:?} ({})",
        if landed {
            "delivered late and applied"
        } else {
            "not seen applied"
        }
    ));

    // ---- recovered in full: concurrent requests all work, the document is the last write
    let burst: Vec<_> = (0..8)
        .map(|_| {
            let request = server.get(&client.path()).read_timeout(LIMIT);
            std::thread::spawn(move || request.send())
        })
        .collect();
    for response in burst {
        let response = response.join().unwrap();
        response.assert_status(200);
        assert_eq!(response.json(), current);
        assert_eq!(response.etag(), etag);
    }
    server
        .request("DELETE", &client.path())
        .header("If-Match", &etag)
        .send()
        .assert_status(204);
    proxy.stop();

    let logs = server.stop_and_logs();
    assert!(!logs.contains(CANARY), "the password was logged:\n{logs}");
    assert!(!logs.contains("panicked"), "serve panicked:\n{logs}");
    assert!(
        logs.contains("store unavailable"),
        "a 503 is logged for the operator:\n{logs}"
    );
    eprintln!(
        "{backend} faults through serve:\n  {}",
        outcomes.join("\n  ")
    );
}

#[test]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
fn serve_answers_503_and_recovers_postgres() {
    if let Some(url) = env_url("OPTIMIST_PG_URL") {
        for _ in 0..proxy::fault_rounds() {
            faults(&url, "postgres");
        }
    }
}

#[test]
#[cfg_attr(not(optimist_redis_url), ignore = "OPTIMIST_REDIS_URL is not set")]
fn serve_answers_503_and_recovers_redis() {
    if let Some(url) = env_url("OPTIMIST_REDIS_URL") {
        for _ in 0..proxy::fault_rounds() {
            faults(&url, "redis");
        }
    }
}
