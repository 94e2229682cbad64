//! How fast the SMTP sink itself takes a message: register → email includes
//! it, and MailDev slows down as its inbox grows (it is shared with every
//! test run, which may leave thousands of messages). One plain SMTP
//! exchange per probe, timed from connect to the `250` after the data.

use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
    time::{timeout, Instant},
};

use crate::{
    infra::Infra,
    stats::{summarize, Summary},
};

async fn reply(reader: &mut BufReader<TcpStream>) -> anyhow::Result<u16> {
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            bail!("the SMTP sink closed the connection");
        }
        // "250-..." continues a multi-line reply; "250 ..." ends it.
        if line.as_bytes().get(3) != Some(&b'-') {
            return line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .context("bad SMTP reply");
        }
    }
}

async fn send_one(infra: &Infra, to: &str) -> anyhow::Result<f64> {
    let t0 = Instant::now();
    let stream = TcpStream::connect(infra.servers.smtp_addr()).await?;
    let mut reader = BufReader::new(stream);
    reply(&mut reader).await?;
    let steps = [
        "EHLO bench.localhost\r\n".to_owned(),
        "MAIL FROM:<no-reply@example.com>\r\n".to_owned(),
        format!("RCPT TO:<{to}>\r\n"),
        "DATA\r\n".to_owned(),
        format!(
            "From: no-reply@example.com\r\nTo: {to}\r\nSubject: bench probe\r\n\r\n{}\r\n.\r\n",
            "x".repeat(500)
        ),
    ];
    for step in &steps {
        reader.get_mut().write_all(step.as_bytes()).await?;
        let code = reply(&mut reader).await?;
        if code >= 400 {
            bail!("the SMTP sink answered {code}");
        }
    }
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    reader.get_mut().write_all(b"QUIT\r\n").await.ok();
    Ok(ms)
}

/// `n` probes to addresses of this run (deleted at exit), and how many
/// messages the sink holds.
pub async fn probe(infra: &Infra, n: usize) -> anyhow::Result<(Summary, Option<u64>)> {
    let mut times = Vec::new();
    for i in 0..n {
        let to = format!("{}smtp{i}@example.com", infra.email_prefix());
        let ms = timeout(Duration::from_secs(10), send_one(infra, &to))
            .await
            .context("the SMTP sink did not answer within 10 s")??;
        times.push(ms);
    }
    let stored = infra
        .http
        .get(format!(
            "{}/api/email/summary?limit=1",
            infra.servers.maildev_url
        ))
        .send()
        .await?
        .json::<Value>()
        .await
        .ok()
        .and_then(|v| v["total"].as_u64());
    Ok((summarize(times), stored))
}
