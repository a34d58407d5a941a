//! The binary's command line: configuration errors and `token`.

use std::process::Command;

fn stampede(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stampede"));
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("the binary runs")
}

#[test]
fn a_bad_setting_stops_with_exit_2_and_one_line_naming_the_key() {
    for (key, value, named) in [
        ("STAMPEDE__HTTP__PORT", "eighty", "http.port"),
        ("STAMPEDE__KAFKA__PARTITIONS", "0", "kafka.partitions"),
        ("STAMPEDE__AUTH__JWT_SECRET", "short", "auth.jwt_secret"),
        ("STAMPEDE__DATABASE__URL", "postgres://x", "database.url"),
        ("STAMPEDE__LOG__FORMAT", "xml", "log.format"),
    ] {
        let output = stampede(&["migrate"], &[(key, value)]);
        assert_eq!(output.status.code(), Some(2), "{key}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.contains("configuration error") && stderr.contains(named),
            "{stderr}"
        );
    }
}

#[test]
fn token_prints_a_jwt_for_the_user_and_role() {
    let output = stampede(&["token", "--user", "42", "--admin"], &[]);
    assert!(output.status.success());
    let token = String::from_utf8(output.stdout).unwrap();
    let parts: Vec<&str> = token.trim().split('.').collect();
    assert_eq!(parts.len(), 3);
    let payload = decode_base64url(parts[1]);
    let claims: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(claims["sub"], "42");
    assert_eq!(claims["role"], "admin");
    assert!(!stampede(&["token", "--user", "0"], &[]).status.success());
}

/// Base64url without padding (the JWT encoding).
fn decode_base64url(text: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for byte in text.bytes() {
        let value = alphabet.iter().position(|&c| c == byte).expect("base64url") as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}

#[test]
fn serve_refuses_the_development_secret_outside_the_local_profile() {
    let output = stampede(
        &["serve"],
        &[
            ("STAMPEDE__PROFILE", "production"),
            ("STAMPEDE__LOG__LEVEL", "off"),
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("auth.jwt_secret is the committed development secret"),
        "{stderr}"
    );
    // `token` serves nobody: it still mints local tokens with it.
    let token = stampede(&["token", "--user", "7"], &[]);
    assert!(token.status.success());
}

#[test]
fn more_replicas_than_brokers_stops_serve_with_one_line() {
    let id = &uuid::Uuid::new_v4().simple().to_string()[..12];
    let prefix = format!("t{id}.");
    let database = format!("stampede_test_{id}");
    let output = stampede(
        &["serve"],
        &[
            ("STAMPEDE__PROFILE", "local"),
            // The dev broker is one node.
            ("STAMPEDE__KAFKA__REPLICATION_FACTOR", "3"),
            ("STAMPEDE__KAFKA__TOPIC_PREFIX", &prefix),
            ("STAMPEDE__DATABASE__NAME", &database),
            ("STAMPEDE__HTTP__PORT", "0"),
            ("STAMPEDE__LOG__LEVEL", "off"),
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("kafka.replication_factor is 3")
            && stderr.contains("1 broker")
            && stderr.contains("lower kafka.replication_factor"),
        "{stderr}"
    );
}
