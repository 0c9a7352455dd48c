use super::*;

fn args(text: &str) -> Vec<String> {
    text.split_whitespace().map(String::from).collect()
}

fn parse_str(text: &str) -> Result<Command, ParseOutcome> {
    parse(&args(text))
}

#[test]
fn no_arguments_means_serve() {
    assert_eq!(
        parse_str(""),
        Ok(Command::Serve {
            common: CommonOptions::default(),
            listen: None,
            sandbox: false
        })
    );
}

#[test]
fn serve_options() {
    let expected = Command::Serve {
        common: CommonOptions {
            config: Some("c.toml".into()),
            data_dir: Some("/d".into()),
        },
        listen: Some("127.0.0.1:0".into()),
        sandbox: false,
    };
    assert_eq!(
        parse_str("serve --config c.toml --listen 127.0.0.1:0 --data-dir /d"),
        Ok(expected.clone())
    );
    assert_eq!(
        parse_str("serve --config=c.toml --listen=127.0.0.1:0 --data-dir=/d"),
        Ok(expected)
    );
}

#[test]
fn serve_sandbox_and_sim() {
    assert_eq!(
        parse_str("serve --sandbox --listen 127.0.0.1:0"),
        Ok(Command::Serve {
            common: CommonOptions::default(),
            listen: Some("127.0.0.1:0".into()),
            sandbox: true
        })
    );
    assert_eq!(
        parse_str("sim"),
        Ok(Command::Sim {
            listen: SIM_DEFAULT_LISTEN.into(),
            seed: None,
            tls: false,
            tls_cert: None,
        })
    );
    assert_eq!(
        parse_str("sim --listen 127.0.0.1:0 --seed demo"),
        Ok(Command::Sim {
            listen: "127.0.0.1:0".into(),
            seed: Some("demo".into()),
            tls: false,
            tls_cert: None,
        })
    );
    assert_eq!(
        parse_str("sim --tls"),
        Ok(Command::Sim {
            listen: SIM_DEFAULT_LISTEN.into(),
            seed: None,
            tls: true,
            tls_cert: None,
        })
    );
    assert_eq!(
        parse_str("sim --tls-cert /tmp/sim.pem"),
        Ok(Command::Sim {
            listen: SIM_DEFAULT_LISTEN.into(),
            seed: None,
            tls: true,
            tls_cert: Some("/tmp/sim.pem".into()),
        })
    );
    assert!(matches!(parse_str("sim --help"), Err(ParseOutcome::Help(t)) if t.contains("/sim/")));
    assert!(matches!(
        parse_str("sim --listen nowhere"),
        Err(ParseOutcome::Usage(_))
    ));
    assert!(matches!(
        parse_str("sim extra"),
        Err(ParseOutcome::Usage(_))
    ));
    assert!(matches!(
        parse_str("serve --sandbox=yes"),
        Err(ParseOutcome::Usage(_))
    ));
}

#[test]
fn user_commands() {
    assert_eq!(
        parse_str("user add bob --role admin --password-stdin"),
        Ok(Command::UserAdd {
            common: CommonOptions::default(),
            name: "bob".into(),
            role: Role::Admin,
            password_stdin: true
        })
    );
    assert_eq!(
        parse_str("user add bob"),
        Ok(Command::UserAdd {
            common: CommonOptions::default(),
            name: "bob".into(),
            role: Role::User,
            password_stdin: false
        })
    );
    assert_eq!(
        parse_str("user list"),
        Ok(Command::UserList {
            common: CommonOptions::default()
        })
    );
    assert_eq!(
        parse_str("user passwd bob --password-stdin --data-dir x"),
        Ok(Command::UserPasswd {
            common: CommonOptions {
                config: None,
                data_dir: Some("x".into())
            },
            name: "bob".into(),
            password_stdin: true
        })
    );
    assert_eq!(
        parse_str("user delete bob"),
        Ok(Command::UserDelete {
            common: CommonOptions::default(),
            name: "bob".into()
        })
    );
    assert_eq!(
        parse_str("user set-plan bob 3"),
        Ok(Command::UserSetPlan {
            common: CommonOptions::default(),
            name: "bob".into(),
            max_clients: 3
        })
    );
    assert_eq!(parse_str("version"), Ok(Command::Version));
}

#[test]
fn help_for_every_command() {
    for text in [
        "--help",
        "help",
        "serve --help",
        "user --help",
        "user add --help",
        "user set-plan -h",
        "version --help",
    ] {
        assert!(
            matches!(parse_str(text), Err(ParseOutcome::Help(_))),
            "{text}"
        );
    }
}

#[test]
fn wrong_arguments_are_usage_errors() {
    for text in [
        "bogus",
        "serve --nope",
        "serve extra",
        "serve --listen",
        "serve --listen a --listen b",
        "user",
        "user frobnicate",
        "user add",
        "user add a b",
        "user add bob --role god",
        "user list extra",
        "user delete bob --role admin",
        "user list --password-stdin",
        "user set-plan bob",
        "user set-plan bob many",
        "version now",
    ] {
        match parse_str(text) {
            Err(ParseOutcome::Usage(message)) => {
                assert!(message.contains("Usage: chattu"), "{text}: {message}")
            }
            other => panic!("{text:?} gave {other:?}"),
        }
    }
}

#[test]
fn user_add_prints_only_the_key_and_the_password_to_stderr() {
    let dir = crate::store::test_dir::TempDir::new();
    let common = CommonOptions {
        config: None,
        data_dir: Some(dir.path().to_path_buf()),
    };
    // Cheap hashing for the test via the environment rule would touch the process env, so the
    // default parameters are used; one hash per command is fast enough.
    let run = |command: Command, stdin: &str| {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let result = run_user_command(command, &mut stdin.as_bytes(), &mut out, &mut err);
        (
            result,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    };
    let (result, out, err) = run(
        Command::UserAdd {
            common: common.clone(),
            name: "bob".into(),
            role: Role::User,
            password_stdin: false,
        },
        "",
    );
    assert_eq!(result, Ok(()));
    let key = out.trim_end();
    assert_eq!(out, format!("{key}\n"));
    assert!(secrets::looks_like_key(key), "{out:?}");
    let password = err
        .trim_end()
        .strip_prefix("password for bob: ")
        .unwrap()
        .to_string();

    let (result, out, err) = run(
        Command::UserAdd {
            common: common.clone(),
            name: "carol".into(),
            role: Role::Admin,
            password_stdin: true,
        },
        "carol-secret-1\nignored",
    );
    assert_eq!(result, Ok(()));
    assert!(err.is_empty(), "no generated password: {err}");
    assert!(secrets::looks_like_key(out.trim_end()));

    let (result, _, _) = run(
        Command::UserAdd {
            common: common.clone(),
            name: "bob".into(),
            role: Role::User,
            password_stdin: true,
        },
        "another-password\n",
    );
    assert!(result.unwrap_err().contains("already exists"));

    let (result, out, _) = run(
        Command::UserSetPlan {
            common: common.clone(),
            name: "bob".into(),
            max_clients: 9,
        },
        "",
    );
    assert_eq!(result, Ok(()));
    assert!(out.is_empty());
    let (_, list, _) = run(
        Command::UserList {
            common: common.clone(),
        },
        "",
    );
    let bob = list.lines().find(|l| l.starts_with("bob ")).unwrap();
    assert!(bob.contains(" user ") && bob.contains(" 9 "), "{bob}");
    assert!(
        list.lines().any(|l| l.starts_with("admin ")),
        "bootstrap admin exists: {list}"
    );

    let config = load_config(&common, None).unwrap();
    let app = App::open(config).unwrap();
    assert!(app.accounts.login("bob", &password).is_ok());
    assert!(app.accounts.login("carol", "carol-secret-1").is_ok());
    drop(app);

    let (result, _, _) = run(
        Command::UserDelete {
            common: common.clone(),
            name: "bob".into(),
        },
        "",
    );
    assert_eq!(result, Ok(()));
    let (result, _, _) = run(
        Command::UserDelete {
            common,
            name: "bob".into(),
        },
        "",
    );
    assert!(result.unwrap_err().contains("not found"));
}
