//! Helpers for the black-box tests of `optimist serve`: a server process guard and a tiny
//! blocking HTTP/1.1 client over `std::net::TcpStream`.

#![allow(dead_code, unused_imports, unused_macros)]

pub mod backends;
pub use backends::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long anything (startup, a socket read, a process exit) may take before a test gives up.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The `optimist` binary under test: the one cargo built, or the one `OPTIMIST_BIN` names
/// (to run these black-box tests against another build, e.g. the one before a fix).
pub fn binary() -> String {
    std::env::var("OPTIMIST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_optimist").to_owned())
}

/// How `optimist serve` ended when it exited instead of listening.
#[derive(Debug)]
pub struct Exited {
    pub status: ExitStatus,
    pub stderr: String,
}

/// A running `optimist serve`; killed (and its logs shown if the test is failing) on drop.
pub struct Server {
    child: Child,
    addr: SocketAddr,
    stderr: Option<JoinHandle<String>>,
}

impl Server {
    /// `optimist serve --addr 127.0.0.1:0` with the default options.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// `optimist serve --addr 127.0.0.1:0 EXTRA...`; waits for the `listening on` line.
    pub fn start_with(extra: &[&str]) -> Self {
        match Self::try_start(extra) {
            Ok(server) => server,
            Err(exit) => panic!(
                "optimist serve {extra:?} exited ({}) instead of listening; stderr:\n{}",
                exit.status, exit.stderr
            ),
        }
    }

    /// Starts `optimist serve --addr 127.0.0.1:0 EXTRA...`: `Ok` once it prints its
    /// `listening on` line, `Err` if it exits first. Panics if neither happens within
    /// [`TIMEOUT`].
    pub fn try_start(extra: &[&str]) -> Result<Self, Exited> {
        Self::try_start_env(
            extra,
            &[("NO_COLOR", Some("1")), ("RUST_LOG", Some("info"))],
        )
    }

    /// Like [`Server::start_with`], with the environment changed by `env` (`None`: removed)
    /// instead of the defaults `NO_COLOR=1 RUST_LOG=info`.
    pub fn start_env(extra: &[&str], env: &[(&str, Option<&str>)]) -> Self {
        match Self::try_start_env(extra, env) {
            Ok(server) => server,
            Err(exit) => panic!(
                "optimist serve {extra:?} exited ({}) instead of listening; stderr:\n{}",
                exit.status, exit.stderr
            ),
        }
    }

    /// Like [`Server::try_start`], with the environment changed by `env`.
    pub fn try_start_env(extra: &[&str], env: &[(&str, Option<&str>)]) -> Result<Self, Exited> {
        let mut command = Command::new(binary());
        command.args(["serve", "--addr", "127.0.0.1:0"]).args(extra);
        for (name, value) in env {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn optimist serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let stderr = std::thread::spawn(move || {
            let mut logs = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut logs);
            logs
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let first = reader.read_line(&mut line).map(|_| line);
            let _ = tx.send(first);
            // Keep the pipe open (and drained) for the server's lifetime.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let mut server = Server {
            child,
            addr: "127.0.0.1:1".parse().unwrap(),
            stderr: Some(stderr),
        };
        let line = match rx.recv_timeout(TIMEOUT) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => panic!("reading the server's stdout failed: {e}"),
            Err(_) => panic!(
                "optimist serve {extra:?} neither printed a `listening on` line nor exited \
                 within {TIMEOUT:?}; logs:\n{}",
                server.stop_and_logs()
            ),
        };
        if line.is_empty() {
            // stdout closed without a line: the process is exiting.
            let status = wait_timeout(&mut server.child, TIMEOUT).unwrap_or_else(|| {
                panic!("optimist serve {extra:?} closed stdout but did not exit")
            });
            return Err(Exited {
                status,
                stderr: server.stop_and_logs(),
            });
        }
        let addr = line
            .trim_end()
            .strip_prefix("listening on http://")
            .and_then(|a| a.parse::<SocketAddr>().ok());
        match addr {
            Some(addr) => server.addr = addr,
            None => panic!(
                "unexpected first stdout line {line:?}; logs:\n{}",
                server.stop_and_logs()
            ),
        }
        Ok(server)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A request to this server.
    pub fn request(&self, method: &str, path: &str) -> Request {
        Request::new(self.addr, method, path)
    }

    pub fn get(&self, path: &str) -> Request {
        self.request("GET", path)
    }

    /// Sends `SIGTERM` and waits (at most [`TIMEOUT`]) for the process to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed: {status}");
        wait_timeout(&mut self.child, TIMEOUT)
            .unwrap_or_else(|| panic!("the server did not exit within {TIMEOUT:?} of SIGTERM"))
    }

    /// Kills the process (if still running) and returns what it logged.
    pub fn stop_and_logs(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let logs = self.stop_and_logs();
        if std::thread::panicking() {
            eprintln!("---- optimist serve logs ----\n{logs}\n---- end of logs ----");
        }
    }
}

/// Waits for `child` to exit, polling; `None` (after killing it) if it takes longer than `limit`.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A request being built; [`Request::send`] sends it on a new connection.
#[derive(Clone, Debug)]
pub struct Request {
    addr: SocketAddr,
    method: String,
    path: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Option<Vec<u8>>,
    /// Send the body with chunked transfer coding instead of `Content-Length`.
    chunked: bool,
    /// How long to wait for the response before failing (default [`TIMEOUT`]).
    read_timeout: Option<Duration>,
}

impl Request {
    pub fn new(addr: SocketAddr, method: &str, path: &str) -> Self {
        Request {
            addr,
            method: method.to_owned(),
            path: path.to_owned(),
            headers: Vec::new(),
            body: None,
            chunked: false,
            read_timeout: None,
        }
    }

    /// Fails the test if the response takes longer than `limit` (instead of [`TIMEOUT`]).
    pub fn read_timeout(mut self, limit: Duration) -> Self {
        self.read_timeout = Some(limit);
        self
    }

    /// Adds a header line (repeat the name to send several lines); the value is raw bytes.
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers
            .push((name.to_owned(), value.as_ref().to_vec()));
        self
    }

    /// Sets the body, without any `Content-Type`.
    pub fn body(mut self, body: impl AsRef<[u8]>) -> Self {
        self.body = Some(body.as_ref().to_vec());
        self
    }

    /// Sets `Content-Type` and the body.
    pub fn typed_body(self, content_type: &str, body: impl AsRef<[u8]>) -> Self {
        self.header("Content-Type", content_type).body(body)
    }

    /// An `application/json` body.
    pub fn json(self, value: &Value) -> Self {
        self.typed_body("application/json", value.to_string())
    }

    /// An `application/merge-patch+json` body.
    pub fn merge_patch(self, value: &Value) -> Self {
        self.typed_body("application/merge-patch+json", value.to_string())
    }

    /// Sends the body with `Transfer-Encoding: chunked`.
    pub fn chunked(mut self) -> Self {
        self.chunked = true;
        self
    }

    fn head_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(format!("{} {} HTTP/1.1\r\n", self.method, self.path).as_bytes());
        out.extend_from_slice(format!("Host: {}\r\n", self.addr).as_bytes());
        out.extend_from_slice(b"Connection: close\r\n");
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        if let Some(body) = &self.body {
            if self.chunked {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
            } else {
                out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
            }
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    fn body_bytes(&self) -> Vec<u8> {
        match (&self.body, self.chunked) {
            (None, _) => Vec::new(),
            (Some(body), false) => body.clone(),
            (Some(body), true) => {
                let mut out = Vec::new();
                for chunk in body.chunks(16) {
                    out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                    out.extend_from_slice(chunk);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
                out
            }
        }
    }

    fn expects_continue(&self) -> bool {
        self.headers.iter().any(|(name, value)| {
            name.eq_ignore_ascii_case("expect") && value.eq_ignore_ascii_case(b"100-continue")
        })
    }

    /// Sends the request on a new connection and reads the whole response (to EOF).
    ///
    /// With `Expect: 100-continue`, the body is sent only after a `100 Continue`; a final
    /// response received first means the body is never sent.
    pub fn send(&self) -> Response {
        let mut stream = connect(self.addr);
        if let Some(limit) = self.read_timeout {
            stream.set_read_timeout(Some(limit)).unwrap();
        }
        let context = format!("{} {}", self.method, self.path);
        if self.expects_continue() {
            write_all(&mut stream, &self.head_bytes(), &context);
            let mut reader = ResponseReader::new(&mut stream, &context);
            let first = reader.read_head();
            let (status, _, _) = parse_head(&first, &context);
            if status == 100 {
                let rest = reader.take_buffer();
                drop(reader);
                write_all(&mut stream, &self.body_bytes(), &context);
                let mut raw = rest;
                read_to_end(&mut stream, &mut raw, &context);
                return Response::parse(&raw, &self.method, &context);
            }
            let mut raw = first;
            raw.extend(reader.take_buffer());
            read_to_end(&mut stream, &mut raw, &context);
            return Response::parse(&raw, &self.method, &context);
        }
        let mut bytes = self.head_bytes();
        bytes.extend(self.body_bytes());
        send_raw_on(stream, &bytes, &self.method, &context)
    }
}

impl Request {
    /// Like [`send`](Self::send), for a server that may die under the request: `None` when
    /// the connection is refused or ends without a complete response.
    pub fn try_send(&self) -> Option<Response> {
        let mut stream = TcpStream::connect_timeout(&self.addr, TIMEOUT).ok()?;
        stream.set_read_timeout(Some(TIMEOUT)).ok()?;
        let mut bytes = self.head_bytes();
        bytes.extend(self.body_bytes());
        stream.write_all(&bytes).ok()?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).ok()?;
        find(&raw, b"\r\n\r\n")?;
        // A response cut short (the body shorter than its Content-Length) is no response.
        std::panic::catch_unwind(|| Response::parse(&raw, &self.method, "a dying server")).ok()
    }
}

/// A new connection to `addr`, with [`TIMEOUT`] as its read and write timeouts.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, TIMEOUT)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream
}

fn write_all(stream: &mut TcpStream, bytes: &[u8], context: &str) {
    stream
        .write_all(bytes)
        .unwrap_or_else(|e| panic!("{context}: writing the request failed: {e}"));
    stream.flush().unwrap();
}

fn read_to_end(stream: &mut TcpStream, out: &mut Vec<u8>, context: &str) {
    stream.read_to_end(out).unwrap_or_else(|e| {
        let hint = if matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ) {
            format!(
                " (no complete response within the read timeout of {:?}: the server hangs)",
                stream.read_timeout().ok().flatten().unwrap_or_default()
            )
        } else {
            String::new()
        };
        panic!(
            "{context}: reading the response failed: {e}{hint}; received so far: {:?}",
            String::from_utf8_lossy(out)
        )
    });
}

/// Reads from `stream` to EOF and parses the response to a request whose method is
/// `method`. Fails the test on a read error (a timeout: the server hangs).
pub fn read_response(stream: &mut TcpStream, method: &str, context: &str) -> Response {
    let mut raw = Vec::new();
    read_to_end(stream, &mut raw, context);
    Response::parse(&raw, method, context)
}

/// For requests the server may refuse before reading them whole (a huge head or body):
/// writes `bytes` on a thread of its own, ignoring write errors (the server may close or
/// reset the connection midway), and reads whatever response arrives. `None` if the
/// connection ended without a complete response.
pub fn send_raw_lenient(addr: SocketAddr, bytes: Vec<u8>, method: &str) -> Option<Response> {
    let stream = connect(addr);
    let mut writer = stream.try_clone().expect("clone the stream");
    let sender = std::thread::spawn(move || {
        for chunk in bytes.chunks(64 * 1024) {
            if writer.write_all(chunk).is_err() {
                return;
            }
        }
        let _ = writer.flush();
    });
    let mut reader = stream;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!(
                    "{method} (lenient raw request): no response within {TIMEOUT:?}: the \
                     server hangs; received so far: {:?}",
                    String::from_utf8_lossy(&raw)
                )
            }
            // A reset after the server answered and closed with unread request bytes.
            Err(_) => break,
        }
    }
    // Unblock the writer if the server stopped reading without closing.
    let _ = reader.shutdown(std::net::Shutdown::Both);
    sender.join().expect("the writer thread panicked");
    find(&raw, b"\r\n\r\n")?;
    Some(Response::parse(&raw, method, "lenient raw request"))
}

/// Sends `bytes` exactly as given (a complete request) and reads the response of a
/// request whose method is `method`.
pub fn send_raw(addr: SocketAddr, bytes: &[u8], method: &str) -> Response {
    send_raw_on(connect(addr), bytes, method, "raw request")
}

fn send_raw_on(mut stream: TcpStream, bytes: &[u8], method: &str, context: &str) -> Response {
    write_all(&mut stream, bytes, context);
    let mut raw = Vec::new();
    read_to_end(&mut stream, &mut raw, context);
    Response::parse(&raw, method, context)
}

/// Reads a response head (up to the blank line) while keeping what came after it.
struct ResponseReader<'a> {
    stream: &'a mut TcpStream,
    buffer: Vec<u8>,
    context: &'a str,
}

impl<'a> ResponseReader<'a> {
    fn new(stream: &'a mut TcpStream, context: &'a str) -> Self {
        Self {
            stream,
            buffer: Vec::new(),
            context,
        }
    }

    fn read_head(&mut self) -> Vec<u8> {
        loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                return self.buffer.drain(..end + 4).collect();
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).unwrap_or_else(|e| {
                panic!("{}: reading the response head failed: {e}", self.context)
            });
            assert!(
                n > 0,
                "{}: connection closed before a complete response head: {:?}",
                self.context,
                String::from_utf8_lossy(&self.buffer)
            );
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }

    fn take_buffer(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buffer)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(head: &[u8], context: &str) -> (u16, String, Vec<(String, String)>) {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default().to_owned();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    assert!(
        version.starts_with("HTTP/1."),
        "{context}: bad status line {status_line:?}"
    );
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{context}: bad status line {status_line:?}"));
    let headers = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (name, value) = l
                .split_once(':')
                .unwrap_or_else(|| panic!("{context}: bad header line {l:?}"));
            (name.trim().to_owned(), value.trim().to_owned())
        })
        .collect();
    (status, status_line, headers)
}

/// A complete response.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub status_line: String,
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked); empty for HEAD, 1xx, 204 and 304.
    pub body: Vec<u8>,
    /// Bytes the server sent after a response that must not have a body (should be empty).
    pub trailing: Vec<u8>,
    /// What the request was, for messages.
    pub context: String,
}

impl Response {
    fn parse(raw: &[u8], method: &str, context: &str) -> Response {
        let mut raw = raw;
        loop {
            let end = find(raw, b"\r\n\r\n").unwrap_or_else(|| {
                panic!(
                    "{context}: incomplete response: {:?}",
                    String::from_utf8_lossy(raw)
                )
            });
            let (status, status_line, headers) = parse_head(&raw[..end + 4], context);
            let rest = &raw[end + 4..];
            if (100..200).contains(&status) {
                raw = rest;
                continue;
            }
            let mut response = Response {
                status,
                status_line,
                headers,
                body: Vec::new(),
                trailing: Vec::new(),
                context: context.to_owned(),
            };
            if method.eq_ignore_ascii_case("HEAD") || status == 204 || status == 304 {
                response.trailing = rest.to_vec();
            } else if response
                .header("transfer-encoding")
                .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
            {
                response.body = dechunk(rest, context);
            } else if let Some(len) = response.header("content-length") {
                let len: usize = len
                    .parse()
                    .unwrap_or_else(|_| panic!("{context}: bad Content-Length {len:?}"));
                assert!(
                    rest.len() >= len,
                    "{context}: body shorter ({}) than Content-Length {len}",
                    rest.len()
                );
                response.body = rest[..len].to_vec();
                response.trailing = rest[len..].to_vec();
            } else {
                response.body = rest.to_vec();
            }
            return response;
        }
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_all(name).into_iter().next()
    }

    /// Every value of header `name` (case-insensitive), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The single value of header `name`; panics if it is absent or repeated.
    pub fn one_header(&self, name: &str) -> &str {
        let all = self.header_all(name);
        assert_eq!(
            all.len(),
            1,
            "{}: expected exactly one {name} header, got {all:?} in {self:?}",
            self.context
        );
        all[0]
    }

    /// The `ETag` header (exactly one).
    pub fn etag(&self) -> String {
        self.one_header("etag").to_owned()
    }

    /// The media type of `Content-Type` (no parameters, lowercase).
    pub fn media_type(&self) -> Option<String> {
        self.header("content-type").map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{}: body is not JSON ({e}): {:?}",
                self.context,
                self.text()
            )
        })
    }

    /// Asserts the status, with the whole response in the message.
    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status,
            status,
            "{}: expected {status}, got {} {:?} body {}",
            self.context,
            self.status_line,
            self.headers,
            self.text()
        );
        self
    }

    /// Asserts a problem+json response (RFC 9457) with `status`; returns its body.
    #[track_caller]
    pub fn problem(&self, status: u16) -> Value {
        self.assert_status(status);
        assert_eq!(
            self.media_type().as_deref(),
            Some("application/problem+json"),
            "{}: a {status} must be application/problem+json: {self:?}",
            self.context
        );
        let body = self.json();
        assert!(
            body.is_object(),
            "{}: problem is not an object: {body}",
            self.context
        );
        assert_eq!(
            body["status"], status,
            "{}: problem status: {body}",
            self.context
        );
        assert!(
            body["type"].is_string(),
            "{}: problem type: {body}",
            self.context
        );
        assert!(
            body["title"].is_string(),
            "{}: problem title: {body}",
            self.context
        );
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{}: problem detail: {body}",
            self.context
        );
        body
    }

    /// Asserts a 409/412 problem that reports `etag` as the current version, both in the
    /// `ETag` header and in `current_etag`; returns the body.
    #[track_caller]
    pub fn conflict(&self, status: u16, etag: &str) -> Value {
        let body = self.problem(status);
        assert_eq!(
            self.etag(),
            etag,
            "{}: ETag of the current version",
            self.context
        );
        assert_eq!(
            body["current_etag"], etag,
            "{}: current_etag of the current version: {body}",
            self.context
        );
        body
    }

    /// Asserts that nothing (no body bytes) was sent.
    #[track_caller]
    pub fn assert_no_body(&self) {
        assert!(
            self.body.is_empty() && self.trailing.is_empty(),
            "{}: expected no body, got {:?} / {:?}",
            self.context,
            String::from_utf8_lossy(&self.body),
            String::from_utf8_lossy(&self.trailing)
        );
    }
}

fn dechunk(mut data: &[u8], context: &str) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end =
            find(data, b"\r\n").unwrap_or_else(|| panic!("{context}: truncated chunk size line"));
        let line = std::str::from_utf8(&data[..line_end]).expect("chunk size is ASCII");
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .unwrap_or_else(|_| panic!("{context}: bad chunk size {line:?}"));
        data = &data[line_end + 2..];
        if size == 0 {
            return out; // trailers, if any, are ignored
        }
        assert!(data.len() >= size + 2, "{context}: truncated chunk");
        out.extend_from_slice(&data[..size]);
        assert_eq!(
            &data[size..size + 2],
            b"\r\n",
            "{context}: chunk without CRLF"
        );
        data = &data[size + 2..];
    }
}

// ---- HTTP-dates (IMF-fixdate, RFC 9110 5.6.7) ----

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) into Unix seconds.
pub fn parse_http_date(s: &str) -> i64 {
    let parsed = (|| {
        let parts: Vec<&str> = s.split(' ').collect();
        if parts.len() != 6 || parts[5] != "GMT" {
            return None;
        }
        let day: i64 = parts[1].parse().ok()?;
        let month = MONTHS.iter().position(|m| *m == parts[2])? as i64 + 1;
        let year: i64 = parts[3].parse().ok()?;
        let hms: Vec<i64> = parts[4]
            .split(':')
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        (hms.len() == 3).then_some((year, month, day, hms))
    })();
    let Some((year, month, day, hms)) = parsed else {
        panic!("not an IMF-fixdate: {s:?}");
    };
    let secs = days_from_civil(year, month, day) * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2];
    assert_eq!(format_http_date(secs), s, "HTTP-date does not round-trip");
    secs
}

/// Formats Unix seconds as an IMF-fixdate.
pub fn format_http_date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `date` shifted by `delta` seconds.
pub fn shift_http_date(date: &str, delta: i64) -> String {
    format_http_date(parse_http_date(date) + delta)
}

// ---- users API shortcuts ----

/// `/api/users/{username}`.
pub fn user_path(username: &str) -> String {
    format!("/api/users/{username}")
}

/// Creates `doc` with POST (asserting 201) and returns its ETag.
#[track_caller]
pub fn create(server: &Server, doc: &Value) -> String {
    let response = server.request("POST", "/api/users").json(doc).send();
    response.assert_status(201);
    assert_eq!(&response.json(), doc);
    response.etag()
}

/// GETs a user (asserting 200): its document and ETag.
#[track_caller]
pub fn fetch(server: &Server, username: &str) -> (Value, String) {
    let response = server.get(&user_path(username)).send();
    response.assert_status(200);
    (response.json(), response.etag())
}

/// Asserts that `username` is still stored as `doc` with ETag `etag`.
#[track_caller]
pub fn assert_unchanged(server: &Server, username: &str, doc: &Value, etag: &str) {
    let (now, now_etag) = fetch(server, username);
    assert_eq!(&now, doc, "the stored document of {username:?} changed");
    assert_eq!(now_etag, etag, "the ETag of {username:?} changed");
}

/// Asserts that `username` does not exist (GET is a 404 problem).
#[track_caller]
pub fn assert_absent(server: &Server, username: &str) {
    server.get(&user_path(username)).send().problem(404);
}

/// `clients` threads, spread round-robin over `servers`, each increment the `count` field of
/// user `username` `increments` times with GET + `If-Match` PUT, retrying on 412. Returns
/// the number of 412 retries. The user must exist with `count: 0`.
pub fn increment_race(
    servers: &[std::sync::Arc<Server>],
    username: &str,
    clients: u64,
    increments: u64,
) -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    let retries = std::sync::Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            let server = std::sync::Arc::clone(&servers[client as usize % servers.len()]);
            let retries = std::sync::Arc::clone(&retries);
            let username = username.to_owned();
            std::thread::spawn(move || {
                for _ in 0..increments {
                    // A bound on retries turns a livelock or a bug into a failure, not a hang.
                    let mut attempts = 0;
                    loop {
                        attempts += 1;
                        assert!(attempts <= 10_000, "client {client}: too many retries");
                        let (doc, etag) = fetch(&server, &username);
                        let count = doc["count"].as_u64().expect("count is a number");
                        let response = server
                            .request("PUT", &user_path(&username))
                            .header("If-Match", &etag)
                            .json(&serde_json::json!({"username": username, "count": count + 1}))
                            .send();
                        match response.status {
                            200 => {
                                assert_ne!(response.etag(), etag);
                                assert_eq!(response.json()["count"], count + 1);
                                break;
                            }
                            412 => {
                                // Someone else won: the problem names the newer version.
                                let problem = response.problem(412);
                                let current = response.etag();
                                assert_ne!(current, etag, "a 412 must report a newer ETag");
                                assert_eq!(problem["current_etag"], current);
                                retries.fetch_add(1, Ordering::Relaxed);
                            }
                            other => {
                                panic!("client {client}: unexpected {other}: {}", response.text())
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("a client thread panicked");
    }
    retries.load(Ordering::Relaxed)
}
