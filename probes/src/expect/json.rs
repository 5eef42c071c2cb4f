//! JSON-pointer assertions: a value must be one of a set, exist, or be absent.

use serde::Deserialize;
use serde_json::Value;

/// One JSON assertion as configured.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonSpec {
    /// RFC 6901 pointer, e.g. `/data/status`.
    pub pointer: String,
    /// Accepted values (any JSON value; `"healthy"` and `"degraded"`, say).
    #[serde(default)]
    pub one_of: Vec<Value>,
    /// The pointer must resolve (to anything).
    #[serde(default)]
    pub exists: bool,
    /// The pointer must not resolve (e.g. no data leaked in a refusal).
    #[serde(default)]
    pub absent: bool,
}

/// A validated JSON assertion.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonAssertion {
    pointer: String,
    check: Check,
}

#[derive(Debug, Clone, PartialEq)]
enum Check {
    OneOf(Vec<Value>),
    Exists,
    Absent,
}

impl JsonSpec {
    /// Validate: a pointer starting with `/` and exactly one of `one_of`, `exists`, `absent`.
    pub fn build(&self) -> Result<JsonAssertion, String> {
        if !self.pointer.starts_with('/') {
            return Err(format!(
                "pointer must start with \"/\", got {:?}",
                self.pointer
            ));
        }
        let check = match (!self.one_of.is_empty(), self.exists, self.absent) {
            (true, false, false) => Check::OneOf(self.one_of.clone()),
            (false, true, false) => Check::Exists,
            (false, false, true) => Check::Absent,
            _ => return Err("set exactly one of one_of, exists = true, absent = true".into()),
        };
        Ok(JsonAssertion {
            pointer: self.pointer.clone(),
            check,
        })
    }
}

impl JsonAssertion {
    /// Whether the assertion holds on `doc`; the error says what was found (briefly).
    pub fn check(&self, doc: &Value) -> Result<(), String> {
        let found = doc.pointer(&self.pointer);
        match (&self.check, found) {
            (Check::OneOf(accepted), Some(v)) if accepted.contains(v) => Ok(()),
            (Check::OneOf(accepted), Some(v)) => Err(format!(
                "{} is {}, expected one of {}",
                self.pointer,
                brief(v),
                accepted.iter().map(brief).collect::<Vec<_>>().join(", ")
            )),
            (Check::OneOf(_) | Check::Exists, None) => Err(format!("{} is missing", self.pointer)),
            (Check::Exists, Some(_)) | (Check::Absent, None) => Ok(()),
            (Check::Absent, Some(_)) => {
                Err(format!("{} is present, expected absent", self.pointer))
            }
        }
    }

    /// Whether the pointer currently resolves to one of the accepted values (poll conditions).
    pub fn holds(&self, doc: &Value) -> bool {
        self.check(doc).is_ok()
    }

    /// The pointer, for messages.
    pub fn pointer(&self) -> &str {
        &self.pointer
    }
}

/// A value for a message: short, never a whole document.
pub fn brief(v: &Value) -> String {
    let text = v.to_string();
    if text.len() > 64 {
        let cut: String = text.chars().take(60).collect();
        format!("{cut}...")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: Value) -> JsonSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn one_of_exists_absent() {
        let doc = json!({"data": {"status": "degraded", "n": 3}});
        let a = spec(json!({"pointer": "/data/status", "one_of": ["healthy", "degraded"]}))
            .build()
            .unwrap();
        assert!(a.check(&doc).is_ok());
        let b = spec(json!({"pointer": "/data/status", "one_of": ["healthy"]}))
            .build()
            .unwrap();
        assert_eq!(
            b.check(&doc).unwrap_err(),
            "/data/status is \"degraded\", expected one of \"healthy\""
        );
        let c = spec(json!({"pointer": "/data/secret", "absent": true}))
            .build()
            .unwrap();
        assert!(c.check(&doc).is_ok());
        let d = spec(json!({"pointer": "/data/n", "exists": true}))
            .build()
            .unwrap();
        assert!(d.check(&doc).is_ok());
        assert_eq!(d.check(&json!([])).unwrap_err(), "/data/n is missing");
    }

    #[test]
    fn invalid_specs() {
        assert!(
            spec(json!({"pointer": "data"}))
                .build()
                .unwrap_err()
                .contains("must start")
        );
        assert!(
            spec(json!({"pointer": "/a"}))
                .build()
                .unwrap_err()
                .contains("exactly one")
        );
        assert!(
            spec(json!({"pointer": "/a", "exists": true, "absent": true}))
                .build()
                .is_err()
        );
    }
}
