//! Kubernetes resource quantities ("250m", "128Mi", "1e3") parsed to a number in base units
//! (cores or bytes). Owns only the grammar; it never sees where a quantity came from, and it
//! never panics on garbage from the API.
//!
//! The grammar is apimachinery's `resource.Quantity`:
//! `<signedNumber><suffix>`, where the number is `digits`, `digits.digits`, `digits.` or
//! `.digits`, and the suffix is a binary SI suffix (`Ki Mi Gi Ti Pi Ei`), a decimal SI suffix
//! (`n u m "" k M G T P E`) or a decimal exponent (`e<int>` / `E<int>`; a bare `E` is exa).

/// Longest quantity accepted. apimachinery's own limit is in the same range; anything longer
/// from the API is garbage, and the bound keeps the exponent arithmetic small.
const MAX_LEN: usize = 64;

/// Why a string is not a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// Empty, or only a sign.
    #[error("empty quantity")]
    Empty,
    /// Longer than we accept.
    #[error("quantity longer than {MAX_LEN} characters")]
    TooLong,
    /// The number part is malformed.
    #[error("invalid number in quantity {0:?}")]
    Number(String),
    /// The suffix is not one Kubernetes knows.
    #[error("unknown suffix {suffix:?} in quantity {quantity:?}")]
    Suffix {
        /// The suffix as written.
        suffix: String,
        /// The whole quantity.
        quantity: String,
    },
    /// The value does not fit an f64.
    #[error("quantity {0:?} is out of range")]
    Range(String),
}

/// Parse a Kubernetes quantity into base units: cores for CPU ("250m" = 0.25), bytes for
/// memory ("1Ki" = 1024). Decimal values are correctly rounded (the standard library's
/// decimal-to-float conversion does the rounding); binary suffixes scale exactly.
pub fn parse_quantity(s: &str) -> Result<f64, QuantityError> {
    if s.len() > MAX_LEN {
        return Err(QuantityError::TooLong);
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let negative = match bytes.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let int_start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = &s[int_start..i];
    let mut frac_digits = "";
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = &s[frac_start..i];
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return Err(if s.len() <= int_start {
            QuantityError::Empty
        } else {
            QuantityError::Number(s.to_string())
        });
    }
    let suffix = &s[i..];
    let (dec_exp, bin_exp): (i64, i32) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        _ => match exponent(suffix) {
            Some(e) => (e, 0),
            None => {
                return Err(QuantityError::Suffix {
                    suffix: suffix.to_string(),
                    quantity: s.to_string(),
                });
            }
        },
    };
    // Rebuild the value as plain scientific notation that our grammar has already vetted (so
    // "inf", "nan" and friends can never reach the float parser), and let the standard library
    // round it correctly.
    let int_digits = if int_digits.is_empty() {
        "0"
    } else {
        int_digits
    };
    let frac = if frac_digits.is_empty() {
        String::new()
    } else {
        format!(".{frac_digits}")
    };
    let text = format!("{int_digits}{frac}e{dec_exp}");
    let magnitude: f64 = text
        .parse()
        .map_err(|_| QuantityError::Number(s.to_string()))?;
    let value = magnitude * f64::from(bin_exp).exp2();
    if !value.is_finite() {
        return Err(QuantityError::Range(s.to_string()));
    }
    Ok(if negative { -value } else { value })
}

/// `e<int>` or `E<int>` with an optional sign: a decimal exponent, bounded so the rebuilt
/// string stays small.
fn exponent(suffix: &str) -> Option<i64> {
    let rest = suffix
        .strip_prefix('e')
        .or_else(|| suffix.strip_prefix('E'))?;
    let digits = rest
        .strip_prefix('-')
        .or_else(|| rest.strip_prefix('+'))
        .unwrap_or(rest);
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kubernetes_forms() {
        let table: &[(&str, f64)] = &[
            ("0", 0.0),
            ("1", 1.0),
            ("1.5", 1.5),
            (".5", 0.5),
            ("2.", 2.0),
            ("+3", 3.0),
            ("-250m", -0.25),
            ("250m", 0.25),
            ("100m", 0.1),
            ("123456789n", 0.123456789),
            ("12345u", 0.012345),
            ("500M", 500e6),
            ("3k", 3000.0),
            ("1G", 1e9),
            ("2T", 2e12),
            ("1P", 1e15),
            ("1E", 1e18),
            ("1Ki", 1024.0),
            ("128Mi", 134_217_728.0),
            ("1Gi", 1_073_741_824.0),
            ("1.5Gi", 1_610_612_736.0),
            ("1Ti", 1_099_511_627_776.0),
            ("1Pi", 1_125_899_906_842_624.0),
            ("1Ei", 1_152_921_504_606_846_976.0),
            ("1e3", 1000.0),
            ("1E3", 1000.0),
            ("1e+3", 1000.0),
            ("25e-2", 0.25),
            ("1.5e1", 15.0),
        ];
        for (input, want) in table {
            assert_eq!(parse_quantity(input), Ok(*want), "{input}");
        }
    }

    #[test]
    fn rejects_garbage() {
        let table: &[(&str, QuantityError)] = &[
            ("", QuantityError::Empty),
            ("-", QuantityError::Empty),
            ("m", QuantityError::Number("m".into())),
            (".", QuantityError::Number(".".into())),
            ("Mi", QuantityError::Number("Mi".into())),
            ("1..2", suffix(".2", "1..2")),
            ("1.2.3", suffix(".3", "1.2.3")),
            ("12x", suffix("x", "12x")),
            ("1mi", suffix("mi", "1mi")),
            ("1KI", suffix("KI", "1KI")),
            ("1K", suffix("K", "1K")),
            ("1 Gi", suffix(" Gi", "1 Gi")),
            (" 1", QuantityError::Number(" 1".into())),
            ("1e", suffix("e", "1e")),
            ("1e1.5", suffix("e1.5", "1e1.5")),
            ("1e99999", suffix("e99999", "1e99999")),
            ("1ee3", suffix("ee3", "1ee3")),
            ("inf", QuantityError::Number("inf".into())),
            ("NaN", QuantityError::Number("NaN".into())),
            ("0x10", suffix("x10", "0x10")),
            ("1e999", QuantityError::Range("1e999".into())),
            ("--1", QuantityError::Number("--1".into())),
            ("１", QuantityError::Number("１".into())),
        ];
        for (input, want) in table {
            assert_eq!(parse_quantity(input).as_ref(), Err(want), "{input}");
        }
        assert_eq!(parse_quantity(&"9".repeat(65)), Err(QuantityError::TooLong));
    }

    #[test]
    fn tiny_exponents_round_to_zero_not_error() {
        assert_eq!(parse_quantity("1e-999"), Ok(0.0));
    }

    #[test]
    fn messages_quote_the_input() {
        let e = parse_quantity("12x").unwrap_err();
        assert_eq!(e.to_string(), "unknown suffix \"x\" in quantity \"12x\"");
    }

    fn suffix(s: &str, q: &str) -> QuantityError {
        QuantityError::Suffix {
            suffix: s.into(),
            quantity: q.into(),
        }
    }
}
