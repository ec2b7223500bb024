//! Compact property values: what a record keeps for projection and ordering.

use serde_json::{Number, Value};
use uuid::Uuid;

use crate::append_json;

/// One property value of a stored record. 24 bytes, against 32 for a `serde_json::Value` plus a
/// `String` allocation for every GUID: GUIDs, the most common values in conversation records
/// (ids and lookups), are kept as 16 bytes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Null,
    Bool(bool),
    Num(Number),
    /// A GUID string in Web API's canonical form (lowercase, hyphenated). Other spellings stay
    /// strings so projection gives back exactly what was loaded.
    Guid(Uuid),
    /// A string JSON writes as is between quotes (no `"`, `\` or control characters): most
    /// text, so projection copies it rather than running the escaper.
    Str(Box<str>),
    /// A string with characters JSON escapes.
    Escaped(Box<str>),
    /// Arrays and objects (not used by the conversation table's columns, kept as given).
    Json(Box<Value>),
}

impl Val {
    pub(crate) fn from_json(value: Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(b) => Self::Bool(b),
            Value::Number(n) => Self::Num(n),
            Value::String(s) => match canonical_guid(&s) {
                Some(id) => Self::Guid(id),
                None if needs_escaping(&s) => Self::Escaped(s.into_boxed_str()),
                None => Self::Str(s.into_boxed_str()),
            },
            other => Self::Json(Box::new(other)),
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Bool(b) => Value::Bool(*b),
            Self::Num(n) => Value::Number(n.clone()),
            Self::Guid(id) => {
                // encode_lower skips the formatting machinery of to_string().
                Value::String(
                    id.hyphenated()
                        .encode_lower(&mut Uuid::encode_buffer())
                        .to_owned(),
                )
            }
            Self::Str(s) | Self::Escaped(s) => Value::String(s.to_string()),
            Self::Json(v) => (**v).clone(),
        }
    }

    /// Appends the JSON text of [`to_json`](Self::to_json)'s value, byte for byte what
    /// `serde_json` writes for it, without building the value.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Self::Null => out.extend_from_slice(b"null"),
            Self::Bool(true) => out.extend_from_slice(b"true"),
            Self::Bool(false) => out.extend_from_slice(b"false"),
            Self::Num(n) => append_json(out, n),
            Self::Guid(id) => out.extend_from_slice(&quoted_guid(id)),
            Self::Str(s) => {
                out.push(b'"');
                out.extend_from_slice(s.as_bytes());
                out.push(b'"');
            }
            Self::Escaped(s) => append_json(out, &**s),
            Self::Json(v) => append_json(out, &**v),
        }
    }
}

/// Two lowercase hex digits of every byte value.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0; 2]; 256];
    let mut byte = 0;
    while byte < 256 {
        pairs[byte] = [DIGITS[byte >> 4], DIGITS[byte & 0xf]];
        byte += 1;
    }
    pairs
};

/// `"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"` with the quotes: a GUID's JSON text, as Web API
/// spells it. A byte-pair table with fixed positions: a few times faster than `uuid`'s
/// formatter, and GUIDs are most of the values a conversation record projects.
fn quoted_guid(id: &Uuid) -> [u8; 38] {
    // Where each of the 16 bytes' two digits go, after the opening quote and around the hyphens.
    const AT: [usize; 16] = [1, 3, 5, 7, 10, 12, 15, 17, 20, 22, 25, 27, 29, 31, 33, 35];
    let mut text = *b"\"00000000-0000-0000-0000-000000000000\"";
    for (&byte, &at) in id.as_bytes().iter().zip(&AT) {
        text[at..at + 2].copy_from_slice(&HEX_PAIRS[usize::from(byte)]);
    }
    text
}

/// Whether serde_json escapes any character of `text` (it escapes `"`, `\` and U+0000 to
/// U+001F, and writes everything else as UTF-8).
fn needs_escaping(text: &str) -> bool {
    text.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\')
}

/// The GUID a string holds, when it is spelled exactly as Web API spells GUIDs.
fn canonical_guid(text: &str) -> Option<Uuid> {
    if text.len() != 36 {
        return None;
    }
    let id = Uuid::try_parse(text).ok()?;
    let mut buffer = Uuid::encode_buffer();
    (id.hyphenated().encode_lower(&mut buffer) == text).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_round_trip_exactly() {
        for value in [
            json!(null),
            json!(true),
            json!(3),
            json!(-7),
            json!(1.5),
            json!(18_446_744_073_709_551_615_u64),
            json!("2b330c52-6844-4d36-8e05-03c78c9681dc"),
            json!("2B330C52-6844-4D36-8E05-03C78C9681DC"),
            json!("{2b330c52-6844-4d36-8e05-03c78c9681dc}"),
            json!("2b330c5268444d368e0503c78c9681dc"),
            json!("«Café» \"quoted\""),
            json!(["192360000"]),
            json!({"a": 1}),
            json!("tab\there, a \\ and a \u{1f} and \u{7f}"),
            json!(1e300),
            json!(-0.0),
        ] {
            let val = Val::from_json(value.clone());
            assert_eq!(val.to_json(), value);
            let mut written = Vec::new();
            val.write_json(&mut written);
            assert_eq!(written, serde_json::to_vec(&value).unwrap(), "{value}");
        }
    }

    #[test]
    fn guids_are_written_as_uuid_writes_them() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let ids = (0..64).map(|_| {
            // xorshift64*: every nibble value at every position over the 64 ids.
            let mut bytes = [0; 16];
            for chunk in bytes.chunks_mut(8) {
                seed ^= seed >> 12;
                seed ^= seed << 25;
                seed ^= seed >> 27;
                chunk.copy_from_slice(&seed.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
            }
            Uuid::from_bytes(bytes)
        });
        for id in ids.chain([Uuid::nil(), Uuid::max()]) {
            assert_eq!(
                quoted_guid(&id).as_slice(),
                format!("\"{}\"", id.hyphenated()).as_bytes()
            );
        }
    }

    #[test]
    fn strings_are_escaped_exactly_when_serde_json_escapes_them() {
        for c in (0..=0x80)
            .filter_map(char::from_u32)
            .chain(['é', '€', '😀'])
        {
            let text = format!("a{c}b");
            let plain = format!("\"{text}\"");
            assert_eq!(
                needs_escaping(&text),
                serde_json::to_string(&text).unwrap() != plain,
                "U+{:04X}",
                u32::from(c)
            );
        }
    }

    #[test]
    fn only_canonical_guids_are_packed() {
        assert!(matches!(
            Val::from_json(json!("2b330c52-6844-4d36-8e05-03c78c9681dc")),
            Val::Guid(_)
        ));
        assert!(matches!(
            Val::from_json(json!("2B330C52-6844-4D36-8E05-03C78C9681DC")),
            Val::Str(_)
        ));
        assert_eq!(std::mem::size_of::<Val>(), 24);
    }
}
