//! The README's curl transcript runs as written: its commands go to `sh` (one session, so
//! `ETAG=...` carries over) against a real `optimist serve` on a free port, and every
//! status line, header and body the README shows must be what came back. ETag values differ
//! from run to run: each one the README shows stands for the one seen at the same place,
//! consistently throughout.
//!
//! `OPTIMIST_README_PRINT=1` prints what the commands answered, to update the README.

mod common;

use std::collections::HashMap;
use std::process::Command;

use common::*;

/// The marker the transcript's code block follows in README.md.
const MARKER: &str = "<!-- transcript: run by cli/tests/readme_transcript.rs -->";

/// One `$ command` of the transcript and the response the README shows for it (`None`:
/// it shows no output).
struct Step {
    command: String,
    shown: Option<Shown>,
}

/// A response as the README shows it, or as curl printed it.
#[derive(Debug)]
struct Shown {
    status_line: String,
    headers: Vec<(String, String)>,
    body: String,
}

fn parse_response(text: &str) -> Shown {
    let text = text.replace("\r\n", "\n");
    let text = text.trim_start();
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default().trim().to_owned();
    let headers = lines
        .map(|l| {
            let (n, v) = l
                .split_once(':')
                .unwrap_or_else(|| panic!("bad header line {l:?}"));
            (n.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    Shown {
        status_line,
        headers,
        body: body.trim().to_owned(),
    }
}

/// The transcript's steps, read from README.md.
fn transcript() -> Vec<Step> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md next to the workspace manifest");
    let start = readme
        .find(MARKER)
        .expect("the README has the transcript marker");
    let block = &readme[start + MARKER.len()..];
    let block = block
        .trim_start()
        .strip_prefix("```text\n")
        .expect("a ```text block follows the marker");
    let block = &block[..block.find("\n```").expect("the block ends")];
    let mut steps: Vec<(String, Vec<&str>)> = Vec::new();
    for line in block.lines() {
        match line.strip_prefix("$ ") {
            Some(command) => steps.push((command.to_owned(), Vec::new())),
            None => steps
                .last_mut()
                .expect("the block starts with a command")
                .1
                .push(line),
        }
    }
    steps
        .into_iter()
        .map(|(command, output)| {
            let output = output.join("\n");
            Step {
                command,
                shown: (!output.trim().is_empty()).then(|| parse_response(&output)),
            }
        })
        .collect()
}

/// Runs every command in one `sh`, with `localhost:8080` replaced by `addr`; returns each
/// command's output.
fn run(steps: &[Step], addr: &str) -> Vec<String> {
    const SEPARATOR: &str = "@@@ next step @@@";
    let mut script = String::from("set -e\n");
    for step in steps {
        script.push_str(&step.command.replace("localhost:8080", addr));
        script.push_str(&format!("\necho; echo '{SEPARATOR}'\n"));
    }
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "the transcript's commands failed ({}): {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let stdout = String::from_utf8(out.stdout).expect("curl printed UTF-8");
    let mut outputs: Vec<String> = stdout.split(SEPARATOR).map(str::to_owned).collect();
    outputs.pop(); // after the last separator
    assert_eq!(
        outputs.len(),
        steps.len(),
        "one output per command: {stdout}"
    );
    outputs
}

/// Maps the README's ETag values to the ones this run saw, one to one.
#[derive(Default)]
struct Tags(HashMap<String, String>);

impl Tags {
    /// `shown` (a quoted tag from the README) stands for `actual`.
    fn bind(&mut self, shown: &str, actual: &str, context: &str) {
        if let Some(bound) = self.0.get(shown) {
            assert_eq!(
                bound, actual,
                "{context}: ETag {shown} of the README stood for {bound}"
            );
            return;
        }
        assert!(
            !self.0.values().any(|a| a == actual),
            "{context}: two ETags of the README stand for {actual}"
        );
        self.0.insert(shown.to_owned(), actual.to_owned());
    }

    /// `text` with every bound tag (also JSON-escaped, `\"20\"`) replaced, in one pass.
    fn apply(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        'scan: while !rest.is_empty() {
            for (shown, actual) in &self.0 {
                let escaped = shown.replace('"', "\\\"");
                if let Some(after) = rest.strip_prefix(escaped.as_str()) {
                    out.push_str(&actual.replace('"', "\\\""));
                    rest = after;
                    continue 'scan;
                }
            }
            let c = rest.chars().next().expect("not empty");
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
        out
    }
}

#[test]
fn the_readme_transcript_runs_as_written() {
    let steps = transcript();
    assert!(steps.len() >= 8, "the transcript has its steps");
    let server = Server::start();
    let outputs = run(&steps, &server.addr().to_string());
    if std::env::var_os("OPTIMIST_README_PRINT").is_some() {
        for (step, output) in steps.iter().zip(&outputs) {
            println!("$ {}\n{}", step.command, output.replace("\r\n", "\n"));
        }
    }
    let mut tags = Tags::default();
    for (step, output) in steps.iter().zip(&outputs) {
        let context = format!("`{}`", step.command);
        let Some(shown) = &step.shown else {
            assert!(output.trim().is_empty(), "{context} printed {output:?}");
            continue;
        };
        let actual = parse_response(output);
        assert_eq!(shown.status_line, actual.status_line, "{context}");
        for (name, value) in &shown.headers {
            let got: Vec<&str> = actual
                .headers
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .collect();
            assert_eq!(
                got.len(),
                1,
                "{context}: one {name} line expected, got {got:?}"
            );
            if name == "etag" {
                tags.bind(value, got[0], &context);
            } else {
                assert_eq!(value, got[0], "{context}: {name}");
            }
        }
        assert_eq!(tags.apply(&shown.body), actual.body, "{context}: body");
    }
}

#[test]
fn tags_map_one_to_one_and_in_one_pass() {
    let mut tags = Tags::default();
    tags.bind("\"20\"", "\"36\"", "t");
    tags.bind("\"36\"", "\"52\"", "t");
    assert_eq!(
        tags.apply(r#"{"a":"\"20\"","b":["\"36\""]}"#),
        r#"{"a":"\"36\"","b":["\"52\""]}"#
    );
}
