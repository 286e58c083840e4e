//! Rust values on their way into a session: serde's data model to JSON text, as
//! `serde_json` writes it, except that bytes (`serialize_bytes`: `serde_bytes`, `&[u8]`
//! fields marked for it) travel beside the JSON, raw, and become Python `bytes`.
//!
//! In the JSON, a byte string is the object `{"\u0000bytes": i}`, `i` its index among
//! the blobs; the runtime's `json.loads` hook swaps it for the blob. A map of the
//! user's with that key is refused, so the marker is never misread.

use serde::ser::{self, Serialize};
use serde_json::{Map, Number, Value};

/// The key that marks a byte string in the JSON.
pub(crate) const BYTES_KEY: &str = "\u{0}bytes";

/// `value` as JSON text and the byte strings it holds.
pub(crate) fn to_json_and_blobs<T: Serialize + ?Sized>(
    value: &T,
) -> std::result::Result<(String, Vec<Vec<u8>>), String> {
    let mut blobs = Vec::new();
    let json = value
        .serialize(ToValue { blobs: &mut blobs })
        .map_err(|e| e.0)?;
    Ok((json.to_string(), blobs))
}

#[derive(Debug)]
pub(crate) struct ConvertError(String);

impl std::fmt::Display for ConvertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConvertError {}

impl ser::Error for ConvertError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        ConvertError(msg.to_string())
    }
}

type Result<T> = std::result::Result<T, ConvertError>;

struct ToValue<'a> {
    blobs: &'a mut Vec<Vec<u8>>,
}

impl<'a> ToValue<'a> {
    fn nested(&mut self) -> ToValue<'_> {
        ToValue { blobs: self.blobs }
    }
}

fn float(v: f64) -> Value {
    // As serde_json: NaN and infinities have no JSON form and become null.
    Number::from_f64(v).map_or(Value::Null, Value::Number)
}

fn tagged(variant: &str, value: Value) -> Value {
    let mut m = Map::new();
    m.insert(variant.to_owned(), value);
    Value::Object(m)
}

impl<'a> ser::Serializer for ToValue<'a> {
    type Ok = Value;
    type Error = ConvertError;
    type SerializeSeq = Seq<'a>;
    type SerializeTuple = Seq<'a>;
    type SerializeTupleStruct = Seq<'a>;
    type SerializeTupleVariant = Seq<'a>;
    type SerializeMap = Obj<'a>;
    type SerializeStruct = Obj<'a>;
    type SerializeStructVariant = Obj<'a>;

    fn serialize_bool(self, v: bool) -> Result<Value> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value> {
        Ok(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<Value> {
        Ok(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<Value> {
        Ok(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<Value> {
        Ok(v.into())
    }
    fn serialize_i128(self, v: i128) -> Result<Value> {
        i64::try_from(v)
            .map(Value::from)
            .or_else(|_| u64::try_from(v).map(Value::from))
            .map_err(|_| ConvertError(format!("{v} is too large for JSON")))
    }
    fn serialize_u8(self, v: u8) -> Result<Value> {
        Ok(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<Value> {
        Ok(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<Value> {
        Ok(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<Value> {
        Ok(v.into())
    }
    fn serialize_u128(self, v: u128) -> Result<Value> {
        u64::try_from(v)
            .map(Value::from)
            .map_err(|_| ConvertError(format!("{v} is too large for JSON")))
    }
    fn serialize_f32(self, v: f32) -> Result<Value> {
        Ok(float(f64::from(v)))
    }
    fn serialize_f64(self, v: f64) -> Result<Value> {
        Ok(float(v))
    }
    fn serialize_char(self, v: char) -> Result<Value> {
        Ok(Value::String(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value> {
        Ok(Value::String(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value> {
        let index = self.blobs.len();
        self.blobs.push(v.to_vec());
        Ok(tagged(BYTES_KEY, index.into()))
    }
    fn serialize_none(self) -> Result<Value> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value> {
        Ok(Value::String(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Value> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        mut self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value> {
        Ok(tagged(variant, value.serialize(self.nested())?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Seq<'a>> {
        Ok(Seq {
            blobs: self.blobs,
            items: Vec::with_capacity(len.unwrap_or(0).min(4096)),
            variant: None,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq<'a>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Seq<'a>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Seq<'a>> {
        let mut seq = self.serialize_seq(Some(len))?;
        seq.variant = Some(variant);
        Ok(seq)
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Obj<'a>> {
        Ok(Obj {
            blobs: self.blobs,
            map: Map::new(),
            key: None,
            variant: None,
        })
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Obj<'a>> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Obj<'a>> {
        let mut obj = self.serialize_map(Some(len))?;
        obj.variant = Some(variant);
        Ok(obj)
    }
}

pub(crate) struct Seq<'a> {
    blobs: &'a mut Vec<Vec<u8>>,
    items: Vec<Value>,
    variant: Option<&'static str>,
}

impl Seq<'_> {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let v = value.serialize(ToValue { blobs: self.blobs })?;
        self.items.push(v);
        Ok(())
    }

    fn done(self) -> Value {
        let list = Value::Array(self.items);
        match self.variant {
            Some(variant) => tagged(variant, list),
            None => list,
        }
    }
}

impl ser::SerializeSeq for Seq<'_> {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }
    fn end(self) -> Result<Value> {
        Ok(self.done())
    }
}

impl ser::SerializeTuple for Seq<'_> {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }
    fn end(self) -> Result<Value> {
        Ok(self.done())
    }
}

impl ser::SerializeTupleStruct for Seq<'_> {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }
    fn end(self) -> Result<Value> {
        Ok(self.done())
    }
}

impl ser::SerializeTupleVariant for Seq<'_> {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }
    fn end(self) -> Result<Value> {
        Ok(self.done())
    }
}

pub(crate) struct Obj<'a> {
    blobs: &'a mut Vec<Vec<u8>>,
    map: Map<String, Value>,
    key: Option<String>,
    variant: Option<&'static str>,
}

impl Obj<'_> {
    fn insert<T: Serialize + ?Sized>(&mut self, key: String, value: &T) -> Result<()> {
        if key == BYTES_KEY {
            return Err(ConvertError(
                "the map key \"\\u0000bytes\" is reserved: it marks byte strings on their way \
                 into the session"
                    .into(),
            ));
        }
        let v = value.serialize(ToValue { blobs: self.blobs })?;
        self.map.insert(key, v);
        Ok(())
    }

    fn done(self) -> Value {
        let obj = Value::Object(self.map);
        match self.variant {
            Some(variant) => tagged(variant, obj),
            None => obj,
        }
    }
}

/// A map key as JSON has them: strings, and numbers, booleans and chars as their text
/// (what serde_json does).
fn key_text(key: Value) -> Result<String> {
    match key {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(ConvertError(format!(
            "a map key must be a string or a number to become a Python dict key here, not {other}"
        ))),
    }
}

impl ser::SerializeMap for Obj<'_> {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        let mut scratch = Vec::new();
        let k = key.serialize(ToValue {
            blobs: &mut scratch,
        })?;
        self.key = Some(key_text(k)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let key = self
            .key
            .take()
            .ok_or_else(|| ConvertError("a map value came without its key".into()))?;
        self.insert(key, value)
    }
    fn end(self) -> Result<Value> {
        Ok(self.done())
    }
}

impl ser::SerializeStruct for Obj<'_> {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.insert(key.to_owned(), value)
    }
    fn end(self) -> Result<Value> {
        Ok(self.done())
    }
}

impl ser::SerializeStructVariant for Obj<'_> {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.insert(key.to_owned(), value)
    }
    fn end(self) -> Result<Value> {
        Ok(self.done())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use std::collections::BTreeMap;

    /// Without bytes in it, a value comes out exactly as serde_json writes it.
    fn same_as_serde_json<T: Serialize>(value: &T) {
        let (json, blobs) = to_json_and_blobs(value).unwrap();
        assert!(blobs.is_empty());
        let ours: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(ours, serde_json::to_value(value).unwrap());
    }

    #[derive(Serialize)]
    enum Shape {
        Dot,
        Circle(f64),
        Rect(u32, u32),
        Named { name: String, sides: Option<u8> },
    }

    #[derive(Serialize)]
    struct Unit;

    #[derive(Serialize)]
    struct Wrapper(i32);

    #[test]
    fn plain_values_match_serde_json() {
        same_as_serde_json(&(1u8, -2i64, 3.5f32, f64::NAN, 'c', "s", true, ()));
        same_as_serde_json(&vec![Shape::Dot, Shape::Circle(1.5), Shape::Rect(2, 3)]);
        same_as_serde_json(&Shape::Named {
            name: "x".into(),
            sides: None,
        });
        same_as_serde_json(&(Unit, Wrapper(7), Some(Some(1)), None::<u8>));
        same_as_serde_json(&BTreeMap::from([(1, "a"), (2, "b")]));
        same_as_serde_json(&BTreeMap::from([(true, 1)]));
        same_as_serde_json(&(i128::from(i64::MIN), u128::from(u64::MAX)));
    }

    struct Raw<'a>(&'a [u8]);

    impl Serialize for Raw<'_> {
        fn serialize<S: ser::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }

    #[test]
    fn bytes_become_blobs_with_markers() {
        let value = BTreeMap::from([("a", vec![Raw(b"xy"), Raw(b"")]), ("b", vec![])]);
        let (json, blobs) = to_json_and_blobs(&value).unwrap();
        assert_eq!(blobs, [b"xy".to_vec(), Vec::new()]);
        assert_eq!(
            serde_json::from_str::<Value>(&json).unwrap(),
            serde_json::json!({"a": [{"\u{0}bytes": 0}, {"\u{0}bytes": 1}], "b": []})
        );
    }

    #[test]
    fn what_json_cannot_hold_is_an_error() {
        assert!(to_json_and_blobs(&u128::MAX).is_err());
        assert!(to_json_and_blobs(&BTreeMap::from([((1, 2), 3)])).is_err());
        assert!(to_json_and_blobs(&BTreeMap::from([(BYTES_KEY, 3)])).is_err());
    }
}
