//! Postal (ZIP) codes, checked against the address's country.
//!
//! Formats are hand-written shape checks (no regex dependency). Countries
//! without a specific rule get a permissive generic check, since a wrong
//! rejection blocks a real patient while a loose accept costs little.

/// Message for a code that does not fit `country`'s format.
pub fn zip_invalid(country: &str) -> String {
    format!("ZIP code is not valid for {country}")
}

/// Trims and ASCII-uppercases `raw`, then checks it against the format of
/// `country` (an uppercase ISO code). Returns the normalised code.
pub fn parse_postal_code(raw: &str, country: &str) -> Result<String, Vec<String>> {
    let code = raw.trim().to_ascii_uppercase();
    if code.is_empty() {
        return Err(vec!["ZIP code is required".to_owned()]);
    }
    let valid = match country {
        "US" => shape(&code, "99999") || shape(&code, "99999-9999"),
        "CA" => is_canadian(&code),
        "GB" => is_british(&code),
        "DE" | "FR" => shape(&code, "99999"),
        // Indian PIN codes: six digits, the first (the zone) never 0.
        "IN" => shape(&code, "999999") && !code.starts_with('0'),
        "AU" => shape(&code, "9999"),
        _ => is_generic(&code),
    };
    if valid {
        Ok(code)
    } else {
        Err(vec![zip_invalid(country)])
    }
}

/// True when `code` matches `pattern` char for char: `9` is an ASCII digit,
/// `A` an ASCII uppercase letter, anything else must match literally.
fn shape(code: &str, pattern: &str) -> bool {
    code.len() == pattern.len()
        && code.bytes().zip(pattern.bytes()).all(|(c, p)| match p {
            b'9' => c.is_ascii_digit(),
            b'A' => c.is_ascii_uppercase(),
            _ => c == p,
        })
}

/// Removes the single optional space between the outward and the 3-char
/// inward part (`K1A 0B1`, `SW1A 1AA`); any other space is invalid.
fn without_inward_space(code: &str) -> Option<String> {
    match code.find(' ') {
        None => Some(code.to_owned()),
        Some(i) if i + 4 == code.len() && code.matches(' ').count() == 1 => {
            Some(code.replacen(' ', "", 1))
        }
        Some(_) => None,
    }
}

/// Canada Post `A9A 9A9`: D, F, I, O, Q and U are never used, and W and Z
/// never start a code.
fn is_canadian(code: &str) -> bool {
    let Some(compact) = without_inward_space(code) else {
        return false;
    };
    let letters_ok = compact.bytes().enumerate().all(|(i, b)| match i {
        0 => !b"DFIOQUWZ".contains(&b),
        2 | 4 => !b"DFIOQU".contains(&b),
        _ => true,
    });
    shape(&compact, "A9A9A9") && letters_ok
}

/// UK postcode: outward `A9`, `A99`, `AA9`, `AA99`, `A9A` or `AA9A`, then
/// inward `9AA`; plus the special `GIR 0AA`.
fn is_british(code: &str) -> bool {
    let Some(compact) = without_inward_space(code) else {
        return false;
    };
    if compact == "GIR0AA" {
        return true;
    }
    let Some(split) = compact.len().checked_sub(3) else {
        return false;
    };
    let (outward, inward) = compact.split_at(split);
    const OUTWARD: [&str; 6] = ["A9", "A99", "AA9", "AA99", "A9A", "AA9A"];
    shape(inward, "9AA") && OUTWARD.iter().any(|p| shape(outward, p))
}

/// Elsewhere: 3-10 characters of ASCII letters and digits, with spaces or
/// dashes allowed inside (not at either end).
fn is_generic(code: &str) -> bool {
    let bytes = code.as_bytes();
    let edge = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
    (3..=10).contains(&bytes.len())
        && edge(bytes.first())
        && edge(bytes.last())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b' ' || *b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, &str, bool)] = &[
            ("US", "02101", true),
            ("US", "02101-1234", true),
            ("US", " 02101 ", true),
            ("US", "2101", false),
            ("US", "021011", false),
            ("US", "02101-123", false),
            ("US", "02101 1234", false),
            ("US", "ABCDE", false),
            ("CA", "K1A 0B1", true),
            ("CA", "K1A0B1", true),
            ("CA", "k1a 0b1", true),
            ("CA", "K1A  0B1", false),
            ("CA", "K1 A0B1", false),
            ("CA", "D1A 0B1", false),
            ("CA", "W1A 0B1", false),
            ("CA", "K1A 0B", false),
            ("CA", "12345", false),
            ("GB", "SW1A 1AA", true),
            ("GB", "M1 1AE", true),
            ("GB", "B33 8TH", true),
            ("GB", "CR2 6XH", true),
            ("GB", "DN55 1PT", true),
            ("GB", "W1A 0AX", true),
            ("GB", "EC1A1BB", true),
            ("GB", "GIR 0AA", true),
            ("GB", "sw1a 1aa", true),
            ("GB", "SW1A 1A", false),
            ("GB", "1W1A 1AA", false),
            ("GB", "SW1AA 1AA", false),
            ("GB", "SW1A-1AA", false),
            ("GB", "AA", false),
            ("DE", "10115", true),
            ("DE", "1011", false),
            ("FR", "75001", true),
            ("FR", "7500A", false),
            ("IN", "110001", true),
            ("IN", "010001", false),
            ("IN", "11000", false),
            ("IN", "1100011", false),
            ("AU", "2000", true),
            ("AU", "20000", false),
            ("NL", "1234 AB", true),
            ("JP", "100-0001", true),
            ("BR", "01310-100", true),
            ("NL", "12", false),
            ("NL", "12345678901", false),
            ("NL", "-1234", false),
            ("NL", "1234-", false),
            ("NL", "12_34", false),
            ("NL", "１２３", false),
        ];
        for (country, input, ok) in cases {
            let got = parse_postal_code(input, country);
            if *ok {
                assert_eq!(
                    got,
                    Ok(input.trim().to_ascii_uppercase()),
                    "{country} {input:?}"
                );
            } else {
                assert_eq!(got, Err(vec![zip_invalid(country)]), "{country} {input:?}");
            }
        }
        assert_eq!(
            parse_postal_code("  ", "US"),
            Err(vec!["ZIP code is required".to_string()])
        );
    }
}
