//! Evidence for the checks and for failure reports: what the SMTP sink
//! holds per recipient, and what the services logged.

use std::collections::HashMap;

use crate::{Inbox, Service, Stack};

/// The warnings and errors the services logged (the last few of each).
pub fn log_excerpt(stack: &Stack) -> String {
    let mut out = String::new();
    for service in Service::ALL {
        let log = stack.log(service);
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("panicked"))
            .collect();
        out.push_str(&format!(
            "--- {} ({} warnings/errors)\n",
            service.binary(),
            lines.len()
        ));
        for line in &lines[lines.len().saturating_sub(12)..] {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// How many messages the SMTP sink holds per (lowercased) recipient.
pub async fn mail_counts(inbox: &Inbox) -> Option<HashMap<String, usize>> {
    let all = inbox.all().await.ok()?;
    let mut counts = HashMap::new();
    for mail in all {
        for to in mail.to {
            *counts.entry(to.address.to_lowercase()).or_default() += 1;
        }
    }
    Some(counts)
}

/// Messages in the dead-letter queues (counted, not taken) and deliveries
/// still claimed but not recorded as sent: work the system gave up on.
pub async fn leftovers(stack: &Stack) -> String {
    use lapin::options::QueueDeclareOptions;
    let mut dead = Vec::new();
    if let Ok(conn) =
        lapin::Connection::connect(&stack.amqp_url, lapin::ConnectionProperties::default()).await
    {
        for queue in [
            "registration.requests.dlq",
            "notification.patient-created.dlq",
        ] {
            let Ok(channel) = conn.create_channel().await else {
                continue;
            };
            let passive = QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            };
            let declared = channel
                .queue_declare(queue.into(), passive, Default::default())
                .await;
            let count = declared.map_or_else(|_| "?".to_owned(), |q| q.message_count().to_string());
            dead.push(format!("{queue} {count}"));
        }
        let _ = conn.close(0, "done".into()).await;
    }
    let sending: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notification_deliveries WHERE status = 'sending'")
            .fetch_one(&stack.db)
            .await
            .unwrap_or(-1);
    format!(
        "dead-lettered: {}; deliveries left 'sending': {sending}",
        dead.join(", ")
    )
}
