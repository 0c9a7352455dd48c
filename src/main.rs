//! `chattu`: the appliance binary. Parsing and local administration live in [`chattu::cli`];
//! this file starts the runtime and the server.

use chattu::cli::{self, Command, ParseOutcome};
use chattu::services::{app_log, scheduler, webhooks, whatsapp, App};
use chattu::simulator::{ServerIdentity, Simulator};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// How often retention pruning runs while serving.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(3600);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match cli::parse(&args) {
        Err(ParseOutcome::Help(text)) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(ParseOutcome::Usage(text)) => {
            eprint!("{text}");
            ExitCode::from(2)
        }
        Ok(Command::Version) => {
            println!("chattu {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(Command::Serve {
            common,
            listen,
            sandbox,
        }) => {
            let outcome = serve(&common, listen.as_deref(), sandbox);
            // Info lines are written by a background thread in batches: write what is pending.
            log::logger().flush();
            match outcome {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("chattu: {message}");
                    ExitCode::FAILURE
                }
            }
        }
        Ok(Command::Sim {
            listen,
            seed,
            tls,
            tls_cert,
        }) => match simulator(&listen, seed.as_deref(), tls, tls_cert.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("chattu: {message}");
                ExitCode::FAILURE
            }
        },
        Ok(command) => {
            // Warnings (such as the generated admin password on a new data directory) reach the terminal.
            app_log::init(log::LevelFilter::Warn, 16);
            let stdin = std::io::stdin();
            // stderr is not held locked: the log's collector thread writes there too, and a
            // warning logged meanwhile waits for it (holding the lock here hung `user add`).
            let result = cli::run_user_command(
                command,
                &mut stdin.lock(),
                &mut std::io::stdout().lock(),
                &mut std::io::stderr(),
            );
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("chattu: {message}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn serve(common: &cli::CommonOptions, listen: Option<&str>, sandbox: bool) -> Result<(), String> {
    let config = cli::load_config(common, listen)?;
    app_log::init(config.log.level_filter(), config.log.recent_lines);
    log::info!(
        "chattu {} starting; configuration from {}",
        env!("CARGO_PKG_VERSION"),
        config.source
    );
    log::info!("data directory {}", config.storage.data_dir.display());
    let app = App::open(config).map_err(|e| match e {
        chattu::services::Error::Internal(detail) => detail,
        other => other.to_string(),
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(64)
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async move {
        tokio::spawn(maintenance(app.clone()));
        // Engines (and the sandbox simulator) first, so the API works from its first request.
        whatsapp::start(&app, sandbox).await?;
        // Scheduled messages and the replies webhook answers ask for go out through the engines.
        let senders = Arc::new(whatsapp::EngineSenders::new(&app));
        let schedules = scheduler::start(&app, senders.clone());
        // Delivers queued webhook events (client_status from the engines, …).
        let deliveries = app
            .config
            .webhooks
            .deliver
            .then(|| webhooks::start_worker(&app, senders));
        let served = chattu::http::serve(app.clone()).await;
        // Senders first, while the engines can still finish what they are sending.
        schedules.shutdown().await;
        if let Some(deliveries) = deliveries {
            deliveries.shutdown().await;
        }
        whatsapp::stop(&app).await;
        served.map_err(|e| e.to_string())
    })
}

/// `chattu sim`: a standalone simulator until SIGTERM/SIGINT. Prints where it listens and the
/// root public key a client must trust.
fn simulator(
    listen: &str,
    seed: Option<&str>,
    tls: bool,
    tls_cert: Option<&str>,
) -> Result<(), String> {
    app_log::init(log::LevelFilter::Info, 16);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let identity = match seed {
            // The seed text is hashed to the 32 bytes the keys are derived from.
            Some(text) => {
                let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
                let bytes = <[u8; 32]>::try_from(digest.as_ref())
                    .map_err(|_| "SHA-256 gave an unexpected length".to_string())?;
                ServerIdentity::from_seed(&bytes)
            }
            None => ServerIdentity::generate(),
        };
        let simulator = Simulator::new(identity);
        let served = if tls {
            simulator.serve_tls(listener)
        } else {
            simulator.serve(listener)
        };
        let handle = served.map_err(|e| format!("cannot start the simulator: {e}"))?;
        let root: String = handle
            .trusted_root()
            .public
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        println!("listening on {}", handle.addr);
        println!("root public key {root}");
        println!(
            "WebSocket {}; control API {}/sim/; point Chattu at it with [whatsapp] url = \"{}\" and root_public_key = \"{root}\"",
            handle.ws_url(),
            handle.http_base(),
            handle.ws_url()
        );
        if let Some(pem) = handle.tls_certificate_pem() {
            if let Some(path) = tls_cert {
                std::fs::write(path, &pem)
                    .map_err(|e| format!("cannot write the certificate to {path}: {e}"))?;
                println!("TLS certificate written to {path}");
            }
            print!("TLS certificate (self-signed, trust it with [whatsapp] tls_certificate):\n{pem}");
        }
        chattu::http::shutdown_signal().await;
        handle.shutdown().await;
        Ok(())
    })
}

/// Applies retention at start and then every hour.
async fn maintenance(app: Arc<App>) {
    loop {
        let worker = app.clone();
        match tokio::task::spawn_blocking(move || worker.run_maintenance()).await {
            Ok(Ok(report)) if report != Default::default() => {
                log::info!("retention pruned {report:?}")
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => log::error!("retention pruning failed: {e:?}"),
            Err(e) => log::error!("retention pruning stopped: {e}"),
        }
        tokio::time::sleep(MAINTENANCE_EVERY).await;
    }
}
