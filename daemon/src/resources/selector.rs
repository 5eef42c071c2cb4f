//! Syntax check of a Kubernetes label selector string, so a typo is a config error at load
//! time rather than a 400 from the API server every 15 seconds. Owns only the syntax; the API
//! server stays the authority on meaning.
//!
//! Accepted, comma separated: `key=value`, `key==value`, `key!=value`, `key`, `!key`,
//! `key in (a,b)`, `key notin (a,b)`. Keys are `[prefix/]name` (prefix a DNS subdomain of at
//! most 253 characters, name at most 63 of `[A-Za-z0-9._-]`, starting and ending
//! alphanumeric); values are empty or shaped like a name.

/// Check `selector`; the error says what is wrong, quoting the offending part.
pub fn check_selector(selector: &str) -> Result<(), String> {
    if selector.trim().is_empty() {
        return Err(
            "expected a label selector such as app.kubernetes.io/name=godel, got an empty \
             string (it would select every pod in the namespace)"
                .into(),
        );
    }
    for requirement in split_top_level(selector)? {
        check_requirement(requirement.trim())?;
    }
    Ok(())
}

/// Split on commas outside parentheses.
fn split_top_level(selector: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in selector.char_indices() {
        match c {
            '(' => {
                depth += 1;
                if depth > 1 {
                    return Err(format!("nested parentheses in {selector:?}"));
                }
            }
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced parentheses in {selector:?}"))?;
            }
            ',' if depth == 0 => {
                parts.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced parentheses in {selector:?}"));
    }
    parts.push(&selector[start..]);
    Ok(parts)
}

fn check_requirement(req: &str) -> Result<(), String> {
    if req.is_empty() {
        return Err("empty requirement (a stray comma?)".into());
    }
    if let Some(key) = req.strip_prefix('!') {
        return check_key(key.trim());
    }
    for op in ["!=", "==", "="] {
        if let Some((key, value)) = req.split_once(op) {
            check_key(key.trim())?;
            return check_value(value.trim());
        }
    }
    // `key in (a,b)` / `key notin (a,b)`: the key, then an operator word, then a value list.
    if let Some((key, rest)) = req.split_once(char::is_whitespace) {
        let rest = rest.trim_start();
        let list = rest
            .strip_prefix("notin")
            .or_else(|| rest.strip_prefix("in"))
            .map(str::trim_start);
        if let Some(list) = list {
            check_key(key)?;
            let inner = list
                .strip_prefix('(')
                .and_then(|l| l.strip_suffix(')'))
                .ok_or_else(|| format!("expected a value list in parentheses in {req:?}"))?;
            for value in inner.split(',') {
                check_value(value.trim())?;
            }
            return Ok(());
        }
        return Err(format!(
            "expected key=value, key!=value, key, !key, key in (…) or key notin (…), got {req:?}"
        ));
    }
    check_key(req)
}

fn check_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let ok = !prefix.is_empty()
            && prefix.len() <= 253
            && prefix.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            });
        if !ok {
            return Err(format!(
                "invalid label key {key:?}: the prefix must be a DNS subdomain"
            ));
        }
    }
    if !is_name(name) {
        return Err(format!(
            "invalid label key {key:?}: expected at most 63 letters, digits, '-', '_' or '.', \
             starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

fn check_value(value: &str) -> Result<(), String> {
    if value.is_empty() || is_name(value) {
        Ok(())
    } else {
        Err(format!(
            "invalid label value {value:?}: expected at most 63 letters, digits, '-', '_' or \
             '.', starting and ending with a letter or digit"
        ))
    }
}

fn is_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_selector_forms() {
        for s in [
            "app.kubernetes.io/name=godel",
            "app=godel",
            "app==godel",
            "app!=godel",
            "app",
            "!app",
            "tier=",
            "app in (godel,api)",
            "app notin (a, b)",
            "app.kubernetes.io/name=godel,app.kubernetes.io/component!=db",
            " app = godel , release in (prod) ",
            "example.com/Key_1.x=V-1",
        ] {
            assert_eq!(check_selector(s), Ok(()), "{s}");
        }
    }

    #[test]
    fn rejects_garbage() {
        let table: &[(&str, &str)] = &[
            ("", "got an empty string"),
            ("   ", "got an empty string"),
            ("app=godel,", "empty requirement"),
            (",app", "empty requirement"),
            ("app=go del", "invalid label value \"go del\""),
            ("=godel", "invalid label key \"\""),
            ("app=godel!", "invalid label value \"godel!\""),
            ("-app=x", "invalid label key \"-app\""),
            ("Bad_Prefix/app=x", "the prefix must be a DNS subdomain"),
            ("/app=x", "the prefix must be a DNS subdomain"),
            ("a/b/c=x", "invalid label key \"a/b/c\""),
            ("app in godel", "expected a value list in parentheses"),
            ("app in (a,(b))", "nested parentheses"),
            ("app in (a", "unbalanced parentheses"),
            ("app)", "unbalanced parentheses"),
            ("app in (a,b c)", "invalid label value \"b c\""),
            ("app > 3", "expected key=value"),
            ("app=x; rm -rf", "invalid label value"),
            ("!", "invalid label key \"\""),
        ];
        for (input, want) in table {
            let got = check_selector(input).unwrap_err();
            assert!(got.contains(want), "{input:?}: {got}");
        }
        let long = format!("app={}", "v".repeat(64));
        assert!(
            check_selector(&long)
                .unwrap_err()
                .contains("invalid label value")
        );
    }
}
