//! Client attributes from JSON (token claims, webhook answers): integers, strings and
//! arrays of strings are kept; floats, booleans, objects, mixed or numeric arrays are
//! ignored, as Event Grid does. Keys that could not name an attribute are ignored too.

use std::collections::BTreeMap;

use gridmq_access::AttributeValue;
use serde_json::Value;

use crate::text::is_attribute_name;

/// The attributes among `entries`, leaving out the keys in `skip`.
pub(crate) fn from_json<'a>(
    entries: impl IntoIterator<Item = (&'a String, &'a Value)>,
    skip: &[&str],
) -> BTreeMap<String, AttributeValue> {
    entries
        .into_iter()
        .filter(|(k, _)| is_attribute_name(k) && !skip.contains(&k.as_str()))
        .filter_map(|(k, v)| Some((k.clone(), value(v)?)))
        .collect()
}

fn value(v: &Value) -> Option<AttributeValue> {
    match v {
        Value::String(s) => Some(AttributeValue::String(s.clone())),
        Value::Number(n) => n.as_i64().map(AttributeValue::Integer),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(AttributeValue::StringArray),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_documented_types() {
        let json = serde_json::json!({
            "num_attr": 1, "str_attr": "some string", "str_list_attr": ["string 1", "string 2"],
            "incorrect_attr_1": 1.23, "incorrect_attr_2": [1, 2, 3],
            "incorrect_attr_3": { "field": "value" }, "flag": true, "big": 18446744073709551615u64,
            "sub": "d1", "bad-key": "x"
        });
        let map = json.as_object().unwrap();
        let attrs = from_json(map, &["sub"]);
        let keys: Vec<&str> = attrs.keys().map(String::as_str).collect();
        assert_eq!(keys, ["num_attr", "str_attr", "str_list_attr"]);
        assert_eq!(attrs["num_attr"], AttributeValue::Integer(1));
        assert_eq!(
            attrs["str_list_attr"],
            AttributeValue::StringArray(vec!["string 1".into(), "string 2".into()])
        );
    }
}
