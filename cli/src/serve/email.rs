//! The `email` member: unique across users, compared after normalising, and held by an index
//! entry `email:<normalised>` whose document names the owning user.
//!
//! Normalising trims leading and trailing white space (Unicode `White_Space`, which
//! includes ASCII space, tab and line breaks: Rust's `str::trim`) and lowercases with
//! Unicode's full lowercase mapping (`str::to_lowercase`), so `" Ann@Example.COM "` and
//! `"ann@example.com"` are the same address. The stored document keeps what was sent.

use super::document::Document;
use super::error::ApiError;
use super::json::{Json, Object};

/// The prefix of the index entries' keys. A username cannot contain `:`, so no user is
/// ever keyed under it.
pub const INDEX_PREFIX: &str = "email:";

/// The first key after every index entry: entries are `email:...`, and `;` is the byte
/// after `:`; no username can sort between the last entry and it (usernames have no `:`
/// or `;`).
pub const AFTER_INDEX: &str = "email;";

/// The longest normalised address accepted, in bytes (RFC 5321's path limit of 256 octets
/// less the angle brackets).
pub const MAX_BYTES: usize = 254;

/// An address as compared: trimmed and lowercased.
pub fn normalize(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// The index entry's key for a normalised address.
pub fn index_key(normalized: &str) -> String {
    format!("{INDEX_PREFIX}{normalized}")
}

/// The index entry's value: `{"username": owner}`.
pub fn index_value(owner: &str) -> Document {
    let mut members = Object::new();
    members.insert("username".to_owned(), Json::String(owner.to_owned()));
    Document::new(&members)
}

/// The normalised `email` of a document about to be stored: `None` when it has none (or
/// `null`); 422 naming `email` when it is not a string holding an address.
pub fn of_request(members: &Object) -> Result<Option<String>, ApiError> {
    let raw = match members.get("email") {
        None | Some(Json::Null) => return Ok(None),
        Some(Json::String(raw)) => raw,
        Some(_) => return Err(invalid("email must be a string (or null for none)")),
    };
    let normalized = normalize(raw);
    let Some((local, domain)) = normalized.rsplit_once('@') else {
        return Err(invalid("email must hold an address: local-part@domain"));
    };
    if local.is_empty() || domain.is_empty() {
        return Err(invalid("email must hold an address: local-part@domain"));
    }
    if normalized
        .chars()
        .any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(invalid(
            "email must not contain white space or control characters inside the address",
        ));
    }
    if normalized.len() > MAX_BYTES {
        return Err(invalid(format!(
            "email is {} bytes once trimmed and lowercased; at most {MAX_BYTES} are accepted",
            normalized.len()
        )));
    }
    Ok(Some(normalized))
}

/// The normalised `email` of a stored document, whatever it holds: `None` unless it is a
/// string. (Every document this version stores passed [`of_request`].)
pub fn of_stored(doc: &Document) -> Option<String> {
    match doc.members().ok()?.get("email") {
        Some(Json::String(raw)) => Some(normalize(raw)),
        _ => None,
    }
}

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::invalid_field("email", detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(email: Json) -> Object {
        let mut members = Object::new();
        members.insert("email".to_owned(), email);
        members
    }

    #[test]
    fn normalising_trims_unicode_space_and_lowercases() {
        assert_eq!(normalize(" Ann@Example.COM\t\n"), "ann@example.com");
        assert_eq!(normalize("\u{2003}ÉVA@Ex.org\u{00a0}"), "éva@ex.org");
        assert_eq!(index_key("a@b"), "email:a@b");
        assert!(index_key("a@b").as_str() < AFTER_INDEX);
        assert!(index_key("\u{10ffff}").as_str() < AFTER_INDEX);
    }

    #[test]
    fn request_emails() {
        let ok = |s: &str| of_request(&with(Json::String(s.into()))).unwrap();
        assert_eq!(ok(" A@B.c "), Some("a@b.c".into()));
        assert_eq!(of_request(&with(Json::Null)).unwrap(), None);
        assert_eq!(of_request(&Object::new()).unwrap(), None);
        for bad in ["", "   ", "nope", "@b", "a@", "a b@c", "a@b\u{7}"] {
            assert!(
                of_request(&with(Json::String(bad.into()))).is_err(),
                "{bad:?}"
            );
        }
        assert!(of_request(&with(Json::Number("1".into()))).is_err());
        let long = format!("{}@b", "a".repeat(MAX_BYTES));
        assert!(of_request(&with(Json::String(long))).is_err());
    }
}
