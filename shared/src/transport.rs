//! Where the backing services are, and how the connections to them are
//! protected: Postgres over TLS (sqlx with rustls, `sslmode` and
//! `DATABASE_CA_CERT`), RabbitMQ over `amqps://` (lapin with rustls,
//! `AMQP_CA_CERT`) at one or several addresses.
//!
//! Names, dates of birth, addresses and password hashes cross these
//! connections, so in production a plaintext connection to a host that is
//! not this machine stops the service at start ([`PlaintextPolicy`]), unless
//! `ALLOW_PLAINTEXT_TRANSPORT=true` says the network itself is private.

use std::{fmt, net::IpAddr, path::PathBuf};

use lapin::uri::{AMQPScheme, AMQPUri};
use sqlx::postgres::{PgConnectOptions, PgSslMode};

use crate::config::{AppEnv, ConfigError, Vars};

/// Whether `host` is this machine: `localhost`, 127.0.0.0/8 or `::1`.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether plaintext connections to other hosts are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaintextPolicy {
    refuse: bool,
}

impl PlaintextPolicy {
    /// Refusing in production, unless `ALLOW_PLAINTEXT_TRANSPORT=true`.
    pub fn from_vars(vars: &Vars<'_>, app_env: AppEnv) -> Result<Self, ConfigError> {
        let allowed = vars.parse_or("ALLOW_PLAINTEXT_TRANSPORT", false)?;
        Ok(Self {
            refuse: app_env.is_production() && !allowed,
        })
    }

    /// Allows everything (tests of other parts).
    pub fn allow_all() -> Self {
        Self { refuse: false }
    }

    /// Refuses a connection named by `name` to `host` that would not be
    /// encrypted with a verified certificate; `how` says what would make it so.
    pub fn check(
        self,
        name: &'static str,
        host: &str,
        verified_tls: bool,
        how: &str,
    ) -> Result<(), ConfigError> {
        if !self.refuse || verified_tls || is_loopback(host) {
            return Ok(());
        }
        Err(ConfigError::new(
            name,
            format!(
                "would connect to {host} without verified TLS; {how}, or set \
                 ALLOW_PLAINTEXT_TRANSPORT=true if the network is private"
            ),
        ))
    }
}

/// A PEM file of CA certificates named by `name`, read once at start.
pub fn read_ca_pem(vars: &Vars<'_>, name: &'static str) -> Result<Option<CaCert>, ConfigError> {
    let Some(path) = vars.get(name) else {
        return Ok(None);
    };
    let path = PathBuf::from(path.trim());
    let pem = std::fs::read_to_string(&path)
        .map_err(|e| ConfigError::new(name, format!("cannot read {}: {e}", path.display())))?;
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(ConfigError::new(
            name,
            format!("{} holds no PEM certificate", path.display()),
        ));
    }
    Ok(Some(CaCert { path, pem }))
}

/// CA certificates (PEM) trusted beside the public roots.
#[derive(Clone)]
pub struct CaCert {
    pub path: PathBuf,
    pub pem: String,
}

impl fmt::Debug for CaCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaCert").field("path", &self.path).finish()
    }
}

/// A Postgres server and how to reach it. Its options hold the password:
/// `Debug` shows only the host and TLS mode.
#[derive(Clone)]
pub struct PgTarget {
    options: PgConnectOptions,
}

impl PgTarget {
    /// The URL in `name` (or `default`), with `ca` as its root certificate
    /// (and `sslmode=verify-full` when the URL names no mode), checked
    /// against `policy`.
    pub fn from_url(
        name: &'static str,
        url: &str,
        ca: Option<&CaCert>,
        policy: PlaintextPolicy,
    ) -> Result<Self, ConfigError> {
        if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
            return Err(ConfigError::new(name, "must start with postgres://"));
        }
        // sqlx's message may quote the URL (and its password): say only that it failed.
        let mut options: PgConnectOptions = url
            .parse()
            .map_err(|_| ConfigError::new(name, "is not a valid postgres:// URL"))?;
        if let Some(ca) = ca {
            options = options.ssl_root_cert_from_pem(ca.pem.clone().into_bytes());
            if !names_ssl_mode(url) {
                options = options.ssl_mode(PgSslMode::VerifyFull);
            }
        }
        // `require` checks no certificate and `verify-ca` no host name (any
        // certificate from a public CA would do): only `verify-full` stops a
        // man in the middle.
        let verified = matches!(options.get_ssl_mode(), PgSslMode::VerifyFull);
        if options.get_socket().is_none() {
            policy.check(
                name,
                options.get_host(),
                verified,
                "add sslmode=verify-full (with DATABASE_CA_CERT) to the URL",
            )?;
        }
        Ok(Self { options })
    }

    pub fn options(&self) -> &PgConnectOptions {
        &self.options
    }
}

/// Whether the URL's query sets the TLS mode (sqlx reads `sslmode` and
/// `ssl-mode`).
fn names_ssl_mode(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|url| {
        url.query_pairs()
            .any(|(key, _)| key == "sslmode" || key == "ssl-mode")
    })
}

impl fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgTarget")
            .field("host", &self.options.get_host())
            .field("port", &self.options.get_port())
            .field("database", &self.options.get_database())
            .field("ssl_mode", &self.options.get_ssl_mode())
            .finish()
    }
}

/// RabbitMQ: one node or the nodes of a cluster, tried in turn, and the CA
/// that `amqps://` addresses are verified with.
#[derive(Clone)]
pub struct AmqpTarget {
    /// Their `Debug` shows the password: never logged.
    pub(crate) nodes: Vec<AMQPUri>,
    pub(crate) ca: Option<CaCert>,
}

impl AmqpTarget {
    /// `AMQP_URL`: one URL, or several separated by commas (the nodes of a
    /// cluster).
    pub fn from_list(
        name: &'static str,
        list: &str,
        ca: Option<CaCert>,
        policy: PlaintextPolicy,
    ) -> Result<Self, ConfigError> {
        let mut nodes = Vec::new();
        for (i, raw) in list.split(',').map(str::trim).enumerate() {
            let which = i + 1;
            if !raw.starts_with("amqp://") && !raw.starts_with("amqps://") {
                return Err(ConfigError::new(
                    name,
                    format!("address {which} must start with amqp:// or amqps://"),
                ));
            }
            let uri: AMQPUri = raw.parse().map_err(|_| {
                ConfigError::new(name, format!("address {which} is not a valid AMQP URL"))
            })?;
            // The AMQP URL parser takes an IP v6 literal for no host at all
            // (then `localhost`): refused rather than connected elsewhere.
            let host = url::Url::parse(raw)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned));
            if host.as_deref() != Some(uri.authority.host.as_str()) {
                return Err(ConfigError::new(
                    name,
                    format!("address {which}: use a host name or an IPv4 address"),
                ));
            }
            policy.check(
                name,
                &uri.authority.host,
                uri.scheme == AMQPScheme::AMQPS,
                "use amqps:// (with AMQP_CA_CERT)",
            )?;
            nodes.push(uri);
        }
        Ok(Self { nodes, ca })
    }

    /// A target for one URL, as tests and tools hold it.
    pub fn single(url: &str) -> Result<Self, ConfigError> {
        Self::from_list("AMQP_URL", url, None, PlaintextPolicy::allow_all())
    }
}

impl fmt::Debug for AmqpTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|u| format!("{:?}://{}:{}", u.scheme, u.authority.host, u.authority.port))
            .collect();
        f.debug_struct("AmqpTarget")
            .field("nodes", &nodes)
            .field("ca", &self.ca.as_ref().map(|c| c.path.as_path()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const REFUSE: PlaintextPolicy = PlaintextPolicy { refuse: true };

    #[test]
    fn loopback_is_this_machine_only() {
        let cases = [
            ("localhost", true),
            ("LOCALHOST", true),
            ("127.0.0.1", true),
            ("127.9.8.7", true),
            ("::1", true),
            ("[::1]", true),
            ("/var/run/postgresql", false),
            ("10.0.0.5", false),
            ("db.internal", false),
            ("localhost.example.com", false),
            ("::ffff:10.0.0.1", false),
        ];
        for (host, want) in cases {
            assert_eq!(is_loopback(host), want, "{host}");
        }
    }

    #[test]
    fn production_refuses_plaintext_postgres_to_another_host() {
        let cases = [
            ("postgres://u:p@db.internal/x", false),
            ("postgres://u:p@db.internal/x?sslmode=prefer", false),
            ("postgres://u:p@db.internal/x?sslmode=disable", false),
            ("postgres://u:p@db.internal/x?sslmode=require", false),
            ("postgres://u:p@db.internal/x?sslmode=verify-ca", false),
            ("postgres://u:p@db.internal/x?sslmode=verify-full", true),
            ("postgres://u:p@db.internal/x?ssl-mode=verify-full", true),
            ("postgres://u:p@127.0.0.1/x", true),
            ("postgres://u:p@localhost/x?sslmode=disable", true),
            ("postgres://u:p@localhost/x?host=db.internal", false),
            (
                "postgres://u:p@db.internal/x?application_name=sslmode=verify-full",
                false,
            ),
            (
                "postgres://u:p@db.internal/x?host=/var/run/postgresql",
                true,
            ),
        ];
        for (url, ok) in cases {
            let got = PgTarget::from_url("DATABASE_URL", url, None, REFUSE);
            assert_eq!(got.is_ok(), ok, "{url}");
            if let Err(e) = got {
                assert_eq!(e.name, "DATABASE_URL");
                assert!(e.reason.contains("db.internal"), "{}", e.reason);
                assert!(!e.reason.contains("u:p"), "no password in {}", e.reason);
            }
        }
    }

    #[test]
    fn a_ca_without_a_mode_means_verify_full() {
        let ca = CaCert {
            path: "/ca.crt".into(),
            pem: "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n".into(),
        };
        let target = PgTarget::from_url(
            "DATABASE_URL",
            "postgres://u:p@db.internal/x",
            Some(&ca),
            REFUSE,
        );
        assert!(target.is_ok_and(|t| matches!(t.options().get_ssl_mode(), PgSslMode::VerifyFull)));
        let kept = PgTarget::from_url(
            "DATABASE_URL",
            "postgres://u:p@db.internal/x?sslmode=verify-ca",
            Some(&ca),
            PlaintextPolicy::allow_all(),
        );
        assert!(kept.is_ok_and(|t| matches!(t.options().get_ssl_mode(), PgSslMode::VerifyCa)));
    }

    #[test]
    fn production_refuses_plaintext_amqp_to_another_host() {
        let cases = [
            ("amqp://u:p@mq.internal:5672/%2f", false),
            ("amqps://u:p@mq.internal:5671/%2f", true),
            ("amqp://u:p@127.0.0.1:5672/%2f", true),
            (
                "amqps://u:p@mq-1:5671/%2f, amqps://u:p@mq-2:5671/%2f,amqp://u:p@mq-3:5672/%2f",
                false,
            ),
            (
                "amqps://u:p@mq-1:5671/%2f,amqps://u:p@mq-2:5671/%2f,amqps://u:p@mq-3:5671/%2f",
                true,
            ),
        ];
        for (list, ok) in cases {
            let got = AmqpTarget::from_list("AMQP_URL", list, None, REFUSE);
            assert_eq!(got.is_ok(), ok, "{list}");
            if let Err(e) = got {
                assert!(!e.reason.contains("u:p"), "no password in {}", e.reason);
            }
        }
        let cluster = AmqpTarget::from_list(
            "AMQP_URL",
            "amqp://a:b@127.0.0.1:5681/%2f,amqp://a:b@127.0.0.1:5682/v",
            None,
            REFUSE,
        );
        assert!(cluster.is_ok_and(|c| c.nodes.len() == 2 && c.nodes[1].vhost == "v"));
        let bad =
            AmqpTarget::from_list("AMQP_URL", "amqp://127.0.0.1:1/%2f,http://y", None, REFUSE);
        assert!(bad.is_err_and(|e| e.reason.contains("address 2")));
        let v6 = AmqpTarget::from_list("AMQP_URL", "amqps://u:p@[fd00::5]:5671/%2f", None, REFUSE);
        assert!(v6.is_err_and(|e| e.reason.contains("address 1")));
    }

    #[test]
    fn development_and_the_override_allow_plaintext() {
        let cases = [
            (vec![("APP_ENV", "production")], true),
            (
                vec![
                    ("APP_ENV", "production"),
                    ("ALLOW_PLAINTEXT_TRANSPORT", "true"),
                ],
                false,
            ),
            (vec![("APP_ENV", "development")], false),
            (vec![("APP_ENV", "test")], false),
        ];
        for (vars, refuse) in cases {
            let env: HashMap<&str, &str> = vars.iter().copied().collect();
            let vars = Vars(&env);
            let app_env = AppEnv::from_vars(&vars).expect("app env");
            let policy = PlaintextPolicy::from_vars(&vars, app_env).expect("policy");
            assert_eq!(policy, PlaintextPolicy { refuse }, "{env:?}");
        }
        let env = HashMap::from([("ALLOW_PLAINTEXT_TRANSPORT", "yes")]);
        assert!(PlaintextPolicy::from_vars(&Vars(&env), AppEnv::Production)
            .is_err_and(|e| e.name == "ALLOW_PLAINTEXT_TRANSPORT"));
    }
}
