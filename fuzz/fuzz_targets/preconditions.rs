//! Precondition header parsing and evaluation, differentially against the simple reference in
//! `tests/reference/` (the same properties as `tests/fuzz_properties.rs`).
//!
//! Input: up to 6 lines separated by `\n`. The first byte of a line picks the header
//! (`byte % 4`: `'0'` If-Match, `'1'` If-None-Match, `'2'` If-Modified-Since, `'3'`
//! If-Unmodified-Since); the rest is the value. Values `HeaderValue::from_bytes` rejects are
//! left out of the header map, but still go to the tag-list parser as raw bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/reference/mod.rs"]
mod reference;

fuzz_target!(|data: &[u8]| {
    let raw: Vec<(usize, &[u8])> = data
        .splitn(7, |&b| b == b'\n')
        .take(6)
        .filter_map(|segment| segment.split_first())
        .map(|(&selector, value)| (usize::from(selector % 4), value))
        .collect();
    reference::check::raw_lines(&raw);
});
