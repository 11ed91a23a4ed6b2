//! RFC 8785 (JSON Canonicalization Scheme) bytes of a JSON value without floats: the
//! writer of version 2 leaves on the request path.
//!
//! `serde_jcs` re-parses every object key as JSON to sort by UTF-16 code units, which was
//! ~18% of a case file's instructions (eight records). This writes the same bytes directly:
//! members sorted by their keys' UTF-16 code units, strings escaped as serde_json escapes
//! them (the escapes RFC 8785 takes from ECMAScript: `\b \t \n \f \r \" \\`, other control
//! characters as `\u00xx` in lower case, nothing else), integers up to 2^53 in decimal. A
//! value with any other number gets `None`: the caller then uses `serde_jcs`, whose
//! ECMAScript number formatting (a double's shortest form) this does not repeat. The property test below holds it to
//! `serde_jcs` byte for byte, and the verifier ([`super::AuditRecord::check_canonical`])
//! still re-encodes stored leaves with `serde_jcs` itself.

use serde_json::Value;

/// The canonical bytes of `value`, or `None` if it holds a number that is not an integer.
pub(super) fn to_vec(value: &Value) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(512);
    write(value, &mut out)?;
    Some(out)
}

fn write(value: &Value, out: &mut Vec<u8>) -> Option<()> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            // ECMAScript numbers are doubles: only integers up to 2^53 print as themselves.
            const EXACT: u64 = 1 << 53;
            match n.as_i64() {
                Some(i) if i.unsigned_abs() <= EXACT => out.extend_from_slice(i.to_string().as_bytes()),
                _ => return None,
            }
        }
        Value::String(s) => string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(members) => {
            let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
            if !sorted.iter().all(|(k, _)| k.is_ascii()) {
                // UTF-16 order differs from UTF-8's (and the map's) beyond the BMP.
                sorted.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
            } else {
                sorted.sort_by(|(a, _), (b, _)| a.as_bytes().cmp(b.as_bytes()));
            }
            out.push(b'{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(k, out);
                out.push(b':');
                write(v, out)?;
            }
            out.push(b'}');
        }
    }
    Some(())
}

fn string(s: &str, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, s).expect("writing a string to memory cannot fail");
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    use super::to_vec;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z_]{0,8}",
            "\\PC{0,6}",
            // Control characters, quotes, backslashes, astral and high-BMP characters.
            prop::collection::vec(
                prop_oneof![
                    Just('\u{0}'),
                    Just('\u{1f}'),
                    Just('\u{7f}'),
                    Just('\n'),
                    Just('"'),
                    Just('\\'),
                    Just('/'),
                    Just('\u{2028}'),
                    Just('\u{e000}'),
                    Just('\u{ffff}'),
                    Just('\u{10000}'),
                    Just('\u{1f600}'),
                    Just('æ'),
                    Just('a'),
                ],
                0..6
            )
            .prop_map(|cs| cs.into_iter().collect()),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        // Numbers beyond 2^53 are rare, so most values are written here, not left to serde_jcs.
        let leaf = prop_oneof![
            4 => Just(Value::Null),
            4 => any::<bool>().prop_map(Value::Bool),
            1 => any::<i64>().prop_map(Value::from),
            1 => any::<u64>().prop_map(Value::from),
            6 => (-(1i64 << 53)..=(1i64 << 53)).prop_map(Value::from),
            6 => (0i64..1000).prop_map(Value::from),
            20 => text().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((text(), inner), 0..8)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<String, Value>>())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn the_same_bytes_as_serde_jcs(v in value()) {
            match to_vec(&v) {
                Some(bytes) => prop_assert_eq!(bytes, serde_jcs::to_vec(&v).unwrap()),
                // Only a number beyond 2^53 is left to serde_jcs.
                None => prop_assert!(v.to_string().split(|c: char| !c.is_ascii_digit()).any(|d| d.len() >= 16)),
            }
        }
    }

    #[test]
    fn keys_beyond_the_bmp_sort_by_utf16_not_utf8() {
        // U+FF61 is one UTF-16 unit above the surrogates of U+1F600, but below it in UTF-8.
        let v = json!({"\u{ff61}": 1, "\u{1f600}": 2, "a": 3});
        let bytes = to_vec(&v).unwrap();
        assert_eq!(bytes, serde_jcs::to_vec(&v).unwrap());
        assert_eq!(String::from_utf8(bytes).unwrap(), "{\"a\":3,\"\u{1f600}\":2,\"\u{ff61}\":1}");
    }

    #[test]
    fn a_float_or_an_integer_beyond_2_pow_53_is_left_to_serde_jcs() {
        assert_eq!(to_vec(&json!({"a": 1.5})), None);
        assert_eq!(to_vec(&json!([u64::MAX])), None);
        assert_eq!(to_vec(&json!([-(1i64 << 53) - 1])), None);
        let exact = json!([1, -2, 1u64 << 53, -(1i64 << 53)]);
        assert_eq!(to_vec(&exact).unwrap(), serde_jcs::to_vec(&exact).unwrap());
    }
}
