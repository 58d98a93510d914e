//! A serde deserializer over a route's matched parameters, for
//! [`Path`](super::Path).
//!
//! The parameters are strings; the type asks for what it wants and each
//! value is parsed into it (`u32`, `bool`, an enum's unit variant, …). The
//! whole set deserializes as a map (into a struct, by name), a sequence
//! (into a tuple, in the route's order) or, when there is exactly one, as
//! that one value.
//!
//! Why not serde_urlencoded's deserializer, as for queries: it gives every
//! value as a string to a struct, but has no way to make a bare `u32` or a
//! tuple from a list of values, which is how routes are mostly written.

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;

use super::Rejection;

type Params = [(String, String)];

pub(super) fn deserialize<T: DeserializeOwned>(params: &Params) -> Result<T, Rejection> {
    T::deserialize(All(params)).map_err(|e| {
        let mut loc = vec![serde_json::Value::from("path")];
        if let Some(key) = e.key {
            loc.push(key.into());
        }
        Rejection::invalid_one("path_param", loc, e.msg)
    })
}

#[derive(Debug)]
pub(super) struct Error {
    key: Option<String>,
    msg: String,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error {
            key: None,
            msg: msg.to_string(),
        }
    }
}

/// All the parameters.
struct All<'a>(&'a Params);

impl All<'_> {
    /// The one parameter a scalar is made from.
    fn single(&self) -> Result<One<'_>, Error> {
        match self.0 {
            [(k, v)] => Ok(One { key: k, value: v }),
            _ => Err(de::Error::custom(format_args!(
                "the route has {} path parameters; extract a tuple or a struct",
                self.0.len()
            ))),
        }
    }
}

macro_rules! to_single {
    ($($method:ident),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.single()?.$method(visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for All<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.0.len() == 1 {
            self.single()?.deserialize_any(visitor)
        } else {
            self.deserialize_map(visitor)
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_map(Pairs {
            params: self.0.iter(),
            value: None,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(Values(self.0.iter()))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        if len != self.0.len() {
            return Err(de::Error::custom(format_args!(
                "the route has {} path parameters, the tuple {len}",
                self.0.len()
            )));
        }
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.single()?.deserialize_enum(name, variants, visitor)
    }

    to_single!(
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_option,
        deserialize_unit,
        deserialize_identifier,
        deserialize_ignored_any
    );

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

struct Pairs<'a> {
    params: std::slice::Iter<'a, (String, String)>,
    value: Option<&'a (String, String)>,
}

impl<'de> MapAccess<'de> for Pairs<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        match self.params.next() {
            Some(pair) => {
                self.value = Some(pair);
                seed.deserialize(pair.0.as_str().into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (k, v) = self.value.take().expect("value asked for before its key");
        seed.deserialize(One { key: k, value: v })
    }
}

struct Values<'a>(std::slice::Iter<'a, (String, String)>);

impl<'de> SeqAccess<'de> for Values<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        match self.0.next() {
            Some((k, v)) => seed.deserialize(One { key: k, value: v }).map(Some),
            None => Ok(None),
        }
    }
}

/// One parameter's value.
struct One<'a> {
    key: &'a str,
    value: &'a str,
}

impl One<'_> {
    fn fail(&self, what: &str) -> Error {
        Error {
            key: Some(self.key.to_owned()),
            msg: format!("path parameter `{}`: {:?} is not {what}", self.key, self.value),
        }
    }

    /// Names this parameter in an error from further down.
    fn name(&self, mut e: Error) -> Error {
        if e.key.is_none() {
            e.key = Some(self.key.to_owned());
        }
        e
    }
}

macro_rules! parse {
    ($($method:ident => $visit:ident: $t:ty, $what:literal);* $(;)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.value.parse::<$t>() {
                Ok(v) => visitor.$visit(v),
                Err(_) => Err(self.fail($what)),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for One<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_str(self.value)
    }

    parse! {
        deserialize_bool => visit_bool: bool, "true or false";
        deserialize_i8 => visit_i8: i8, "an integer (i8)";
        deserialize_i16 => visit_i16: i16, "an integer (i16)";
        deserialize_i32 => visit_i32: i32, "an integer (i32)";
        deserialize_i64 => visit_i64: i64, "an integer (i64)";
        deserialize_i128 => visit_i128: i128, "an integer (i128)";
        deserialize_u8 => visit_u8: u8, "an integer (u8)";
        deserialize_u16 => visit_u16: u16, "an integer (u16)";
        deserialize_u32 => visit_u32: u32, "an integer (u32)";
        deserialize_u64 => visit_u64: u64, "an integer (u64)";
        deserialize_u128 => visit_u128: u128, "an integer (u128)";
        deserialize_f32 => visit_f32: f32, "a number";
        deserialize_f64 => visit_f64: f64, "a number";
        deserialize_char => visit_char: char, "one character";
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let de: de::value::StrDeserializer<'_, Error> = self.value.into_deserializer();
        de.deserialize_enum(name, variants, visitor).map_err(|e| self.name(e))
    }

    forward_to_deserialize_any! {
        str string bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn params(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn scalars_tuples_and_structs() {
        assert_eq!(deserialize::<u32>(&params(&[("id", "42")])).unwrap(), 42);
        assert_eq!(deserialize::<String>(&params(&[("name", "a b")])).unwrap(), "a b");
        let t: (String, i64) = deserialize(&params(&[("user", "ann"), ("n", "-3")])).unwrap();
        assert_eq!(t, ("ann".to_owned(), -3));

        #[derive(Deserialize, Debug, PartialEq)]
        struct P {
            user: String,
            n: u8,
        }
        let p: P = deserialize(&params(&[("user", "ann"), ("n", "3")])).unwrap();
        assert_eq!(
            p,
            P {
                user: "ann".into(),
                n: 3
            }
        );

        #[derive(Deserialize, Debug, PartialEq)]
        #[serde(rename_all = "lowercase")]
        enum Kind {
            Cats,
            Dogs,
        }
        assert_eq!(deserialize::<Kind>(&params(&[("k", "dogs")])).unwrap(), Kind::Dogs);
        assert!(deserialize::<Kind>(&params(&[("k", "fish")])).is_err());
        let _ = Kind::Cats;
    }

    #[test]
    fn errors_name_the_parameter() {
        let e = deserialize::<u32>(&params(&[("id", "x1")])).unwrap_err();
        assert_eq!(e.status(), 422);
        assert_eq!(e.items()[0].loc, ["path", "id"]);
        let e = deserialize::<(u32, u32)>(&params(&[("a", "1")])).unwrap_err();
        assert!(e.message().contains("1 path parameters"), "{}", e.message());
        let e = deserialize::<u32>(&params(&[])).unwrap_err();
        assert_eq!(e.status(), 422);
    }
}
