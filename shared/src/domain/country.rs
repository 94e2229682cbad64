//! ISO 3166-1 alpha-2 country codes.

pub const COUNTRY_INVALID: &str = "Country must be a two-letter ISO 3166-1 code";
/// Country assumed when the address does not name one.
pub const DEFAULT_COUNTRY: &str = "US";

/// The 249 officially assigned alpha-2 codes, sorted for binary search.
/// User-assigned codes such as `XK` are deliberately absent.
pub const COUNTRY_CODES: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// Trims and uppercases `raw`, then checks it is an assigned code.
/// Returns the canonical uppercase code.
pub fn parse_country(raw: &str) -> Result<String, Vec<String>> {
    let code = raw.trim().to_ascii_uppercase();
    let shape_ok = code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase());
    if shape_ok && COUNTRY_CODES.binary_search(&code.as_str()).is_ok() {
        Ok(code)
    } else {
        Err(vec![COUNTRY_INVALID.to_owned()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_sorted_and_unique() {
        assert!(COUNTRY_CODES.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn table() {
        let bad = || Err(vec![COUNTRY_INVALID.to_string()]);
        let cases: Vec<(&str, Result<String, Vec<String>>)> = vec![
            ("US", Ok("US".into())),
            ("us", Ok("US".into())),
            (" gb ", Ok("GB".into())),
            ("Ca", Ok("CA".into())),
            ("ZW", Ok("ZW".into())),
            ("AD", Ok("AD".into())),
            ("XK", bad()),
            ("UK", bad()),
            ("ZZ", bad()),
            ("USA", bad()),
            ("U", bad()),
            ("", bad()),
            ("1A", bad()),
            ("ÜS", bad()),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_country(input), expected, "input {input:?}");
        }
    }
}
