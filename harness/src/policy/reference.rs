//! The policy's JSON Schema and its reference table, both generated from the serde model
//! (`model.rs`): the doc comments there are the descriptions, `Settings::default()` gives
//! the defaults. Tests pin the committed `docs/acceptance.schema.json` and
//! `docs/policy.md`; `HARNESS_BLESS=1` rewrites them.

#[cfg(test)]
use serde_json::Map;
use serde_json::Value;

use super::model::PolicyFile;

/// The JSON Schema of `acceptance.toml` (draft 2020-12), for editors and CI linters.
pub(crate) fn schema() -> Value {
    let mut schema = schemars::SchemaGenerator::default().into_root_schema_for::<PolicyFile>().to_value();
    drop_nulls(&mut schema);
    schema
}

/// TOML has no null: an `Option` is a key that may be left out, which `required` already
/// says, so the `null` alternatives schemars adds for `Option` fields only mislead.
fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if let [single] = types.as_slice() {
                    let single = single.clone();
                    map.insert("type".to_owned(), single);
                }
            }
            if let Some(Value::Array(alternatives)) = map.get("anyOf") {
                let kept: Vec<Value> =
                    alternatives.iter().filter(|a| a.get("type") != Some(&"null".into())).cloned().collect();
                if let [Value::Object(only)] = kept.as_slice() {
                    map.remove("anyOf");
                    for (k, v) in only.clone() {
                        map.entry(k).or_insert(v);
                    }
                }
            }
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

#[cfg(test)]
const INTRO: &str = "\
# `acceptance.toml` reference

<!-- Generated from harness/src/policy/model.rs by harness/src/policy/reference.rs;
     rewrite with HARNESS_BLESS=1 cargo nextest run -p harness --lib policy. -->

A stack's acceptance policy: `compose/<stack>/acceptance.toml`, or the file its
`stack.toml` names. Every key is optional unless marked required, and every switch
defaults to the strict choice. Unknown keys are errors that name the file, the line and
the nearest valid key. An empty file is valid and means \"all defaults\". The same
model as a JSON Schema: [`acceptance.schema.json`](acceptance.schema.json).

";

#[cfg(test)]
/// `docs/policy.md`: every key with its type, default and meaning, then the value types.
pub(crate) fn markdown() -> String {
    let schema = schema();
    let empty = Map::new();
    let defs = schema.get("$defs").and_then(Value::as_object).unwrap_or(&empty);
    let mut out = String::from(INTRO);
    out.push_str("| Key | Type | Default | Meaning |\n|-----|------|---------|---------|\n");
    let mut listed: Vec<String> = Vec::new();
    for (key, property) in properties(&schema) {
        let (header, table) = match (property.get("additionalProperties"), property.get("items")) {
            (Some(values), _) => (format!("[{key}.NAME]"), resolve(values, defs)),
            (_, Some(items)) if resolve(items, defs).get("properties").is_some() => {
                (format!("[[{key}]]"), resolve(items, defs))
            }
            _ if resolve(property, defs).get("properties").is_some() => (format!("[{key}]"), resolve(property, defs)),
            _ => {
                out.push_str(&row(&format!("`{key}`"), property, &schema, defs));
                continue;
            }
        };
        let kind = if header.starts_with("[[") { "array of tables" } else { "table" };
        out.push_str(&format!("| **`{header}`** | {kind} | | {} |\n", words(property)));
        // `[services.NAME]` has the keys of `[defaults]`: list them once.
        let definition = ["/$ref", "/additionalProperties/$ref", "/items/$ref"]
            .iter()
            .find_map(|pointer| property.pointer(pointer))
            .map(Value::to_string);
        if definition.as_ref().is_some_and(|d| listed.contains(d)) {
            continue;
        }
        listed.extend(definition);
        for (child, child_property) in properties(table) {
            out.push_str(&row(&format!("`{child}`"), child_property, table, defs));
        }
    }
    out.push_str("\n## Value types\n\n| Type | Meaning |\n|------|---------|\n");
    for def in defs.values() {
        if let (Some(title), Some(description)) = (def.get("title"), def.get("description")) {
            out.push_str(&format!("| {} | {} |\n", text(title), cell(text(description))));
        }
    }
    out
}

#[cfg(test)]
fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}

#[cfg(test)]
/// Markdown table cells are one line, and `|` ends them.
fn cell(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|")
}

#[cfg(test)]
fn properties(schema: &Value) -> impl Iterator<Item = (&String, &Value)> {
    schema.get("properties").and_then(Value::as_object).into_iter().flatten()
}

#[cfg(test)]
/// The definition a `$ref` points at, or the schema itself.
fn resolve<'s>(schema: &'s Value, defs: &'s Map<String, Value>) -> &'s Value {
    let name = schema.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/$defs/"));
    name.and_then(|n| defs.get(n)).unwrap_or(schema)
}

#[cfg(test)]
fn words(property: &Value) -> String {
    cell(property.get("description").map_or("", text))
}

#[cfg(test)]
fn row(key: &str, property: &Value, parent: &Value, defs: &Map<String, Value>) -> String {
    let name = key.trim_matches('`');
    let required = parent.get("required").and_then(Value::as_array).is_some_and(|r| r.iter().any(|k| k == name));
    let default = match property.get("default") {
        Some(value) => format!("`{value}`").replace(",", ", "),
        None if required => "required".to_owned(),
        None => "unset".to_owned(),
    };
    format!("| {key} | {} | {} | {} |\n", cell(&type_name(property, defs)), cell(&default), words(property))
}

#[cfg(test)]
/// How the table names a value's type: a definition's title, its values, or the JSON type.
fn type_name(property: &Value, defs: &Map<String, Value>) -> String {
    let schema = resolve(property, defs);
    if let Some(title) = schema.get("title") {
        return text(title).to_owned();
    }
    let values: Vec<String> = match (schema.get("enum"), schema.get("oneOf")) {
        (Some(Value::Array(values)), _) => values.iter().map(|v| format!("`{}`", text(v))).collect(),
        (_, Some(Value::Array(variants))) => {
            variants.iter().filter_map(|v| v.get("const")).map(|v| format!("`{}`", text(v))).collect()
        }
        _ => Vec::new(),
    };
    if !values.is_empty() {
        return values.join(" | ");
    }
    match schema.get("type").map(text) {
        Some("boolean") => "bool".to_owned(),
        Some("array") => format!("list of {}", schema.get("items").map_or("values".to_owned(), |i| type_name(i, defs))),
        Some("object") => "table".to_owned(),
        Some(other) => other.to_owned(),
        None => "value".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// `generated` is what `relative` (from the workspace root) must hold; with
    /// `HARNESS_BLESS=1` it is written there instead.
    #[track_caller]
    fn check_generated(relative: &str, generated: &str) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative);
        if std::env::var_os("HARNESS_BLESS").is_some() {
            std::fs::write(&path, generated).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{relative} is stale: it differs from what policy/model.rs generates (hint: run HARNESS_BLESS=1 cargo nextest run -p harness --lib policy, and review the diff)"
        );
    }

    #[test]
    fn committed_schema_is_current() {
        let text = serde_json::to_string_pretty(&schema()).expect("schema serialises") + "\n";
        check_generated("docs/acceptance.schema.json", &text);
    }

    #[test]
    fn committed_reference_is_current() {
        check_generated("docs/policy.md", &markdown());
    }
}
