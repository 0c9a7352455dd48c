use super::*;
use crate::store::test_dir::TempDir;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn write(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn embedded_file_documents_exactly_the_typed_defaults() {
    let loaded = Config::load_with(None, &env(&[]), &[]).unwrap();
    assert_eq!(loaded, Config::default());
    assert_eq!(loaded.source, ConfigSource::Embedded);
    // Every key in the file has a comment line directly above it.
    let lines: Vec<&str> = DEFAULT_TOML.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.contains(" = ") && !line.starts_with('#') {
            assert!(
                i > 0 && lines[i - 1].starts_with('#'),
                "key without comment: {line}"
            );
        }
    }
}

#[test]
fn lookup_order_explicit_then_env_then_search_then_embedded() {
    let dir = TempDir::new();
    let explicit = write(&dir, "explicit.toml", "[log]\nlevel = \"debug\"\n");
    let from_env = write(&dir, "env.toml", "[log]\nlevel = \"warn\"\n");
    let searched = write(&dir, "searched.toml", "[log]\nlevel = \"error\"\n");
    let missing = dir.path().join("missing.toml");
    let search = vec![missing.clone(), searched.clone()];
    let with_env = env(&[("CHATTU_CONFIG", from_env.to_str().unwrap())]);

    let c = Config::load_with(Some(&explicit), &with_env, &search).unwrap();
    assert_eq!(
        (c.log.level.as_str(), c.source),
        ("debug", ConfigSource::File(explicit))
    );
    let c = Config::load_with(None, &with_env, &search).unwrap();
    assert_eq!(
        (c.log.level.as_str(), c.source),
        ("warn", ConfigSource::File(from_env))
    );
    let c = Config::load_with(None, &env(&[]), &search).unwrap();
    assert_eq!(
        (c.log.level.as_str(), c.source),
        ("error", ConfigSource::File(searched))
    );
    let c = Config::load_with(None, &env(&[]), std::slice::from_ref(&missing)).unwrap();
    assert_eq!(
        (c.log.level.as_str(), c.source),
        ("info", ConfigSource::Embedded)
    );
    // A file that was asked for by name must exist.
    assert!(matches!(
        Config::load_with(Some(&missing), &env(&[]), &[]),
        Err(ConfigError::Read { .. })
    ));
}

#[test]
fn file_keys_override_defaults_and_the_rest_stay_default() {
    let dir = TempDir::new();
    let path = write(&dir, "c.toml", "[rate_limits]\napi_per_15min = 7\n");
    let c = Config::load_with(Some(&path), &env(&[]), &[]).unwrap();
    assert_eq!(c.rate_limits.api_per_15min, 7);
    assert_eq!(c.rate_limits.sensitive_per_hour, 5);
    assert_eq!(c.server, ServerConfig::default());
}

#[test]
fn unknown_keys_sections_and_wrong_types_are_errors() {
    let dir = TempDir::new();
    for text in [
        "[server]\nlisten_addr = \"1.2.3.4:1\"\n",
        "[nope]\nx = 1\n",
        "[server]\nmax_body_bytes = \"big\"\n",
        "[server]\nlisten = \"not an address\"\n",
        "[log]\nlevel = \"loud\"\n",
        "[server]\ntrusted_proxies = [\"10.0.0.0/33\"]\n",
        "[server]\ntrusted_proxies = [\"proxy.local\"]\n",
    ] {
        let path = write(&dir, "bad.toml", text);
        let err = Config::load_with(Some(&path), &env(&[]), &[]).unwrap_err();
        assert!(
            matches!(err, ConfigError::Invalid { .. }),
            "{text:?} gave {err}"
        );
    }
}

#[test]
fn env_overrides_follow_the_section_key_rule() {
    let dir = TempDir::new();
    let path = write(&dir, "c.toml", "[rate_limits]\napi_per_15min = 7\n");
    let vars = env(&[
        ("CHATTU_RATE_LIMITS_API_PER_15MIN", "200"),
        ("CHATTU_NETWORK_ALLOW_PRIVATE_ADDRESSES", "true"),
        ("CHATTU_SERVER_TRUSTED_PROXIES", "10.0.0.1, fd00::/8"),
        ("CHATTU_LOG_LEVEL", "debug"),
        ("CHATTU_SERVER_LISTEN", "127.0.0.1:1"),
        ("CHATTU_LISTEN", "127.0.0.1:2"),
        ("CHATTU_DATA_DIR", "/tmp/x"),
        ("CHATTU_ADMIN_PASSWORD", "not a config key"),
    ]);
    let c = Config::load_with(Some(&path), &vars, &[]).unwrap();
    assert_eq!(c.rate_limits.api_per_15min, 200);
    assert!(c.network.allow_private_addresses);
    assert_eq!(c.server.trusted_proxies, vec!["10.0.0.1", "fd00::/8"]);
    assert_eq!(c.log.level, "debug");
    assert_eq!(c.server.listen, "127.0.0.1:2", "the short form wins");
    assert_eq!(c.storage.data_dir, PathBuf::from("/tmp/x"));
}

#[test]
fn env_values_of_the_wrong_type_name_the_variable() {
    for (var, value) in [
        ("CHATTU_RATE_LIMITS_API_PER_15MIN", "lots"),
        ("CHATTU_NETWORK_ALLOW_PRIVATE_ADDRESSES", "maybe"),
    ] {
        match Config::load_with(None, &env(&[(var, value)]), &[]) {
            Err(ConfigError::Env { var: named, .. }) => assert_eq!(named, var),
            other => panic!("{var}={value} gave {other:?}"),
        }
    }
}
