//! The envelope's structs are JSON objects, and only that: serde's derive
//! also reads a struct from an array of its fields in declaration order
//! (`["demo", 1764000000000, {…}]`, serde-rs/serde#1587), a second wire
//! format nobody documented or tested. Every struct of the envelope is read
//! through [`ObjectOnly`], which asks the parser for a map; an array is
//! then refused like any other wrong type (`400 invalid_field`).

use serde::de::{Deserialize, Deserializer, Visitor};

/// Reads what it wraps as a map, whatever the caller asked for.
pub struct ObjectOnly<D>(pub D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for ObjectOnly<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(visitor)
    }

    // A derived struct asks for a struct; nothing else is read through this.
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// `#[serde(deserialize_with = "object")]`: the field's struct from an
/// object only.
///
/// # Errors
/// When the value is not an object, or the struct's own errors.
pub fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    T::deserialize(ObjectOnly(deserializer))
}

/// `#[serde(deserialize_with = "objects")]`: a list of structs, each from an
/// object only.
///
/// # Errors
/// When the value is not an array of objects, or the structs' own errors.
pub fn objects<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    let items = Vec::<Object<T>>::deserialize(deserializer)?;
    Ok(items.into_iter().map(|Object(item)| item).collect())
}

/// One struct read from an object only.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        object(deserializer).map(Object)
    }
}
