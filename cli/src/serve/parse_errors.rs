//! hyper's own error responses, rewritten as problem+json.
//!
//! When a request head cannot be parsed, hyper answers by itself, before any service sees
//! the request: a bare `400 Bad Request` (malformed request line or header field, or a
//! `Transfer-Encoding` that does not end in `chunked`), `431 Request Header Fields Too
//! Large` (a head over the limit) or `414 URI Too Long`, each with no body, and closes the
//! connection. hyper 1 has no hook to shape that response, so [`ProblemIo`] watches what
//! hyper writes on the connection: every final response head is either the answer to a
//! request the service was called for (recorded in [`Pending`]) or one of hyper's own.
//! Those it replaces with a problem+json response of the same status.
//!
//! To find where each response head starts it follows the framing of the responses it
//! lets through: `Content-Length` bytes of body, none for HEAD, 1xx, 204 and 304. A response
//! framed any other way (chunked: the API never sends one) ends the watching for that
//! connection; everything is then passed through as it is.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use http::{Method, StatusCode};
use optimist::http::Problem;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::MAX_HEAD_BYTES;
use super::error::title;

/// The methods of the requests handed to the service on one connection whose responses
/// have not been written yet, oldest first (HTTP/1.1 answers in order).
#[derive(Clone, Debug, Default)]
pub struct Pending(Arc<Mutex<VecDeque<Method>>>);

impl Pending {
    /// Records a request the service is called for.
    pub fn push(&self, method: Method) {
        self.0.lock().expect("never poisoned").push_back(method);
    }

    fn pop(&self) -> Option<Method> {
        self.0.lock().expect("never poisoned").pop_front()
    }
}

/// Where the output stream is.
#[derive(Debug)]
enum Output {
    /// Collecting the next response head.
    Head(Vec<u8>),
    /// Inside a body: this many bytes to go.
    Body(u64),
    /// A response of hyper's own was replaced; nothing else is sent.
    Replaced,
    /// No longer following the framing: everything goes through.
    Through,
}

/// A connection's I/O, with hyper's own error responses replaced by problem+json ones.
pub struct ProblemIo<T> {
    inner: T,
    pending: Pending,
    output: Output,
    /// Bytes accepted from hyper, not yet written to `inner`.
    unsent: Vec<u8>,
    sent: usize,
}

impl<T> ProblemIo<T> {
    /// Wraps `inner`; `pending` is fed by the service wrapper of the same connection.
    pub fn new(inner: T, pending: Pending) -> Self {
        Self {
            inner,
            pending,
            output: Output::Head(Vec::new()),
            unsent: Vec::new(),
            sent: 0,
        }
    }
}

/// The end of the head in `bytes` (just past the blank line), if it is there.
fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

/// What to do with a complete response head.
enum Verdict {
    /// One of hyper's own: send this instead.
    Replace(Vec<u8>),
    /// The service's (or an interim 1xx): send it, then this many body bytes.
    Keep(u64),
    /// Not followable: send it and everything after.
    Through,
}

fn judge(head: &[u8], pending: &Pending) -> Verdict {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut fields);
    let Ok(httparse::Status::Complete(_)) = response.parse(head) else {
        return Verdict::Through;
    };
    let Some(code) = response.code else {
        return Verdict::Through;
    };
    if (100..200).contains(&code) {
        return Verdict::Keep(0);
    }
    let field = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    let Some(method) = pending.pop() else {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
        return Verdict::Replace(problem_response(status, field("date")));
    };
    if method == Method::HEAD || code == 204 || code == 304 {
        return Verdict::Keep(0);
    }
    if field("transfer-encoding").is_some() {
        return Verdict::Through;
    }
    match field("content-length")
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.trim().parse().ok())
    {
        Some(length) => Verdict::Keep(length),
        None => Verdict::Through,
    }
}

/// What each of hyper's own answers means, for the problem's detail.
fn detail(status: StatusCode) -> String {
    match status {
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => format!(
            "the request head (request line and header fields) is larger than the limit of \
             {MAX_HEAD_BYTES} bytes"
        ),
        StatusCode::URI_TOO_LONG => "the request target is longer than this server reads".into(),
        _ => "the request head is not valid HTTP/1.1 (RFC 9112): a malformed request line or \
              header field, or a body whose length cannot be determined (Content-Length \
              invalid or repeated with different values, Transfer-Encoding not ending in \
              chunked)"
            .into(),
    }
}

/// A complete problem+json response for `status`; the connection is closed after it.
fn problem_response(status: StatusCode, date: Option<&[u8]>) -> Vec<u8> {
    let mut problem = Problem::new(status, detail(status));
    problem.title = title(status).to_owned();
    let body = problem.to_json();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\n\
         cache-control: no-cache\r\nconnection: close\r\n",
        status.as_str(),
        title(status),
        body.len()
    )
    .into_bytes();
    if let Some(date) = date {
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(date);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    out
}

impl<T: AsyncWrite + Unpin> ProblemIo<T> {
    /// Writes what was accepted but not yet sent.
    fn poll_unsent(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.unsent.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.unsent[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.unsent.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }

    /// Takes head bytes from `buf` into the head being collected; returns how many.
    fn collect_head(&mut self, buf: &[u8]) -> usize {
        let Output::Head(head) = &mut self.output else {
            unreachable!("only called while collecting a head")
        };
        let before = head.len();
        head.extend_from_slice(buf);
        // The blank line may straddle two writes: search from just before the new bytes.
        let from = before.saturating_sub(3);
        let Some(end) = head_end(&head[from..]).map(|e| e + from) else {
            if head.len() > MAX_HEAD_BYTES {
                // Not a head this module understands: stop following.
                let head = std::mem::take(head);
                self.unsent = head;
                self.output = Output::Through;
            }
            return buf.len();
        };
        head.truncate(end);
        let head = std::mem::take(head);
        let consumed = end - before;
        match judge(&head, &self.pending) {
            Verdict::Replace(problem) => {
                self.unsent = problem;
                self.output = Output::Replaced;
            }
            Verdict::Keep(0) => {
                self.unsent = head;
                self.output = Output::Head(Vec::new());
            }
            Verdict::Keep(length) => {
                self.unsent = head;
                self.output = Output::Body(length);
            }
            Verdict::Through => {
                self.unsent = head;
                self.output = Output::Through;
            }
        }
        consumed
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ProblemIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_unsent(cx))?;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        match &mut this.output {
            Output::Head(_) => Poll::Ready(Ok(this.collect_head(buf))),
            Output::Body(left) => {
                let take = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &buf[..take]))?;
                *left -= n as u64;
                if *left == 0 {
                    this.output = Output::Head(Vec::new());
                }
                Poll::Ready(Ok(n))
            }
            // hyper closes after its own error response; anything more is dropped.
            Output::Replaced => Poll::Ready(Ok(buf.len())),
            Output::Through => Pin::new(&mut this.inner).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_unsent(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_unsent(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ProblemIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Writes `chunks` through a `ProblemIo` and returns what reached the socket.
    async fn through(pending: Pending, chunks: &[&[u8]]) -> Vec<u8> {
        let mut io = ProblemIo::new(Vec::new(), pending);
        for chunk in chunks {
            io.write_all(chunk).await.unwrap();
        }
        io.flush().await.unwrap();
        io.inner
    }

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
    const BARE_400: &[u8] = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: D\r\n\r\n";

    #[tokio::test]
    async fn the_service_responses_pass_unchanged() {
        let pending = Pending::default();
        pending.push(Method::GET);
        pending.push(Method::HEAD);
        pending.push(Method::GET);
        let head_ok = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n";
        let not_modified = b"HTTP/1.1 304 Not Modified\r\netag: \"1\"\r\n\r\n";
        let out = through(
            pending,
            &[OK, head_ok, b"HTTP/1.1 100 Continue\r\n\r\n", not_modified],
        )
        .await;
        let expected = [OK, head_ok, b"HTTP/1.1 100 Continue\r\n\r\n", not_modified].concat();
        assert_eq!(out, expected);
    }

    #[tokio::test]
    async fn a_response_of_hypers_own_becomes_a_problem() {
        // Split anywhere, even inside the blank line.
        let all = [OK, BARE_400].concat();
        for split in 0..all.len() {
            let out = through(pending_with(Method::GET), &[&all[..split], &all[split..]]).await;
            let text = String::from_utf8(out).unwrap();
            let (first, second) = text.split_at(OK.len());
            assert_eq!(first.as_bytes(), OK);
            assert!(
                second.starts_with("HTTP/1.1 400 Bad Request\r\n"),
                "{second}"
            );
            assert!(second.contains("content-type: application/problem+json\r\n"));
            assert!(second.contains("connection: close\r\ndate: D\r\n\r\n{"));
            let body = &second[second.find("\r\n\r\n").unwrap() + 4..];
            let problem: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(problem["status"], 400);
        }
        let out = through(
            Pending::default(),
            &[b"HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n"],
        )
        .await;
        assert!(String::from_utf8(out).unwrap().contains("\"status\":431"));
    }

    fn pending_with(method: Method) -> Pending {
        let pending = Pending::default();
        pending.push(method);
        pending
    }
}
