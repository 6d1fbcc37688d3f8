//! A whole visit in two real browsers: a patient and a clinician, each a
//! headless Chromium on the call page (`/call?room=ROOM#token=JWT`), each
//! publishing camera and microphone and watching the other.
//!
//! - The patient's page sends the lip-sync test signal (a click and a white
//!   flash at the same instant, once a second, on a 1080p scene with the
//!   caption the telemedicine pipeline redacts). Its video runs the room's
//!   patient pipeline; its sound is forwarded.
//! - The clinician's page sends Chromium's fake camera and a fake
//!   microphone playing a WAV tone; its video is forwarded as sent.
//!
//! Checked: each side receives the other's audio (packets, and sound energy)
//! and video; the patient's picture arrives at the pipeline's 720p with the
//! caption black, the clinician's arrives unredacted; the sound of the
//! patient's click meets its flash at the clinician (over the latest 8
//! pairs, not more than 80 ms ahead on a loaded machine; the synchroniser
//! is given up to `SYNC_SECONDS` to get there; `scripts/visit-sync.sh`
//! measures against ITU-R BT.1359's 45 ms). The offset's
//! p50/p99 and both tracks' glass-to-glass latency are printed; with
//! `FRAMECHAIN_VISIT_SCREENSHOTS=DIR` both windows are saved as PNGs (the
//! screenshots of docs/visits.md); with `FRAMECHAIN_VISIT_BOTH_TEST_SIGNAL=1`
//! the clinician sends the test signal too, and the sync is measured both
//! ways (`scripts/visit-sync.sh`, docs/performance.md).

use std::path::Path;

use serde_json::{Value, json};

use crate::support::TELEMEDICINE;
use crate::visit_support::Visit;
use crate::webdriver::{Session, browser, wait_for};

/// The caption the test signal draws (sync.js) and the telemedicine
/// pipeline redacts: x, y, width, height at 1080p.
const CAPTION: [u32; 4] = [120, 67, 600, 135];
/// Flash/click pairs the clinician must see before the sync is judged,
/// after the first few (sync.js's `SETTLING_PAIRS`) while the browser's
/// synchroniser settles.
const PAIRS: u64 = 8;
/// How far ahead of its picture the sound may run here. ITU-R BT.1359's
/// detectability threshold is 45 ms, and `scripts/visit-sync.sh` measures
/// against it (docs/performance.md); this test runs on a loaded CI machine.
const SOUND_AHEAD_MS: f64 = 80.0;
/// How long the clinician's synchroniser may take to bring the latest
/// pairs (sync.js's `LATEST_PAIRS`) within `SOUND_AHEAD_MS`. Under CI's
/// load the pipeline's delay moves (its glass to glass p99 was seen at
/// 276 ms beside a 170 ms p50), Chromium's synchroniser follows it in
/// steps, and the early pairs of a call may still carry its first guesses.
/// This is the end result in a real browser on a loaded machine, not the
/// guard of the mechanism: with the sender reports timing pictures at their
/// departure, a loaded run here went from 145 ms ahead over the first pairs
/// to 72 ms over later ones. The mechanism is checked exactly, without a
/// browser, by `call::tests::audio::the_sender_reports_put_sound_and_its_
/// processed_picture_at_the_same_time`, which fails when it is broken so.
const SYNC_SECONDS: u64 = 45;

#[test]
fn a_patient_and_a_clinician_hold_a_visit_with_sound_in_lip_sync_and_the_patient_redacted() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let _slot = crate::support::realtime_slot();
    let both_test_signal = std::env::var_os("FRAMECHAIN_VISIT_BOTH_TEST_SIGNAL").is_some();
    let visit = Visit::start_with(
        "browsers",
        r#"[{"room": "visit1", "patient": "p-1", "clinicians": ["d-1"]}]"#,
        TELEMEDICINE,
    );
    let tone = visit.scratch.0.join("tone.wav");
    write_tone_wav(&tone, 440.0, 2.0);
    let base = visit.base();
    let patient_token = visit.token("p-1", "patient", Some("visit1"));
    let clinician_token = visit.token("d-1", "clinician", Some("visit1"));

    let driver = crate::webdriver::Driver::start(chromedriver);
    // The patient on a phone-sized window; the clinician on a desk.
    let patient = driver.session_with(chromium, &["--window-size=412,915".to_owned()]);
    let clinician = driver.session_with(
        chromium,
        &[
            "--window-size=1280,860".to_owned(),
            format!("--use-file-for-fake-audio-capture={}", tone.display()),
        ],
    );
    let clinician_source = if both_test_signal { "&source=test" } else { "" };
    patient.navigate(&format!(
        "{base}/call?room=visit1&source=test&measure=1#token={patient_token}"
    ));
    clinician.navigate(&format!(
        "{base}/call?room=visit1{clinician_source}&measure=1#token={clinician_token}"
    ));
    // The token left the address bar at once.
    assert!(
        !patient
            .execute("return location.href", json!([]))
            .as_str()
            .unwrap()
            .contains("token"),
        "the token stays in the address bar"
    );
    patient.click(&patient.find("#join"));
    clinician.click(&clinician.find("#join"));

    // Each side receives the other's picture and sound.
    let hears_and_sees = |other: &'static str, pairs: u64| {
        move |status: &Value| {
            let remote = &status["remotes"][other];
            remote["framesDecoded"].as_u64().unwrap_or(0) >= 30
                && remote["audioPackets"].as_u64().unwrap_or(0) >= 100
                && remote["audioEnergy"].as_f64().unwrap_or(0.0) > 0.0
                && remote["sync"]["pairs"].as_u64().unwrap_or(0) >= pairs
        }
    };
    let at_clinician = wait_for(
        &clinician,
        "window.framechainCall",
        90,
        hears_and_sees("p-1", PAIRS),
    );
    let at_patient = wait_for(
        &patient,
        "window.framechainCall",
        30,
        hears_and_sees("d-1", if both_test_signal { PAIRS } else { 0 }),
    );
    let (at_clinician, at_patient) = match (at_clinician, at_patient) {
        (Ok(c), Ok(p)) => (c, p),
        (c, p) => panic!(
            "the visit did not carry both ways\nclinician: {c:?}\npatient: {p:?}\n\
             clinician console: {}\npatient console: {}",
            clinician.console(),
            patient.console()
        ),
    };
    eprintln!("clinician sees: {}", at_clinician["remotes"]["p-1"]);
    eprintln!("patient sees: {}", at_patient["remotes"]["d-1"]);

    // The patient's picture: the pipeline's 720p, the caption black.
    let seen_patient = &at_clinician["remotes"]["p-1"];
    assert_eq!(
        (
            seen_patient["width"].as_u64(),
            seen_patient["height"].as_u64()
        ),
        (Some(1280), Some(720)),
        "the clinician sees the patient's video at the pipeline's 720p"
    );
    let [x, y, w, h] = CAPTION.map(|v| v * 2 / 3);
    let caption = sample(&clinician, "p-1", [x + 8, y + 8, w - 16, h - 16]);
    assert!(
        caption["luma"].as_f64().unwrap() < 24.0 && caption["max"].as_f64().unwrap() < 64.0,
        "the patient's caption is not redacted at the clinician: {caption}"
    );
    // The clinician's picture is forwarded as sent: the same area is not
    // filled.
    let seen_clinician = &at_patient["remotes"]["d-1"];
    let (cw, ch) = (
        seen_clinician["width"].as_u64().unwrap() as u32,
        seen_clinician["height"].as_u64().unwrap() as u32,
    );
    let area = sample(&patient, "d-1", [cw / 16, ch / 16, cw / 3, ch / 8]);
    assert!(
        area["max"].as_f64().unwrap() > 64.0,
        "the clinician's picture is blacked out at the patient: {area}"
    );

    // Lip sync at the clinician (the patient's sound beside its processed
    // picture), and both ways when both send the test signal.
    let report = |name: &str, sync: &Value| {
        eprintln!(
            "{name}: sound after picture p50 {} ms, |p99| {} ms over {} pairs; \
             glass to glass video p50 {} / p99 {} ms, audio p50 {} / p99 {} ms",
            sync["offset"]["p50"],
            sync["offset"]["p99"],
            sync["pairs"],
            sync["g2gVideo"]["p50"],
            sync["g2gVideo"]["p99"],
            sync["g2gAudio"]["p50"],
            sync["g2gAudio"]["p99"]
        );
    };
    report("patient -> clinician", &seen_patient["sync"]);
    if both_test_signal {
        report("clinician -> patient", &seen_clinician["sync"]);
    }
    let latest = |status: &Value| status["remotes"]["p-1"]["sync"]["latest"]["p50"].as_f64();
    let synced = wait_for(
        &clinician,
        "window.framechainCall",
        SYNC_SECONDS,
        |status| latest(status).is_some_and(|offset| offset > -SOUND_AHEAD_MS),
    );
    let (Ok(status) | Err(status)) = &synced;
    eprintln!(
        "patient -> clinician, latest pairs: {}",
        status["remotes"]["p-1"]["sync"]["latest"]
    );
    assert!(
        synced.is_ok(),
        "the patient's sound runs {:.0} ms ahead of its picture at the clinician over \
         the latest pairs, {SYNC_SECONDS} s after the first {PAIRS} (more than \
         {SOUND_AHEAD_MS} ms)",
        -latest(status).unwrap_or(f64::NAN)
    );

    if let Some(dir) = std::env::var_os("FRAMECHAIN_VISIT_SCREENSHOTS") {
        let dir = Path::new(&dir);
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("visit-patient.png"), patient.screenshot()).unwrap();
        std::fs::write(dir.join("visit-clinician.png"), clinician.screenshot()).unwrap();
        eprintln!("screenshots in {}", dir.display());
    }

    // Leaving ends the clinician's view of the patient.
    patient.click(&patient.find("#leave"));
    let gone = wait_for(&clinician, "window.framechainCall", 15, |s| {
        s["remotes"]["p-1"]["state"] == "ended"
    });
    assert!(
        gone.is_ok(),
        "the clinician still watches a patient who left: {gone:?}"
    );
    drop(visit);
}

/// The mean colour and luma range of a rectangle of one remote's video.
fn sample(session: &Session, participant: &str, [x, y, w, h]: [u32; 4]) -> Value {
    session.execute(
        "return window.framechainSampleRemote(arguments[0], arguments[1], arguments[2], arguments[3], arguments[4])",
        json!([participant, x, y, w, h]),
    )
}

/// A mono 48 kHz 16-bit WAV of a sine tone (Chromium loops it as the fake
/// microphone).
fn write_tone_wav(path: &Path, frequency: f64, seconds: f64) {
    let rate = 48_000u32;
    let samples = (f64::from(rate) * seconds) as u32;
    let mut wav = Vec::with_capacity(44 + samples as usize * 2);
    let data_len = samples * 2;
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..samples {
        let t = f64::from(i) / f64::from(rate);
        let value = (0.5 * (2.0 * std::f64::consts::PI * frequency * t).sin() * 32767.0) as i16;
        wav.extend_from_slice(&value.to_le_bytes());
    }
    std::fs::write(path, wav).unwrap();
}
