//! Every letter, read as its recipient would: both parts say the same
//! things, the only URL is ours, the name is escaped in HTML.

use super::*;

const BASE: &str = "https://clinic.example";
const NAME: &str = "<b>Jane</b>";

struct Case {
    letter: Letter,
    subject: &'static str,
    /// The one URL the letter may hold.
    link: Option<String>,
    /// Sentences both parts must say.
    says: Vec<String>,
    /// The code to type, where there is one.
    code: Option<String>,
}

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-01T14:03:00Z")
        .expect("a date")
        .to_utc()
}

fn cases() -> Vec<Case> {
    let verify = VerificationToken::generate();
    let reset = VerificationToken::generate();
    let change = VerificationToken::generate();
    let day = Duration::from_secs(86_400);
    let hour = Duration::from_secs(3600);
    let render = |letter: askama::Result<Letter>| letter.expect("renders");
    vec![
        Case {
            letter: render(Letter::verification(NAME, BASE, &verify, day)),
            subject: "Verify your email address",
            link: Some(format!("{BASE}/verify-email?token={}", verify.expose())),
            says: vec![
                "Please confirm your email address".into(),
                "Or enter this verification code:".into(),
                "This link expires in 24 hours.".into(),
                "If you did not register, you can ignore this email.".into(),
            ],
            code: Some(verify.expose().to_owned()),
        },
        Case {
            letter: render(Letter::password_reset(NAME, BASE, &reset, hour)),
            subject: "Reset your password",
            link: Some(format!("{BASE}/reset-password?token={}", reset.expose())),
            says: vec![
                "To choose a new password, open this link:".into(),
                "This link expires in 1 hour and works only once.".into(),
                "you can ignore this email: your password is unchanged.".into(),
            ],
            code: None,
        },
        Case {
            letter: render(Letter::password_changed(NAME, PasswordChange::Reset, at())),
            subject: "Your password was changed",
            link: None,
            says: vec![
                "was reset on 1 December 2026 at 14:03 UTC, with a link sent to this email address."
                    .into(),
                "If this was not you, someone else may be reading your email.".into(),
                "Change the password of your email account first".into(),
                "reset your patient account's password right away".into(),
                "and contact support.".into(),
            ],
            code: None,
        },
        Case {
            letter: render(Letter::password_changed(
                NAME,
                PasswordChange::Changed,
                at(),
            )),
            subject: "Your password was changed",
            link: None,
            says: vec![
                "The password of your patient account was changed on 1 December 2026 at 14:03 UTC."
                    .into(),
                "If this was not you, someone else may know your password.".into(),
                "Reset it right away".into(),
                "and contact support.".into(),
            ],
            code: None,
        },
        Case {
            letter: render(Letter::account_deactivated(NAME, at())),
            subject: "Your account was deactivated",
            link: None,
            says: vec![
                "Your patient account was deactivated on 1 December 2026 at 14:03 UTC.".into(),
                "Your records are kept".into(),
                "If this was not you, someone else may know your password:".into(),
                "contact support right away".into(),
            ],
            code: None,
        },
        Case {
            letter: render(Letter::email_change(NAME, BASE, &change, day)),
            subject: "Confirm your new email address",
            link: Some(format!(
                "{BASE}/confirm-email-change?token={}",
                change.expose()
            )),
            says: vec![
                "You asked to use this email address for your patient account.".into(),
                "This link expires in 24 hours and works only once.".into(),
                "your account keeps its current email address.".into(),
                "If you did not ask for this, you can ignore this email: nothing changes.".into(),
            ],
            code: None,
        },
        Case {
            letter: render(Letter::email_change_notice(NAME, "j***@example.com", at())),
            subject: "A change of your email address was requested",
            link: None,
            says: vec![
                "On 1 December 2026 at 14:03 UTC, a change of your patient account's email address to"
                    .into(),
                "j***@example.com".into(),
                "the change happens only if the link is opened.".into(),
                "If this was not you, someone else may know your password.".into(),
                "that also cancels the change if its link has not been opened yet. Then contact support."
                    .into(),
            ],
            code: None,
        },
    ]
}

/// Both parts of a letter, named for failure messages.
fn parts(letter: &Letter) -> [(&'static str, &str); 2] {
    [("text", &letter.text), ("html", &letter.html)]
}

#[test]
fn each_letter_has_its_subject_and_says_what_happened_in_both_parts() {
    for case in cases() {
        assert_eq!(case.letter.subject, case.subject);
        for (part, body) in parts(&case.letter) {
            for sentence in &case.says {
                assert!(
                    body.contains(sentence.as_str()),
                    "{} {part} lacks {sentence:?}:\n{body}",
                    case.subject
                );
            }
        }
    }
}

#[test]
fn the_only_url_in_any_part_is_the_link_to_the_public_base_url() {
    for case in cases() {
        for (part, body) in parts(&case.letter) {
            let urls: Vec<&str> = body
                .match_indices("http")
                .map(|(i, _)| &body[i..])
                .collect();
            match &case.link {
                Some(link) => {
                    assert!(!urls.is_empty(), "{} {part} has no link", case.subject);
                    for url in urls {
                        assert!(
                            url.starts_with(link.as_str()),
                            "{} {part}: {url}",
                            case.subject
                        );
                    }
                }
                None => assert!(urls.is_empty(), "{} {part} has a URL", case.subject),
            }
        }
    }
}

#[test]
fn the_html_link_is_a_button_and_is_also_shown_as_text() {
    for case in cases() {
        let Some(link) = &case.link else { continue };
        assert!(case.letter.html.contains(&format!("<a href=\"{link}\"")));
        assert!(case.letter.html.contains(&format!(">{link}</a>")));
        assert!(case.letter.text.contains(&format!("\n{link}\n")));
    }
}

#[test]
fn the_code_follows_its_sentence_in_text_and_stands_alone_in_html() {
    for case in cases() {
        let Some(code) = &case.code else { continue };
        assert!(case
            .letter
            .text
            .contains(&format!("\nOr enter this verification code: {code}\n")));
        assert!(case.letter.html.contains(&format!(">{code}</p>")));
    }
}

#[test]
fn the_first_name_is_escaped_in_html_and_plain_in_text() {
    for case in cases() {
        assert!(case.letter.text.starts_with("Hello <b>Jane</b>,\n\n"));
        assert!(!case.letter.html.contains(NAME), "{}", case.subject);
        assert!(case
            .letter
            .html
            .contains("Hello &#60;b&#62;Jane&#60;/b&#62;,"));
    }
}

#[test]
fn the_html_loads_nothing_from_elsewhere() {
    for case in cases() {
        let html = case.letter.html.to_lowercase();
        for external in ["src=", "<link", "<style", "url(", "@import", "<script"] {
            assert!(!html.contains(external), "{}: {external}", case.subject);
        }
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains(&format!("<title>{}</title>", case.subject.to_lowercase())));
    }
}

#[test]
fn the_plain_text_part_holds_no_markup() {
    for case in cases() {
        let without_name = case.letter.text.replace(NAME, "");
        assert!(!without_name.contains('<'), "{}", case.subject);
        assert!(!without_name.contains("&#"), "{}", case.subject);
    }
}
