//! Free text through the whole body: no field takes a control or format
//! character, and names take only what names are written with.

#![allow(clippy::unwrap_used)]

use super::*;

/// Every free-text field: its pointer, its error key and its label.
const TEXT_FIELDS: [(&str, &str, &str); 10] = [
    ("/first_name", "first_name", "First name"),
    ("/last_name", "last_name", "Last name"),
    ("/address/street", "address.street", "Street"),
    ("/address/city", "address.city", "City"),
    ("/address/state", "address.state", "State"),
    (
        "/emergency_contact/name",
        "emergency_contact.name",
        "Emergency contact name",
    ),
    (
        "/emergency_contact/relationship",
        "emergency_contact.relationship",
        "Emergency contact relationship",
    ),
    (
        "/insurance_info/provider",
        "insurance_info.provider",
        "Insurance provider",
    ),
    (
        "/insurance_info/policy_number",
        "insurance_info.policy_number",
        "Policy number",
    ),
    (
        "/medical_history",
        "medical_history[0]",
        "Medical history entry",
    ),
];

/// `with`, taking a medical history as its only entry.
fn with_text(pointer: &str, value: &str) -> Value {
    match pointer {
        "/medical_history" => with(pointer, json!([value])),
        _ => with(pointer, json!(value)),
    }
}

#[test]
fn no_text_field_takes_a_control_or_format_character() {
    let invisible = [
        '\u{7}',
        '\u{1b}',
        '\u{85}',
        '\u{ad}',
        '\u{200b}',
        '\u{200c}',
        '\u{200d}',
        '\u{200e}',
        '\u{202a}',
        '\u{202e}',
        '\u{2066}',
        '\u{2069}',
        '\u{2060}',
        '\u{feff}',
        '\u{e0041}',
    ];
    for (pointer, field, label) in TEXT_FIELDS {
        let message = format!("{label} must not contain control or format characters");
        for c in invisible {
            let body = with_text(pointer, &format!("Ab{c}cd"));
            assert_errors(&body, &[(field, &[&message])]);
        }
    }
}

#[test]
fn the_attacks_the_issue_names_are_refused() {
    let cases = [
        (
            "/address/street",
            "456 Main \u{202e}teertS",
            "address.street",
            "Street",
        ),
        (
            "/insurance_info/policy_number",
            "BC123\u{200d}456789",
            "insurance_info.policy_number",
            "Policy number",
        ),
        (
            "/medical_history",
            "\u{feff}Asthma",
            "medical_history[0]",
            "Medical history entry",
        ),
        ("/last_name", "Smith\u{2066}", "last_name", "Last name"),
    ];
    for (pointer, value, field, label) in cases {
        let message = format!("{label} must not contain control or format characters");
        assert_errors(&with_text(pointer, value), &[(field, &[&message])]);
    }
}

#[test]
fn every_failed_rule_of_an_entry_is_told() {
    let body = with_text("/medical_history", &format!("{}\u{200b}", "m".repeat(500)));
    assert_errors(
        &body,
        &[(
            "medical_history[0]",
            &[
                "Medical history entry must be at most 500 characters",
                "Medical history entry must not contain control or format characters",
            ],
        )],
    );
}

#[test]
fn names_take_only_letters_marks_spaces_apostrophes_hyphens_and_periods() {
    let only = "may contain only letters, spaces, apostrophes, hyphens and periods";
    for (pointer, field, label) in &TEXT_FIELDS[..2] {
        for name in ["Jane2", "J@ne", "<Jane>", "Jane 😀"] {
            assert_errors(
                &with_text(pointer, name),
                &[(field, &[&format!("{label} {only}")])],
            );
        }
    }
    let contact = |name: &str| with_text("/emergency_contact/name", name);
    let message = format!("Emergency contact name {only}");
    assert_errors(
        &contact("John Smith 2"),
        &[("emergency_contact.name", &[&message])],
    );
    for name in [
        "Zoë O'Brien-Smith",
        "Zoe\u{308}",
        "李明",
        "J.",
        "Nguyễn Văn A",
    ] {
        let p = parse_registration(&contact(name), today()).unwrap();
        assert_eq!(p.emergency_contact.unwrap().name, name);
    }
}

#[test]
fn other_text_takes_any_visible_character() {
    let cases = [
        ("/address/street", "Straße 5, 2. OG #4"),
        ("/address/city", "東京"),
        ("/emergency_contact/relationship", "Mother/guardian (legal)"),
        ("/insurance_info/policy_number", "BC-123/456#7"),
        ("/medical_history", "Asthma ❤\u{fe0f}, 2 inhalers @ 100µg"),
    ];
    for (pointer, value) in cases {
        assert!(
            parse_registration(&with_text(pointer, value), today()).is_ok(),
            "{pointer}"
        );
    }
}
