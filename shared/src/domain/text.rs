//! What free text may hold. Control and format characters (Unicode Cc and
//! Cf: newlines and escapes, bidi overrides, zero-width spaces and joiners,
//! the byte-order mark, tags) are refused in every text field: they let one
//! value display as another, reorder what a clinician reads, or break
//! letters, CSV exports and terminals downstream. Names are held to what
//! names are written with.

pub(crate) mod schema;
mod tables;

use tables::{
    contains, ALPHABETIC_NON_LETTERS, FORMAT, INVISIBLE_LETTERS_AND_MARKS, MARKS_NOT_ALPHABETIC,
    STYLED_LETTER_BLOCKS,
};

/// The rules of one kind of text: `(value, label)` to every failed rule's message.
pub(crate) type TextRules = fn(&str, &str) -> Vec<String>;

/// Unicode general category Cc or Cf.
pub(crate) fn is_control_or_format(c: char) -> bool {
    c.is_control() || contains(FORMAT, c)
}

/// A letter of any script or a combining mark (general categories L and
/// M), unless it is drawn as nothing or is a styled letter for mathematics:
/// either would let a name look like another.
fn is_letter_or_mark(c: char) -> bool {
    let letter = c.is_alphabetic() && !contains(ALPHABETIC_NON_LETTERS, c);
    (letter || contains(MARKS_NOT_ALPHABETIC, c))
        && !contains(INVISIBLE_LETTERS_AND_MARKS, c)
        && !contains(STYLED_LETTER_BLOCKS, c)
}

/// Letters, combining marks, the space, apostrophes (' and ’), the hyphen
/// and the period: "Zoë", "李明", "O'Brien-Smith", "Jr.".
pub(crate) fn is_name_char(c: char) -> bool {
    matches!(c, ' ' | '\'' | '\u{2019}' | '-' | '.') || is_letter_or_mark(c)
}

/// Any free text: no control or format characters.
pub(crate) fn text_rules(value: &str, label: &str) -> Vec<String> {
    if value.chars().any(is_control_or_format) {
        vec![format!(
            "{label} must not contain control or format characters"
        )]
    } else {
        Vec::new()
    }
}

/// A name: free text, and only name characters. A control or format
/// character is told once, by the rule above.
pub(crate) fn name_rules(value: &str, label: &str) -> Vec<String> {
    let mut messages = text_rules(value, label);
    if value
        .chars()
        .any(|c| !is_name_char(c) && !is_control_or_format(c))
    {
        messages.push(format!(
            "{label} may contain only letters, spaces, apostrophes, hyphens and periods"
        ));
    }
    messages
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTROL: &str = "Street must not contain control or format characters";
    const NAME_CONTROL: &str = "Name must not contain control or format characters";
    const NAME_CHARS: &str =
        "Name may contain only letters, spaces, apostrophes, hyphens and periods";

    /// One example of each kind of invisible character the rule is for.
    const CONTROL_AND_FORMAT: [char; 17] = [
        '\u{0}',     // NUL
        '\n',        // a line feed
        '\u{1b}',    // escape, which starts terminal sequences
        '\u{85}',    // next line (C1)
        '\u{ad}',    // soft hyphen
        '\u{61c}',   // Arabic letter mark
        '\u{180e}',  // Mongolian vowel separator
        '\u{200b}',  // zero-width space
        '\u{200c}',  // zero-width non-joiner
        '\u{200d}',  // zero-width joiner
        '\u{200e}',  // left-to-right mark
        '\u{202e}',  // right-to-left override
        '\u{2066}',  // left-to-right isolate
        '\u{2060}',  // word joiner
        '\u{feff}',  // byte-order mark (zero-width no-break space)
        '\u{fff9}',  // interlinear annotation anchor
        '\u{e0041}', // tag latin capital letter A
    ];

    #[test]
    fn free_text_refuses_every_control_and_format_character() {
        for c in CONTROL_AND_FORMAT {
            for value in [format!("{c}Main"), format!("Ma{c}in"), format!("Main{c}")] {
                assert_eq!(text_rules(&value, "Street"), [CONTROL], "{value:?}");
            }
        }
    }

    #[test]
    fn free_text_takes_everything_else() {
        let values = [
            "456 Main Street",
            "Straße 5, 2. OG",
            "東京都千代田区",
            "שדרות רוטשילד 1",
            "Asthma (since 2010) ❤\u{fe0f}",
            "a\u{2028}b", // a line separator is a separator, not a control
            "Zoe\u{308}",
        ];
        for value in values {
            assert!(text_rules(value, "Street").is_empty(), "{value:?}");
        }
        // An emoji family is joined by zero-width joiners.
        let family = "\u{1f468}\u{200d}\u{1f469}\u{200d}\u{1f467}";
        assert_eq!(text_rules(family, "Street"), [CONTROL]);
    }

    #[test]
    fn names_take_letters_of_any_script_and_their_punctuation() {
        let names = [
            "Zoë",
            "Zoe\u{308}", // NFD: e and a combining diaeresis
            "李明",
            "O'Brien-Smith",
            "O\u{2019}Brien",
            "Jr.",
            "José María",
            "Nguyễn",
            "Nguye\u{302}\u{303}n", // NFD, two stacked marks
            "Müller",
            "Ørsted",
            "Παπαδόπουλος",
            "Иванов",
            "محمد",
            "כהן",
            "लक्ष्मी", // a virama
            "สมศักดิ์", // Thai tone marks
            "김민준",
            "さくら",
            "Ḥasan",
            "ʻIolani", // the Hawaiian ʻokina is a letter
            "Հայկ",
            "გიორგი",
            "ジョン",
        ];
        for name in names {
            assert!(name_rules(name, "Name").is_empty(), "{name:?}");
        }
    }

    #[test]
    fn names_refuse_everything_else_with_one_message_per_rule() {
        let cases: [(&str, &[&str]); 17] = [
            ("Jane2", &[NAME_CHARS]),
            ("J4ne", &[NAME_CHARS]),
            ("jane@example.com", &[NAME_CHARS]),
            ("<script>", &[NAME_CHARS]),
            ("Jane 😀", &[NAME_CHARS]),
            ("Jane_Smith", &[NAME_CHARS]),
            ("Jane, Smith", &[NAME_CHARS]),
            ("Ⅻ", &[NAME_CHARS]),            // a Roman numeral
            ("🅰\u{fe0f}", &[NAME_CHARS]),    // an emoji made of a squared letter
            ("Jane\u{fe0f}", &[NAME_CHARS]), // a variation selector, drawn as nothing
            ("Jane\u{3164}", &[NAME_CHARS]), // a Hangul filler, drawn as nothing
            ("\u{1d409}\u{1d41a}\u{1d427}\u{1d41e}", &[NAME_CHARS]), // bold "Jane"
            ("\u{210d}ello", &[NAME_CHARS]), // a double-struck H
            ("Jane\u{a0}Smith", &[NAME_CHARS]),
            ("Ja\u{202e}ne", &[NAME_CONTROL]),
            ("Ja\nne", &[NAME_CONTROL]),
            ("J4\u{200b}ne", &[NAME_CONTROL, NAME_CHARS]),
        ];
        for (name, expected) in cases {
            assert_eq!(name_rules(name, "Name"), expected, "{name:?}");
        }
        for c in CONTROL_AND_FORMAT {
            assert_eq!(name_rules(&format!("Ja{c}ne"), "Name"), [NAME_CONTROL]);
        }
    }
}
