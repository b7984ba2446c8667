//! An answer as JSON: what serde_json writes for async-graphql's `Response`
//! (`data`, then `extensions` and `errors` when there are any), except that
//! pre-serialised JSON ([`json_answer`](super::plan::json_answer)) is copied in
//! as it is.
//!
//! async-graphql-value's own `Serialize` checks such JSON again before writing it
//! (`RawValue::from_string` parses a copy of it): measured with callgrind, that
//! was 9 % of a `HomeScreen`'s instructions, spent on JSON that serde_json had
//! just written in this process. Everything else is written by serde_json, and a
//! property test checks the output against async-graphql's for any answer.

use async_graphql::{Response, Value};

use super::plan::{spliced_json, write_list};

/// `response` as JSON.
pub fn response_json(response: &Response) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(16 * 1024);
    out.extend_from_slice(br#"{"data":"#);
    write(&mut out, &response.data)?;
    if !response.extensions.is_empty() {
        out.extend_from_slice(br#","extensions":"#);
        serde_json::to_writer(&mut out, &response.extensions)?;
    }
    if !response.errors.is_empty() {
        out.extend_from_slice(br#","errors":"#);
        serde_json::to_writer(&mut out, &response.errors)?;
    }
    out.push(b'}');
    Ok(out)
}

fn write(out: &mut Vec<u8>, value: &Value) -> serde_json::Result<()> {
    match value {
        Value::Object(map) => {
            if let Some(json) = spliced_json(value) {
                out.extend_from_slice(json.as_bytes());
                return Ok(());
            }
            out.push(b'{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                key_json(out, key)?;
                out.push(b':');
                write(out, item)?;
            }
            out.push(b'}');
        }
        Value::List(items) => write_list(out, items, write)?,
        leaf => serde_json::to_writer(&mut *out, leaf)?,
    }
    Ok(())
}

/// A response key as a JSON string. Keys are GraphQL names (`[_A-Za-z][_0-9A-Za-z]*`),
/// which need no escaping; anything else goes through serde_json.
fn key_json(out: &mut Vec<u8>, key: &str) -> serde_json::Result<()> {
    if key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.push(b'"');
        Ok(())
    } else {
        serde_json::to_writer(out, key)
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::indexmap::IndexMap;
    use async_graphql::{Name, Number, ServerError};
    use proptest::prelude::*;

    use super::super::plan::json_answer;
    use super::*;

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Boolean),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| Value::Number(Number::from_f64(f).unwrap())),
            any::<String>().prop_map(Value::String),
            "[A-Z_]{1,8}".prop_map(|s| Value::Enum(Name::new(s))),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
                prop::collection::vec(
                    (prop_oneof!["[_A-Za-z][_0-9A-Za-z]{0,8}", any::<String>()], inner),
                    0..6
                )
                .prop_map(|entries| {
                    Value::Object(
                        entries
                            .into_iter()
                            .map(|(k, v)| (Name::new(k), v))
                            .collect::<IndexMap<_, _>>(),
                    )
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn writes_what_async_graphql_writes(data in value(), errors in 0..3_usize, extension in any::<bool>()) {
            let mut response = Response::new(data);
            response.errors = (0..errors).map(|i| ServerError::new(format!("e\"{i}"), None)).collect();
            if extension {
                response.extensions.insert("upstream".to_owned(), Value::from(1));
            }
            prop_assert_eq!(
                String::from_utf8(response_json(&response).unwrap()).unwrap(),
                serde_json::to_string(&response).unwrap()
            );
        }
    }

    #[test]
    fn pre_serialised_json_is_copied_in() {
        let menu = json_answer(r#"{"categories":[{"name":"Pizza \"Roma\""}]}"#.to_owned(), true).unwrap();
        let data = Value::Object(IndexMap::from([
            (Name::new("menu"), menu),
            (Name::new("id"), Value::String("7".to_owned())),
        ]));
        let response = Response::new(data);
        let written = String::from_utf8(response_json(&response).unwrap()).unwrap();
        assert_eq!(
            written,
            r#"{"data":{"menu":{"categories":[{"name":"Pizza \"Roma\""}]},"id":"7"}}"#
        );
        assert_eq!(written, serde_json::to_string(&response).unwrap());
    }
}
