//! Waiting for a batch to settle after a fault, then checking it from
//! Postgres, the status endpoint and the SMTP sink: every accepted request
//! final, no email or phone with two patients, one email per patient.

use std::{
    collections::{HashMap, HashSet},
    io::Write,
    time::Duration,
};

use futures_util::{stream, StreamExt};

use crate::{
    batch::{normalised, Answer, Api, Batch},
    evidence::{leftovers, log_excerpt, mail_counts},
    Inbox, Stack,
};

/// What became of a batch.
#[derive(Debug, Default)]
pub struct Report {
    pub submitted: usize,
    pub accepted: usize,
    pub completed: usize,
    pub rejected: usize,
    pub failed: usize,
    /// Accepted requests not final after settling (Postgres or status endpoint).
    pub lost: usize,
    /// Emails or phones with two patients, plus patients without exactly one email.
    pub duplicated: usize,
    /// Rejected requests whose email and phone no patient holds.
    pub unjustified: usize,
    /// What went wrong, one line each (capped).
    pub problems: Vec<String>,
    /// How the submissions were answered, e.g. `202 x180, 503 x20`.
    pub answers: String,
    /// What was left behind: dead-lettered messages, unfinished deliveries.
    pub leftovers: String,
}

const FINAL: [&str; 3] = ["completed", "rejected", "failed"];
/// Give up waiting once nothing has moved for this long.
const STALL: Duration = Duration::from_secs(40);

impl Report {
    pub fn line(&self, scenario: &str) -> String {
        format!(
            "faults: {scenario}: submitted {}, accepted {}, completed {}, rejected {}, failed {}, lost {}, duplicated {}",
            self.submitted, self.accepted, self.completed, self.rejected, self.failed, self.lost, self.duplicated
        )
    }

    /// Prints the summary line (also appended to target/e2e-logs/faults-summary.log).
    pub fn print(&self, scenario: &str, stack: &Stack) {
        let line = format!(
            "{} [{}; answers {}; {}]",
            self.line(scenario),
            stack.id,
            self.answers,
            self.leftovers
        );
        eprintln!("{line}");
        for problem in &self.problems {
            eprintln!("faults:     {problem}");
        }
        let path = stack.log_dir().parent().unwrap().join("faults-summary.log");
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(file, "{line}");
        }
    }

    /// The contract: nothing lost, nothing duplicated, no failure (unless
    /// allowed), every rejection justified by a patient holding the value.
    pub fn assert_clean(&self, scenario: &str, stack: &Stack, failed_allowed: usize) {
        self.assert_clean_but(scenario, stack, failed_allowed, 0);
    }

    /// As [`Report::assert_clean`], with up to `resent_allowed` second emails:
    /// the sends a crash interrupted mid-SMTP, which the contract exempts
    /// (the worker cannot know whether the sink kept the message).
    pub fn assert_clean_but(
        &self,
        scenario: &str,
        stack: &Stack,
        failed_allowed: usize,
        resent_allowed: usize,
    ) {
        let ok = self.lost == 0
            && self.duplicated <= resent_allowed
            && self.unjustified == 0
            && self.failed <= failed_allowed
            && self.accepted > 0;
        assert!(
            ok,
            "{}\nunjustified rejections: {}\nproblems:\n{}\nservice log excerpts ({}):\n{}",
            self.line(scenario),
            self.unjustified,
            self.problems.join("\n"),
            stack.log_dir().display(),
            log_excerpt(stack)
        );
    }
}

/// Statuses of the accepted requests and every patient's (email, phone), from Postgres.
async fn observe(
    stack: &Stack,
    ids: &[uuid::Uuid],
) -> Option<(HashMap<String, String>, Vec<(String, String)>)> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT id::text, status FROM registration_requests WHERE id = ANY($1)")
            .bind(ids)
            .fetch_all(&stack.db)
            .await
            .ok()?;
    let patients: Vec<(String, String)> =
        sqlx::query_as("SELECT lower(email), phone_number FROM patients")
            .fetch_all(&stack.db)
            .await
            .ok()?;
    Some((rows.into_iter().collect(), patients))
}

/// Waits (up to `deadline`, or until nothing moves for 40 s) until every
/// accepted request is final and every patient has an email, then checks.
pub async fn settle(
    stack: &Stack,
    batch: &Batch,
    answers: &[Answer],
    deadline: Duration,
) -> Report {
    let api = Api::of(stack);
    let accepted: Vec<&Answer> = answers.iter().filter(|a| a.accepted()).collect();
    let ids: Vec<uuid::Uuid> = accepted
        .iter()
        .filter_map(|a| a.request_id.as_deref()?.parse().ok())
        .collect();
    let inbox = Inbox::from_env();
    let started = tokio::time::Instant::now();
    let mut last_change = started;
    let mut last_progress = (usize::MAX, usize::MAX);
    let (statuses, patients, mails) = loop {
        let seen = observe(stack, &ids).await;
        let mails = mail_counts(&inbox).await;
        if let (Some((statuses, patients)), Some(mails)) = (seen, mails) {
            let finals = statuses
                .values()
                .filter(|s| FINAL.contains(&s.as_str()))
                .count();
            let mailed = patients
                .iter()
                .filter(|(e, _)| mails.contains_key(e))
                .count();
            let done = finals == ids.len() && mailed == patients.len();
            if (finals, mailed) != last_progress {
                last_progress = (finals, mailed);
                last_change = tokio::time::Instant::now();
            }
            let gave_up = started.elapsed() >= deadline || last_change.elapsed() >= STALL;
            if done || gave_up {
                break (statuses, patients, mails);
            }
        } else if started.elapsed() >= deadline {
            break (HashMap::new(), Vec::new(), HashMap::new());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    let mut codes: std::collections::BTreeMap<String, usize> = Default::default();
    for answer in answers {
        let code = answer
            .code
            .map_or_else(|| "no answer".to_owned(), |c| c.to_string());
        *codes.entry(code).or_default() += 1;
    }
    let mut report = Report {
        submitted: batch.len(),
        accepted: accepted.len(),
        answers: codes
            .iter()
            .map(|(code, n)| format!("{code} x{n}"))
            .collect::<Vec<_>>()
            .join(", "),
        leftovers: leftovers(stack).await,
        ..Report::default()
    };
    for answer in answers.iter().filter(|a| a.code.is_none()) {
        let error = answer.error.as_deref().unwrap_or("?");
        report.problem(format!("body {}: no answer: {error}", answer.index));
    }
    let public: Vec<(String, Option<serde_json::Value>)> = stream::iter(&ids)
        .map(|id| {
            let api = api.clone();
            async move { (id.to_string(), api.status(&id.to_string()).await) }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let public: HashMap<String, Option<serde_json::Value>> = public.into_iter().collect();
    let emails: HashSet<&str> = patients.iter().map(|(e, _)| e.as_str()).collect();
    let phones: HashSet<&str> = patients.iter().map(|(_, p)| p.as_str()).collect();
    for answer in &accepted {
        let id = answer.request_id.clone().unwrap_or_default();
        let body = &batch.bodies[answer.index];
        let db = statuses.get(&id).map_or("missing", String::as_str);
        let shown = public.get(&id).cloned().flatten();
        let shown_status = shown
            .as_ref()
            .and_then(|d| d["status"].as_str())
            .unwrap_or("no answer");
        if !FINAL.contains(&db) || !FINAL.contains(&shown_status) || db != shown_status {
            report.lost += 1;
            report.problem(format!(
                "{id}: Postgres says {db}, the status endpoint {shown_status}"
            ));
            continue;
        }
        match db {
            "completed" => report.completed += 1,
            "rejected" => report.rejected += 1,
            _ => report.failed += 1,
        }
        let email = body["email"].as_str().unwrap_or_default().to_lowercase();
        let phone = normalised(body["phone_number"].as_str().unwrap_or_default());
        if db == "rejected" && !emails.contains(email.as_str()) && !phones.contains(phone.as_str())
        {
            report.unjustified += 1;
            report.problem(format!(
                "{id}: rejected but no patient holds its email or phone"
            ));
        }
        if db == "completed" {
            let data = shown.unwrap_or_default();
            if data["email"] != email.as_str() || data["phone_number"] != phone.as_str() {
                report.lost += 1;
                report.problem(format!("{id}: completed as {data} for another patient"));
            }
        }
        if db == "failed" {
            report.problem(format!("{id}: failed"));
        }
    }
    let mut by_email: HashMap<&str, usize> = HashMap::new();
    let mut by_phone: HashMap<&str, usize> = HashMap::new();
    for (email, phone) in &patients {
        *by_email.entry(email).or_default() += 1;
        *by_phone.entry(phone).or_default() += 1;
        let got = mails.get(email).copied().unwrap_or(0);
        if got != 1 {
            report.duplicated += 1;
            report.problem(format!("patient {email}: {got} emails"));
        }
    }
    if patients.len() != report.completed {
        report.duplicated += patients.len().saturating_sub(report.completed);
        report.problem(format!(
            "{} patients for {} completed requests",
            patients.len(),
            report.completed
        ));
    }
    for (value, n) in by_email
        .iter()
        .chain(by_phone.iter())
        .filter(|(_, n)| **n > 1)
    {
        report.duplicated += 1;
        report.problem(format!("{value}: {n} patients"));
    }
    report
}

impl Report {
    fn problem(&mut self, line: String) {
        if self.problems.len() < 40 {
            self.problems.push(line);
        }
    }
}
