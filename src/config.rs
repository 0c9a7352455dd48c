//! Typed configuration: built-in defaults (config/chattu.toml, embedded in the binary), an optional
//! file, then environment overrides. See config/chattu.toml for every key and the lookup order.

mod toml_subset;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The documented defaults; also the file users copy and edit.
pub const DEFAULT_TOML: &str = include_str!("../config/chattu.toml");

/// Candidate files tried after `--config` and `$CHATTU_CONFIG`, in order.
pub const SEARCH_PATHS: [&str; 2] = ["config/chattu.toml", "/etc/chattu/chattu.toml"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub log: LogConfig,
    pub rate_limits: RateLimitsConfig,
    pub network: NetworkConfig,
    pub accounts: AccountsConfig,
    pub scheduler: SchedulerConfig,
    pub whatsapp: WhatsappConfig,
    pub webhooks: WebhooksConfig,
    pub media: MediaConfig,
    /// Where this configuration came from (not a key; for the start-up log line).
    #[serde(skip)]
    pub source: ConfigSource,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerConfig::default(),
            storage: StorageConfig::default(),
            log: LogConfig::default(),
            rate_limits: RateLimitsConfig::default(),
            network: NetworkConfig::default(),
            accounts: AccountsConfig::default(),
            scheduler: SchedulerConfig::default(),
            whatsapp: WhatsappConfig::default(),
            webhooks: WebhooksConfig::default(),
            media: MediaConfig::default(),
            source: ConfigSource::Embedded,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ConfigSource {
    #[default]
    Embedded,
    File(PathBuf),
}

impl std::fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigSource::Embedded => f.write_str("built-in defaults"),
            ConfigSource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: String,
    pub trusted_proxies: Vec<String>,
    pub max_body_bytes: u64,
    pub header_timeout_secs: u64,
    pub idle_timeout_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "0.0.0.0:8080".into(),
            trusted_proxies: Vec::new(),
            max_body_bytes: 1_048_576,
            header_timeout_secs: 10,
            idle_timeout_secs: 60,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    pub retention_days: u32,
    pub max_history_rows: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("data"),
            retention_days: 30,
            max_history_rows: 10_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub level: String,
    pub recent_lines: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            recent_lines: 500,
        }
    }
}

impl LogConfig {
    pub fn level_filter(&self) -> log::LevelFilter {
        self.level.parse().unwrap_or(log::LevelFilter::Info)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitsConfig {
    pub sensitive_per_hour: u32,
    pub deletes_per_15min: u32,
    pub api_per_15min: u32,
    pub chat_per_minute: u32,
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        RateLimitsConfig {
            sensitive_per_hour: 5,
            deletes_per_15min: 10,
            api_per_15min: 100,
            chat_per_minute: 60,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    pub allow_private_addresses: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsConfig {
    pub default_max_clients: u32,
    pub session_ttl_hours: u64,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        AccountsConfig {
            default_max_clients: 5,
            session_ttl_hours: 168,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerConfig {
    pub tick_secs: u64,
    pub missed_after_secs: u64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            tick_secs: 5,
            missed_after_secs: 3_600,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WhatsappConfig {
    /// The WebSocket endpoint engines connect to (WhatsApp's, or a simulator's `ws://…/ws/chat`).
    pub url: String,
    /// Hex Curve25519 key of the certificate root the server must chain to; empty = WhatsApp's.
    pub root_public_key: String,
    pub reconnect_max_secs: u64,
    pub group_delay_min_ms: u64,
    pub group_delay_max_ms: u64,
    /// Decline incoming calls at once (and send the `call_rejected` webhook); default true.
    pub auto_reject_calls: bool,
    /// PEM file of the one TLS certificate a `wss://` simulator must present (`chattu sim --tls`
    /// writes it); empty = the public web roots, as for WhatsApp.
    pub tls_certificate: String,
}

impl WhatsappConfig {
    /// `root_public_key` as bytes; None when empty (WhatsApp's own root applies).
    pub fn root_key(&self) -> Result<Option<[u8; 32]>, String> {
        let hex = self.root_public_key.trim();
        if hex.is_empty() {
            return Ok(None);
        }
        let bad = || "[whatsapp] root_public_key must be 64 hex digits (32 bytes)".to_string();
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(bad());
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            let pair = hex.get(i * 2..i * 2 + 2).ok_or_else(bad)?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
        Ok(Some(key))
    }
}

impl Default for WhatsappConfig {
    fn default() -> Self {
        WhatsappConfig {
            url: crate::engine::WHATSAPP_URL.to_string(),
            root_public_key: String::new(),
            reconnect_max_secs: 300,
            group_delay_min_ms: 2_000,
            group_delay_max_ms: 5_000,
            auto_reject_calls: true,
            tls_certificate: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    pub timeout_secs: u64,
    pub call_timeout_secs: u64,
    /// Failed attempts after which an event is dead-lettered even inside the retry window;
    /// 0 = no limit (only the window applies).
    pub max_attempts: u32,
    /// How long after it was queued an event is retried before it becomes a dead letter.
    pub retry_window_secs: u64,
    /// Wait after the first failure; it doubles after each further failure...
    pub backoff_initial_secs: u64,
    /// ...up to this.
    pub backoff_max_secs: u64,
    /// Clients delivered to at the same time (one blocking thread each).
    pub max_parallel_clients: u32,
    /// Whether the delivery worker runs at all. Tests that set public webhook URLs turn it off so
    /// no request ever leaves the machine.
    pub deliver: bool,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            timeout_secs: 5,
            call_timeout_secs: 3,
            max_attempts: 0,
            retry_window_secs: 86_400,
            backoff_initial_secs: 10,
            backoff_max_secs: 3_600,
            max_parallel_clients: 8,
            deliver: true,
        }
    }
}

/// Media the API fetches by URL (`mediaUrl`): see `services::media_fetch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// Fetch from loopback, private, link-local and other non-public addresses too.
    pub allow_private_addresses: bool,
    /// Non-public IP addresses that may be fetched from even when the rest are refused.
    pub allowed_private_ips: Vec<String>,
    /// Largest file fetched, in bytes.
    pub max_bytes: u64,
    /// Seconds one fetch may take in all (every redirect and the whole body).
    pub timeout_secs: u64,
    /// Redirects followed before giving up.
    pub max_redirects: u32,
    /// Largest received WhatsApp file downloaded and kept, in bytes.
    pub max_received_bytes: u64,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            allow_private_addresses: false,
            allowed_private_ips: Vec::new(),
            max_bytes: 16 * 1024 * 1024,
            timeout_secs: 30,
            max_redirects: 3,
            max_received_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug)]
pub enum ConfigError {
    /// A named file (by --config or $CHATTU_CONFIG) could not be read.
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The file is not in the supported TOML subset.
    Parse { source: String, error: String },
    /// A key is unknown or has the wrong type.
    Invalid { source: String, message: String },
    /// An environment override has a value of the wrong type.
    Env { var: String, message: String },
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::Read { path, error } => {
                write!(f, "cannot read config file {}: {error}", path.display())
            }
            ConfigError::Parse { source, error } => write!(f, "{source}: {error}"),
            ConfigError::Invalid { source, message } => write!(f, "{source}: {message}"),
            ConfigError::Env { var, message } => write!(f, "environment variable {var}: {message}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Loads the configuration with the process environment and the standard search paths.
    pub fn load(explicit_path: Option<&Path>) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        let search: Vec<PathBuf> = SEARCH_PATHS.iter().map(PathBuf::from).collect();
        Config::load_with(explicit_path, &env, &search)
    }

    /// Loads with an explicit environment and search list, so tests need not touch the process.
    pub fn load_with(
        explicit_path: Option<&Path>,
        env: &HashMap<String, String>,
        search: &[PathBuf],
    ) -> Result<Config, ConfigError> {
        let defaults = toml_subset::parse(DEFAULT_TOML).map_err(|e| ConfigError::Parse {
            source: "built-in config".into(),
            error: e.to_string(),
        })?;
        let named = explicit_path.map(Path::to_path_buf).or_else(|| {
            env.get("CHATTU_CONFIG")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
        });
        let file = match named {
            Some(path) => Some(path),
            None => search.iter().find(|p| p.is_file()).cloned(),
        };
        let mut tree = defaults.clone();
        let mut source = ConfigSource::Embedded;
        if let Some(path) = file {
            let text = std::fs::read_to_string(&path).map_err(|error| ConfigError::Read {
                path: path.clone(),
                error,
            })?;
            let label = path.display().to_string();
            let overlay = toml_subset::parse(&text).map_err(|e| ConfigError::Parse {
                source: label.clone(),
                error: e.to_string(),
            })?;
            merge(&mut tree, &overlay).map_err(|message| ConfigError::Invalid {
                source: label,
                message,
            })?;
            source = ConfigSource::File(path);
        }
        apply_env(&mut tree, &defaults, env)?;
        let label = source.to_string();
        let mut config: Config =
            serde_json::from_value(tree).map_err(|e| ConfigError::Invalid {
                source: label.clone(),
                message: e.to_string(),
            })?;
        config.source = source;
        config.validate().map_err(|message| ConfigError::Invalid {
            source: label,
            message,
        })?;
        Ok(config)
    }

    /// Checks values serde cannot: addresses parse, levels exist, limits are usable.
    pub fn validate(&self) -> Result<(), String> {
        self.server.listen.parse::<SocketAddr>().map_err(|_| {
            format!(
                "[server] listen {:?} is not an IP:port address",
                self.server.listen
            )
        })?;
        for proxy in &self.server.trusted_proxies {
            if !is_ip_or_cidr(proxy) {
                return Err(format!(
                    "[server] trusted_proxies: {proxy:?} is not an IP address or CIDR range"
                ));
            }
        }
        if self.log.level.parse::<log::LevelFilter>().is_err() {
            return Err(format!(
                "[log] level {:?} is not off/error/warn/info/debug/trace",
                self.log.level
            ));
        }
        if self.storage.retention_days == 0 || self.storage.max_history_rows == 0 {
            return Err("[storage] retention_days and max_history_rows must be at least 1".into());
        }
        if self.storage.data_dir.as_os_str().is_empty() {
            return Err("[storage] data_dir must not be empty".into());
        }
        if self.accounts.argon2_memory_kib < 1024 || self.accounts.argon2_iterations == 0 {
            return Err(
                "[accounts] argon2_memory_kib must be >= 1024 and argon2_iterations >= 1".into(),
            );
        }
        let hooks = &self.webhooks;
        if hooks.retry_window_secs == 0
            || hooks.backoff_initial_secs == 0
            || hooks.backoff_max_secs < hooks.backoff_initial_secs
            || hooks.max_parallel_clients == 0
        {
            return Err(
                "[webhooks] retry_window_secs, backoff_initial_secs and max_parallel_clients \
                 must be at least 1, and backoff_max_secs at least backoff_initial_secs"
                    .into(),
            );
        }
        if self.whatsapp.group_delay_min_ms > self.whatsapp.group_delay_max_ms {
            return Err("[whatsapp] group_delay_min_ms must not exceed group_delay_max_ms".into());
        }
        if !(self.whatsapp.url.starts_with("wss://") || self.whatsapp.url.starts_with("ws://")) {
            return Err("[whatsapp] url must start with wss:// or ws://".into());
        }
        self.whatsapp.root_key()?;
        if let Some(bad) = (self.media.allowed_private_ips.iter())
            .find(|ip| ip.parse::<std::net::IpAddr>().is_err())
        {
            return Err(format!(
                "[media] allowed_private_ips: {bad:?} is not an IP address"
            ));
        }
        if self.media.max_bytes == 0
            || self.media.timeout_secs == 0
            || self.media.max_received_bytes == 0
        {
            return Err("[media] max_bytes and timeout_secs must be at least 1".into());
        }
        Ok(())
    }
}

/// `192.0.2.1`, `10.0.0.0/8`, `::1` or `fd00::/8`.
fn is_ip_or_cidr(text: &str) -> bool {
    let (ip, prefix) = match text.split_once('/') {
        Some((ip, prefix)) => (ip, Some(prefix)),
        None => (text, None),
    };
    let Ok(ip) = ip.parse::<std::net::IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    match prefix {
        None => true,
        Some(p) => p.parse::<u8>().is_ok_and(|p| p <= max),
    }
}

/// Overlays a parsed file on the defaults; only known sections and keys are accepted.
fn merge(tree: &mut Value, overlay: &Value) -> Result<(), String> {
    let (Value::Object(base), Value::Object(top)) = (tree, overlay) else {
        return Err("configuration must be a table".into());
    };
    for (section, values) in top {
        let Some(Value::Object(base_section)) = base.get_mut(section) else {
            return Err(format!("unknown section or top-level key {section:?}"));
        };
        let Value::Object(values) = values else {
            return Err(format!("{section:?} must be a [section]"));
        };
        for (key, value) in values {
            if !base_section.contains_key(key) {
                return Err(format!("unknown key {key:?} in [{section}]"));
            }
            base_section.insert(key.clone(), value.clone());
        }
    }
    Ok(())
}

/// Applies CHATTU_LISTEN, CHATTU_DATA_DIR and CHATTU_<SECTION>_<KEY>, typed like the default value.
fn apply_env(
    tree: &mut Value,
    defaults: &Value,
    env: &HashMap<String, String>,
) -> Result<(), ConfigError> {
    let Value::Object(default_sections) = defaults else {
        return Ok(());
    };
    let mut targets: Vec<(String, String, String)> = Vec::new();
    for (section, keys) in default_sections {
        let Value::Object(keys) = keys else { continue };
        for key in keys.keys() {
            let var = format!("CHATTU_{}_{}", section.to_uppercase(), key.to_uppercase());
            targets.push((var, section.clone(), key.clone()));
        }
    }
    targets.push(("CHATTU_LISTEN".into(), "server".into(), "listen".into()));
    targets.push((
        "CHATTU_DATA_DIR".into(),
        "storage".into(),
        "data_dir".into(),
    ));
    // The short forms are applied last, so they win over their long spellings.
    for (var, section, key) in targets {
        let Some(raw) = env.get(&var) else { continue };
        let template = &defaults[&section][&key];
        let value = typed_env_value(raw, template).map_err(|message| ConfigError::Env {
            var: var.clone(),
            message,
        })?;
        if let Some(Value::Object(map)) = tree.get_mut(&section) {
            map.insert(key, value);
        }
    }
    Ok(())
}

fn typed_env_value(raw: &str, template: &Value) -> Result<Value, String> {
    let raw = raw.trim();
    match template {
        Value::Bool(_) => match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Value::Bool(true)),
            "false" | "0" | "no" | "off" => Ok(Value::Bool(false)),
            _ => Err(format!("{raw:?} is not a boolean (true/false)")),
        },
        Value::Number(n) if n.is_i64() || n.is_u64() => raw
            .replace('_', "")
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("{raw:?} is not an integer")),
        Value::Number(_) => raw
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| format!("{raw:?} is not a number")),
        Value::Array(_) => Ok(Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_string()))
                .collect(),
        )),
        _ => Ok(Value::String(raw.to_string())),
    }
}

/// The defaults as a JSON tree (used by tests and by `chattu` to show effective settings).
pub fn defaults_tree() -> Value {
    toml_subset::parse(DEFAULT_TOML).unwrap_or(Value::Object(Map::new()))
}

#[cfg(test)]
mod tests;
