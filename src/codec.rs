//! How backends that store bytes encode values: JSON, with `serde_json`. A value that does not
//! encode, or bytes that do not decode as the requested type, are `StoreError::Codec`.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Meta, StoreError, Versioned};

fn codec_error(key: &str, e: serde_json::Error) -> StoreError {
    StoreError::Codec {
        key: key.to_owned(),
        source: Box::new(e),
    }
}

/// The bytes stored for `value` under `key`.
pub(crate) fn encode<V: Serialize>(key: &str, value: &V) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| codec_error(key, e))
}

/// The value read back from `bytes`, with its metadata.
pub(crate) fn decode<V: DeserializeOwned>(
    key: &str,
    meta: Meta,
    bytes: &[u8],
) -> Result<Versioned<V>, StoreError> {
    let value = serde_json::from_slice(bytes).map_err(|e| codec_error(key, e))?;
    Ok(Versioned {
        value,
        version: meta.version,
        last_modified: meta.last_modified,
    })
}
