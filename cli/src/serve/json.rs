//! JSON kept exactly: numbers as the text that was sent, members in the order they were
//! sent, duplicate member names refused.
//!
//! `serde_json::Value` rounds numbers that do not fit `u64`, `i64` or `f64`
//! (`12345678901234567890123`, `1e-400`) and keeps the last of two members with one name.
//! Its `arbitrary_precision` feature would keep the numbers, but cargo turns a feature on
//! for the whole build, and under it numbers inside untagged or flattened serde types no
//! longer deserialize: the library's codec for stored values would change with it. So the
//! API parses with `struson` (a strict RFC 8259 reader that hands out a number's text) into
//! [`Json`], and writes [`Json`] back itself.

use std::io::Read;

use indexmap::IndexMap;
use indexmap::map::Entry;
use struson::reader::json_path::JsonPathPiece;
use struson::reader::{JsonReader, JsonStreamReader, ReaderError, ReaderSettings, ValueType};

/// The deepest nesting of arrays and objects accepted. Below serde_json's limit of 127, so a
/// stored document always decodes again.
pub const MAX_DEPTH: u32 = 100;

/// A JSON object: member names unique, in the order they were sent.
pub type Object = IndexMap<String, Json>;

/// A JSON value whose numbers are kept as their exact text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as written (`-0`, `1.50`, `1e-400`, `12345678901234567890123`).
    Number(Box<str>),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object.
    Object(Object),
}

/// Why a body is not a JSON document the API accepts.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// Not JSON text (RFC 8259), or not UTF-8: 400.
    #[error("malformed JSON: {0}")]
    Syntax(String),
    /// Arrays and objects nest deeper than [`MAX_DEPTH`]: 400.
    #[error("the JSON nests arrays and objects deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// One object has two members of the same name: 422. RFC 8259 section 4 leaves what
    /// such an object means to each parser; the API refuses it so that nothing in front of
    /// it can have read a different document than the one stored.
    #[error("the object at {pointer:?} has two members named {name:?}: names must be unique")]
    DuplicateMember {
        /// The JSON Pointer (RFC 6901) of the object ("" for the document itself).
        pointer: String,
        /// The repeated name.
        name: String,
    },
}

impl From<ReaderError> for JsonError {
    fn from(e: ReaderError) -> Self {
        match e {
            ReaderError::MaxNestingDepthExceeded { .. } => JsonError::TooDeep,
            other => JsonError::Syntax(other.to_string()),
        }
    }
}

impl Json {
    /// Parses one JSON text (RFC 8259: no comments, no trailing commas, nothing after the
    /// value but whitespace) from `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Json, JsonError> {
        let settings = ReaderSettings {
            max_nesting_depth: Some(MAX_DEPTH),
            // Numbers are kept as text and never computed with: any size is fine.
            restrict_number_values: false,
            ..ReaderSettings::default()
        };
        let mut reader = JsonStreamReader::new_custom(bytes, settings);
        let value = read_value(&mut reader)?;
        reader.consume_trailing_whitespace()?;
        Ok(value)
    }

    /// The compact JSON text of this value: no whitespace, numbers as they were parsed,
    /// strings escaped the way `serde_json` escapes them.
    #[cfg(test)]
    pub fn to_text(&self) -> String {
        let mut out = Vec::new();
        self.write(&mut out);
        String::from_utf8(out).expect("JSON text made of UTF-8 strings is UTF-8")
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Json::Null => out.extend_from_slice(b"null"),
            Json::Bool(true) => out.extend_from_slice(b"true"),
            Json::Bool(false) => out.extend_from_slice(b"false"),
            Json::Number(text) => out.extend_from_slice(text.as_bytes()),
            Json::String(s) => write_string(out, s),
            Json::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write(out);
                }
                out.push(b']');
            }
            Json::Object(members) => write_object(out, members),
        }
    }
}

/// The compact JSON text of `members` as an object.
pub fn object_text(members: &Object) -> String {
    let mut out = Vec::new();
    write_object(&mut out, members);
    String::from_utf8(out).expect("JSON text made of UTF-8 strings is UTF-8")
}

fn write_object(out: &mut Vec<u8>, members: &Object) {
    out.push(b'{');
    for (i, (name, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(out, name);
        out.push(b':');
        value.write(out);
    }
    out.push(b'}');
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(out, s).expect("writing a string to a Vec cannot fail");
}

fn read_value<R: Read>(reader: &mut JsonStreamReader<R>) -> Result<Json, JsonError> {
    Ok(match reader.peek()? {
        ValueType::Null => {
            reader.next_null()?;
            Json::Null
        }
        ValueType::Boolean => Json::Bool(reader.next_bool()?),
        ValueType::Number => Json::Number(reader.next_number_as_str()?.into()),
        ValueType::String => Json::String(reader.next_string()?),
        ValueType::Array => {
            reader.begin_array()?;
            let mut items = Vec::new();
            while reader.has_next()? {
                items.push(read_value(reader)?);
            }
            reader.end_array()?;
            Json::Array(items)
        }
        ValueType::Object => {
            reader.begin_object()?;
            let mut members = Object::new();
            while reader.has_next()? {
                let name = reader.next_name_owned()?;
                match members.entry(name) {
                    Entry::Vacant(slot) => {
                        slot.insert(read_value(reader)?);
                    }
                    Entry::Occupied(taken) => {
                        return Err(JsonError::DuplicateMember {
                            pointer: object_pointer(reader),
                            name: taken.key().clone(),
                        });
                    }
                }
            }
            reader.end_object()?;
            Json::Object(members)
        }
    })
}

/// The JSON Pointer (RFC 6901) of the object whose member name `reader` just read.
fn object_pointer<R: Read>(reader: &JsonStreamReader<R>) -> String {
    let path = reader.current_position(true).path.unwrap_or_default();
    let mut pointer = String::new();
    // The last piece is the member just read; the ones before lead to its object.
    for piece in &path[..path.len().saturating_sub(1)] {
        pointer.push('/');
        match piece {
            JsonPathPiece::ArrayItem(i) => pointer.push_str(&i.to_string()),
            JsonPathPiece::ObjectMember(name) => {
                pointer.push_str(&name.replace('~', "~0").replace('/', "~1"));
            }
        }
    }
    pointer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        Json::parse(text.as_bytes()).unwrap().to_text()
    }

    #[test]
    fn numbers_are_kept_as_written() {
        for number in [
            "12345678901234567890123",
            "-9223372036854775809",
            "18446744073709551616",
            "1e-400",
            "1E400",
            "-0",
            "-0.0",
            "1.50",
            "0.1000000000000000055511151231257827",
            "2.5e+3",
        ] {
            assert_eq!(round_trip(&format!("[{number}]")), format!("[{number}]"));
        }
    }

    #[test]
    fn members_keep_their_order_and_whitespace_goes() {
        assert_eq!(
            round_trip(r#" { "z" : 1 , "a" : [ true , null , "x\u00e9\n" ] } "#),
            "{\"z\":1,\"a\":[true,null,\"xé\\n\"]}"
        );
    }

    #[test]
    fn duplicate_members_are_refused_with_their_place() {
        let cases = [
            (r#"{"a":1,"a":2}"#, "", "a"),
            (r#"{"x":{"b":[{"c":1,"c":1}]}}"#, "/x/b/0", "c"),
            (r#"{"a/b~":{"k":1,"k":2}}"#, "/a~1b~0", "k"),
            (r#"{"_version":"\"1\"","_version":"\"2\""}"#, "", "_version"),
        ];
        for (text, at, repeated) in cases {
            match Json::parse(text.as_bytes()) {
                Err(JsonError::DuplicateMember { pointer, name }) => {
                    assert_eq!((pointer.as_str(), name.as_str()), (at, repeated), "{text}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn not_json_is_a_syntax_error() {
        for text in [
            "",
            "{",
            "[1,]",
            "01",
            "NaN",
            "{} {}",
            "// c\n{}",
            "\"\\ud800\"",
        ] {
            assert!(
                matches!(Json::parse(text.as_bytes()), Err(JsonError::Syntax(_))),
                "{text:?}"
            );
        }
        assert!(matches!(
            Json::parse(b"[\"\xff\"]"),
            Err(JsonError::Syntax(_))
        ));
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = format!(
            "{}{}",
            "[".repeat(MAX_DEPTH as usize),
            "]".repeat(MAX_DEPTH as usize)
        );
        assert_eq!(round_trip(&ok), ok);
        let deep = format!("[{ok}]");
        assert!(matches!(
            Json::parse(deep.as_bytes()),
            Err(JsonError::TooDeep)
        ));
        // What is accepted, serde_json reads back (byte backends decode with it).
        let _: serde_json::Value = serde_json::from_str(&ok).unwrap();
    }
}
