//! JSON text → `serde_json::Value`, rejecting duplicate object keys.
//!
//! `serde_json::from_str::<Value>` keeps the last of two equal keys, so
//! `{"agentId": A, "agentId": B}` would silently query agent B. Here the second key is an
//! error that names its JSON pointer. The path is a linked list on the stack, turned into a
//! string only when an error is reported, so the happy path allocates no paths.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{Error, pointer_index, pointer_key};

/// Marks the custom serde error that carries a duplicate key's pointer.
const DUPLICATE_MARKER: &str = "\u{0}duplicate key at ";

pub(crate) fn parse(text: &str) -> Result<Value, Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = Node::Root
        .deserialize(&mut deserializer)
        .and_then(|v| deserializer.end().map(|()| v));
    value.map_err(|e| {
        // serde_json says column 0 for an error before a line's first character (empty input).
        let column = e.column().max(1);
        let message = e.to_string();
        let message = message
            .rfind(" at line ")
            .map_or(message.as_str(), |i| &message[..i]);
        match message.strip_prefix(DUPLICATE_MARKER) {
            Some(path) => Error::DuplicateKey {
                path: path.to_owned(),
                line: e.line(),
                column,
            },
            None => Error::InvalidJson {
                message: message.to_owned(),
                line: e.line(),
                column,
            },
        }
    })
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
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // serde_json never yields a non-finite float from text, so `from` never gives Null here.
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(Node::Index(&self, items.len()))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                let path = Node::Key(&self, &key).pointer();
                return Err(de::Error::custom(format_args!("{DUPLICATE_MARKER}{path}")));
            }
            let value = map.next_value_seed(Node::Key(&self, &key))?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_serde_json() {
        let text = r#"{"a": [1, -2, 3.5, "x", null, true, {"b": {}}], "c": 18446744073709551615}"#;
        assert_eq!(
            parse(text).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
    }

    #[test]
    fn duplicate_keys_are_errors_with_their_pointer() {
        let err = parse("{\"orderBy\": [{\"attributeName\": \"a\",\n \"attributeName\": \"b\"}]}")
            .unwrap_err();
        assert_eq!(err.code(), "duplicate_key");
        assert_eq!(err.path(), "/orderBy/0/attributeName");
        assert!(err.to_string().contains("line 2"), "{err}");
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
