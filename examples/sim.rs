//! Runs the WhatsApp simulator alone, for poking at it with third-party clients such as the Baileys
//! interop driver (`tests/baileys/interop.mjs`):
//!
//! ```sh
//! cargo run --example sim -- 127.0.0.1:0
//! ```
//!
//! prints `ws <url>` and `control <url>` once listening, then serves until interrupted.

use chattu::simulator::Simulator;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_string());
    let listener = TcpListener::bind(&addr).await?;
    let sim = Simulator::start(listener)?;
    println!("ws {}", sim.ws_url());
    println!("control {}", sim.http_base());
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}
