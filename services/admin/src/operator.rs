//! Who is running `admin`, as the operating system knows them: the account
//! the process runs as (and, under sudo, who asked for it) and the machine.
//! The account and host are read from the system, not from `USER` or
//! `HOSTNAME`, which any caller sets as they like.

use shared::audit::Operator;

/// The most characters kept of an account or host name (the columns hold 256).
const MAX_CHARS: usize = 100;

/// The operator of this process.
pub fn current() -> Operator {
    let account = whoami::fallible::username()
        .ok()
        .or_else(effective_uid)
        .unwrap_or_default();
    let host = whoami::fallible::hostname().unwrap_or_default();
    Operator {
        user: describe(&account, std::env::var("SUDO_USER").ok().as_deref()),
        host: bounded(&host),
    }
}

/// `uid N`, for an account without a name (a container's arbitrary uid).
fn effective_uid() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    let euid = uids.split_whitespace().nth(1)?;
    Some(format!("uid {euid}"))
}

/// The account, and who became it through sudo.
fn describe(account: &str, sudo_user: Option<&str>) -> String {
    let account = bounded(account);
    match sudo_user
        .map(bounded)
        .filter(|by| by != "unknown" && *by != account)
    {
        Some(by) => format!("{by} via sudo as {account}"),
        None => account,
    }
}

/// At most [`MAX_CHARS`] characters and none of them a control character,
/// so that a name cannot forge another line when the trail is printed;
/// `unknown` when nothing is left.
fn bounded(raw: &str) -> String {
    let clean: String = raw
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_CHARS)
        .collect();
    if clean.is_empty() {
        "unknown".to_owned()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operator_is_named_by_the_system() {
        let operator = current();
        assert_ne!(operator.user, "unknown");
        assert_ne!(operator.host, "unknown");
    }

    #[test]
    fn sudo_names_who_asked_for_the_account() {
        assert_eq!(describe("root", Some("alice")), "alice via sudo as root");
        assert_eq!(describe("alice", Some("alice")), "alice");
        assert_eq!(describe("alice", None), "alice");
        assert_eq!(describe("alice", Some(" ")), "alice");
    }

    #[test]
    fn names_are_bounded_and_cannot_forge_lines() {
        assert_eq!(bounded("bob\nroot\tx"), "bobrootx");
        assert_eq!(bounded(&"x".repeat(1000)).chars().count(), MAX_CHARS);
        assert_eq!(bounded(""), "unknown");
        assert_eq!(bounded("\u{7}"), "unknown");
        let longest = describe(&"a".repeat(1000), Some(&"b".repeat(1000)));
        assert!(longest.chars().count() <= 256, "{longest}");
    }
}
