//! Where the shared servers are: Postgres, RabbitMQ (AMQP and its
//! management API) and the SMTP sink, all on loopback as `scripts/services
//! up` starts them. Each caller reads its own variables: the tests
//! `TEST_*` (exported by `scripts/test`), the bench `BENCH_*` (by
//! `bench/run`).

use std::path::PathBuf;

use sqlx::postgres::PgConnectOptions;

use crate::{Error, Result};

/// The shared servers a sandbox is made on.
#[derive(Debug, Clone)]
pub struct Servers {
    /// Postgres admin URL: each sandbox's database is made under it.
    pub admin_database_url: String,
    /// RabbitMQ without a vhost: each sandbox's vhost is appended. Its
    /// user is the one the management API is called as and given the vhost.
    /// A cluster's nodes are separated by commas.
    pub amqp_url: String,
    /// RabbitMQ's management API (HTTP or HTTPS), which adds and deletes
    /// vhosts; a cluster's nodes' APIs separated by commas, tried in turn.
    pub rabbitmq_api: String,
    /// The CA that the servers' certificates chain to (TLS servers only):
    /// trusted by the kit and given to the services as `DATABASE_CA_CERT`
    /// and `AMQP_CA_CERT`.
    pub ca_cert: Option<PathBuf>,
    pub smtp_host: String,
    pub smtp_port: String,
    /// MailDev's web root (its REST API is under `/api`).
    pub maildev_url: String,
}

impl Servers {
    /// The servers named by `<prefix>_DATABASE_URL`, `<prefix>_AMQP_URL`,
    /// `<prefix>_RABBITMQ_API`, `<prefix>_SMTP_HOST`, `<prefix>_SMTP_PORT`
    /// and `<prefix>_MAILDEV_URL` (e.g. `TEST` or `BENCH`); an unset or
    /// blank one means the `scripts/services` default. The management API
    /// defaults to `RABBITMQ_MANAGEMENT_PORT` (15672), as that script does.
    pub fn from_env(prefix: &str) -> Self {
        let var = |name: &str, default: &str| {
            std::env::var(format!("{prefix}_{name}"))
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        let management_port = std::env::var("RABBITMQ_MANAGEMENT_PORT")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| "15672".to_owned());
        Self {
            admin_database_url: var(
                "DATABASE_URL",
                "postgres://postgres:postgres@127.0.0.1:5432/postgres",
            ),
            amqp_url: var("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672")
                .trim_end_matches('/')
                .to_owned(),
            rabbitmq_api: var(
                "RABBITMQ_API",
                &format!("http://127.0.0.1:{management_port}"),
            )
            .trim_end_matches('/')
            .to_owned(),
            smtp_host: var("SMTP_HOST", "127.0.0.1"),
            smtp_port: var("SMTP_PORT", "1025"),
            maildev_url: var("MAILDEV_URL", "http://127.0.0.1:1080")
                .trim_end_matches('/')
                .to_owned(),
            ca_cert: std::env::var(format!("{prefix}_CA_CERT"))
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(PathBuf::from),
        }
    }

    /// Connection options for `url` on these servers, trusting their CA.
    pub fn pg_options(&self, url: &str) -> Result<PgConnectOptions> {
        let options: PgConnectOptions = url.parse().map_err(|source| Error::Postgres {
            what: "parsing a database URL".into(),
            source,
        })?;
        Ok(match &self.ca_cert {
            Some(ca) => options.ssl_root_cert(ca),
            None => options,
        })
    }

    /// The AMQP URL (each node's, comma-separated) of vhost `name`.
    pub fn amqp_url_of(&self, vhost: &str) -> String {
        self.amqp_url
            .split(',')
            .map(|node| format!("{}/{vhost}", node.trim().trim_end_matches('/')))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The SMTP sink as `host:port`.
    pub fn smtp_addr(&self) -> String {
        format!("{}:{}", self.smtp_host, self.smtp_port)
    }

    /// The AMQP URL's user and password (`guest`/`guest` when it has none).
    pub(crate) fn amqp_credentials(&self) -> (String, String) {
        let first = self.amqp_url.split(',').next().unwrap_or_default();
        let parsed = reqwest::Url::parse(first.trim()).ok();
        let user = parsed
            .as_ref()
            .map(|u| u.username().to_owned())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "guest".to_owned());
        let password = parsed
            .as_ref()
            .and_then(|u| u.password().map(str::to_owned))
            .unwrap_or_else(|| "guest".to_owned());
        (user, password)
    }

    /// The admin URL with its database name replaced by `name` (its
    /// query, such as `sslmode`, kept).
    pub fn database_url(&self, name: &str) -> String {
        let (url, query) = match self.admin_database_url.split_once('?') {
            Some((url, query)) => (url, format!("?{query}")),
            None => (self.admin_database_url.as_str(), String::new()),
        };
        let base = url.rsplit_once('/').map_or(url, |(base, _)| base);
        format!("{base}/{name}{query}")
    }
}

#[cfg(test)]
mod tests {
    use super::Servers;

    fn servers(amqp_url: &str) -> Servers {
        Servers {
            admin_database_url: "postgres://u:p@127.0.0.1:5432/postgres".into(),
            amqp_url: amqp_url.into(),
            rabbitmq_api: "http://127.0.0.1:15672".into(),
            smtp_host: "127.0.0.1".into(),
            smtp_port: "1025".into(),
            maildev_url: "http://127.0.0.1:1080".into(),
            ca_cert: None,
        }
    }

    #[test]
    fn the_management_api_is_called_as_the_amqp_user() {
        let with = servers("amqp://bob:secret@127.0.0.1:5672");
        assert_eq!(with.amqp_credentials(), ("bob".into(), "secret".into()));
        let without = servers("amqp://127.0.0.1:5672");
        assert_eq!(without.amqp_credentials(), ("guest".into(), "guest".into()));
    }

    #[test]
    fn a_sandbox_database_sits_beside_the_admin_one() {
        let mut tls = servers("amqp://127.0.0.1");
        assert_eq!(
            tls.database_url("e2e_1"),
            "postgres://u:p@127.0.0.1:5432/e2e_1"
        );
        tls.admin_database_url =
            "postgres://u:p@127.0.0.1:5433/postgres?sslmode=verify-full".into();
        assert_eq!(
            tls.database_url("e2e_1"),
            "postgres://u:p@127.0.0.1:5433/e2e_1?sslmode=verify-full"
        );
    }

    #[test]
    fn a_sandbox_vhost_is_on_every_node() {
        let cluster = servers("amqp://g:g@127.0.0.1:5681, amqp://g:g@127.0.0.1:5682/");
        assert_eq!(
            cluster.amqp_url_of("e2e_1"),
            "amqp://g:g@127.0.0.1:5681/e2e_1,amqp://g:g@127.0.0.1:5682/e2e_1"
        );
        assert_eq!(cluster.amqp_credentials(), ("g".into(), "g".into()));
    }
}
