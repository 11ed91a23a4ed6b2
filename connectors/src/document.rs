//! What a connector returns: typed documents with their source and a digest.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Where a document came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The connector id, e.g. `mediconnect`.
    pub system: String,
    /// The endpoint it was fetched from (base URL and path; never a CPR number).
    pub endpoint: String,
    /// The organisation that authored or holds the document, when the source says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    pub fetched_at: DateTime<Utc>,
}

/// One document of a case-file section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// The source's identifier for the document.
    pub id: String,
    pub title: String,
    /// What it is, e.g. `lae265`, `xdis91`, `visitation`, `contact`, `plan`, `payment`,
    /// `measure`, `cv`.
    pub kind: String,
    /// The date the data period is checked against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
    pub source: Source,
    /// The typed document, serialized.
    pub content: serde_json::Value,
    /// SHA-256 (hex) of [`canonical_json`] of `content`: the bytes released.
    pub sha256: String,
}

impl Document {
    /// Builds a document from a typed value, computing its digest.
    pub fn new<T: Serialize>(
        id: impl Into<String>,
        title: impl Into<String>,
        kind: impl Into<String>,
        date: Option<NaiveDate>,
        source: Source,
        content: &T,
    ) -> Result<Document, serde_json::Error> {
        let content = serde_json::to_value(content)?;
        let sha256 = hex::encode(Sha256::digest(canonical_json(&content)));
        Ok(Document { id: id.into(), title: title.into(), kind: kind.into(), date, source, content, sha256 })
    }
}

/// JSON with object keys sorted at every level and no insignificant white space, so a
/// digest does not depend on how a map happened to be ordered.
pub fn canonical_json(value: &serde_json::Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(serde_json::to_string(k).expect("a string serializes").as_bytes());
                out.push(b':');
                write_canonical(&map[k], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        scalar => out.extend_from_slice(serde_json::to_string(scalar).expect("a scalar serializes").as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a: serde_json::Value = serde_json::from_str(r#"{"b":1,"a":{"y":[1,{"d":2,"c":3}],"x":"ø"}}"#).unwrap();
        assert_eq!(String::from_utf8(canonical_json(&a)).unwrap(), r#"{"a":{"x":"ø","y":[1,{"c":3,"d":2}]},"b":1}"#);
    }
}
