//! Rows into structs through serde (feature `serde`): [`from_row`],
//! [`Connection::fetch_as`], [`Connection::fetchrow_as`].
//!
//! A row deserializes as a map from column name to value (a struct by
//! field names, or a `HashMap`), or as a sequence of its values (a tuple).
//! Each value is read by its column's type: `bool`, `int2`/`int4`/`int8`,
//! `float4`/`float8`, the text types (`text`, `varchar`, `char`, `name`)
//! and `bytea`; `NULL` is `None`. Other types are an
//! [`Error::Decode`] naming the column: cast them in the query
//! (`created::text`).

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use tokio_postgres::types::Type;
use tokio_postgres::Row;

use crate::{Connection, Error, Param};

/// Deserializes `row` into `T`.
///
/// # Errors
/// [`Error::Decode`]: a field with no column, a column whose type or
/// value does not fit the field.
pub fn from_row<T: DeserializeOwned>(row: &Row) -> Result<T, Error> {
    T::deserialize(RowDeserializer { row }).map_err(|e| Error::Decode(e.0))
}

impl Connection {
    /// [`fetch`](Connection::fetch), each row deserialized into `T`.
    ///
    /// # Errors
    /// As [`fetch`](Connection::fetch), and [`Error::Decode`].
    ///
    /// # Cancel safety
    /// As [`fetch`](Connection::fetch).
    pub async fn fetch_as<T: DeserializeOwned>(&self, sql: &str, params: &[Param<'_>]) -> Result<Vec<T>, Error> {
        self.fetch(sql, params).await?.iter().map(from_row).collect()
    }

    /// [`fetchrow`](Connection::fetchrow), deserialized into `T`.
    ///
    /// # Errors
    /// As [`fetch`](Connection::fetch), and [`Error::Decode`].
    ///
    /// # Cancel safety
    /// As [`fetch`](Connection::fetch).
    pub async fn fetchrow_as<T: DeserializeOwned>(&self, sql: &str, params: &[Param<'_>]) -> Result<Option<T>, Error> {
        self.fetchrow(sql, params).await?.as_ref().map(from_row).transpose()
    }
}

/// serde's error for a row that does not fit.
#[derive(Debug)]
struct DecodeError(String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        DecodeError(msg.to_string())
    }
}

struct RowDeserializer<'a> {
    row: &'a Row,
}

impl<'de> de::Deserializer<'de> for RowDeserializer<'_> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_map(Columns { row: self.row, next: 0 })
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_seq(Columns { row: self.row, next: 0 })
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_seq(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct map struct enum identifier ignored_any
    }
}

/// The row's columns, as map entries (name, value) or a sequence.
struct Columns<'a> {
    row: &'a Row,
    next: usize,
}

impl<'de> MapAccess<'de> for Columns<'_> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DecodeError> {
        match self.row.columns().get(self.next) {
            Some(column) => seed.deserialize(column.name().into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DecodeError> {
        let value = Value {
            row: self.row,
            index: self.next,
        };
        self.next += 1;
        seed.deserialize(value)
    }
}

impl<'de> SeqAccess<'de> for Columns<'_> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DecodeError> {
        if self.next >= self.row.len() {
            return Ok(None);
        }
        let value = Value {
            row: self.row,
            index: self.next,
        };
        self.next += 1;
        seed.deserialize(value).map(Some)
    }
}

/// One column's value.
struct Value<'a> {
    row: &'a Row,
    index: usize,
}

impl Value<'_> {
    fn get<T: for<'r> tokio_postgres::types::FromSql<'r>>(&self) -> Result<Option<T>, DecodeError> {
        self.row
            .try_get::<_, Option<T>>(self.index)
            .map_err(|e| DecodeError(format!("column {:?}: {e}", self.row.columns()[self.index].name())))
    }

    fn is_null(&self) -> Result<bool, DecodeError> {
        let ty = self.row.columns()[self.index].type_().clone();
        Ok(match ty {
            Type::BOOL => self.get::<bool>()?.is_none(),
            Type::INT2 => self.get::<i16>()?.is_none(),
            Type::INT4 => self.get::<i32>()?.is_none(),
            Type::INT8 => self.get::<i64>()?.is_none(),
            Type::FLOAT4 => self.get::<f32>()?.is_none(),
            Type::FLOAT8 => self.get::<f64>()?.is_none(),
            Type::BYTEA => self.get::<Vec<u8>>()?.is_none(),
            _ => self.get::<String>().map(|v| v.is_none()).unwrap_or(false),
        })
    }
}

impl<'de> de::Deserializer<'de> for Value<'_> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let column = &self.row.columns()[self.index];
        macro_rules! visit {
            ($t:ty, $visit:ident) => {
                match self.get::<$t>()? {
                    Some(v) => visitor.$visit(v),
                    None => visitor.visit_none(),
                }
            };
        }
        match *column.type_() {
            Type::BOOL => visit!(bool, visit_bool),
            Type::INT2 => visit!(i16, visit_i16),
            Type::INT4 => visit!(i32, visit_i32),
            Type::INT8 => visit!(i64, visit_i64),
            Type::FLOAT4 => visit!(f32, visit_f32),
            Type::FLOAT8 => visit!(f64, visit_f64),
            Type::BYTEA => visit!(Vec<u8>, visit_byte_buf),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => visit!(String, visit_string),
            ref other => Err(DecodeError(format!(
                "column {:?}: type {other} is not supported for serde; cast it in the query",
                column.name()
            ))),
        }
    }

    /// A `bytea` read as a sequence (what `Vec<u8>` asks for without
    /// `serde_bytes`).
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        if *self.row.columns()[self.index].type_() == Type::BYTEA {
            if let Some(bytes) = self.get::<Vec<u8>>()? {
                return visitor.visit_seq(de::value::SeqDeserializer::new(bytes.into_iter()));
            }
        }
        self.deserialize_any(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        if self.is_null()? {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct tuple tuple_struct map struct enum identifier ignored_any
    }
}
