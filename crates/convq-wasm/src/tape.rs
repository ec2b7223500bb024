//! The tape: how `compile` hands its result to JavaScript in one step.
//!
//! Any `Serialize` value becomes a `u32` word stream plus one string holding all of its text,
//! and one JS function (`js/tape.js`, `decodeTape`) turns the two into exactly the JS value that
//! `JSON.parse(serde_json::to_string(value))` gives: the same plain objects, arrays, strings,
//! numbers, booleans and nulls, with keys in the same order. It is what JSON text did before,
//! minus the work JSON needs that the boundary does not: escaping and unescaping every string,
//! finding where each one ends, and turning each key back into a property name. A `compile`
//! result crosses as one text decode, a few dozen slices of it and a walk of the words (see
//! `docs/wasm.md` for the numbers).
//!
//! # Format
//!
//! `words[0]` is the number of struct keys the JS side already holds (below), then one value:
//! each value starts with a word whose low [`TAG_BITS`] bits are its tag and the rest its operand.
//!
//! | tag | value | operand | then |
//! |---|---|---|---|
//! | [`NULL`] | `null` | 0 | |
//! | [`BOOL`] | `false` / `true` | 0 / 1 | |
//! | [`INT`] | an integer in `0..2^29` | the integer | |
//! | [`NUMBER`] | any other number | length of its decimal text | |
//! | [`STRING`] | a string | its length | |
//! | [`ARRAY`] | an array | number of items | the items |
//! | [`OBJECT`] | an object | number of entries | per entry: a key word, the value |
//!
//! A key word is [`KEY`] with the index of a key the JS side holds, [`KEY_NEW`] with the length
//! of a key it does not hold yet (it appends it to its list), or [`KEY_TEXT`] with the length of
//! a key used once (a map key). Lengths are in UTF-16 code units, how JS strings count, and each
//! length takes the next that many units of the text: the text is every string, key and number
//! in the order they occur.
//!
//! # Keys
//!
//! Struct field names (and the variant names that key an enum's data) are `&'static str`s, the
//! same few dozen in every result, and a JS property name costs far more to make from text than
//! to reuse (0.9 µs a `compile` result, measured in Node). So [`Keys`] numbers them in
//! the order first seen and the JS module keeps the list across calls: after the first call a
//! result's keys cost one word each. `words[0]` tells the JS side how many keys the tape takes
//! as held; it drops any beyond that, so if a decode ever throws half-way, the Rust side starts
//! over from `Keys::default()` and both sides are in step again.

use std::fmt::Write as _;

use serde::Serialize;
use serde::ser::{self, Impossible};

/// Bits of a word that hold the tag.
pub const TAG_BITS: u32 = 3;
/// Largest operand a word holds.
pub const MAX_OPERAND: u32 = u32::MAX >> TAG_BITS;

/// Tag of `null`.
pub const NULL: u32 = 0;
/// Tag of a boolean; the operand is 0 or 1.
pub const BOOL: u32 = 1;
/// Tag of a small non-negative integer; the operand is its value.
pub const INT: u32 = 2;
/// Tag of any other number; the operand is the length of its decimal text.
pub const NUMBER: u32 = 3;
/// Tag of a string; the operand is its length.
pub const STRING: u32 = 4;
/// Tag of an array; the operand is the number of items that follow.
pub const ARRAY: u32 = 5;
/// Tag of an object; the operand is the number of key/value pairs that follow.
pub const OBJECT: u32 = 6;

/// Key word: a key the JS side holds; the operand is its index.
pub const KEY: u32 = 0;
/// Key word: a struct key the JS side does not hold yet; the operand is its length.
pub const KEY_NEW: u32 = 1;
/// Key word: a key used once (a map key); the operand is its length.
pub const KEY_TEXT: u32 = 2;

/// Why a value cannot go on the tape. `Compiled` and everything else convq returns never fail;
/// these are serde's ways of failing, for completeness.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TapeError {
    /// A `Serialize` implementation failed.
    #[error("{0}")]
    Custom(String),
    /// A map key JSON cannot write as a string (as serde_json refuses it).
    #[error("a map key must be a string, an integer, a boolean, a char or a unit variant")]
    KeyMustBeAString,
    /// A string, array or object longer than an operand holds.
    #[error("{0} is too long for the tape")]
    TooLong(usize),
}

impl ser::Error for TapeError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Self::Custom(msg.to_string())
    }
}

/// The encoded value: the words and the text they take their strings from.
#[derive(Debug, Default)]
pub struct Tape {
    /// Header and value words.
    pub words: Vec<u32>,
    /// Every string, key and number text, in order.
    pub text: String,
}

/// The struct keys the JS side holds, by index. One per JS module instance (see the module doc).
#[derive(Debug, Default)]
pub struct Keys {
    held: AddressTable,
    pending: Vec<&'static str>,
}

impl Keys {
    /// Number of keys both sides hold.
    #[must_use]
    pub fn len(&self) -> usize {
        self.held.len
    }

    /// Whether no key is held yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.held.len == 0
    }

    /// The tape is complete: the keys it introduced are held from now on.
    fn commit(&mut self) {
        for key in self.pending.drain(..) {
            self.held.insert(key);
        }
    }

    /// The tape failed: forget the keys it introduced.
    fn discard(&mut self) {
        self.pending.clear();
    }

    /// The index of a held or pending key; `None` for a new one, which is pending from now on.
    fn index(&mut self, key: &'static str) -> Option<usize> {
        if let Some(index) = self.held.get(key) {
            return Some(index);
        }
        let pending = self.pending.iter().position(|k| same(k, key));
        if pending.is_none() {
            self.pending.push(key);
        }
        pending.map(|position| self.held.len + position)
    }
}

/// Whether two `&'static str`s are the same literal: struct keys are found by address and length,
/// without reading them.
fn same(a: &'static str, b: &'static str) -> bool {
    std::ptr::eq(a, b)
}

/// Key → index by address: open addressing with linear probing, at most half full. It runs for
/// every field of every result, where a `HashMap` with its general hashing cost a third of the
/// encoding (measured in Node).
#[derive(Debug, Default)]
struct AddressTable {
    /// `(key, index)`; empty slots are `None`.
    slots: Vec<Option<(&'static str, usize)>>,
    len: usize,
}

impl AddressTable {
    fn slot(&self, key: &'static str) -> usize {
        // Fibonacci hashing of the address: the top bits of the product pick the slot.
        const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;
        let hash = (key.as_ptr() as u64).wrapping_mul(GOLDEN);
        let bits = self.slots.len().trailing_zeros();
        (hash >> (u64::BITS - bits)) as usize
    }

    fn get(&self, key: &'static str) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mut slot = self.slot(key);
        loop {
            match self.slots[slot] {
                Some((held, index)) if same(held, key) => return Some(index),
                Some(_) => slot = (slot + 1) & (self.slots.len() - 1),
                None => return None,
            }
        }
    }

    /// Adds a key that is not in the table, with the next index.
    fn insert(&mut self, key: &'static str) {
        if (self.len + 1) * 2 > self.slots.len() {
            let size = (self.slots.len() * 2).max(64);
            let old = std::mem::replace(&mut self.slots, vec![None; size]);
            for (held, index) in old.into_iter().flatten() {
                self.place(held, index);
            }
        }
        self.place(key, self.len);
        self.len += 1;
    }

    fn place(&mut self, key: &'static str, index: usize) {
        let mut slot = self.slot(key);
        while self.slots[slot].is_some() {
            slot = (slot + 1) & (self.slots.len() - 1);
        }
        self.slots[slot] = Some((key, index));
    }
}

/// Writes `value` to `tape` (cleared first), numbering the struct keys it introduces in `keys`:
/// hand the tape to the JS side that holds the keys `keys` numbered before. Should that side not
/// take it after all (the decode threw), start again from `Keys::default()`.
///
/// # Errors
/// As serde_json fails on the same value (a non-string map key, a failing `Serialize`), or a
/// string longer than 2^29 UTF-16 units. `keys` is then as before.
pub fn encode<T: ?Sized + Serialize>(
    value: &T,
    keys: &mut Keys,
    tape: &mut Tape,
) -> Result<(), TapeError> {
    tape.words.clear();
    tape.text.clear();
    let base = u32::try_from(keys.len()).expect("fewer than 2^32 keys");
    tape.words.push(base);
    let mut encoder = Encoder { tape, keys };
    let result = value.serialize(&mut encoder);
    match result {
        Ok(()) => encoder.keys.commit(),
        Err(_) => encoder.keys.discard(),
    }
    result
}

struct Encoder<'a> {
    tape: &'a mut Tape,
    keys: &'a mut Keys,
}

fn word(tag: u32, operand: usize) -> Result<u32, TapeError> {
    match u32::try_from(operand) {
        Ok(operand) if operand <= MAX_OPERAND => Ok(tag | (operand << TAG_BITS)),
        _ => Err(TapeError::TooLong(operand)),
    }
}

/// Length in UTF-16 code units, as JS counts.
fn utf16_len(text: &str) -> usize {
    if text.is_ascii() {
        text.len()
    } else {
        text.chars().map(char::len_utf16).sum()
    }
}

impl Encoder<'_> {
    fn push(&mut self, tag: u32, operand: usize) -> Result<(), TapeError> {
        self.tape.words.push(word(tag, operand)?);
        Ok(())
    }

    /// Appends text and returns its length in UTF-16 units.
    fn text(&mut self, text: &str) -> usize {
        self.tape.text.push_str(text);
        utf16_len(text)
    }

    fn string(&mut self, text: &str) -> Result<(), TapeError> {
        let len = self.text(text);
        self.push(STRING, len)
    }

    fn number(&mut self, value: impl std::fmt::Display) -> Result<(), TapeError> {
        let start = self.tape.text.len();
        write!(self.tape.text, "{value}").expect("writing to a String cannot fail");
        // Decimal digits, sign, point and exponent: ASCII, one unit per byte.
        let len = self.tape.text.len() - start;
        self.push(NUMBER, len)
    }

    fn integer(&mut self, value: i128) -> Result<(), TapeError> {
        match u32::try_from(value) {
            Ok(small) if small <= MAX_OPERAND => self.push(INT, small as usize),
            _ => self.number(value),
        }
    }

    fn struct_key(&mut self, key: &'static str) -> Result<(), TapeError> {
        match self.keys.index(key) {
            Some(index) => self.push(KEY, index),
            None => {
                let len = self.text(key);
                self.push(KEY_NEW, len)
            }
        }
    }
}

impl<'b> Encoder<'b> {
    /// Starts an array or object whose size is counted as items come; [`Compound::end`] writes it.
    fn open(&mut self, tag: u32) -> Compound<'_, 'b> {
        let at = self.tape.words.len();
        self.tape.words.push(tag);
        Compound {
            encoder: self,
            at,
            tag,
            count: 0,
        }
    }

    /// `{variant: ...}` for the externally tagged enum variants with data, as serde_json writes
    /// them: the object with its one key, ready for the value.
    fn variant_object(&mut self, variant: &'static str) -> Result<(), TapeError> {
        self.push(OBJECT, 1)?;
        self.struct_key(variant)
    }
}

impl<'a, 'b> ser::Serializer for &'a mut Encoder<'b> {
    type Ok = ();
    type Error = TapeError;
    type SerializeSeq = Compound<'a, 'b>;
    type SerializeTuple = Compound<'a, 'b>;
    type SerializeTupleStruct = Compound<'a, 'b>;
    type SerializeTupleVariant = Compound<'a, 'b>;
    type SerializeMap = Compound<'a, 'b>;
    type SerializeStruct = Compound<'a, 'b>;
    type SerializeStructVariant = Compound<'a, 'b>;

    fn serialize_bool(self, value: bool) -> Result<(), TapeError> {
        self.push(BOOL, usize::from(value))
    }

    fn serialize_i8(self, value: i8) -> Result<(), TapeError> {
        self.integer(value.into())
    }

    fn serialize_i16(self, value: i16) -> Result<(), TapeError> {
        self.integer(value.into())
    }

    fn serialize_i32(self, value: i32) -> Result<(), TapeError> {
        self.integer(value.into())
    }

    fn serialize_i64(self, value: i64) -> Result<(), TapeError> {
        self.integer(value.into())
    }

    fn serialize_i128(self, value: i128) -> Result<(), TapeError> {
        self.integer(value)
    }

    fn serialize_u8(self, value: u8) -> Result<(), TapeError> {
        self.integer(value.into())
    }

    fn serialize_u16(self, value: u16) -> Result<(), TapeError> {
        self.integer(value.into())
    }

    fn serialize_u32(self, value: u32) -> Result<(), TapeError> {
        self.integer(value.into())
    }

    fn serialize_u64(self, value: u64) -> Result<(), TapeError> {
        self.integer(value.into())
    }

    fn serialize_u128(self, value: u128) -> Result<(), TapeError> {
        match i128::try_from(value) {
            Ok(value) => self.integer(value),
            Err(_) => self.number(value),
        }
    }

    // Non-finite floats are null, as serde_json writes them. A finite one goes as the shortest
    // decimal that reads back as the same float, which is what JSON.parse reads of serde_json's
    // (also shortest) text; for an f32 that is the f32's shortest decimal, as in serde_json.
    fn serialize_f32(self, value: f32) -> Result<(), TapeError> {
        if value.is_finite() {
            self.number(value)
        } else {
            self.push(NULL, 0)
        }
    }

    fn serialize_f64(self, value: f64) -> Result<(), TapeError> {
        if value.is_finite() {
            self.number(value)
        } else {
            self.push(NULL, 0)
        }
    }

    fn serialize_char(self, value: char) -> Result<(), TapeError> {
        self.string(value.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, value: &str) -> Result<(), TapeError> {
        self.string(value)
    }

    /// An array of numbers, as serde_json writes bytes.
    fn serialize_bytes(self, value: &[u8]) -> Result<(), TapeError> {
        self.push(ARRAY, value.len())?;
        for &byte in value {
            self.push(INT, byte.into())?;
        }
        Ok(())
    }

    fn serialize_none(self) -> Result<(), TapeError> {
        self.push(NULL, 0)
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), TapeError> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), TapeError> {
        self.push(NULL, 0)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), TapeError> {
        self.push(NULL, 0)
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), TapeError> {
        self.string(variant)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), TapeError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), TapeError> {
        self.variant_object(variant)?;
        value.serialize(self)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a, 'b>, TapeError> {
        Ok(self.open(ARRAY))
    }

    fn serialize_tuple(self, _len: usize) -> Result<Compound<'a, 'b>, TapeError> {
        Ok(self.open(ARRAY))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, 'b>, TapeError> {
        Ok(self.open(ARRAY))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, 'b>, TapeError> {
        self.variant_object(variant)?;
        Ok(self.open(ARRAY))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a, 'b>, TapeError> {
        Ok(self.open(OBJECT))
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, 'b>, TapeError> {
        Ok(self.open(OBJECT))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, 'b>, TapeError> {
        self.variant_object(variant)?;
        Ok(self.open(OBJECT))
    }
}

/// An array or object being written: its header word is patched with the count at the end.
pub struct Compound<'a, 'b> {
    encoder: &'a mut Encoder<'b>,
    at: usize,
    tag: u32,
    count: usize,
}

impl Compound<'_, '_> {
    fn item<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), TapeError> {
        self.count += 1;
        value.serialize(&mut *self.encoder)
    }

    fn field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), TapeError> {
        self.count += 1;
        self.encoder.struct_key(key)?;
        value.serialize(&mut *self.encoder)
    }

    fn end(self) -> Result<(), TapeError> {
        self.encoder.tape.words[self.at] = word(self.tag, self.count)?;
        Ok(())
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = TapeError;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), TapeError> {
        self.item(value)
    }

    fn end(self) -> Result<(), TapeError> {
        Compound::end(self)
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = TapeError;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), TapeError> {
        self.item(value)
    }

    fn end(self) -> Result<(), TapeError> {
        Compound::end(self)
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = TapeError;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), TapeError> {
        self.item(value)
    }

    fn end(self) -> Result<(), TapeError> {
        Compound::end(self)
    }
}

impl ser::SerializeTupleVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = TapeError;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), TapeError> {
        self.item(value)
    }

    fn end(self) -> Result<(), TapeError> {
        Compound::end(self)
    }
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = TapeError;

    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), TapeError> {
        self.count += 1;
        key.serialize(MapKey {
            encoder: &mut *self.encoder,
        })
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), TapeError> {
        value.serialize(&mut *self.encoder)
    }

    fn end(self) -> Result<(), TapeError> {
        Compound::end(self)
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = TapeError;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), TapeError> {
        self.field(key, value)
    }

    fn end(self) -> Result<(), TapeError> {
        Compound::end(self)
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = TapeError;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), TapeError> {
        self.field(key, value)
    }

    fn end(self) -> Result<(), TapeError> {
        Compound::end(self)
    }
}

/// A map key: text, as serde_json turns keys into strings (floats aside: serde_json writes them
/// with its own float formatting, which this tape does not reproduce, so they are refused).
struct MapKey<'a, 'b> {
    encoder: &'a mut Encoder<'b>,
}

impl MapKey<'_, '_> {
    fn text(self, text: &str) -> Result<(), TapeError> {
        let len = self.encoder.text(text);
        self.encoder.push(KEY_TEXT, len)
    }

    fn display(self, value: impl std::fmt::Display) -> Result<(), TapeError> {
        self.text(&value.to_string())
    }
}

impl ser::Serializer for MapKey<'_, '_> {
    type Ok = ();
    type Error = TapeError;
    type SerializeSeq = Impossible<(), TapeError>;
    type SerializeTuple = Impossible<(), TapeError>;
    type SerializeTupleStruct = Impossible<(), TapeError>;
    type SerializeTupleVariant = Impossible<(), TapeError>;
    type SerializeMap = Impossible<(), TapeError>;
    type SerializeStruct = Impossible<(), TapeError>;
    type SerializeStructVariant = Impossible<(), TapeError>;

    fn serialize_str(self, value: &str) -> Result<(), TapeError> {
        self.text(value)
    }

    fn serialize_char(self, value: char) -> Result<(), TapeError> {
        self.text(value.encode_utf8(&mut [0; 4]))
    }

    fn serialize_bool(self, value: bool) -> Result<(), TapeError> {
        self.display(value)
    }

    fn serialize_i8(self, value: i8) -> Result<(), TapeError> {
        self.display(value)
    }

    fn serialize_i16(self, value: i16) -> Result<(), TapeError> {
        self.display(value)
    }

    fn serialize_i32(self, value: i32) -> Result<(), TapeError> {
        self.display(value)
    }

    fn serialize_i64(self, value: i64) -> Result<(), TapeError> {
        self.display(value)
    }

    fn serialize_i128(self, value: i128) -> Result<(), TapeError> {
        self.display(value)
    }

    fn serialize_u8(self, value: u8) -> Result<(), TapeError> {
        self.display(value)
    }

    fn serialize_u16(self, value: u16) -> Result<(), TapeError> {
        self.display(value)
    }

    fn serialize_u32(self, value: u32) -> Result<(), TapeError> {
        self.display(value)
    }

    fn serialize_u64(self, value: u64) -> Result<(), TapeError> {
        self.display(value)
    }

    fn serialize_u128(self, value: u128) -> Result<(), TapeError> {
        self.display(value)
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), TapeError> {
        self.text(variant)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), TapeError> {
        value.serialize(self)
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), TapeError> {
        value.serialize(self)
    }

    fn serialize_f32(self, _value: f32) -> Result<(), TapeError> {
        Err(TapeError::KeyMustBeAString)
    }

    fn serialize_f64(self, _value: f64) -> Result<(), TapeError> {
        Err(TapeError::KeyMustBeAString)
    }

    fn serialize_bytes(self, _value: &[u8]) -> Result<(), TapeError> {
        Err(TapeError::KeyMustBeAString)
    }

    fn serialize_none(self) -> Result<(), TapeError> {
        Err(TapeError::KeyMustBeAString)
    }

    fn serialize_unit(self) -> Result<(), TapeError> {
        Err(TapeError::KeyMustBeAString)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), TapeError> {
        Err(TapeError::KeyMustBeAString)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), TapeError> {
        Err(TapeError::KeyMustBeAString)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, TapeError> {
        Err(TapeError::KeyMustBeAString)
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, TapeError> {
        Err(TapeError::KeyMustBeAString)
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, TapeError> {
        Err(TapeError::KeyMustBeAString)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, TapeError> {
        Err(TapeError::KeyMustBeAString)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, TapeError> {
        Err(TapeError::KeyMustBeAString)
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, TapeError> {
        Err(TapeError::KeyMustBeAString)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, TapeError> {
        Err(TapeError::KeyMustBeAString)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use convq_core::Options;
    use serde::Serialize;

    use super::*;

    /// A JS value as `JSON.parse` builds it: numbers are doubles (compared bit for bit), objects
    /// keep their key order.
    #[derive(Debug, PartialEq)]
    enum Js {
        Null,
        Bool(bool),
        Number(u64),
        String(String),
        Array(Vec<Js>),
        Object(Vec<(String, Js)>),
    }

    fn number(value: f64) -> Js {
        Js::Number(value.to_bits())
    }

    /// `JSON.parse`: serde_json's text read into [`Js`], numbers as JS reads them (every integer
    /// rounded to the nearest double, like `Number(text)`).
    impl<'de> serde::Deserialize<'de> for Js {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = Js;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("JSON")
                }
                fn visit_unit<E>(self) -> Result<Js, E> {
                    Ok(Js::Null)
                }
                fn visit_bool<E>(self, v: bool) -> Result<Js, E> {
                    Ok(Js::Bool(v))
                }
                #[allow(clippy::cast_precision_loss)]
                fn visit_i64<E>(self, v: i64) -> Result<Js, E> {
                    Ok(number(v as f64))
                }
                #[allow(clippy::cast_precision_loss)]
                fn visit_u64<E>(self, v: u64) -> Result<Js, E> {
                    Ok(number(v as f64))
                }
                fn visit_f64<E>(self, v: f64) -> Result<Js, E> {
                    Ok(number(v))
                }
                fn visit_str<E>(self, v: &str) -> Result<Js, E> {
                    Ok(Js::String(v.to_owned()))
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Js, A::Error> {
                    let mut items = Vec::new();
                    while let Some(item) = a.next_element()? {
                        items.push(item);
                    }
                    Ok(Js::Array(items))
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Js, A::Error> {
                    let mut entries = Vec::new();
                    while let Some(entry) = a.next_entry()? {
                        entries.push(entry);
                    }
                    Ok(Js::Object(entries))
                }
            }
            deserializer.deserialize_any(Visitor)
        }
    }

    /// What `js/tape.js` does, in Rust: the keys list it keeps across calls, and the value of
    /// one tape.
    #[derive(Default)]
    struct Decoder {
        keys: Vec<String>,
    }

    struct Reader<'a> {
        words: &'a [u32],
        word: usize,
        units: Vec<u16>,
        unit: usize,
    }

    impl Reader<'_> {
        fn next(&mut self) -> (u32, usize) {
            let w = self.words[self.word];
            self.word += 1;
            (w & ((1 << TAG_BITS) - 1), (w >> TAG_BITS) as usize)
        }

        fn slice(&mut self, len: usize) -> String {
            let units = &self.units[self.unit..self.unit + len];
            self.unit += len;
            String::from_utf16(units).expect("slices end on character boundaries")
        }
    }

    impl Decoder {
        fn decode(&mut self, tape: &Tape) -> Js {
            let mut reader = Reader {
                words: &tape.words,
                word: 1,
                units: tape.text.encode_utf16().collect(),
                unit: 0,
            };
            self.keys.truncate(tape.words[0] as usize);
            let value = self.value(&mut reader);
            assert_eq!(reader.word, tape.words.len(), "every word is read");
            assert_eq!(reader.unit, reader.units.len(), "all the text is read");
            value
        }

        fn value(&mut self, r: &mut Reader<'_>) -> Js {
            let (tag, operand) = r.next();
            match tag {
                NULL => Js::Null,
                BOOL => Js::Bool(operand == 1),
                #[allow(clippy::cast_precision_loss)]
                INT => number(operand as f64),
                // Number(text): Rust's float parser also rounds to the nearest double.
                NUMBER => number(r.slice(operand).parse().unwrap()),
                STRING => Js::String(r.slice(operand)),
                ARRAY => Js::Array((0..operand).map(|_| self.value(r)).collect()),
                OBJECT => Js::Object(
                    (0..operand)
                        .map(|_| {
                            let key = self.key(r);
                            (key, self.value(r))
                        })
                        .collect(),
                ),
                _ => panic!("bad value tag {tag}"),
            }
        }

        fn key(&mut self, r: &mut Reader<'_>) -> String {
            let (tag, operand) = r.next();
            match tag {
                KEY => self.keys[operand].clone(),
                KEY_NEW => {
                    let key = r.slice(operand);
                    self.keys.push(key.clone());
                    key
                }
                KEY_TEXT => r.slice(operand),
                _ => panic!("bad key tag {tag}"),
            }
        }
    }

    /// Encodes and decodes as the JS side would.
    fn round_trip<T: Serialize>(value: &T, keys: &mut Keys, js: &mut Decoder) -> Js {
        let mut tape = Tape::default();
        encode(value, keys, &mut tape).unwrap();
        js.decode(&tape)
    }

    /// The JS side gets what `JSON.parse(serde_json::to_string(value))` would give.
    fn assert_like_serde_json<T: Serialize>(value: &T, keys: &mut Keys, js: &mut Decoder) {
        let expected: Js = serde_json::from_str(&serde_json::to_string(value).unwrap()).unwrap();
        assert_eq!(round_trip(value, keys, js), expected);
    }

    /// Every fixture of the core corpus that compiles: what `compile` returns to JS is what the
    /// CLI prints, key order included.
    #[test]
    fn compiled_results_decode_to_their_serde_json_text() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../convq-core/tests/fixtures");
        let (mut keys, mut js) = (Keys::default(), Decoder::default());
        let mut compiled = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            // A fixture is the input, or {"options": ..., "input": ...} (the corpus convention).
            let wrapped = serde_json::from_str::<BTreeMap<String, serde_json::Value>>(&text)
                .ok()
                .filter(|map| map.len() == 2 && map.contains_key("options"))
                .and_then(|map| Some((map.get("input")?.to_string(), map["options"].to_string())));
            let (input, options) = match wrapped {
                Some((input, options)) => (input, crate::glue::parse_options(Some(&options))),
                None => (text, Ok(Options::default())),
            };
            let Ok(options) = options else { continue };
            if let Ok(result) = convq_core::compile(&input, &options) {
                assert_like_serde_json(&result, &mut keys, &mut js);
                compiled += 1;
            }
        }
        assert!(compiled >= 20, "only {compiled} fixtures compiled");
        // The first result introduced the keys; later ones reuse them.
        assert!(keys.len() >= 15, "{} keys", keys.len());
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    enum Shape {
        Unit,
        Newtype(u8),
        Tuple(i8, String),
        Struct { inner_field: Option<bool> },
    }

    #[derive(Serialize)]
    struct Unit;

    #[derive(Serialize)]
    struct Wrapper(&'static str);

    #[derive(Serialize)]
    struct Pair(u16, f32);

    #[derive(Serialize)]
    struct Everything {
        #[serde(rename = "__proto__")]
        proto: u8,
        shapes: Vec<Shape>,
        unit: (),
        unit_struct: Unit,
        wrapper: Wrapper,
        pair: Pair,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u8>,
        empty_text: &'static str,
        texts: [&'static str; 4],
        chars: (char, char),
        #[serde(with = "serde_bytes_like")]
        bytes: Vec<u8>,
        integers: (i8, i16, i32, i64, i128, u8, u16, u32, u64, u128),
        edges: (u32, u32, i64, u64, i128, u128),
        floats: (f32, f64, f64, f64, f64, f64, f64),
        map_of_strings: BTreeMap<&'static str, Shape>,
        map_of_integers: BTreeMap<i32, bool>,
        map_of_variants: BTreeMap<Key, ()>,
        map_of_bools: BTreeMap<bool, Option<Wrapper>>,
        map_of_chars: BTreeMap<char, u8>,
    }

    #[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
    enum Key {
        First,
        Second,
    }

    mod serde_bytes_like {
        pub(super) fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }
    }

    /// Every shape serde has, with the strings and numbers that are easy to get wrong: what the
    /// JS side decodes is serde_json's text of the same value.
    #[test]
    fn every_serde_shape_decodes_like_serde_json() {
        let value = Everything {
            proto: 1,
            shapes: vec![
                Shape::Unit,
                Shape::Newtype(7),
                Shape::Tuple(-3, "t".into()),
                Shape::Struct {
                    inner_field: Some(true),
                },
                Shape::Struct { inner_field: None },
            ],
            unit: (),
            unit_struct: Unit,
            wrapper: Wrapper("w"),
            pair: Pair(65535, 0.1),
            skipped: None,
            empty_text: "",
            // Escapes, two- and three-byte UTF-8, a surrogate pair (two UTF-16 units).
            texts: [
                "\"quoted\"\n\t\\",
                "caf\u{e9}",
                "\u{2603} snow",
                "\u{1f600} after",
            ],
            chars: ('\u{e9}', '\u{1f600}'),
            bytes: vec![0, 1, 255],
            integers: (-8, -16, -32, -64, -128, 8, 16, 32, 64, 128),
            edges: (
                MAX_OPERAND,
                MAX_OPERAND + 1,
                i64::MIN,
                u64::MAX,
                i128::MIN,
                u128::MAX,
            ),
            floats: (0.1, 0.1, -0.0, 1e300, 5e-324, f64::NAN, f64::INFINITY),
            map_of_strings: [("b", Shape::Unit), ("a", Shape::Newtype(1))].into(),
            map_of_integers: [(-1, true), (10, false)].into(),
            map_of_variants: [(Key::First, ()), (Key::Second, ())].into(),
            map_of_bools: [(true, Some(Wrapper("x"))), (false, None)].into(),
            map_of_chars: [('\u{1f600}', 1)].into(),
        };
        let (mut keys, mut js) = (Keys::default(), Decoder::default());
        assert_like_serde_json(&value, &mut keys, &mut js);
        // Again, now that the struct keys are held: the same text.
        assert_like_serde_json(&value, &mut keys, &mut js);
    }

    #[test]
    fn held_keys_cost_one_word_and_no_text() {
        #[derive(Serialize)]
        struct Point {
            x: u8,
            y: u8,
        }
        let (mut keys, mut js) = (Keys::default(), Decoder::default());
        let mut tape = Tape::default();
        encode(
            &[Point { x: 1, y: 2 }, Point { x: 3, y: 4 }],
            &mut keys,
            &mut tape,
        )
        .unwrap();
        // Header, array, then per point: object, (key, int) twice. The second point reuses the
        // pending keys.
        assert_eq!(
            tape.words,
            [
                0,
                word(ARRAY, 2).unwrap(),
                word(OBJECT, 2).unwrap(),
                word(KEY_NEW, 1).unwrap(),
                word(INT, 1).unwrap(),
                word(KEY_NEW, 1).unwrap(),
                word(INT, 2).unwrap(),
                word(OBJECT, 2).unwrap(),
                word(KEY, 0).unwrap(),
                word(INT, 3).unwrap(),
                word(KEY, 1).unwrap(),
                word(INT, 4).unwrap(),
            ]
        );
        assert_eq!(tape.text, "xy");
        let point =
            |x: f64, y: f64| Js::Object(vec![("x".into(), number(x)), ("y".into(), number(y))]);
        assert_eq!(
            js.decode(&tape),
            Js::Array(vec![point(1.0, 2.0), point(3.0, 4.0)])
        );

        encode(&Point { x: 5, y: 6 }, &mut keys, &mut tape).unwrap();
        assert_eq!(tape.words[0], 2, "the JS side holds two keys");
        assert_eq!(tape.text, "");
        assert_eq!(js.decode(&tape), point(5.0, 6.0));
    }

    /// A decode that threw half-way: the exports start over with fresh `Keys`, whose first tape
    /// tells the JS side to drop what it holds, and both sides are in step again.
    #[test]
    fn starting_over_after_a_failed_decode_resyncs_the_js_side() {
        #[derive(Serialize)]
        struct First {
            a: u8,
        }
        #[derive(Serialize)]
        struct Second {
            b: u8,
            a: u8,
        }
        let (mut keys, mut js) = (Keys::default(), Decoder::default());
        assert_like_serde_json(&First { a: 1 }, &mut keys, &mut js);
        assert_like_serde_json(&Second { b: 2, a: 3 }, &mut keys, &mut js);
        assert_eq!(js.keys, ["a", "b"]);

        let mut keys = Keys::default();
        assert_like_serde_json(&Second { b: 4, a: 5 }, &mut keys, &mut js);
        assert_eq!(js.keys, ["b", "a"]);
        assert_like_serde_json(&First { a: 6 }, &mut keys, &mut js);
        assert_eq!(keys.len(), 2);
    }

    /// Many keys, including ones with the same text at different addresses: the table grows and
    /// keeps each at the index it was given.
    #[test]
    fn the_key_table_grows_and_keeps_indices() {
        let names: Vec<&'static str> = (0..300)
            .map(|i| &*Box::leak(format!("key{}", i % 150).into_boxed_str()))
            .collect();
        let mut keys = Keys::default();
        for (round, chunk) in names.chunks(70).enumerate() {
            for (i, name) in chunk.iter().enumerate() {
                assert_eq!(keys.index(name), None, "round {round}, key {i}");
                // Pending keys get the next indices right away.
                assert_eq!(keys.index(name), Some(round * 70 + i));
            }
            keys.commit();
        }
        assert_eq!(keys.len(), 300);
        for (i, name) in names.iter().enumerate() {
            assert_eq!(keys.index(name), Some(i));
        }
        assert!(keys.pending.is_empty());
    }

    #[test]
    fn what_serde_json_refuses_fails_and_leaves_the_keys_alone() {
        #[derive(Serialize)]
        struct WithFloatKeys {
            map: BTreeMap<Vec<u8>, u8>,
        }
        let mut keys = Keys::default();
        let mut tape = Tape::default();
        let value = WithFloatKeys {
            map: [(vec![1], 1)].into(),
        };
        assert!(serde_json::to_string(&value).is_err());
        assert_eq!(
            encode(&value, &mut keys, &mut tape),
            Err(TapeError::KeyMustBeAString)
        );
        assert!(keys.is_empty(), "the failed tape's `map` key was discarded");
        assert!(encode(&f64::NAN, &mut keys, &mut tape).is_ok());
        assert_eq!(tape.words, [0, word(NULL, 0).unwrap()]);
    }

    /// `js/tape.js` declares the same tags.
    #[test]
    fn the_js_decoder_uses_these_numbers() {
        let js = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("js/tape.js"))
            .unwrap();
        let declared = |name: &str| -> u32 {
            let prefix = format!("const {name} = ");
            let line = js
                .lines()
                .find_map(|line| line.strip_prefix(&prefix))
                .unwrap_or_else(|| panic!("js/tape.js does not declare {name}"));
            line.trim_end_matches(';').parse().unwrap()
        };
        let constants = [
            ("TAG_BITS", TAG_BITS),
            ("TAG_MASK", (1 << TAG_BITS) - 1),
            ("NULL", NULL),
            ("BOOL", BOOL),
            ("INT", INT),
            ("NUMBER", NUMBER),
            ("STRING", STRING),
            ("ARRAY", ARRAY),
            ("OBJECT", OBJECT),
            ("KEY", KEY),
            ("KEY_NEW", KEY_NEW),
            ("KEY_TEXT", KEY_TEXT),
        ];
        for (name, value) in constants {
            assert_eq!(declared(name), value, "{name}");
        }
    }
}
