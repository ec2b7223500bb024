//! Compact property values: what a record keeps for projection and ordering.

use serde_json::{Number, Value};
use uuid::Uuid;

/// One property value of a stored record. 24 bytes, against 32 for a `serde_json::Value` plus a
/// `String` allocation for every GUID: GUIDs, the most common values in conversation records
/// (ids and lookups), are kept as 16 bytes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Null,
    Bool(bool),
    Num(Number),
    /// A GUID string in Web API's canonical form (lowercase, hyphenated). Other spellings stay
    /// [`Val::Str`] so projection gives back exactly what was loaded.
    Guid(Uuid),
    Str(Box<str>),
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
            Self::Str(s) => Value::String(s.to_string()),
            Self::Json(v) => (**v).clone(),
        }
    }
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
        ] {
            assert_eq!(Val::from_json(value.clone()).to_json(), value);
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
