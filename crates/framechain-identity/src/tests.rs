//! The identity module's tests: real tokens signed by the code path of
//! `framechain token` (`tools::make_token`, `keys::SigningKey::sign`),
//! forged ones built by hand, and the default policy on the documented
//! input.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::jwt::MAX_TOKEN_BYTES;
use super::keys::SigningKey;
use super::tools::{self, KeyKind, TokenRequest};
use super::{Claims, IdentityError, Policy, TokenRefused, Verifier};

/// The tests' clock, Unix seconds.
const NOW: u64 = 1_800_000_000;

/// A fresh folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("framechain-identity-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A key pair made as `framechain keys new` makes it.
struct Fixture {
    dir: PathBuf,
    key: SigningKey,
    kid: String,
}

impl Fixture {
    fn new(name: &str, kind: KeyKind) -> Fixture {
        let dir = scratch(name);
        let files = tools::new_keys(&dir.join("keys"), kind).unwrap();
        let key = SigningKey::read_pem(&files.private).unwrap();
        Fixture {
            dir,
            key,
            kid: files.kid,
        }
    }

    fn jwks(&self) -> PathBuf {
        self.dir.join("keys/jwks.json")
    }

    fn verifier(&self) -> Verifier {
        Verifier::load(&self.jwks(), "framechain").unwrap()
    }

    /// `claims` signed by this key, naming its kid.
    fn sign(&self, claims: &Value) -> String {
        self.key.sign(claims, &self.kid).unwrap()
    }
}

/// Claims a participant's token has.
fn good_claims() -> Value {
    json!({"sub": "p-1", "role": "patient", "room": "visit1", "aud": "framechain",
           "iat": NOW, "nbf": NOW, "exp": NOW + 600})
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().unwrap().remove(key);
    claims
}

fn verify(verifier: &Verifier, token: &str) -> Result<Claims, TokenRefused> {
    verifier.verify(Some(format!("Bearer {token}").as_bytes()), NOW)
}

/// The refusal of `token`, checked to be one line that quotes no part of
/// the token.
fn refused(verifier: &Verifier, token: &str) -> TokenRefused {
    let refusal = verify(verifier, token).expect_err("the token is refused");
    let line = refusal.to_string();
    assert_eq!(line.lines().count(), 1, "{line}");
    for part in token.split('.').filter(|part| part.len() >= 4) {
        assert!(!line.contains(part), "the refusal quotes the token: {line}");
    }
    refusal
}

/// A token from hand-made parts: `header` and `claims` as JSON, the
/// signature as given.
fn hand_made(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

#[test]
fn a_token_made_as_framechain_token_makes_it_verifies_for_both_key_kinds() {
    for kind in [KeyKind::Ed25519, KeyKind::P256] {
        let fixture = Fixture::new(&format!("roundtrip-{kind:?}"), kind);
        let token = tools::make_token(&TokenRequest {
            key: fixture.dir.join("keys/private.pem"),
            sub: "d-1".into(),
            role: "clinician".into(),
            room: Some("visit1".into()),
            ttl_s: 300,
            audience: "framechain".into(),
            kid: None,
            now_unix: NOW,
        })
        .unwrap();
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], kind.algorithm_name());
        assert_eq!(header["kid"], fixture.kid.as_str());
        let claims = verify(&fixture.verifier(), &token).unwrap();
        assert_eq!(
            claims,
            Claims {
                sub: "d-1".into(),
                role: "clinician".into(),
                room: Some("visit1".into()),
                expires: NOW + 300,
            }
        );
    }
}

#[test]
fn a_forged_signature_is_refused() {
    let fixture = Fixture::new("forged", KeyKind::Ed25519);
    let verifier = fixture.verifier();
    let token = fixture.sign(&good_claims());
    // The claims changed after signing: another patient's id.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = URL_SAFE_NO_PAD.encode(with(good_claims(), "sub", json!("p-2")).to_string());
    assert_eq!(
        refused(&verifier, &parts.join(".")),
        TokenRefused::BadSignature
    );
    // One bit of the signature flipped.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut signature = URL_SAFE_NO_PAD.decode(&parts[2]).unwrap();
    signature[7] ^= 1;
    parts[2] = URL_SAFE_NO_PAD.encode(signature);
    assert_eq!(
        refused(&verifier, &parts.join(".")),
        TokenRefused::BadSignature
    );
    // Signed by another key that claims this key's id.
    let other = Fixture::new("forged-other", KeyKind::Ed25519);
    let forged = other.key.sign(&good_claims(), &fixture.kid).unwrap();
    assert_eq!(refused(&verifier, &forged), TokenRefused::BadSignature);
    // And the genuine token still verifies.
    assert!(verify(&verifier, &token).is_ok());
}

#[test]
fn an_unsigned_token_alg_none_is_refused() {
    let fixture = Fixture::new("none", KeyKind::Ed25519);
    let verifier = fixture.verifier();
    for alg in ["none", "None", "NONE"] {
        let token = hand_made(
            &json!({"alg": alg, "typ": "JWT", "kid": fixture.kid}),
            &good_claims(),
            b"",
        );
        assert_eq!(refused(&verifier, &token), TokenRefused::Unsigned, "{alg}");
        let token = hand_made(&json!({"alg": alg}), &good_claims(), b"");
        assert_eq!(refused(&verifier, &token), TokenRefused::Unsigned, "{alg}");
    }
}

#[test]
fn hs256_signed_with_the_public_key_as_its_secret_is_refused() {
    let fixture = Fixture::new("hs256", KeyKind::Ed25519);
    let verifier = fixture.verifier();
    let jwks: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.jwks()).unwrap()).unwrap();
    let public_pem = std::fs::read(fixture.dir.join("keys/public.pem")).unwrap();
    let raw_x = URL_SAFE_NO_PAD
        .decode(jwks["keys"][0]["x"].as_str().unwrap())
        .unwrap();
    let jwk_text = jwks["keys"][0].to_string();
    for secret in [public_pem.as_slice(), raw_x.as_slice(), jwk_text.as_bytes()] {
        for algorithm in [
            jsonwebtoken::Algorithm::HS256,
            jsonwebtoken::Algorithm::HS384,
            jsonwebtoken::Algorithm::HS512,
        ] {
            let mut header = jsonwebtoken::Header::new(algorithm);
            header.kid = Some(fixture.kid.clone());
            let token = jsonwebtoken::encode(
                &header,
                &good_claims(),
                &jsonwebtoken::EncodingKey::from_secret(secret),
            )
            .unwrap();
            assert_eq!(refused(&verifier, &token), TokenRefused::Symmetric);
        }
    }
}

#[test]
fn an_algorithm_that_is_not_the_keys_is_refused() {
    let ed = Fixture::new("mismatch-ed", KeyKind::Ed25519);
    let p256 = Fixture::new("mismatch-p256", KeyKind::P256);
    // Signed with ES256 by a P-256 key, naming the Ed25519 key's kid.
    let token = p256.key.sign(&good_claims(), &ed.kid).unwrap();
    assert_eq!(
        refused(&ed.verifier(), &token),
        TokenRefused::AlgorithmMismatch
    );
    // An EdDSA header over the Ed25519 key with an ES256 signature's bytes.
    let es_token = p256.sign(&good_claims());
    let signature = URL_SAFE_NO_PAD
        .decode(es_token.split('.').nth(2).unwrap())
        .unwrap();
    let token = hand_made(
        &json!({"alg": "ES256", "kid": ed.kid}),
        &good_claims(),
        &signature,
    );
    assert_eq!(
        refused(&ed.verifier(), &token),
        TokenRefused::AlgorithmMismatch
    );
    // Algorithms not taken at all; the last two have a character across
    // their second byte, where the check for HS* once cut the text (a
    // panic the `ticket` fuzz target found).
    for alg in ["RS1", "ES512", "EdDSA25519", "", "H\u{303}56", "x\u{e9}"] {
        let token = hand_made(&json!({"alg": alg, "kid": ed.kid}), &good_claims(), b"x");
        assert_eq!(
            refused(&ed.verifier(), &token),
            TokenRefused::AlgorithmMismatch,
            "{alg}"
        );
    }
}

#[test]
fn a_token_naming_an_unknown_key_or_no_key_among_several_is_refused() {
    let fixture = Fixture::new("kid", KeyKind::Ed25519);
    let other = Fixture::new("kid-other", KeyKind::P256);
    let verifier = fixture.verifier();
    let token = fixture.key.sign(&good_claims(), "not-a-kid").unwrap();
    assert_eq!(refused(&verifier, &token), TokenRefused::UnknownKid);
    // Without a kid, the one key of the set is the key.
    let unnamed = {
        let encoding = jsonwebtoken::EncodingKey::from_ed_pem(
            &std::fs::read(fixture.dir.join("keys/private.pem")).unwrap(),
        )
        .unwrap();
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
            &good_claims(),
            &encoding,
        )
        .unwrap()
    };
    assert!(verify(&verifier, &unnamed).is_ok());
    // With two keys in the set, a token must say which.
    let both = fixture.dir.join("both.json");
    let mut keys = Vec::new();
    for jwks in [fixture.jwks(), other.jwks()] {
        let set: Value = serde_json::from_str(&std::fs::read_to_string(jwks).unwrap()).unwrap();
        keys.push(set["keys"][0].clone());
    }
    std::fs::write(&both, json!({"keys": keys}).to_string()).unwrap();
    let verifier = Verifier::load(&both, "framechain").unwrap();
    assert_eq!(refused(&verifier, &unnamed), TokenRefused::KidRequired);
    assert!(verify(&verifier, &fixture.sign(&good_claims())).is_ok());
    assert!(verify(&verifier, &other.sign(&good_claims())).is_ok());
}

#[test]
fn expired_and_not_yet_valid_tokens_are_refused_beyond_30_s_of_leeway() {
    let fixture = Fixture::new("times", KeyKind::Ed25519);
    let verifier = fixture.verifier();
    let expired = fixture.sign(&with(good_claims(), "exp", json!(NOW - 31)));
    assert_eq!(refused(&verifier, &expired), TokenRefused::Expired);
    let just = fixture.sign(&with(good_claims(), "exp", json!(NOW - 29)));
    assert!(verify(&verifier, &just).is_ok());
    let early = fixture.sign(&with(good_claims(), "nbf", json!(NOW + 31)));
    assert_eq!(refused(&verifier, &early), TokenRefused::NotYetValid);
    let nearly = fixture.sign(&with(good_claims(), "nbf", json!(NOW + 29)));
    assert!(verify(&verifier, &nearly).is_ok());
    // `exp` is required: a token without one would be good for ever.
    let forever = fixture.sign(&without(good_claims(), "exp"));
    assert_eq!(
        refused(&verifier, &forever),
        TokenRefused::MissingClaim("exp")
    );
    let text = fixture.sign(&with(good_claims(), "exp", json!("tomorrow")));
    assert!(matches!(
        refused(&verifier, &text),
        TokenRefused::Malformed(_)
    ));
}

#[test]
fn a_token_for_another_audience_or_none_is_refused() {
    let fixture = Fixture::new("aud", KeyKind::P256);
    let verifier = fixture.verifier();
    let other = fixture.sign(&with(good_claims(), "aud", json!("another-service")));
    assert_eq!(refused(&verifier, &other), TokenRefused::WrongAudience);
    let none = fixture.sign(&without(good_claims(), "aud"));
    assert_eq!(refused(&verifier, &none), TokenRefused::WrongAudience);
    // The server's own audience setting decides.
    let theirs = Verifier::load(&fixture.jwks(), "another-service").unwrap();
    assert!(verify(&theirs, &other).is_ok());
    assert_eq!(
        refused(&theirs, &fixture.sign(&good_claims())),
        TokenRefused::WrongAudience
    );
}

#[test]
fn a_token_without_sub_or_role_or_with_unusable_names_is_refused() {
    let fixture = Fixture::new("claims", KeyKind::Ed25519);
    let verifier = fixture.verifier();
    for (claim, name) in [("sub", "sub"), ("role", "role")] {
        let missing = fixture.sign(&without(good_claims(), claim));
        assert_eq!(
            refused(&verifier, &missing),
            TokenRefused::MissingClaim(name)
        );
        let empty = fixture.sign(&with(good_claims(), claim, json!("")));
        assert_eq!(refused(&verifier, &empty), TokenRefused::MissingClaim(name));
    }
    let slash = fixture.sign(&with(good_claims(), "sub", json!("p-1/../d-1")));
    assert_eq!(refused(&verifier, &slash), TokenRefused::BadClaim("sub"));
    let room = fixture.sign(&with(good_claims(), "room", json!("visit1/p-1")));
    assert_eq!(refused(&verifier, &room), TokenRefused::BadClaim("room"));
    let control = fixture.sign(&with(good_claims(), "role", json!("clinician\n")));
    assert_eq!(refused(&verifier, &control), TokenRefused::BadClaim("role"));
    let long = fixture.sign(&with(good_claims(), "sub", json!("p".repeat(300))));
    assert_eq!(refused(&verifier, &long), TokenRefused::BadClaim("sub"));
    // Without a room claim the token is for any room (the policy decides).
    let roomless = fixture.sign(&without(good_claims(), "room"));
    assert_eq!(verify(&verifier, &roomless).unwrap().room, None);
}

#[test]
fn a_1_mb_token_is_refused_before_any_decoding() {
    let fixture = Fixture::new("large", KeyKind::Ed25519);
    let verifier = fixture.verifier();
    // A well-formed token, padded in its claims: only the size refuses it.
    let padded = with(good_claims(), "pad", json!("x".repeat(1 << 20)));
    let token = fixture.sign(&padded);
    let started = Instant::now();
    assert_eq!(refused(&verifier, &token), TokenRefused::TooLarge);
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "{:?}",
        started.elapsed()
    );
    // Just over the limit, and just under it.
    let over = with(good_claims(), "pad", json!("x".repeat(MAX_TOKEN_BYTES)));
    assert_eq!(
        refused(&verifier, &fixture.sign(&over)),
        TokenRefused::TooLarge
    );
    let under = with(good_claims(), "pad", json!("x".repeat(MAX_TOKEN_BYTES / 2)));
    assert!(verify(&verifier, &fixture.sign(&under)).is_ok());
}

#[test]
fn malformed_headers_and_tokens_get_one_line_each() {
    let fixture = Fixture::new("malformed", KeyKind::Ed25519);
    let verifier = fixture.verifier();
    assert_eq!(verifier.verify(None, NOW), Err(TokenRefused::Missing));
    for header in [
        &b"Basic dXNlcjpwYXNz"[..],
        b"Bearer",
        b"Bearer ",
        b"Token abc.def.ghi",
    ] {
        assert_eq!(
            verifier.verify(Some(header), NOW),
            Err(TokenRefused::NotBearer)
        );
    }
    let invalid_utf8 = b"Bearer \xff\xfe.\xfd.x";
    assert!(matches!(
        verifier.verify(Some(invalid_utf8), NOW),
        Err(TokenRefused::Malformed(_))
    ));
    let good = fixture.sign(&good_claims());
    let (head, rest) = good.split_once('.').unwrap();
    for token in [
        "a.b".to_owned(),
        "a.b.c.d".to_owned(),
        format!("!!!!.{rest}"),
        format!("{}.{rest}", URL_SAFE_NO_PAD.encode("[1, 2]")),
        format!("{head}.{}.{}", "%%%%", rest.split_once('.').unwrap().1),
        hand_made(
            &json!({"alg": "EdDSA", "kid": fixture.kid}),
            &json!([1]),
            b"sig",
        ),
    ] {
        assert!(
            matches!(
                refused(&verifier, &token),
                TokenRefused::Malformed(_) | TokenRefused::BadSignature
            ),
            "{token}"
        );
    }
    // The scheme is case-insensitive (RFC 9110).
    assert!(
        verifier
            .verify(Some(format!("bearer {good}").as_bytes()), NOW)
            .is_ok()
    );
}

#[test]
fn key_sets_with_secrets_or_nothing_to_verify_with_are_refused_at_load() {
    let dir = scratch("bad-jwks");
    let fixture = Fixture::new("bad-jwks-key", KeyKind::Ed25519);
    let good: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.jwks()).unwrap()).unwrap();
    let good_key = good["keys"][0].clone();
    for (name, text, expected) in [
        ("not-json", "{".to_owned(), "not JSON"),
        ("no-keys", "{}".to_owned(), "no \"keys\" list"),
        (
            "empty",
            json!({"keys": []}).to_string(),
            "no signature-verifying key",
        ),
        (
            "oct",
            json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}).to_string(),
            "symmetric",
        ),
        (
            "private",
            json!({"keys": [with(good_key.clone(), "d", json!("AAAA"))]}).to_string(),
            "private key",
        ),
        (
            "twice",
            json!({"keys": [good_key.clone(), good_key.clone()]}).to_string(),
            "same kid",
        ),
        (
            "alg",
            json!({"keys": [with(good_key.clone(), "alg", json!("ES256"))]}).to_string(),
            "does not fit",
        ),
        (
            "curve",
            json!({"keys": [with(good_key.clone(), "crv", json!("X25519"))]}).to_string(),
            "key 0",
        ),
    ] {
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, text).unwrap();
        let error = Verifier::load(&path, "framechain")
            .err()
            .expect(name)
            .to_string();
        assert!(error.contains(&path.display().to_string()), "{error}");
        assert!(error.contains(expected), "{name}: {error}");
        assert_eq!(error.lines().count(), 1, "{error}");
    }
    let missing = Verifier::load(&dir.join("missing.json"), "framechain")
        .err()
        .unwrap();
    assert!(matches!(missing, IdentityError::Io { .. }), "{missing}");
}

#[test]
fn a_changed_key_file_is_reloaded_and_a_bad_one_keeps_the_old_keys() {
    let old = Fixture::new("reload-old", KeyKind::Ed25519);
    let new = Fixture::new("reload-new", KeyKind::P256);
    let path = old.dir.join("served.json");
    std::fs::copy(old.jwks(), &path).unwrap();
    let verifier = Verifier::load_watching(&path, "framechain", Duration::ZERO).unwrap();
    let old_token = old.sign(&good_claims());
    let new_token = new.sign(&good_claims());
    assert!(verify(&verifier, &old_token).is_ok());
    assert_eq!(refused(&verifier, &new_token), TokenRefused::UnknownKid);
    // The provider rotates its key: the file is replaced (a new inode, as
    // a Kubernetes Secret update gives).
    let staged = old.dir.join("staged.json");
    std::fs::copy(new.jwks(), &staged).unwrap();
    std::fs::rename(&staged, &path).unwrap();
    assert!(verify(&verifier, &new_token).is_ok());
    assert_eq!(refused(&verifier, &old_token), TokenRefused::UnknownKid);
    // A broken file keeps the keys in use, on a look and on a SIGHUP.
    std::fs::write(&path, "{\"keys\": [").unwrap();
    assert!(verify(&verifier, &new_token).is_ok());
    assert!(verifier.reload().is_err());
    assert!(verify(&verifier, &new_token).is_ok());
}

// ---- The policy ----

/// The input document of docs/visits.md.
fn input(user: Value, action: &str, participant: Option<&str>) -> Value {
    let mut resource = json!({"room": {"id": "visit1", "patient": "p-1", "clinicians": ["d-1", "d-2"],
                                       "others": [{"id": "i-1", "role": "interpreter"}]}});
    if let Some(participant) = participant {
        resource["participant"] = participant.into();
    }
    json!({"user": user, "action": action, "resource": resource, "time": "2026-12-05T12:00:00Z"})
}

fn user(id: &str, role: &str, room: Option<&str>) -> Value {
    json!({"id": id, "role": role, "room": room})
}

#[test]
fn the_default_policy_lets_each_participant_publish_and_watch_in_their_own_room_only() {
    let policy = Policy::default_policy();
    let allowed = |input: Value| policy.decide(&input).allow;
    // The patient, in their own room; with or without a room claim.
    assert!(allowed(input(
        user("p-1", "patient", Some("visit1")),
        "publish",
        None
    )));
    assert!(allowed(input(
        user("p-1", "patient", None),
        "publish",
        None
    )));
    assert!(allowed(input(
        user("p-1", "patient", Some("visit1")),
        "watch",
        Some("d-1")
    )));
    assert!(allowed(input(
        user("p-1", "patient", None),
        "watch",
        Some("i-1")
    )));
    // The clinicians the room lists, and the interpreter in `others`.
    assert!(allowed(input(
        user("d-2", "clinician", None),
        "publish",
        None
    )));
    assert!(allowed(input(
        user("d-1", "clinician", Some("visit1")),
        "watch",
        Some("p-1")
    )));
    assert!(allowed(input(
        user("i-1", "interpreter", None),
        "publish",
        None
    )));
    assert!(allowed(input(
        user("i-1", "interpreter", None),
        "watch",
        Some("p-1")
    )));
}

#[test]
fn the_default_policy_denies_everyone_else_with_a_reason() {
    let policy = Policy::default_policy();
    let denied = |input: Value, reason: &str| {
        let decision = policy.decide(&input);
        assert!(!decision.allow, "{input}");
        assert!(
            decision.reason.contains(reason),
            "{input}: {}",
            decision.reason
        );
    };
    // Another patient in this room; this patient with a token for another room.
    denied(
        input(user("p-2", "patient", None), "publish", None),
        "not a participant",
    );
    denied(
        input(user("p-2", "patient", Some("visit1")), "watch", Some("p-1")),
        "not a participant",
    );
    denied(
        input(user("p-1", "patient", Some("visit2")), "publish", None),
        "another room",
    );
    // A patient watching another patient (who is not in this room).
    denied(
        input(user("p-1", "patient", None), "watch", Some("p-2")),
        "not in this room",
    );
    // A clinician the room does not list; a listed id with another role.
    denied(
        input(user("d-9", "clinician", None), "publish", None),
        "not a participant",
    );
    denied(
        input(user("d-1", "patient", None), "publish", None),
        "not a participant",
    );
    denied(
        input(user("i-1", "clinician", None), "publish", None),
        "not a participant",
    );
    denied(
        input(user("i-1", "family", None), "watch", Some("p-1")),
        "not a participant",
    );
    // Other roles, an admin included, get no media.
    denied(
        input(user("a-1", "admin", None), "watch", Some("p-1")),
        "not a participant",
    );
    denied(
        input(user("p-1", "nurse", None), "publish", None),
        "not a participant",
    );
    // Only an admin swaps a stage.
    let swap = |role: &str| {
        json!({"user": user("x-1", role, None), "action": "swap_stage",
               "resource": {"room": null, "stage": "redact"}, "time": "2026-12-05T12:00:00Z"})
    };
    assert!(policy.decide(&swap("admin")).allow);
    denied(swap("clinician"), "only an admin");
    denied(swap("patient"), "only an admin");
    // An admin's token for one room does not swap every call's stage.
    let mut one_room = swap("admin");
    one_room["user"]["room"] = "visit1".into();
    denied(one_room, "a token for one room");
    // Unknown actions, missing parts.
    denied(
        input(user("p-1", "patient", None), "delete", None),
        "no such action",
    );
    denied(json!({"action": "publish"}), "");
    denied(json!({}), "");
    denied(input(json!(null), "publish", None), "");
}

#[test]
fn a_policy_that_does_not_compile_is_refused_with_its_file_and_the_compilers_line() {
    let dir = scratch("policy-compile");
    for (name, text) in [
        ("syntax.rego", "package framechain\nallow if {\n"),
        (
            "function.rego",
            "package framechain\nallow if no_such_function(input)\n",
        ),
        ("package.rego", "package other\nallow := true\n"),
        ("empty.rego", ""),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let error = Policy::load(&path).err().expect(name).to_string();
        assert!(error.contains(&path.display().to_string()), "{error}");
        assert!(error.contains("does not compile"), "{error}");
        assert_eq!(error.lines().count(), 1, "{error}");
    }
}

#[test]
fn anything_but_allow_true_is_deny() {
    let dir = scratch("policy-values");
    for (name, text) in [
        ("string", "package framechain\nallow := \"true\"\n"),
        ("number", "package framechain\nallow := 1\n"),
        (
            "undefined",
            "package framechain\nallow if input.nothing == 1\n",
        ),
        (
            "error",
            "package framechain\nallow if 1 / count(input.xs) > 0\n",
        ),
    ] {
        let path = dir.join(format!("{name}.rego"));
        std::fs::write(&path, text).unwrap();
        let policy = Policy::load(&path).unwrap();
        let decision = policy.decide(&json!({"xs": []}));
        assert!(!decision.allow, "{name}: {decision:?}");
    }
    let path = dir.join("yes.rego");
    std::fs::write(&path, "package framechain\nallow := true\n").unwrap();
    assert!(Policy::load(&path).unwrap().decide(&json!({})).allow);
}

#[test]
fn a_policy_reload_that_does_not_compile_keeps_the_old_policy() {
    let dir = scratch("policy-reload");
    let path = dir.join("policy.rego");
    std::fs::write(
        &path,
        "package framechain\nallow if input.user.role == \"clinician\"\n",
    )
    .unwrap();
    let policy = Policy::load_watching(&path, Duration::ZERO).unwrap();
    let clinician = json!({"user": {"role": "clinician"}});
    let patient = json!({"user": {"role": "patient"}});
    assert!(policy.decide(&clinician).allow);
    assert!(!policy.decide(&patient).allow);
    // A broken edit: the old policy stays, on a look and on a SIGHUP.
    std::fs::write(&path, "package framechain\nallow if {{ broken\n").unwrap();
    assert!(policy.decide(&clinician).allow);
    assert!(policy.reload().is_err());
    assert!(policy.decide(&clinician).allow);
    // A good edit takes effect.
    std::fs::write(
        &path,
        "package framechain\nallow if input.user.role == \"patient\"\n",
    )
    .unwrap();
    assert!(policy.decide(&patient).allow);
    assert!(!policy.decide(&clinician).allow);
    assert!(policy.reload().is_ok());
}

#[test]
fn policy_decisions_per_second() {
    let policy = Policy::default_policy();
    let request = input(
        user("d-1", "clinician", Some("visit1")),
        "watch",
        Some("p-1"),
    );
    let count = 2_000;
    let started = Instant::now();
    for _ in 0..count {
        assert!(policy.decide(&request).allow);
    }
    let elapsed = started.elapsed();
    let rate = count as f64 / elapsed.as_secs_f64();
    println!("default policy: {rate:.0} decisions/s on one thread ({count} in {elapsed:?})");
    // A join is a few decisions; far under this would make the policy the
    // bottleneck of a burst of joins.
    assert!(rate > 500.0, "{rate:.0} decisions/s");
}

#[test]
fn the_verifier_and_the_policy_are_shared_across_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Verifier>();
    shared::<Policy>();
}

// ---- Reload notices ----

/// The notices a listener was given, in order.
fn listen() -> (
    super::ReloadListener,
    std::sync::Arc<std::sync::Mutex<Vec<super::Reload>>>,
) {
    let heard = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = heard.clone();
    let listener: super::ReloadListener = std::sync::Arc::new(move |reload: &super::Reload| {
        sink.lock().unwrap().push(reload.clone())
    });
    (listener, heard)
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[test]
fn each_policy_reload_is_told_with_its_digest_and_a_refused_one_with_its_line() {
    use super::{ReloadOutcome, ReloadedFile};
    let dir = scratch("policy-notice");
    let path = dir.join("policy.rego");
    let first = "package framechain\nallow if input.user.role == \"clinician\"\n";
    std::fs::write(&path, first).unwrap();
    let policy = Policy::load_watching(&path, Duration::ZERO).unwrap();
    assert_eq!(policy.digest(), sha256_hex(first.as_bytes()));
    let (listener, heard) = listen();
    policy.on_reload(listener);

    let broken = "package framechain\nallow if {{ broken\n";
    std::fs::write(&path, broken).unwrap();
    let _ = policy.decide(&json!({}));
    let second = "package framechain\nallow if input.user.role == \"patient\"\n";
    std::fs::write(&path, second).unwrap();
    let _ = policy.decide(&json!({}));
    let heard = heard.lock().unwrap();
    assert_eq!(heard.len(), 2, "{heard:?}");
    assert_eq!(
        (heard[0].file, &heard[0].path),
        (ReloadedFile::Policy, &path)
    );
    match &heard[0].outcome {
        ReloadOutcome::Refused { error, kept_digest } => {
            assert!(error.contains("does not compile"), "{error}");
            assert!(!error.contains('\n'));
            assert_eq!(kept_digest, &sha256_hex(first.as_bytes()));
        }
        other => panic!("a broken policy was {other:?}"),
    }
    assert_eq!(
        heard[1].outcome,
        ReloadOutcome::Loaded {
            digest: sha256_hex(second.as_bytes())
        }
    );
    assert_eq!(policy.digest(), sha256_hex(second.as_bytes()));
}

#[test]
fn each_key_set_reload_is_told_with_its_digest_and_a_refused_one_with_its_line() {
    use super::{ReloadOutcome, ReloadedFile};
    let old = Fixture::new("notice-old", KeyKind::Ed25519);
    let new = Fixture::new("notice-new", KeyKind::P256);
    let path = old.dir.join("served.json");
    std::fs::copy(old.jwks(), &path).unwrap();
    let verifier = Verifier::load_watching(&path, "framechain", Duration::ZERO).unwrap();
    let old_digest = sha256_hex(&std::fs::read(&path).unwrap());
    assert_eq!(verifier.keys_digest(), old_digest);
    let (listener, heard) = listen();
    verifier.on_reload(listener);

    std::fs::write(&path, "{\"keys\": [").unwrap();
    assert!(verifier.reload().is_err());
    let staged = old.dir.join("staged.json");
    std::fs::copy(new.jwks(), &staged).unwrap();
    std::fs::rename(&staged, &path).unwrap();
    let _ = verify(&verifier, &new.sign(&good_claims()));
    let heard = heard.lock().unwrap();
    assert_eq!(heard.len(), 2, "{heard:?}");
    assert_eq!(heard[0].file, ReloadedFile::Keys);
    assert!(
        matches!(&heard[0].outcome, ReloadOutcome::Refused { error, kept_digest }
            if error.contains("not a usable key set") && *kept_digest == old_digest),
        "{:?}",
        heard[0].outcome
    );
    assert_eq!(
        heard[1].outcome,
        ReloadOutcome::Loaded {
            digest: sha256_hex(&std::fs::read(new.jwks()).unwrap())
        }
    );
}
