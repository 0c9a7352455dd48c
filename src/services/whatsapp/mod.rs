//! The WhatsApp side of the service layer: one engine per client ([`EngineManager`]) and, in
//! sandbox mode, the in-process simulator every engine talks to ([`Sandbox`]).
//!
//! [`App::open`](super::App::open) is synchronous and runs before the async runtime exists, so the
//! [`WhatsApp`] slot in the App starts empty; `chattu serve` fills it once the runtime runs
//! ([`start`]). Code that finds the slot empty (in-process HTTP tests, CLI commands) behaves as if
//! no engine were configured: clients are stored, nothing connects.

pub mod manager;
pub mod sandbox;
pub mod senders;
pub mod status;

pub use manager::{EngineManager, ManagerError};
pub use sandbox::Sandbox;
pub use senders::EngineSenders;
pub use status::account_number;

use super::App;
use crate::config::WhatsappConfig;
use crate::engine::EngineConfig;
use crate::protocol::noise::TrustedRoot;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The engines and the sandbox of a running server (empty until [`start`]).
#[derive(Default)]
pub struct WhatsApp {
    manager: OnceLock<Arc<EngineManager>>,
    sandbox: OnceLock<Arc<Sandbox>>,
}

impl WhatsApp {
    /// The engine manager, once `chattu serve` started it.
    pub fn manager(&self) -> Option<&Arc<EngineManager>> {
        self.manager.get()
    }

    /// The in-process simulator when serving with `--sandbox`.
    pub fn sandbox(&self) -> Option<&Arc<Sandbox>> {
        self.sandbox.get()
    }

    pub fn is_sandbox(&self) -> bool {
        self.sandbox.get().is_some()
    }
}

/// The engine settings `[whatsapp]` asks for: its URL and root (WhatsApp's by default).
pub fn engine_config(config: &WhatsappConfig) -> Result<EngineConfig, String> {
    let mut engine = match config.root_key()? {
        None if config.url == crate::engine::WHATSAPP_URL => EngineConfig::whatsapp(),
        None => EngineConfig::simulator(config.url.clone(), TrustedRoot::whatsapp()),
        Some(key) => EngineConfig::simulator(config.url.clone(), TrustedRoot::xeddsa(key)),
    };
    engine.backoff_max = Duration::from_secs(config.reconnect_max_secs.max(1));
    let pem_file = config.tls_certificate.trim();
    if !pem_file.is_empty() {
        let pem = std::fs::read_to_string(pem_file)
            .map_err(|e| format!("[whatsapp] tls_certificate {pem_file}: {e}"))?;
        let der = crate::simulator::tls::certificate_der_from_pem(&pem).ok_or_else(|| {
            format!("[whatsapp] tls_certificate {pem_file}: no PEM certificate in it")
        })?;
        engine.tls_certificate = Some(der);
    }
    Ok(engine)
}

/// Starts the WhatsApp side of a server on the current tokio runtime: with `sandbox`, a simulator
/// on an ephemeral loopback port that every engine is pointed at (trusting only its root);
/// otherwise the `[whatsapp]` settings. Then one engine per stored client. Call once.
pub async fn start(app: &Arc<App>, sandbox: bool) -> Result<Arc<EngineManager>, String> {
    let mut engine = engine_config(&app.config.whatsapp)?;
    if sandbox {
        let sim = Sandbox::start()
            .await
            .map_err(|e| format!("cannot start the sandbox simulator: {e}"))?;
        sim.restrict_phone_fetches(crate::services::media_fetch::FetchPolicy::from_config(
            &app.config.media,
        ));
        let backoff_max = engine.backoff_max;
        engine = EngineConfig::simulator(sim.ws_url(), sim.trusted_root());
        engine.backoff_max = backoff_max;
        log::warn!(
            "SANDBOX MODE: every WhatsApp client talks to the built-in simulator at {} (no real \
             WhatsApp traffic); its control API is served under /sim/",
            sim.ws_url()
        );
        if app.whatsapp.sandbox.set(Arc::new(sim)).is_err() {
            return Err("the sandbox was already started".into());
        }
    } else {
        log::info!("WhatsApp engines connect to {}", engine.url);
    }
    engine.media_max_bytes = app.config.media.max_received_bytes;
    let manager = Arc::new(EngineManager::new(app, engine));
    if app.whatsapp.manager.set(manager.clone()).is_err() {
        return Err("the engines were already started".into());
    }
    manager.start_all().await;
    Ok(manager)
}

/// Stops every engine (credentials kept) and the sandbox simulator; for a graceful shutdown.
pub async fn stop(app: &App) {
    if let Some(manager) = app.whatsapp.manager() {
        manager.stop_all().await;
    }
    if let Some(sandbox) = app.whatsapp.sandbox() {
        sandbox.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_the_real_whatsapp_with_its_root() {
        let config = WhatsappConfig::default();
        let engine = engine_config(&config).unwrap();
        assert_eq!(engine.url, "wss://web.whatsapp.com/ws/chat");
        assert_eq!(engine.trusted_root, TrustedRoot::whatsapp());
    }

    #[test]
    fn a_simulator_url_with_its_root_key() {
        let config = WhatsappConfig {
            url: "ws://127.0.0.1:9/ws/chat".into(),
            root_public_key: "ab".repeat(32),
            ..WhatsappConfig::default()
        };
        let engine = engine_config(&config).unwrap();
        assert_eq!(engine.url, "ws://127.0.0.1:9/ws/chat");
        assert_eq!(engine.trusted_root, TrustedRoot::xeddsa([0xab; 32]));
        let bad = WhatsappConfig {
            root_public_key: "xyz".into(),
            ..WhatsappConfig::default()
        };
        assert!(engine_config(&bad).is_err());
    }

    #[test]
    fn a_tls_simulator_certificate_is_read_from_its_pem_file() {
        let tls = crate::simulator::tls::SimTls::generate(None).unwrap();
        let path = std::env::temp_dir().join(format!("chattu-sim-cert-{}.pem", std::process::id()));
        std::fs::write(&path, tls.certificate_pem()).unwrap();
        let config = WhatsappConfig {
            url: "wss://127.0.0.1:9/ws/chat".into(),
            tls_certificate: path.display().to_string(),
            ..WhatsappConfig::default()
        };
        let engine = engine_config(&config);
        let _ = std::fs::remove_file(&path);
        assert_eq!(
            engine.unwrap().tls_certificate.as_deref(),
            Some(tls.certificate_der())
        );
        assert_eq!(
            engine_config(&WhatsappConfig::default())
                .unwrap()
                .tls_certificate,
            None
        );
        let missing = WhatsappConfig {
            tls_certificate: path.display().to_string(),
            ..WhatsappConfig::default()
        };
        assert!(engine_config(&missing)
            .unwrap_err()
            .contains("tls_certificate"));
    }
}
