//! The command line: hand-rolled parsing (no clap, to keep the binary small) and the local
//! administration commands (`chattu user ...`), which open the data directory directly.
//!
//! ```text
//! chattu                      same as `chattu serve`
//! chattu serve [--config P] [--listen ADDR] [--data-dir D] [--sandbox]
//! chattu sim [--listen ADDR] [--seed TEXT]
//! chattu user add NAME [--role admin|user] [--password-stdin]
//! chattu user list | passwd NAME [--password-stdin] | delete NAME | set-plan NAME MAX_CLIENTS
//! chattu version
//! ```

use crate::config::Config;
use crate::services::{secrets, App, Role};
use std::io::{BufRead, Write};
use std::path::PathBuf;

/// Options every command that opens the data directory accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommonOptions {
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Serve {
        common: CommonOptions,
        listen: Option<String>,
        /// Talk to an in-process simulator instead of WhatsApp (docs/sandbox.md).
        sandbox: bool,
    },
    /// Run the WhatsApp simulator alone (docs/simulator.md).
    Sim {
        listen: String,
        /// Derive the simulator's keys from this text, so its root stays the same across restarts.
        seed: Option<String>,
        /// Serve over TLS (wss://, https://) with a self-signed certificate made at start.
        tls: bool,
        /// Write that certificate (PEM) to this file (implies `tls`).
        tls_cert: Option<String>,
    },
    UserAdd {
        common: CommonOptions,
        name: String,
        role: Role,
        password_stdin: bool,
    },
    UserList {
        common: CommonOptions,
    },
    UserPasswd {
        common: CommonOptions,
        name: String,
        password_stdin: bool,
    },
    UserDelete {
        common: CommonOptions,
        name: String,
    },
    UserSetPlan {
        common: CommonOptions,
        name: String,
        max_clients: u32,
    },
    Version,
}

/// Why parsing stopped: help was asked for (print to stdout, exit 0) or the arguments are wrong
/// (print to stderr, exit 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseOutcome {
    Help(String),
    Usage(String),
}

const MAIN_USAGE: &str = "\
Usage: chattu [COMMAND]

Commands:
  serve      Run the HTTP API, dashboard and WhatsApp sessions (the default)
  sim        Run the WhatsApp simulator alone, for tests and trials without a phone
  user       Manage accounts in the data directory (stop the server first)
  version    Print the version

Run `chattu COMMAND --help` for a command's options.
";

const SERVE_USAGE: &str = "\
Usage: chattu serve [--config PATH] [--listen ADDR] [--data-dir DIR] [--sandbox]

Options:
  --config PATH    Configuration file (default: $CHATTU_CONFIG, ./config/chattu.toml,
                   /etc/chattu/chattu.toml, else built-in defaults)
  --listen ADDR    Address to listen on, e.g. 127.0.0.1:8080 (overrides [server] listen)
  --data-dir DIR   Data directory (overrides [storage] data_dir)
  --sandbox        Sandbox mode: every WhatsApp client talks to a simulator started inside
                   Chattu (no phone, no real WhatsApp traffic); its control API is served
                   under /sim/ (see docs/sandbox.md). Simulated state is lost on restart.
";

/// Where `chattu sim` listens unless told otherwise.
pub const SIM_DEFAULT_LISTEN: &str = "127.0.0.1:8091";

const SIM_USAGE: &str = "\
Usage: chattu sim [--listen ADDR] [--seed TEXT] [--tls] [--tls-cert FILE]

Runs the WhatsApp simulator: the protocol's WebSocket endpoint at /ws/chat and the control API
under /sim/ (simulated phones: create, scan a QR, type a pairing code, unlink; see
docs/simulator.md). Prints its address and the root public key clients must trust; point Chattu
at it with [whatsapp] url = \"ws://ADDR/ws/chat\" and root_public_key = \"<that key>\".

Options:
  --listen ADDR    Address to listen on (default 127.0.0.1:8091; port 0 picks a free one)
  --seed TEXT      Derive the simulator's keys from TEXT: the same seed gives the same root
                   public key, so a configured root_public_key keeps working after a restart
                   (default: fresh random keys on every start)
  --tls            Serve wss:// and https:// with a self-signed certificate made at start (printed
                   as PEM); Chattu trusts it with [whatsapp] tls_certificate = \"<PEM file>\"
  --tls-cert FILE  Also write that certificate to FILE (implies --tls)
";

const USER_USAGE: &str = "\
Usage: chattu user SUBCOMMAND [--config PATH] [--data-dir DIR]

Subcommands:
  add NAME [--role admin|user] [--password-stdin]
                          Create an account; prints its API key alone on stdout. Without
                          --password-stdin a password is generated and printed to stderr.
  list                    List accounts
  passwd NAME [--password-stdin]
                          Set a password (generated and printed to stderr without --password-stdin)
  delete NAME             Delete an account with its clients and their history
  set-plan NAME MAX_CLIENTS
                          Set how many WhatsApp clients the account may have

The server must not be running: the database file is opened exclusively.
";

const VERSION_USAGE: &str = "Usage: chattu version\n";

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, ParseOutcome> {
    let mut words: Vec<&str> = args.iter().map(String::as_str).collect();
    if words.is_empty() {
        return Ok(Command::Serve {
            common: CommonOptions::default(),
            listen: None,
            sandbox: false,
        });
    }
    let command = words.remove(0);
    match command {
        "serve" => parse_serve(&words),
        "sim" => parse_sim(&words),
        "user" => parse_user(&words),
        "version" | "--version" | "-V" => {
            if words.iter().any(|w| is_help(w)) {
                return Err(ParseOutcome::Help(VERSION_USAGE.into()));
            }
            if let Some(extra) = words.first() {
                return Err(usage(
                    VERSION_USAGE,
                    &format!("unexpected argument {extra:?}"),
                ));
            }
            Ok(Command::Version)
        }
        "help" | "--help" | "-h" => Err(ParseOutcome::Help(MAIN_USAGE.into())),
        other if other.starts_with('-') => {
            // `chattu --listen X` means `chattu serve --listen X`.
            let mut all = vec![other];
            all.extend(words);
            parse_serve(&all)
        }
        other => Err(usage(MAIN_USAGE, &format!("unknown command {other:?}"))),
    }
}

fn is_help(word: &str) -> bool {
    word == "--help" || word == "-h"
}

fn usage(text: &str, problem: &str) -> ParseOutcome {
    ParseOutcome::Usage(format!("chattu: {problem}\n\n{text}"))
}

/// Splits flags from positional words. `flags` lists the flags that take a value; `switches`
/// those that do not. Accepts `--flag value` and `--flag=value`.
struct Parsed<'a> {
    values: Vec<(&'static str, &'a str)>,
    switches: Vec<&'static str>,
    positional: Vec<&'a str>,
}

fn split_args<'a>(
    words: &[&'a str],
    flags: &[&'static str],
    switches: &[&'static str],
    text: &str,
) -> Result<Parsed<'a>, ParseOutcome> {
    let mut parsed = Parsed {
        values: Vec::new(),
        switches: Vec::new(),
        positional: Vec::new(),
    };
    let mut i = 0;
    while i < words.len() {
        let word = words[i];
        i += 1;
        if is_help(word) {
            return Err(ParseOutcome::Help(text.into()));
        }
        if !word.starts_with("--") {
            parsed.positional.push(word);
            continue;
        }
        let (name, inline) = match word.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (word, None),
        };
        if let Some(flag) = flags.iter().find(|f| **f == name) {
            let value = match inline {
                Some(v) => v,
                None => {
                    let v = words
                        .get(i)
                        .ok_or_else(|| usage(text, &format!("{name} needs a value")))?;
                    i += 1;
                    v
                }
            };
            if parsed.values.iter().any(|(f, _)| f == flag) {
                return Err(usage(text, &format!("{name} given twice")));
            }
            parsed.values.push((flag, value));
        } else if let Some(switch) = switches.iter().find(|s| **s == name && inline.is_none()) {
            parsed.switches.push(switch);
        } else {
            return Err(usage(text, &format!("unknown option {word:?}")));
        }
    }
    Ok(parsed)
}

impl Parsed<'_> {
    fn value(&self, flag: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(f, _)| *f == flag)
            .map(|(_, v)| *v)
    }

    fn common(&self) -> CommonOptions {
        CommonOptions {
            config: self.value("--config").map(PathBuf::from),
            data_dir: self.value("--data-dir").map(PathBuf::from),
        }
    }
}

fn parse_serve(words: &[&str]) -> Result<Command, ParseOutcome> {
    let parsed = split_args(
        words,
        &["--config", "--listen", "--data-dir"],
        &["--sandbox"],
        SERVE_USAGE,
    )?;
    if let Some(extra) = parsed.positional.first() {
        return Err(usage(
            SERVE_USAGE,
            &format!("unexpected argument {extra:?}"),
        ));
    }
    Ok(Command::Serve {
        common: parsed.common(),
        listen: parsed.value("--listen").map(String::from),
        sandbox: parsed.switches.contains(&"--sandbox"),
    })
}

fn parse_sim(words: &[&str]) -> Result<Command, ParseOutcome> {
    let parsed = split_args(
        words,
        &["--listen", "--seed", "--tls-cert"],
        &["--tls"],
        SIM_USAGE,
    )?;
    if let Some(extra) = parsed.positional.first() {
        return Err(usage(SIM_USAGE, &format!("unexpected argument {extra:?}")));
    }
    let listen = parsed.value("--listen").unwrap_or(SIM_DEFAULT_LISTEN);
    if listen.parse::<std::net::SocketAddr>().is_err() {
        return Err(usage(
            SIM_USAGE,
            &format!("--listen {listen:?} is not an IP:port address"),
        ));
    }
    let seed = parsed.value("--seed").map(String::from);
    if seed.as_deref() == Some("") {
        return Err(usage(SIM_USAGE, "--seed must not be empty"));
    }
    let tls_cert = parsed.value("--tls-cert").map(String::from);
    if tls_cert.as_deref() == Some("") {
        return Err(usage(SIM_USAGE, "--tls-cert needs a file name"));
    }
    Ok(Command::Sim {
        listen: listen.to_string(),
        seed,
        tls: parsed.switches.contains(&"--tls") || tls_cert.is_some(),
        tls_cert,
    })
}

fn parse_user(words: &[&str]) -> Result<Command, ParseOutcome> {
    let parsed = split_args(
        words,
        &["--config", "--data-dir", "--role"],
        &["--password-stdin"],
        USER_USAGE,
    )?;
    let common = parsed.common();
    let stdin = parsed.switches.contains(&"--password-stdin");
    let role = parsed.value("--role");
    let mut positional = parsed.positional.iter().copied();
    let Some(sub) = positional.next() else {
        return Err(usage(USER_USAGE, "missing subcommand"));
    };
    let rest: Vec<&str> = positional.collect();
    let only_for = |allowed: bool, flag: &str| -> Result<(), ParseOutcome> {
        if allowed {
            Ok(())
        } else {
            Err(usage(
                USER_USAGE,
                &format!("{flag} does not apply to `user {sub}`"),
            ))
        }
    };
    only_for(role.is_none() || sub == "add", "--role")?;
    only_for(
        !stdin || sub == "add" || sub == "passwd",
        "--password-stdin",
    )?;
    let name = |rest: &[&str], count: usize| -> Result<String, ParseOutcome> {
        if rest.len() != count {
            return Err(usage(
                USER_USAGE,
                &format!("`user {sub}` takes {count} argument(s)"),
            ));
        }
        Ok(rest.first().map(|s| s.to_string()).unwrap_or_default())
    };
    match sub {
        "add" => {
            let role = match role {
                None => Role::User,
                Some(text) => Role::parse(text).ok_or_else(|| {
                    usage(
                        USER_USAGE,
                        &format!("--role must be admin or user, not {text:?}"),
                    )
                })?,
            };
            Ok(Command::UserAdd {
                common,
                name: name(&rest, 1)?,
                role,
                password_stdin: stdin,
            })
        }
        "list" => {
            name(&rest, 0)?;
            Ok(Command::UserList { common })
        }
        "passwd" => Ok(Command::UserPasswd {
            common,
            name: name(&rest, 1)?,
            password_stdin: stdin,
        }),
        "delete" => Ok(Command::UserDelete {
            common,
            name: name(&rest, 1)?,
        }),
        "set-plan" => {
            if rest.len() != 2 {
                return Err(usage(
                    USER_USAGE,
                    "`user set-plan` takes NAME and MAX_CLIENTS",
                ));
            }
            let max_clients = rest[1].parse::<u32>().map_err(|_| {
                usage(
                    USER_USAGE,
                    &format!("MAX_CLIENTS must be a number, not {:?}", rest[1]),
                )
            })?;
            Ok(Command::UserSetPlan {
                common,
                name: rest[0].to_string(),
                max_clients,
            })
        }
        other => Err(usage(USER_USAGE, &format!("unknown subcommand {other:?}"))),
    }
}

/// Loads the configuration and applies the command-line overrides (which win over everything).
pub fn load_config(common: &CommonOptions, listen: Option<&str>) -> Result<Config, String> {
    let mut config = Config::load(common.config.as_deref()).map_err(|e| e.to_string())?;
    if let Some(dir) = &common.data_dir {
        config.storage.data_dir = dir.clone();
    }
    if let Some(listen) = listen {
        config.server.listen = listen.to_string();
    }
    config.validate()?;
    Ok(config)
}

/// Runs a `user ...` command. Returns the message for stderr on failure.
pub fn run_user_command(
    command: Command,
    stdin: &mut dyn BufRead,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), String> {
    let common = match &command {
        Command::UserAdd { common, .. }
        | Command::UserList { common }
        | Command::UserPasswd { common, .. }
        | Command::UserDelete { common, .. }
        | Command::UserSetPlan { common, .. } => common.clone(),
        Command::Serve { .. } | Command::Sim { .. } | Command::Version => {
            return Err("not a user command".into())
        }
    };
    let config = load_config(&common, None)?;
    let app = App::open(config).map_err(describe)?;
    let accounts = &app.accounts;
    let write_err = |e: std::io::Error| e.to_string();
    match command {
        Command::UserAdd {
            name,
            role,
            password_stdin,
            ..
        } => {
            let (password, generated) = password_from(password_stdin, stdin)?;
            let (_, api_key) = accounts
                .create_user_local(&name, role, &password)
                .map_err(describe)?;
            if generated {
                writeln!(stderr, "password for {name}: {password}").map_err(write_err)?;
            }
            writeln!(stdout, "{api_key}").map_err(write_err)?;
        }
        Command::UserList { .. } => {
            writeln!(
                stdout,
                "{:<24} {:<6} {:<9} {:>7} {:>11}  created",
                "username", "role", "status", "clients", "max_clients"
            )
            .map_err(write_err)?;
            for u in accounts.list_users_local().map_err(describe)? {
                let status = if u.disabled { "disabled" } else { "active" };
                writeln!(
                    stdout,
                    "{:<24} {:<6} {:<9} {:>7} {:>11}  {}",
                    u.username,
                    u.role.as_str(),
                    status,
                    u.client_count,
                    u.max_clients,
                    u.created_at
                )
                .map_err(write_err)?;
            }
        }
        Command::UserPasswd {
            name,
            password_stdin,
            ..
        } => {
            let (password, generated) = password_from(password_stdin, stdin)?;
            accounts
                .set_password_local(&name, &password)
                .map_err(describe)?;
            if generated {
                writeln!(stderr, "password for {name}: {password}").map_err(write_err)?;
            }
        }
        Command::UserDelete { name, .. } => accounts.delete_user_local(&name).map_err(describe)?,
        Command::UserSetPlan {
            name, max_clients, ..
        } => {
            accounts
                .set_plan_local(&name, max_clients)
                .map_err(describe)?;
        }
        Command::Serve { .. } | Command::Sim { .. } | Command::Version => {}
    }
    Ok(())
}

/// The password from the first line of stdin, or a generated one (second value: generated).
fn password_from(from_stdin: bool, stdin: &mut dyn BufRead) -> Result<(String, bool), String> {
    if !from_stdin {
        return Ok((secrets::new_password().map_err(describe)?, true));
    }
    let mut line = String::new();
    stdin
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        return Err("no password on stdin".into());
    }
    Ok((password, false))
}

/// A service error in words for the terminal (Internal's detail included: this is the operator).
fn describe(e: crate::services::Error) -> String {
    match e {
        crate::services::Error::Internal(detail) => detail,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
