//! `${name}` templates: run ids and values captured by earlier transaction steps. Parsed once at
//! load, so an unknown or malformed variable is a config error, never a run-time surprise.

use std::collections::BTreeMap;

/// Variables available to a run: `run_id` plus captures.
pub type Vars = BTreeMap<String, String>;

/// The variable every run defines.
pub const RUN_ID: &str = "run_id";

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Var(String),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parse `text`; `${` must close and names are `[A-Za-z0-9_]+`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                parts.push(Part::Lit(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("unclosed \"${{\" in {text:?}"))?;
            let name = &after[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("invalid variable name {name:?} in {text:?}"));
            }
            parts.push(Part::Var(name.to_string()));
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// The variable names it uses.
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v.as_str()),
            Part::Lit(_) => None,
        })
    }

    /// Substitute; a variable missing from `vars` is an error naming it.
    pub fn render(&self, vars: &Vars) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Var(v) => out.push_str(
                    vars.get(v)
                        .ok_or_else(|| format!("variable ${{{v}}} has no value"))?,
                ),
            }
        }
        Ok(out)
    }
}

/// A JSON value whose strings are templates.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonTemplate {
    /// A string leaf.
    Str(Template),
    /// A non-string scalar, kept as is.
    Scalar(serde_json::Value),
    /// An array.
    Array(Vec<JsonTemplate>),
    /// An object.
    Object(Vec<(String, JsonTemplate)>),
}

impl JsonTemplate {
    /// Parse every string leaf of `value` as a template.
    pub fn parse(value: &serde_json::Value) -> Result<Self, String> {
        use serde_json::Value;
        Ok(match value {
            Value::String(s) => JsonTemplate::Str(Template::parse(s)?),
            Value::Array(items) => JsonTemplate::Array(
                items
                    .iter()
                    .map(JsonTemplate::parse)
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => JsonTemplate::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), JsonTemplate::parse(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => JsonTemplate::Scalar(other.clone()),
        })
    }

    /// Every variable used anywhere in the value.
    pub fn vars(&self) -> Vec<&str> {
        match self {
            JsonTemplate::Str(t) => t.vars().collect(),
            JsonTemplate::Scalar(_) => Vec::new(),
            JsonTemplate::Array(items) => items.iter().flat_map(|i| i.vars()).collect(),
            JsonTemplate::Object(fields) => fields.iter().flat_map(|(_, v)| v.vars()).collect(),
        }
    }

    /// Substitute into a JSON value.
    pub fn render(&self, vars: &Vars) -> Result<serde_json::Value, String> {
        use serde_json::Value;
        Ok(match self {
            JsonTemplate::Str(t) => Value::String(t.render(vars)?),
            JsonTemplate::Scalar(v) => v.clone(),
            JsonTemplate::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| i.render(vars))
                    .collect::<Result<_, _>>()?,
            ),
            JsonTemplate::Object(fields) => {
                let mut map = serde_json::Map::new();
                for (k, v) in fields {
                    map.insert(k.clone(), v.render(vars)?);
                }
                Value::Object(map)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_lists_variables() {
        let t = Template::parse("/api/agents/${agent}?r=${run_id}").unwrap();
        assert_eq!(t.vars().collect::<Vec<_>>(), ["agent", "run_id"]);
        let vars: Vars = [
            ("agent".into(), "a1".into()),
            ("run_id".into(), "r9".into()),
        ]
        .into();
        assert_eq!(t.render(&vars).unwrap(), "/api/agents/a1?r=r9");
        assert_eq!(
            t.render(&Vars::new()).unwrap_err(),
            "variable ${agent} has no value"
        );
    }

    #[test]
    fn rejects_malformed_templates() {
        assert!(
            Template::parse("/x/${agent")
                .unwrap_err()
                .contains("unclosed")
        );
        assert!(
            Template::parse("/x/${a-b}")
                .unwrap_err()
                .contains("invalid variable name")
        );
        assert_eq!(Template::parse("plain $ {x}").unwrap().vars().count(), 0);
    }

    #[test]
    fn json_templates_substitute_string_leaves() {
        let v = serde_json::json!({"type": "test", "task": "synthetic ${run_id}", "n": [1, "${run_id}"]});
        let t = JsonTemplate::parse(&v).unwrap();
        assert_eq!(t.vars(), ["run_id", "run_id"]);
        let vars: Vars = [("run_id".into(), "r1".into())].into();
        assert_eq!(
            t.render(&vars).unwrap(),
            serde_json::json!({"type": "test", "task": "synthetic r1", "n": [1, "r1"]})
        );
    }
}
