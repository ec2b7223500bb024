//! The JSON tree the compiler reads, parsed from text (rejecting duplicate object keys).
//!
//! Strings borrow from the input text wherever it has no escapes, so a 500-column input costs
//! no string allocations, and objects are small vectors of entries rather than maps: the
//! compiler's objects have at most seven keys.
//!
//! `serde_json::from_str::<Value>` keeps the last of two equal keys, so
//! `{"agentId": A, "agentId": B}` would silently query agent B. Here the second key is an
//! error that names its JSON pointer. The path is a linked list on the stack, turned into a
//! string only when an error is reported, so the happy path allocates no paths.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, Serializer};
use serde_json::Number;

use crate::error::{Error, pointer_index, pointer_key};

/// A JSON value whose strings may borrow from the text it came from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Object<'a>),
}

/// A JSON object: its entries, without repeated keys.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Object<'a> {
    entries: Vec<(Cow<'a, str>, Json<'a>)>,
}

impl<'a> Object<'a> {
    pub(crate) fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_ref())
    }
}

impl<'a> Json<'a> {
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_array(&self) -> Option<&[Json<'a>]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    pub(crate) fn as_object(&self) -> Option<&Object<'a>> {
        match self {
            Json::Object(object) => Some(object),
            _ => None,
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    /// The value as JSON text, exactly as `serde_json::Value` displays it.
    pub(crate) fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => serializer.serialize_unit(),
            Json::Bool(b) => serializer.serialize_bool(*b),
            Json::Number(n) => n.serialize(serializer),
            Json::String(s) => serializer.serialize_str(s),
            Json::Array(items) => serializer.collect_seq(items),
            Json::Object(object) => {
                serializer.collect_map(object.entries.iter().map(|(k, v)| (k, v)))
            }
        }
    }
}

/// Marks the custom serde error that carries a duplicate key's pointer.
const DUPLICATE_MARKER: &str = "\u{0}duplicate key at ";

pub(crate) fn parse(text: &str) -> Result<Json<'_>, Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = Node::Root
        .deserialize(&mut deserializer)
        .and_then(|v| deserializer.end().map(|()| v));
    value.map_err(|e| {
        // serde_json says column 0 for an error before a line's first character (empty input).
        let column = e.column().max(1);
        let mut message = json_error_message(&e);
        // An empty file or body is a common mistake; say so rather than "EOF while parsing".
        if text
            .bytes()
            .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            message = "it is empty".to_owned();
        }
        match message.strip_prefix(DUPLICATE_MARKER) {
            Some(path) => Error::DuplicateKey {
                path: path.to_owned(),
                line: e.line(),
                column,
            },
            None => Error::InvalidJson {
                message,
                line: e.line(),
                column,
            },
        }
    })
}

/// serde_json's description of an error without the ` at line L column C` it appends (every
/// adapter reports the position its own way, or has none worth giving).
#[must_use]
pub fn json_error_message(error: &serde_json::Error) -> String {
    let mut message = error.to_string();
    if let Some(at) = message.rfind(" at line ") {
        message.truncate(at);
    }
    message
}

/// A JSON value's type in words, for messages: `"a string"`, `"an array"`, `"null"`, ...
#[must_use]
pub fn json_type_name(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Where a value sits in the document.
#[derive(Clone, Copy)]
enum Node<'a> {
    Root,
    Key(&'a Node<'a>, &'a str),
    Index(&'a Node<'a>, usize),
}

impl Node<'_> {
    fn pointer(&self) -> String {
        match self {
            Node::Root => String::new(),
            Node::Key(parent, key) => pointer_key(&parent.pointer(), key),
            Node::Index(parent, index) => pointer_index(&parent.pointer(), *index),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Json<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Json<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// Objects up to this many keys find a repeat by comparing with each earlier key; larger ones
/// (never a valid input, but any JSON can arrive) keep a sorted set so that the check stays
/// O(log n) per key whatever the keys are.
const LINEAR_KEYS: usize = 16;

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json<'de>, E> {
        // serde_json never yields a non-finite float from text; `Value::from` would make it null.
        Ok(Number::from_f64(v).map_or(Json::Null, Json::Number))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(Node::Index(&self, items.len()))? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut entries: Vec<(Cow<'de, str>, Json<'de>)> = Vec::new();
        let mut large: Option<BTreeSet<Cow<'de, str>>> = None;
        while let Some(key) = map.next_key_seed(Key)? {
            let repeated = match &mut large {
                Some(seen) => !seen.insert(key.clone()),
                None => entries.iter().any(|(k, _)| *k == key),
            };
            if repeated {
                let path = Node::Key(&self, &key).pointer();
                return Err(de::Error::custom(format_args!("{DUPLICATE_MARKER}{path}")));
            }
            let value = map.next_value_seed(Node::Key(&self, &key))?;
            entries.push((key, value));
            if large.is_none() && entries.len() == LINEAR_KEYS {
                large = Some(entries.iter().map(|(k, _)| k.clone()).collect());
            }
        }
        Ok(Json::Object(Object { entries }))
    }
}

/// An object key, borrowed from the text unless it has escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn parses_like_serde_json() {
        let text =
            r#"{"a": [1, -2, 3.5, "x\n", null, true, {"b": {}}], "c": 18446744073709551615}"#;
        let parsed = parse(text).unwrap();
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(parsed.to_text(), value.to_string());
    }

    #[test]
    fn strings_without_escapes_borrow_from_the_text() {
        let parsed = parse(r#"{"plain": ["abc", "a\"b"]}"#).unwrap();
        let object = parsed.as_object().unwrap();
        assert!(matches!(object.entries[0].0, Cow::Borrowed("plain")));
        let items = object.get("plain").and_then(Json::as_array).unwrap();
        assert!(matches!(items[0], Json::String(Cow::Borrowed("abc"))));
        assert_eq!(items[1], Json::String(Cow::Owned("a\"b".to_owned())));
    }

    #[test]
    fn duplicate_keys_are_errors_with_their_pointer() {
        let err = parse("{\"orderBy\": [{\"attributeName\": \"a\",\n \"attributeName\": \"b\"}]}")
            .unwrap_err();
        assert_eq!(err.code(), "duplicate_key");
        assert_eq!(err.path(), "/orderBy/0/attributeName");
        assert!(err.to_string().contains("line 2"), "{err}");
        // An escape spells the same key.
        let err = parse(r#"{"a": 1, "\u0061": 2}"#).unwrap_err();
        assert_eq!((err.code(), err.path()), ("duplicate_key", "/a"));
    }

    #[test]
    fn duplicate_keys_are_found_in_large_objects_too() {
        let keys: Vec<String> = (0..100).map(|i| format!("\"k{i}\": {i}")).collect();
        let text = format!("{{{}, \"k3\": 0}}", keys.join(", "));
        let err = parse(&text).unwrap_err();
        assert_eq!((err.code(), err.path()), ("duplicate_key", "/k3"));
        let text = format!("{{{}, \"k100\": 0}}", keys.join(", "));
        assert!(parse(&text).is_ok());
    }

    #[test]
    fn syntax_errors_keep_line_and_column() {
        let err = parse("{\n  \"agentId\": ,\n}").unwrap_err();
        assert_eq!(err.code(), "invalid_json");
        assert_eq!(
            err.to_string(),
            "the input is not valid JSON: expected value (line 2, column 14)"
        );
        assert_eq!(parse("{} x").unwrap_err().code(), "invalid_json");
    }
}
