//! Who a connected client is, as far as authorization cares: an authentication name and
//! attributes. The auth layer produces it (from a client resource, JWT claims or a webhook
//! answer); queries and topic templates read it.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The value of one client attribute: Event Grid allows a string, an integer or an array of
/// strings, and nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttributeValue {
    /// A string, compared case-sensitively.
    String(String),
    /// An integer, the only type the ordering operators apply to.
    Integer(i64),
    /// An array of strings; a comparison holds if it holds for any element.
    StringArray(Vec<String>),
}

impl From<&str> for AttributeValue {
    fn from(value: &str) -> Self {
        Self::String(value.to_owned())
    }
}

impl From<String> for AttributeValue {
    fn from(value: String) -> Self {
        Self::String(value)
    }
}

impl From<i64> for AttributeValue {
    fn from(value: i64) -> Self {
        Self::Integer(value)
    }
}

impl From<Vec<String>> for AttributeValue {
    fn from(value: Vec<String>) -> Self {
        Self::StringArray(value)
    }
}

impl From<&[&str]> for AttributeValue {
    fn from(value: &[&str]) -> Self {
        Self::StringArray(value.iter().map(|s| (*s).to_owned()).collect())
    }
}

impl Serialize for AttributeValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::String(s) => serializer.serialize_str(s),
            Self::Integer(i) => serializer.serialize_i64(*i),
            Self::StringArray(items) => items.serialize(serializer),
        }
    }
}

/// Accepts exactly the three documented shapes, with an error that says so (an untagged
/// enum would only say "did not match any variant").
impl<'de> Deserialize<'de> for AttributeValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AttributeVisitor)
    }
}

struct AttributeVisitor;

const EXPECTED: &str = "a string, a 64-bit integer or an array of strings";

impl<'de> Visitor<'de> for AttributeVisitor {
    type Value = AttributeValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<AttributeValue, E> {
        Ok(AttributeValue::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<AttributeValue, E> {
        Ok(AttributeValue::String(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<AttributeValue, E> {
        Ok(AttributeValue::Integer(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<AttributeValue, E> {
        i64::try_from(v)
            .map(AttributeValue::Integer)
            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &EXPECTED))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AttributeValue, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element::<String>()? {
            items.push(item);
        }
        Ok(AttributeValue::StringArray(items))
    }
}

/// The identity a session is authorized as.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientIdentity {
    /// The authentication name in its original case (templates substitute it as is).
    pub authentication_name: String,
    /// Attributes by key (keys are case-sensitive).
    pub attributes: BTreeMap<String, AttributeValue>,
}

impl ClientIdentity {
    /// An identity without attributes.
    pub fn new(authentication_name: impl Into<String>) -> Self {
        Self {
            authentication_name: authentication_name.into(),
            attributes: BTreeMap::new(),
        }
    }

    /// Adds (or replaces) one attribute; for building identities in tests and the auth layer.
    #[must_use]
    pub fn with_attribute(
        mut self,
        key: impl Into<String>,
        value: impl Into<AttributeValue>,
    ) -> Self {
        self.attributes.insert(key.into(), value.into());
        self
    }

    /// The attribute named `key`, if the client has it.
    pub fn attribute(&self, key: &str) -> Option<&AttributeValue> {
        self.attributes.get(key)
    }
}
