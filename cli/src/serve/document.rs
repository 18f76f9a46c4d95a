//! A stored user: the exact JSON text of its object, as every response sends it.

use std::sync::Arc;

use serde::de::Error as _;
use serde::ser::Error as _;
use serde_json::value::RawValue;

use super::json::{Json, JsonError, Object, object_text};

/// The JSON text of a stored document: what GET returns and what a write answers with,
/// byte for byte. The memory store keeps it as it is; byte backends store the text itself
/// (serialized as a raw JSON value, so the database holds plain JSON).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document(Arc<str>);

impl Document {
    /// The document holding `members`, in their order.
    pub fn new(members: &Object) -> Self {
        Document(object_text(members).into())
    }

    /// The JSON text.
    pub fn text(&self) -> &str {
        &self.0
    }

    /// The members, for a change that builds on them (PATCH). Documents written before the
    /// API kept numbers exactly are JSON objects too.
    pub fn members(&self) -> Result<Object, JsonError> {
        match Json::parse(self.0.as_bytes())? {
            Json::Object(members) => Ok(members),
            _ => Err(JsonError::Syntax(
                "the stored document is not an object".into(),
            )),
        }
    }
}

impl serde::Serialize for Document {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RawValue::from_string(self.0.to_string())
            .map_err(S::Error::custom)?
            .serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for Document {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        if !raw.get().starts_with('{') {
            return Err(D::Error::custom("a stored user must be a JSON object"));
        }
        Ok(Document(raw.get().into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_backends_store_and_read_back_the_exact_text() {
        let text = r#"{"username":"a","n":12345678901234567890123,"x":1e-400,"z":[-0,1.50]}"#;
        let Json::Object(members) = Json::parse(text.as_bytes()).unwrap() else {
            panic!("an object");
        };
        let doc = Document::new(&members);
        assert_eq!(doc.text(), text);
        let stored = serde_json::to_vec(&doc).unwrap();
        assert_eq!(stored, text.as_bytes());
        let back: Document = serde_json::from_slice(&stored).unwrap();
        assert_eq!(back, doc);
        assert_eq!(back.members().unwrap(), members);
    }

    #[test]
    fn documents_stored_by_earlier_versions_read_back() {
        let old = br#"{"email":"j@example.com","username":"john_doe"}"#;
        let doc: Document = serde_json::from_slice(old).unwrap();
        assert_eq!(doc.text().as_bytes(), old);
        assert!(serde_json::from_slice::<Document>(b"[1]").is_err());
    }
}
