//! A secret value (an API key) that never prints: `Debug` and `Display` show `***`, and it has
//! no `Serialize`. The only way to the bytes is [`Secret::expose`], used where a header is built.

use std::fmt;

/// A redacting wrapper for API keys and passwords.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a value; trailing newlines (as in mounted Secret files) are trimmed.
    pub fn new(value: impl Into<String>) -> Self {
        let mut v: String = value.into();
        while v.ends_with('\n') || v.ends_with('\r') {
            v.pop();
        }
        Secret(v)
    }

    /// The raw value. Call only where it goes onto the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_its_value() {
        let s = Secret::new("hunter2\n");
        assert_eq!(s.expose(), "hunter2");
        assert!(!format!("{s:?} {s} {:#?}", Some(&s)).contains("hunter2"));
    }
}
