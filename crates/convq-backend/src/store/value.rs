//! Compact property values: what a record keeps for projection and ordering.

use std::fmt;
use std::num::NonZeroU32;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};
use uuid::Uuid;

use crate::append_json;
use crate::timestamp::Nanos;

/// One property value of a stored record, 24 bytes. GUIDs, the most common values in
/// conversation records (ids and lookups), are kept as 16 bytes; text lives in the store's
/// [`Texts`] arena, so a string costs its bytes and no allocation of its own.
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
    Str(TextRef),
    /// A string with characters JSON escapes.
    Escaped(TextRef),
    /// Arrays and objects (not used by the conversation table's columns, kept as given).
    Json(Box<Value>),
}

/// Where a string is in a [`Texts`] arena, and its place in the store's collation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TextRef {
    start: u64,
    len: u32,
    /// The string's rank among the store's distinct strings in collation order (equal for
    /// strings the collation calls equal): set once after the load (see `rank_texts`), so a
    /// sort compares two integers instead of running the collator. Fits in what was padding.
    pub(crate) rank: u32,
}

/// The text of every string value of a store, back to back.
#[derive(Debug, Default)]
pub(crate) struct Texts(String);

/// A string longer than a [`TextRef`] can address (4 GiB).
#[derive(Debug)]
pub(crate) struct TextTooLong;

impl Texts {
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        Self(String::with_capacity(bytes))
    }

    pub(crate) fn push(&mut self, text: &str) -> Result<TextRef, TextTooLong> {
        let len = u32::try_from(text.len()).map_err(|_| TextTooLong)?;
        // usize is at most 64 bits on every target Rust supports.
        let start = self.0.len() as u64;
        self.0.push_str(text);
        Ok(TextRef {
            start,
            len,
            rank: 0,
        })
    }

    pub(crate) fn get(&self, at: TextRef) -> &str {
        // The ref came from push on this arena (or on the one relocate copied it from), so
        // the range is in bounds and on character boundaries.
        let start = at.start as usize;
        &self.0[start..start + at.len as usize]
    }

    /// Moves the text of one record's values from `from` to the end of this arena (the values
    /// then refer to it here). A record's strings were pushed one after the other, so they are
    /// one run of `from`: one copy, and one place in memory to read.
    pub(crate) fn take_record(&mut self, values: &mut [Val], from: &Self) {
        let mut texts = values.iter().filter_map(|v| match v {
            Val::Str(at) | Val::Escaped(at) => Some(*at),
            _ => None,
        });
        let Some(first) = texts.next() else {
            return;
        };
        let end = texts.next_back().unwrap_or(first);
        let (start, end) = (first.start as usize, end.start as usize + end.len as usize);
        let base = self.0.len() as u64;
        // From the start of the record's first string to the end of its last: char boundaries.
        self.0.push_str(&from.0[start..end]);
        for value in values {
            if let Val::Str(at) | Val::Escaped(at) = value {
                at.start = at.start - first.start + base;
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

impl Val {
    /// Appends the value's JSON text as Web API returns it, byte for byte what `serde_json`
    /// writes for the `serde_json::Value` it was loaded from, without building that value.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>, texts: &Texts) {
        match self {
            Self::Null => out.extend_from_slice(b"null"),
            Self::Bool(true) => out.extend_from_slice(b"true"),
            Self::Bool(false) => out.extend_from_slice(b"false"),
            Self::Num(n) => append_json(out, n),
            Self::Guid(id) => out.extend_from_slice(&quoted_guid(id)),
            Self::Str(at) => {
                out.push(b'"');
                out.extend_from_slice(texts.get(*at).as_bytes());
                out.push(b'"');
            }
            Self::Escaped(at) => append_json(out, texts.get(*at)),
            Self::Json(v) => append_json(out, &**v),
        }
    }
}

/// Deserializes one property value straight into a [`Val`], the text into `texts` (borrowed
/// from the input when it has no escapes: no `String` per value).
pub(crate) struct ValSeed<'a> {
    pub(crate) texts: &'a mut Texts,
}

impl<'de> DeserializeSeed<'de> for ValSeed<'_> {
    type Value = Val;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Val, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValSeed<'_> {
    type Value = Val;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Val, E> {
        Ok(Val::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Val, E> {
        Ok(Val::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Val, E> {
        Ok(Val::Num(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Val, E> {
        Ok(Val::Num(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Val, E> {
        // As serde_json's own Value: JSON has no NaN or infinity, so this is always a number.
        Ok(Number::from_f64(v).map_or(Val::Null, Val::Num))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Val, E> {
        if let Some(id) = canonical_guid(v) {
            return Ok(Val::Guid(id));
        }
        let kind = if needs_escaping(v) {
            Val::Escaped
        } else {
            Val::Str
        };
        self.texts
            .push(v)
            .map(kind)
            .map_err(|TextTooLong| E::custom("a string longer than 4 GiB"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Val, A::Error> {
        Value::deserialize(SeqAccessDeserializer::new(seq)).map(|v| Val::Json(Box::new(v)))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Val, A::Error> {
        Value::deserialize(MapAccessDeserializer::new(map)).map(|v| Val::Json(Box::new(v)))
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
    // At 36 characters `try_parse` takes only the hyphenated form, in either case, so without
    // capitals the text is exactly how the GUID encodes (no need to encode it to compare).
    if text.len() != 36 || text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    Uuid::try_parse(text).ok()
}

/// An instant as whole seconds and nanoseconds: 16 bytes, and 16 for an `Option` of it (where
/// a nanosecond count takes 32), ordered as the nanosecond count it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Stamp {
    secs: i64,
    /// Nanoseconds within the second, plus one: the zero it can never be is `Option`'s niche.
    nanos_plus_one: NonZeroU32,
}

impl Stamp {
    /// The instant `nanos` after the epoch; saturates outside ±292 billion years (Dataverse
    /// dates run from 1753 to 9999), which keeps the order.
    pub(crate) fn from_nanos(nanos: Nanos) -> Self {
        const NANOS_PER_SEC: Nanos = 1_000_000_000;
        let secs = nanos.div_euclid(NANOS_PER_SEC);
        let (secs, subsec) = match i64::try_from(secs) {
            // rem_euclid is in 0..10^9, so it fits and plus one is not zero.
            Ok(secs) => (secs, nanos.rem_euclid(NANOS_PER_SEC) as u32),
            Err(_) if secs < 0 => (i64::MIN, 0),
            Err(_) => (i64::MAX, 999_999_999),
        };
        Self {
            secs,
            nanos_plus_one: NonZeroU32::MIN.saturating_add(subsec),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn load(value: &Value, texts: &mut Texts) -> Val {
        let text = value.to_string();
        ValSeed { texts }
            .deserialize(&mut serde_json::Deserializer::from_str(&text))
            .unwrap()
    }

    #[test]
    fn values_round_trip_exactly() {
        let mut texts = Texts::default();
        let values = [
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
            json!("«Café» \"quoted\" \u{1F600}"),
            json!(""),
            json!(["192360000"]),
            json!({"a": 1, "b": [null, "x"]}),
            json!("tab\there, a \\ and a \u{1f} and \u{7f}"),
            json!(1e300),
            json!(-0.0),
        ];
        let mut loaded: Vec<Val> = values.iter().map(|v| load(v, &mut texts)).collect();
        for (value, val) in values.iter().zip(&loaded) {
            let mut written = Vec::new();
            val.write_json(&mut written, &texts);
            assert_eq!(written, serde_json::to_vec(value).unwrap(), "{value}");
        }
        // Moved to another arena as records are when the load clusters them: here the first
        // five values as one record, after a record with no text and one with all the rest.
        let mut moved = Texts::with_capacity(texts.len());
        let (first, rest) = loaded.split_at_mut(5);
        moved.take_record(&mut [Val::Null, Val::Bool(true)], &texts);
        moved.take_record(rest, &texts);
        moved.take_record(first, &texts);
        for (value, val) in values.iter().zip(&loaded) {
            let mut written = Vec::new();
            val.write_json(&mut written, &moved);
            assert_eq!(written, serde_json::to_vec(value).unwrap(), "{value}");
        }
        assert_eq!(moved.len(), texts.len());
    }

    #[test]
    fn only_canonical_guids_are_packed() {
        let mut texts = Texts::default();
        assert!(matches!(
            load(&json!("2b330c52-6844-4d36-8e05-03c78c9681dc"), &mut texts),
            Val::Guid(_)
        ));
        assert!(matches!(
            load(&json!("2B330C52-6844-4D36-8E05-03C78C9681DC"), &mut texts),
            Val::Str(_)
        ));
        assert!(matches!(
            load(&json!("2b330c52-6844-4d36-8e05-03C78C9681dc"), &mut texts),
            Val::Str(_)
        ));
        for almost in [
            "2b330c52-6844-4d36-8e05-03c78c9681d",
            "2b330c52-6844-4d36-8e05-03c78c9681dcc",
            "2b330c52_6844-4d36-8e05-03c78c9681dc",
            "2b330c52-6844-4d36-8e05-03c78c9681dg",
            "{2b330c52-6844-4d36-8e05-03c78c9681}",
            "urn:uuid:2b330c52-6844-4d36-8e05-03c",
            "2b330c5268444d368e0503c78c9681dc1234",
        ] {
            assert!(
                matches!(load(&json!(almost), &mut texts), Val::Str(_)),
                "{almost}"
            );
        }
        assert!(matches!(
            load(&json!("a \"quoted\" word"), &mut texts),
            Val::Escaped(_)
        ));
        assert_eq!(std::mem::size_of::<Val>(), 24);
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
    fn stamps_order_as_their_nanoseconds() {
        let nanos: [Nanos; 8] = [
            Nanos::MIN,
            -1_500_000_000,
            -1,
            0,
            1,
            999_999_999,
            1_000_000_000,
            Nanos::MAX,
        ];
        for pair in nanos.windows(2) {
            assert!(
                Stamp::from_nanos(pair[0]) < Stamp::from_nanos(pair[1]),
                "{pair:?}"
            );
        }
        assert_eq!(Stamp::from_nanos(7), Stamp::from_nanos(7));
        assert_eq!(std::mem::size_of::<Option<Stamp>>(), 16);
    }
}
