//! `framechain keys new`, `framechain token` and `framechain policy test`
//! as a clinic's operator runs them: the files, their modes, a token that
//! `serve`'s own verifier takes, and the policy's exit status.

use std::os::unix::fs::PermissionsExt;
use std::time::{SystemTime, UNIX_EPOCH};

use framechain_serve::identity::tools;

use super::{assert_one_line_error, framechain, path_str, scratch, stderr};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn keys_new_then_token_gives_a_token_serve_takes_for_both_algorithms() {
    for alg in ["EdDSA", "ES256"] {
        let dir = scratch().join(format!("identity-keys-{alg}"));
        let _ = std::fs::remove_dir_all(&dir);
        let output = framechain(&["keys", "new", path_str(&dir), "--alg", alg]);
        assert!(output.status.success(), "{}", stderr(&output));
        let private = dir.join("private.pem");
        let mode = std::fs::metadata(&private).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "private.pem is for its owner only");
        assert!(
            std::fs::read_to_string(dir.join("public.pem"))
                .unwrap()
                .contains("BEGIN PUBLIC KEY")
        );
        let jwks: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("jwks.json")).unwrap()).unwrap();
        assert_eq!(jwks["keys"][0]["alg"], alg);
        assert!(
            jwks["keys"][0].get("d").is_none(),
            "no private part in the JWKS"
        );

        let output = framechain(&[
            "token",
            "--key",
            path_str(&private),
            "--sub",
            "p-1",
            "--role",
            "patient",
            "--room",
            "visit1",
            "--ttl",
            "120",
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        let token = stdout(&output).trim().to_owned();
        assert_eq!(token.split('.').count(), 3, "{token}");
        let verified = tools::verify_token(&dir.join("jwks.json"), "framechain", &token, now())
            .unwrap()
            .unwrap();
        assert_eq!(
            (verified.sub.as_str(), verified.role.as_str()),
            ("p-1", "patient")
        );
        assert_eq!(verified.room.as_deref(), Some("visit1"));
        assert!(verified.expires >= now() + 100 && verified.expires <= now() + 120);
        // Another audience's server, and the same token two minutes on.
        let other = tools::verify_token(&dir.join("jwks.json"), "other", &token, now()).unwrap();
        assert!(other.unwrap_err().contains("audience"));
        let later =
            tools::verify_token(&dir.join("jwks.json"), "framechain", &token, now() + 200).unwrap();
        assert!(later.unwrap_err().contains("expired"));
    }
}

#[test]
fn keys_new_never_overwrites_and_token_refuses_what_is_not_a_private_key() {
    let dir = scratch().join("identity-keys-twice");
    let _ = std::fs::remove_dir_all(&dir);
    let output = framechain(&["keys", "new", path_str(&dir)]);
    assert!(output.status.success(), "{}", stderr(&output));
    let before = std::fs::read(dir.join("private.pem")).unwrap();
    let output = framechain(&["keys", "new", path_str(&dir)]);
    assert_one_line_error(&output, "already exists");
    assert_eq!(std::fs::read(dir.join("private.pem")).unwrap(), before);

    let public = dir.join("public.pem");
    let output = framechain(&[
        "token",
        "--key",
        path_str(&public),
        "--sub",
        "p-1",
        "--role",
        "patient",
    ]);
    assert_one_line_error(&output, "not an unencrypted PKCS#8 private key");
    let output = framechain(&[
        "token",
        "--key",
        path_str(&dir.join("jwks.json")),
        "--sub",
        "p",
        "--role",
        "r",
    ]);
    assert_one_line_error(&output, "not a PEM file");
}

#[test]
fn policy_test_prints_the_decision_and_exits_1_on_deny() {
    let room = r#"{"id": "visit1", "patient": "p-1", "clinicians": ["d-1"]}"#;
    let allowed = format!(
        r#"{{"user": {{"id": "d-1", "role": "clinician", "room": null}}, "action": "watch",
            "resource": {{"room": {room}, "participant": "p-1"}}, "time": "2026-12-05T12:00:00Z"}}"#
    );
    let output = framechain(&["policy", "test", "--input", &allowed]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).starts_with("allow"), "{}", stdout(&output));

    // A patient watching another patient, from a file.
    let denied = scratch().join("identity-denied.json");
    std::fs::write(
        &denied,
        format!(
            r#"{{"user": {{"id": "p-1", "role": "patient", "room": "visit1"}}, "action": "watch",
                "resource": {{"room": {room}, "participant": "p-2"}}}}"#
        ),
    )
    .unwrap();
    let input = format!("@{}", path_str(&denied));
    let output = framechain(&["policy", "test", "--input", &input]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stdout(&output).starts_with("deny: the participant watched is not in this room"),
        "{}",
        stdout(&output)
    );
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));

    // The operator's own policy, and one that does not compile.
    let policy = scratch().join("identity-everyone.rego");
    std::fs::write(&policy, "package framechain\nallow := true\n").unwrap();
    let output = framechain(&[
        "policy",
        "test",
        "--policy",
        path_str(&policy),
        "--input",
        &input,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let broken = scratch().join("identity-broken.rego");
    std::fs::write(&broken, "package framechain\nallow if {\n").unwrap();
    let output = framechain(&[
        "policy",
        "test",
        "--policy",
        path_str(&broken),
        "--input",
        &input,
    ]);
    assert_one_line_error(&output, "identity-broken.rego: the policy does not compile");
    let output = framechain(&["policy", "test", "--input", "[1, 2"]);
    assert_one_line_error(&output, "the policy input is not a JSON object");
}
