//! The policy at work on an edge pod, against a real `redis-server`, real
//! files and real str0m calls: a policy or key file reloaded (or refused)
//! while calls run, each reload in the audit trail with its digest; joins
//! on the `--stream` routes recorded like room joins, failing closed; and
//! stage swaps decided by the policy's `swap_stage`, each decision
//! recorded.

use std::time::{Duration, Instant};

use framechain_events::{Action, Event, EventKind};
use framechain_serve::StreamSpec;
use framechain_serve::identity::DEFAULT_POLICY;
use framechain_serve::identity::tools::{KeyKind, new_keys};
use sha2::{Digest, Sha256};

use crate::edge_support::{NODE, Pod, WAIT, joined, keeps_flowing, refused};
use crate::support;

/// A policy that lets only a room's patient publish, and nobody watch:
/// under it, a clinician's new watch is refused with its reason.
const POLICY_B: &str = r#"package framechain

default allow := false

allow if {
    input.action == "publish"
    input.resource.room.patient == input.user.id
}

reason := "policy B: only the patient publishes, nobody watches"
"#;

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Replaces `path`'s content as an operator's tools (or a Secret update)
/// do: written aside, then renamed over it.
fn replace(path: &std::path::Path, content: &str) {
    let part = path.with_extension("part");
    std::fs::write(&part, content).unwrap();
    std::fs::rename(&part, path).unwrap();
}

#[test]
fn a_policy_reload_while_calls_run_refuses_new_joins_and_every_reload_is_recorded() {
    if support::testdata().is_none() {
        return;
    }
    let _slot = support::realtime_slot();
    let pod = Pod::start_with("policy-reload", 64 << 20, |config, scratch| {
        config.policy = Some(scratch.file("policy.rego", DEFAULT_POLICY));
    });
    let (camera, view) = pod.patient_seen_by_doctor();
    let doctor = pod.token("d-1", "clinician");

    // Policy B: the running calls go on, a new watch A allowed is refused
    // with B's reason, and the reload is recorded with B's digest.
    pod.scratch.file("policy.rego", POLICY_B);
    let b_digest = sha256_hex(POLICY_B.as_bytes());
    let reloaded = pod.wait_event(
        "policy reloaded",
        |e| matches!(&e.what, EventKind::PolicyReloaded { digest } if *digest == b_digest),
    );
    assert_eq!(
        (reloaded.room.as_deref(), reloaded.pod.as_str()),
        (None, NODE)
    );
    let answer = pod.post("/whep/visit1/p-1", Some(&doctor));
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(answer.body.contains("policy B"), "{}", answer.body);
    pod.wait_event("the new watch refused by B", |e| {
        refused(e, 403, "policy B") && e.participant.as_deref() == Some("d-1")
    });
    keeps_flowing(&view, 20, "after policy B");

    // A policy that does not compile: B stays, the calls go on, and the
    // refusal is recorded with B's digest as the one kept.
    pod.scratch
        .file("policy.rego", "package framechain\nallow if {{ broken\n");
    let failed = pod.wait_event("policy reload failed", |e| {
        matches!(&e.what, EventKind::PolicyReloadFailed { .. })
    });
    let EventKind::PolicyReloadFailed { error, kept_digest } = &failed.what else {
        unreachable!()
    };
    assert_eq!(kept_digest, &b_digest);
    assert!(
        error.contains("policy.rego") && error.contains("does not compile"),
        "{error}"
    );
    let answer = pod.post("/whep/visit1/p-1", Some(&doctor));
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(answer.body.contains("policy B"), "B stays: {}", answer.body);
    keeps_flowing(&view, 20, "after a broken policy");

    // The key set: a rotation (a second key beside the first) and a broken
    // file, each recorded; the running call goes on.
    let second = new_keys(&pod.scratch.0.join("keys-2"), KeyKind::P256).unwrap();
    let jwks = |path: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let mut both = jwks(&pod.keys.jwks);
    let added = jwks(&second.jwks)["keys"][0].clone();
    both["keys"].as_array_mut().unwrap().push(added);
    let both = both.to_string();
    replace(&pod.keys.jwks, &both);
    let rotated = sha256_hex(both.as_bytes());
    pod.wait_event(
        "keys reloaded",
        |e| matches!(&e.what, EventKind::KeysReloaded { digest } if *digest == rotated),
    );
    replace(&pod.keys.jwks, "{\"keys\": [");
    let failed = pod.wait_event("keys reload failed", |e| {
        matches!(&e.what, EventKind::KeysReloadFailed { .. })
    });
    let EventKind::KeysReloadFailed { error, kept_digest } = &failed.what else {
        unreachable!()
    };
    assert_eq!(kept_digest, &rotated);
    assert!(error.contains("not a usable key set"), "{error}");
    keeps_flowing(&view, 10, "after the key reloads");
    assert!(
        support::metric(
            &pod.server,
            "framechain_audit_events_total{kind=\"policy_reload_failed\"}"
        ) >= 1.0
    );
    drop((view, camera));
}

const STREAM: &str = "cam";
const PUBLISH: &str = "publish-cam-token";
const VIEW: &str = "view-cam-token";

#[test]
fn joins_on_the_stream_routes_are_recorded_and_fail_closed_on_a_pod() {
    if support::testdata().is_none() {
        return;
    }
    let _slot = support::realtime_slot();
    let mut pod = Pod::start_with("stream-joins", 4096, |config, _| {
        config.streams.push(StreamSpec {
            name: STREAM.to_owned(),
            publish_token: PUBLISH.to_owned(),
            view_token: VIEW.to_owned(),
        });
    });
    let camera = pod.publish(STREAM, PUBLISH).expect("the camera publishes");
    let view = pod.watch(STREAM, VIEW).expect("a viewer watches");
    view.wait_units(10, WAIT)
        .expect("the viewer sees the camera");
    let second = pod.watch(STREAM, VIEW).expect("a second viewer watches");
    second.stop().expect("the second viewer hangs up");
    let wrong = pod.post(&format!("/whep/{STREAM}"), Some("not-the-view-token"));
    assert_eq!(wrong.status, 403, "{}", wrong.body);

    let published = pod.wait_event("camera joined", |e| {
        joined(e, "stream-token:publish", false)
    });
    let EventKind::ParticipantJoined {
        role,
        address,
        stream,
        pipeline_digest,
        decision,
        ..
    } = &published.what
    else {
        unreachable!()
    };
    assert_eq!(published.room, None);
    assert_eq!(
        (role.as_str(), stream.as_str()),
        ("stream-publisher", STREAM)
    );
    assert!(address.starts_with("127.0.0.1:"), "{address}");
    assert_eq!(pipeline_digest.len(), 64, "the stream's pipeline's digest");
    assert!(decision.starts_with("allow"), "{decision}");
    pod.wait_event("viewer joined", |e| joined(e, "stream-token:view", true));
    pod.wait_event("viewer left", |e: &Event| {
        e.participant.as_deref() == Some("stream-token:view")
            && matches!(&e.what, EventKind::ParticipantLeft { action: Action::Watch, stream, .. }
                if stream == STREAM)
    });
    let refusal = pod.wait_event("wrong token refused", |e| refused(e, 403, "token"));
    assert_eq!(
        (refusal.room.as_deref(), refusal.participant.as_deref()),
        (None, None)
    );
    let EventKind::ParticipantRefused { address, .. } = &refusal.what else {
        unreachable!()
    };
    assert!(address.starts_with("127.0.0.1:"), "{address}");

    // Redis goes away: once the spool is full, a new viewer is refused
    // (503), and the running call goes on.
    let refused_at = pod.fill_the_spool(&format!("/whep/{STREAM}"), VIEW);
    assert!(refused_at.is_some(), "a full spool refused no stream join");
    keeps_flowing(&view, 20, "after the spool filled");
    drop((view, camera));
}

const SWAP_LINE: &str = "encode-h264 bitrate=200k fps=30 gop=30";

fn swap(pod: &Pod, token: &str) -> support::Answer {
    support::request(
        "POST",
        &format!("{}/admin/stages/encode-h264", pod.base()),
        Some(token),
        "text/plain",
        SWAP_LINE.as_bytes(),
    )
}

fn swap_decided(event: &Event, who: &str, allowed: bool) -> bool {
    event.participant.as_deref() == Some(who)
        && matches!(&event.what, EventKind::StageSwapDecided { allowed: a, .. } if *a == allowed)
}

#[test]
fn a_stage_swap_on_a_pod_is_decided_by_the_policy_and_recorded() {
    if support::testdata().is_none() {
        return;
    }
    let _slot = support::realtime_slot();
    let admin_secret = "admin-token-for-the-swap-test";
    let pod = Pod::start_with("swap-policy", 64 << 20, |config, _| {
        config.admin_token = Some(admin_secret.to_owned());
    });
    let (camera, view) = pod.patient_seen_by_doctor();
    let swaps_ok = "framechain_stage_swaps_total{stage=\"encode-h264\",result=\"ok\"}";

    // With --keys the shared admin token names nobody: refused.
    let answer = swap(&pod, admin_secret);
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(
        answer.body.contains("not the admin token"),
        "{}",
        answer.body
    );
    // A clinician, and an admin whose token is for one room: refused by
    // the policy, with its reason, and recorded.
    let answer = swap(&pod, &pod.token("d-1", "clinician"));
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(answer.body.contains("only an admin"), "{}", answer.body);
    let answer = swap(&pod, &pod.token_for("ops-1", "admin", Some("visit1")));
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(
        answer.body.contains("a token for one room"),
        "{}",
        answer.body
    );
    let refusal = pod.wait_event("clinician's swap refused", |e| {
        swap_decided(e, "d-1", false)
    });
    let EventKind::StageSwapDecided {
        position,
        stage,
        new_digest,
        pipeline_digest,
        role,
        reason,
        ..
    } = &refusal.what
    else {
        unreachable!()
    };
    assert_eq!(
        (*position, stage.as_str(), role.as_str()),
        (1, "encode-h264", "clinician")
    );
    assert!(new_digest.starts_with("sha256:"), "{new_digest}");
    assert_eq!(pipeline_digest.len(), 64);
    assert!(reason.contains("only an admin"), "{reason}");
    pod.wait_event("one-room admin's swap refused", |e| {
        swap_decided(e, "ops-1", false)
    });
    assert_eq!(
        support::metric(&pod.server, swaps_ok),
        0.0,
        "nothing swapped"
    );
    keeps_flowing(&view, 10, "after refused swaps");

    // An admin with a token for no one room: allowed, recorded, swapped in
    // the running call, which goes on.
    let answer = swap(&pod, &pod.token_for("ops-1", "admin", None));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let answer: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(answer["sessions"], 1, "{answer}");
    // (The same component with other parameters: no `stage_swapped`,
    // which records changed components.)
    let allowed = pod.wait_event("admin's swap allowed", |e| swap_decided(e, "ops-1", true));
    let EventKind::StageSwapDecided { reason, .. } = &allowed.what else {
        unreachable!()
    };
    assert_eq!(reason, "allowed by the policy");
    let deadline = Instant::now() + WAIT;
    while support::metric(&pod.server, swaps_ok) < 1.0 {
        assert!(Instant::now() < deadline, "the running call never switched");
        std::thread::sleep(Duration::from_millis(100));
    }
    keeps_flowing(&view, 20, "after the swap");
    drop((view, camera));
}
