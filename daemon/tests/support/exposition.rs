//! A strict parser of the Prometheus text format 0.0.4 and OpenMetrics 1.0 text, enough to
//! check what `/metrics` serves: every sample belongs to a family declared by `# TYPE` before
//! it, names and label syntax are valid, values parse, OpenMetrics ends with `# EOF`. Panics
//! with the offending line.

use std::collections::BTreeMap;

/// Which format to expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`.
    PrometheusText,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

/// One sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Series name (with `_bucket`, `_sum`, `_count`, `_total` suffixes).
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Value.
    pub value: f64,
}

/// One family.
#[derive(Debug, Clone, Default)]
pub struct Family {
    /// `counter`, `gauge`, `histogram`, …
    pub kind: String,
    /// `# HELP` text.
    pub help: String,
    /// Its samples.
    pub samples: Vec<Sample>,
}

/// A parsed exposition: families by the name in their `# TYPE` line.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    /// Families.
    pub families: BTreeMap<String, Family>,
}

impl Exposition {
    /// Every sample of every family.
    pub fn samples(&self) -> impl Iterator<Item = &Sample> {
        self.families.values().flat_map(|f| f.samples.iter())
    }

    /// The value of the series `name` whose labels include `labels`, if exactly one matches.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let matching: Vec<&Sample> = self
            .samples()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect();
        match matching.as_slice() {
            [one] => Some(one.value),
            [] => None,
            many => panic!("{} series match {name} {labels:?}: {many:?}", many.len()),
        }
    }

    /// Values of a label across the series of `name`.
    pub fn label_values(&self, name: &str, label: &str) -> std::collections::BTreeSet<String> {
        self.samples()
            .filter(|s| s.name == name)
            .filter_map(|s| s.labels.get(label).cloned())
            .collect()
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parse `text`, panicking on anything malformed.
pub fn parse(text: &str, format: Format) -> Exposition {
    let mut out = Exposition::default();
    let mut current: Option<String> = None;
    let lines = text.lines();
    let mut saw_eof = false;
    for line in lines {
        assert!(!saw_eof, "content after # EOF: {line:?}");
        if line == "# EOF" {
            assert_eq!(format, Format::OpenMetrics, "# EOF in the 0.0.4 format");
            saw_eof = true;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            assert!(valid_name(name), "bad name in {line:?}");
            out.families.entry(name.to_string()).or_default().help = help.to_string();
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .unwrap_or_else(|| panic!("bad {line:?}"));
            assert!(valid_name(name), "bad name in {line:?}");
            let known = [
                "counter",
                "gauge",
                "histogram",
                "summary",
                "untyped",
                "unknown",
                "info",
                "stateset",
                "gaugehistogram",
            ];
            assert!(known.contains(&kind), "unknown type in {line:?}");
            let family = out.families.entry(name.to_string()).or_default();
            assert!(family.kind.is_empty(), "second # TYPE for {name}");
            assert!(family.samples.is_empty(), "# TYPE after samples of {name}");
            family.kind = kind.to_string();
            current = Some(name.to_string());
            continue;
        }
        if line.starts_with('#') {
            assert!(
                format == Format::PrometheusText || line.starts_with("# UNIT "),
                "unexpected comment in OpenMetrics: {line:?}"
            );
            continue;
        }
        assert!(!line.trim().is_empty(), "empty line");
        let sample = parse_sample(line);
        let family_name = current
            .clone()
            .unwrap_or_else(|| panic!("sample before # TYPE: {line:?}"));
        let family = out.families.get_mut(&family_name).unwrap();
        let suffixes: &[&str] = match (family.kind.as_str(), format) {
            ("histogram", _) => &["_bucket", "_sum", "_count"],
            ("summary", _) => &["", "_sum", "_count"],
            ("counter", Format::OpenMetrics) => &["_total", "_created"],
            _ => &[""],
        };
        assert!(
            suffixes
                .iter()
                .any(|s| sample.name == format!("{family_name}{s}")),
            "sample {} does not belong to family {family_name} ({}): {line:?}",
            sample.name,
            family.kind
        );
        family.samples.push(sample);
    }
    if format == Format::OpenMetrics {
        assert!(saw_eof, "OpenMetrics without # EOF");
    }
    out
}

fn parse_sample(line: &str) -> Sample {
    let (name_part, rest) = match line.find('{') {
        Some(i) => (&line[..i], &line[i..]),
        None => {
            let i = line
                .find(' ')
                .unwrap_or_else(|| panic!("bad sample {line:?}"));
            (&line[..i], &line[i..])
        }
    };
    assert!(valid_name(name_part), "bad series name in {line:?}");
    let mut labels = BTreeMap::new();
    let mut rest = rest;
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let end;
        loop {
            // label name
            let start = chars
                .peek()
                .map(|(i, _)| *i)
                .unwrap_or_else(|| panic!("unterminated labels: {line:?}"));
            if body[start..].starts_with('}') {
                end = start + 1;
                break;
            }
            let eq = body[start..]
                .find('=')
                .unwrap_or_else(|| panic!("label without =: {line:?}"))
                + start;
            let key = &body[start..eq];
            assert!(
                valid_name(key) && !key.contains(':'),
                "bad label name {key:?} in {line:?}"
            );
            assert_eq!(
                &body[eq + 1..eq + 2],
                "\"",
                "unquoted label value: {line:?}"
            );
            while chars.peek().is_some_and(|(i, _)| *i <= eq + 1) {
                chars.next();
            }
            let mut value = String::new();
            loop {
                let (_, c) = chars
                    .next()
                    .unwrap_or_else(|| panic!("unterminated value: {line:?}"));
                match c {
                    '\\' => match chars.next().map(|(_, c)| c) {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => panic!("bad escape {other:?} in {line:?}"),
                    },
                    '"' => break,
                    '\n' => panic!("newline in value: {line:?}"),
                    c => value.push(c),
                }
            }
            assert!(
                labels.insert(key.to_string(), value).is_none(),
                "label {key} twice: {line:?}"
            );
            match chars.next() {
                Some((_, ',')) => continue,
                Some((i, '}')) => {
                    end = i + 1;
                    break;
                }
                other => panic!("expected , or }} after a label, got {other:?}: {line:?}"),
            }
        }
        rest = &body[end..];
    }
    let mut parts = rest.trim_start_matches(' ').split(' ');
    let value_text = parts.next().unwrap_or_else(|| panic!("no value: {line:?}"));
    let value = match value_text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v
            .parse()
            .unwrap_or_else(|_| panic!("bad value {v:?} in {line:?}")),
    };
    if let Some(ts) = parts.next() {
        ts.parse::<f64>()
            .unwrap_or_else(|_| panic!("bad timestamp in {line:?}"));
    }
    assert!(parts.next().is_none(), "trailing fields: {line:?}");
    Sample {
        name: name_part.to_string(),
        labels,
        value,
    }
}

#[test]
fn the_parser_rejects_what_it_must() {
    let ok = "# HELP a_total A\n# TYPE a_total counter\na_total{x=\"1\\\"\"} 3\n";
    let e = parse(ok, Format::PrometheusText);
    assert_eq!(e.value("a_total", &[("x", "1\"")]), Some(3.0));
    for bad in [
        "a 1\n",                                 // no TYPE
        "# TYPE a gauge\nb 1\n",                 // wrong family
        "# TYPE a gauge\na{x=1} 1\n",            // unquoted
        "# TYPE a gauge\na{x=\"1\"} one\n",      // bad value
        "# TYPE a gauge\na 1\n# TYPE a gauge\n", // TYPE twice
    ] {
        let r = std::panic::catch_unwind(|| parse(bad, Format::PrometheusText));
        assert!(r.is_err(), "accepted {bad:?}");
    }
    let r = std::panic::catch_unwind(|| parse("# TYPE a gauge\na 1\n", Format::OpenMetrics));
    assert!(r.is_err(), "OpenMetrics without EOF accepted");
}
