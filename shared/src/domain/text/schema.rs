//! The text fields as the OpenAPI document states them (`schema_with` on the
//! registration body's fields): every value a pattern allows, the parser
//! accepts.
//!
//! The patterns are read by ECMA-262 engines with and without the `u` flag,
//! by Python's `re` (Schemathesis draws from them) and by Rust's `regex`.
//! What all of them read alike: `\xHH` and `\uHHHH` escapes, `\s` (the same
//! characters in each, once controls and format characters are left out),
//! and characters beyond U+FFFF written as themselves, never as a range's
//! end (without `u` they are two code units, and a range of them breaks).
//! No `\p{..}`, which Python's `re` does not know: free text is stated
//! exactly (no control or format character); a name pattern lists the
//! letters of common scripts, and its description says the rest.

use utoipa::openapi::{Object, ObjectBuilder, Type};

use super::tables::FORMAT;
use crate::domain::address::{CITY_MAX_CHARS, STATE_MAX_CHARS, STREET_MAX_CHARS};
use crate::domain::emergency_contact::{CONTACT_NAME_MAX_CHARS, RELATIONSHIP_MAX_CHARS};
use crate::domain::insurance::INSURANCE_FIELD_MAX_CHARS;
use crate::domain::{MEDICAL_ENTRY_MAX_CHARS, NAME_MAX_CHARS, NAME_MIN_CHARS};

/// Name characters the pattern lists: the letters and combining marks of
/// the Latin (with IPA and modifier letters such as the ʻokina), Greek,
/// Cyrillic, Armenian, Hebrew, Arabic, Devanagari, Thai, Georgian, kana,
/// Han and Hangul scripts, and the punctuation names use. Not U+034F, which
/// is drawn as nothing. The tests hold every one to `is_name_char`.
const NAME_CHARS: &str = concat!(
    r"A-Za-z\xAA\xB5\xBA\xC0-\xD6\xD8-\xF6\xF8-\u02C1\u02C6-\u02D1\u02E0-\u02E4\u02EC\u02EE",
    r"\u0300-\u034E\u0350-\u036F\u1E00-\u1EFF\uFB00-\uFB06",
    r"\u0386\u0388-\u038A\u038C\u038E-\u03A1\u03A3-\u03F5\u03F7-\u03FF",
    r"\u0400-\u0481\u0483-\u052F\u0531-\u0556\u0560-\u0588",
    r"\u05B0-\u05BD\u05BF\u05C1\u05C2\u05C4\u05C5\u05C7\u05D0-\u05EA\u05EF-\u05F2",
    r"\u0620-\u065F\u066E-\u06D3\u06D5-\u06DC\u06DF-\u06E8\u06EA-\u06EF\u06FA-\u06FC\u06FF",
    r"\u0900-\u0963\u0971-\u097F\u0E01-\u0E3A\u0E40-\u0E4E\u10D0-\u10FA\u10FC-\u10FF",
    r"\u3041-\u3096\u3099\u309A\u309D-\u309F\u30A1-\u30FA\u30FC-\u30FF",
    r"\u3400-\u4DBF\u4E00-\u9FFF\uAC00-\uD7A3",
    r"'\u2019.\-",
);

const NAME_DESCRIPTION: &str = "Letters of any script, combining marks, spaces, \
    apostrophes (' or ’), hyphens and periods; no control or format characters, no \
    letter drawn as nothing (U+3164, U+FE0F...) and no styled mathematical letter \
    (U+1D400 to U+1D7FF...). The pattern lists the Latin, Greek, Cyrillic, Armenian, \
    Hebrew, Arabic, Devanagari, Thai, Georgian, kana, Han and Hangul letters; the \
    letters of every other script are accepted too.";
const TEXT_DESCRIPTION: &str =
    "Not blank, and no control or format characters (Unicode Cc and Cf).";

pub(crate) fn first_name() -> Object {
    person_name("Jane")
}

pub(crate) fn last_name() -> Object {
    person_name("Smith")
}

pub(crate) fn contact_name() -> Object {
    string(name_pattern(1), NAME_DESCRIPTION, "John Smith")
        .max_length(Some(CONTACT_NAME_MAX_CHARS))
        .build()
}

pub(crate) fn street() -> Object {
    text(STREET_MAX_CHARS, "456 Main Street")
}

pub(crate) fn city() -> Object {
    text(CITY_MAX_CHARS, "Boston")
}

pub(crate) fn state() -> Object {
    text(STATE_MAX_CHARS, "MA")
}

pub(crate) fn relationship() -> Object {
    text(RELATIONSHIP_MAX_CHARS, "spouse")
}

pub(crate) fn provider() -> Object {
    text(INSURANCE_FIELD_MAX_CHARS, "Blue Cross")
}

pub(crate) fn policy_number() -> Object {
    text(INSURANCE_FIELD_MAX_CHARS, "BC123456789")
}

/// One entry of the medical history.
pub(crate) fn medical_entry() -> Object {
    string(text_pattern(), TEXT_DESCRIPTION, "Asthma")
        .min_length(Some(1))
        .max_length(Some(MEDICAL_ENTRY_MAX_CHARS))
        .build()
}

fn person_name(example: &str) -> Object {
    string(name_pattern(NAME_MIN_CHARS), NAME_DESCRIPTION, example)
        .min_length(Some(NAME_MIN_CHARS))
        .max_length(Some(NAME_MAX_CHARS))
        .build()
}

fn text(max: usize, example: &str) -> Object {
    string(text_pattern(), TEXT_DESCRIPTION, example)
        .max_length(Some(max))
        .build()
}

fn string(pattern: String, description: &str, example: &str) -> ObjectBuilder {
    // `example`, as the derive writes it for every other field.
    #[allow(deprecated)]
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(Some(pattern))
        .example(Some(example.into()))
}

/// A name of at least `min` name characters (1 or 2), spaces between.
/// Nothing before the first or after the last: the server trims, but a
/// schema measures lengths untrimmed, so padding would let a value over
/// `maxLength` pass the server.
fn name_pattern(min: usize) -> String {
    let more = if min >= 2 { "+" } else { "*" };
    format!("^[{NAME_CHARS}](?: *[{NAME_CHARS}]){more}$")
}

/// Free text: not blank, and no control or format character. Any allowed
/// character may come before the first visible one, so spaces are no
/// likelier in generated values than any other character (padding would
/// let a value over `maxLength` pass the server, which trims first).
fn text_pattern() -> String {
    let (refused, visible) = (control_and_format(), visible_text_class());
    format!("^[^{refused}]*{visible}[^{refused}]*$")
}

/// A character free text may hold that is not White_Space.
fn visible_text_class() -> String {
    format!(r"[^\s{}]", control_and_format())
}

/// Unicode general categories Cc and Cf, for a character class.
fn control_and_format() -> String {
    let mut class = String::from(r"\x00-\x1F\x7F-\x9F");
    for &(low, high) in FORMAT {
        if high <= 0xFFFF {
            class.push_str(&format!(r"\u{low:04X}"));
            if high > low {
                class.push_str(&format!(r"-\u{high:04X}"));
            }
        } else {
            class.extend((low..=high).filter_map(char::from_u32));
        }
    }
    class
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::text::{is_control_or_format, is_name_char};

    fn every_char() -> impl Iterator<Item = char> {
        (0..=u32::from(char::MAX)).filter_map(char::from_u32)
    }

    /// The chars a regex character class takes.
    fn taken_by(class: &str) -> std::collections::HashSet<char> {
        let regex = regex::Regex::new(&format!("{class}+")).expect("a valid class");
        let text: String = every_char().collect();
        regex
            .find_iter(&text)
            .flat_map(|run| run.as_str().chars())
            .collect()
    }

    #[test]
    fn the_text_class_is_exactly_what_is_neither_space_nor_control_nor_format() {
        let visible = taken_by(&visible_text_class());
        for c in every_char() {
            let allowed = !c.is_whitespace() && !is_control_or_format(c);
            assert_eq!(visible.contains(&c), allowed, "{c:?}");
        }
    }

    #[test]
    fn the_name_class_lists_only_name_characters() {
        let listed = taken_by(&format!("[{NAME_CHARS}]"));
        assert!(listed.len() > 30_000, "the scripts are listed");
        for c in listed {
            assert!(is_name_char(c) && !c.is_whitespace(), "{c:?}");
        }
    }

    #[test]
    fn the_patterns_match_what_they_should() {
        let regex = |pattern: String| regex::Regex::new(&pattern).expect("a valid pattern");
        let (person, contact, text) = (
            regex(name_pattern(2)),
            regex(name_pattern(1)),
            regex(text_pattern()),
        );
        let names = [
            "Jane",
            "Zoë",
            "Zoe\u{308}",
            "李明",
            "O'Brien-Smith",
            "Jr.",
            "José  María",
        ];
        for name in names {
            assert!(person.is_match(name) && contact.is_match(name), "{name:?}");
        }
        assert!(contact.is_match("J") && !person.is_match("J"));
        // The server trims these; the schema, which measures untrimmed, does not take them.
        let refused = [
            "",
            " Jane",
            "Jane\t",
            "Jane2",
            "Ja\u{200b}ne",
            "Jane\u{a0}Smith",
        ];
        for name in refused {
            assert!(
                !person.is_match(name) && !contact.is_match(name),
                "{name:?}"
            );
        }
        for value in ["456 Main Street", " a ", "a\u{3000}b", "東京", "❤\u{fe0f}"] {
            assert!(text.is_match(value), "{value:?}");
        }
        let refused = [
            "",
            " ",
            "\u{3000}",
            "a\tb",
            "Ma\u{202e}in",
            "BC\u{200d}1",
            "\u{feff}Asthma",
        ];
        for value in refused.iter().chain(&["a\u{e0041}", "a\u{1d173}"]) {
            assert!(!text.is_match(value), "{value:?}");
        }
    }
}
