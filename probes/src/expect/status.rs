//! Accepted status sets: exact codes (`200`) or classes (`"2xx"`).

use serde::Deserialize;

/// One entry of an accepted status list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum StatusSpec {
    /// An exact code, e.g. `201`.
    Code(u16),
    /// A class, e.g. `"2xx"`, or a code written as a string.
    Text(String),
}

/// A validated set of accepted statuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet {
    codes: Vec<u16>,
    classes: Vec<u16>,
}

impl StatusSet {
    /// Any 2xx.
    pub fn success() -> Self {
        StatusSet {
            codes: Vec::new(),
            classes: vec![2],
        }
    }

    /// Any 2xx, and these codes too.
    pub fn success_and(codes: &[u16]) -> Self {
        StatusSet {
            codes: codes.to_vec(),
            classes: vec![2],
        }
    }

    /// Parse a configured list; an empty list means any 2xx.
    pub fn parse(specs: &[StatusSpec]) -> Result<Self, String> {
        if specs.is_empty() {
            return Ok(Self::success());
        }
        let mut set = StatusSet {
            codes: Vec::new(),
            classes: Vec::new(),
        };
        for s in specs {
            match s {
                StatusSpec::Code(c) if (100..=599).contains(c) => set.codes.push(*c),
                StatusSpec::Code(c) => return Err(format!("{c} is not an HTTP status (100-599)")),
                StatusSpec::Text(t) => {
                    let lower = t.to_ascii_lowercase();
                    match (lower.len(), lower.strip_suffix("xx")) {
                        (3, Some(d)) if matches!(d, "1" | "2" | "3" | "4" | "5") => {
                            set.classes.push(u16::from(d.as_bytes()[0] - b'0'));
                        }
                        _ => match lower.parse::<u16>() {
                            Ok(c) if (100..=599).contains(&c) => set.codes.push(c),
                            _ => {
                                return Err(format!(
                                    "expected a status code or a class like \"2xx\", got {t:?}"
                                ));
                            }
                        },
                    }
                }
            }
        }
        Ok(set)
    }

    /// Whether `status` is accepted.
    pub fn contains(&self, status: u16) -> bool {
        self.codes.contains(&status) || self.classes.contains(&(status / 100))
    }
}

impl std::fmt::Display for StatusSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut items: Vec<String> = self.codes.iter().map(u16::to_string).collect();
        items.extend(self.classes.iter().map(|c| format!("{c}xx")));
        f.write_str(&items.join("|"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_classes() {
        let set =
            StatusSet::parse(&[StatusSpec::Code(201), StatusSpec::Text("4XX".into())]).unwrap();
        assert!(set.contains(201) && set.contains(404) && !set.contains(200) && !set.contains(500));
        assert_eq!(set.to_string(), "201|4xx");
        assert!(StatusSet::parse(&[]).unwrap().contains(204));
        assert!(StatusSet::parse(&[StatusSpec::Code(42)]).is_err());
        assert!(StatusSet::parse(&[StatusSpec::Text("2x".into())]).is_err());
        assert!(
            StatusSet::parse(&[StatusSpec::Text("204".into())])
                .unwrap()
                .contains(204)
        );
    }
}
