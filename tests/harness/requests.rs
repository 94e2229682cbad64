//! What a test asks of a running [`Stack`]: register, read a status, wait
//! for a registration to settle, and reach its vhost over AMQP.

use std::time::Duration;

use serde_json::Value;

use sha2::{Digest, Sha256};

use crate::{eventually, Email, Inbox, Stack};

impl Stack {
    pub async fn register(&self, body: &Value) -> reqwest::Response {
        self.register_with(body, &[]).await
    }

    /// Registers with extra request headers (`prefer`, `x-api-key`, ...).
    pub async fn register_with(&self, body: &Value, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/api/v1/patient/register", self.base_url))
            .json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    /// Registers and returns the request id of the 202.
    pub async fn register_accepted(&self, body: &Value) -> String {
        let response = self.register(body).await;
        assert_eq!(response.status(), 202, "{:?}", response.text().await);
        let json: Value = response.json().await.unwrap();
        json["data"]["request_id"].as_str().unwrap().to_owned()
    }

    pub async fn status(&self, request_id: &str) -> (u16, Value) {
        let response = self
            .http
            .get(status_url(&self.base_url, request_id))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// Polls a request's status until it is no longer pending.
    pub async fn settled(&self, request_id: &str) -> Value {
        eventually(
            "the registration to settle",
            Duration::from_secs(90),
            || async {
                let (code, body) = self.status(request_id).await;
                assert_eq!(code, 200, "{body}");
                (body["data"]["status"] != "pending").then_some(body["data"].clone())
            },
        )
        .await
    }

    /// Takes the next registration message off the request queue, as the
    /// broker holds it (run with the registration worker stopped).
    pub async fn take_request_message(&self) -> lapin::message::Delivery {
        let conn = self.amqp().await;
        let channel = conn.create_channel().await.unwrap();
        channel
            .basic_get(
                "registration.requests".into(),
                lapin::options::BasicGetOptions::default(),
            )
            .await
            .unwrap()
            .expect("a registration waits on the request queue")
            .delivery
    }

    /// A raw AMQP connection to this stack's vhost.
    pub async fn amqp(&self) -> lapin::Connection {
        lapin::Connection::connect(&self.amqp_url, lapin::ConnectionProperties::default())
            .await
            .unwrap()
    }
}

/// Where a registration request's status is.
pub(crate) fn status_url(base_url: &str, request_id: &str) -> String {
    format!("{base_url}/api/v1/patient/registrations/{request_id}")
}

impl Stack {
    /// Waits (up to 60 s) for `patient_id`'s verification email at
    /// `address`: the one whose token's hash this database stores (the
    /// sink may hold the address's mail from earlier runs). Returns it with
    /// how many tokens the database holds for the patient.
    pub async fn verification_email(
        &self,
        patient_id: uuid::Uuid,
        address: &str,
    ) -> (Email, usize) {
        let inbox = Inbox::from_env();
        eventually(
            "the verification email",
            Duration::from_secs(60),
            || async {
                let stored: Vec<Vec<u8>> = sqlx::query_scalar(
                    "SELECT token_hash FROM email_verification_tokens WHERE patient_id = $1",
                )
                .bind(patient_id)
                .fetch_all(&self.db)
                .await
                .unwrap();
                inbox
                    .to(address)
                    .await
                    .into_iter()
                    .find(|m| {
                        m.token().is_some_and(|t| {
                            stored.contains(&Sha256::digest(t.as_bytes()).to_vec())
                        })
                    })
                    .map(|m| (m, stored.len()))
            },
        )
        .await
    }
}
