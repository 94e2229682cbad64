//! What `admin` reads from its environment, once, before any command runs:
//! the services' common settings and the webhook rules intake-api applies
//! (`WEBHOOK_MAX_ENDPOINTS`, `WEBHOOK_SECRET_GRACE`, https only in production).

use shared::{
    config::{CommonConfig, ConfigError, Vars},
    webhook_endpoints,
};

pub struct AdminConfig {
    pub common: CommonConfig,
    pub webhooks: webhook_endpoints::Settings,
}

impl AdminConfig {
    pub fn from_vars(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_vars(vars)?;
        let webhooks = webhook_endpoints::Settings::from_vars(vars, common.app_env)?;
        Ok(Self { common, webhooks })
    }
}
