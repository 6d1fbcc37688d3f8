//! GStreamer's `webrtcbin` (Debian's 1.22, its default RSA certificate)
//! publishing a visit's camera and microphone through the centre's URL
//! with a participant's JWT (scripts/gst-whip-publish.py): the centre
//! answers `307` with a placement ticket, the script follows it with the
//! same offer (urllib alone does not follow a 307 for POST) and drops the
//! token at the new origin, and the pod takes the ticket. A WHEP viewer
//! (str0m) through the centre receives the pictures, and the audit trail
//! records the publication on the pod.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use framechain_loadgen::{Endpoint, ViewOptions, Viewer};

use super::fleet::Fleet;

const ROOM: &str = "visit-gstreamer";
/// Debian's GStreamer Python bindings run on Debian's interpreter.
const PYTHON: &str = "/usr/bin/python3";

/// Whether webrtcbin and its Python bindings are here; outside CI a test
/// without them skips, in CI it fails.
fn gstreamer() -> bool {
    let probe = "import gi\n\
        gi.require_version('Gst', '1.0')\n\
        gi.require_version('GstWebRTC', '1.0')\n\
        from gi.repository import Gst\n\
        Gst.init(None)\n\
        assert Gst.ElementFactory.find('webrtcbin') is not None\n";
    let usable = Command::new(PYTHON)
        .args(["-c", probe])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        usable || std::env::var_os("CI").is_none(),
        "GStreamer's webrtcbin is needed in CI (scripts/setup.sh installs it)"
    );
    if !usable {
        eprintln!("skipped: GStreamer's webrtcbin is not usable here; run scripts/setup.sh");
    }
    usable
}

#[test]
fn gstreamer_publishes_with_a_jwt_through_the_centre_s_redirect() {
    let Some(clip) = framechain_test_support::h264_testdata() else {
        return;
    };
    if !gstreamer() {
        return;
    }
    // Eight seconds of 1080p, forwarded: long enough for the viewer to join.
    let clip = clip.join("throughput/real1080p30_10s_cbp_6M.264");
    let pipeline = framechain_test_support::workspace_root().join("examples/telemedicine.yaml");
    let fleet = Fleet::start("framechain-center-gst", None, 2, &pipeline, |_, _| {
        Vec::new()
    });
    fleet.add_room(&format!(
        r#"{{"room": "{ROOM}", "patient": "p-1", "clinicians": ["d-1"],
            "pipelines": {{"patient": "forward"}}}}"#
    ));
    let placed = fleet
        .placed_node(ROOM)
        .expect("the room is placed when added");

    let script = framechain_test_support::workspace_root().join("scripts/gst-whip-publish.py");
    let mut publisher = Command::new(PYTHON)
        .arg(&script)
        .args(["--url", &format!("{}/whip/{ROOM}", fleet.center)])
        .arg("--file")
        .arg(&clip)
        .args(["--frames", "240", "--tone", "440"])
        .args(["--ice-address", "127.0.0.1"])
        .args(["--connect-timeout", "10", "--duration", "30"])
        .env("WHIP_TOKEN", fleet.token("p-1", "patient", ROOM))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start gst-whip-publish.py");

    // The clinician watches through the centre too.
    let clinician = fleet.token("d-1", "clinician", ROOM);
    let viewer = super::fleet::wait_for(
        "the GStreamer publication watched through the centre",
        Duration::from_secs(20),
        || {
            let viewer = Viewer::start(
                &Endpoint::new(&fleet.center, format!("{ROOM}/p-1"), &clinician),
                ViewOptions::default(),
            )
            .ok()?;
            viewer.wait_connected(Duration::from_secs(10)).ok()?;
            Some(viewer)
        },
    );
    let received = viewer.wait_units(30, Duration::from_secs(20));

    // The script ends after its frames; its output tells the way it went.
    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(status) = publisher.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = publisher.kill();
            break publisher.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut output = String::new();
    let _ = publisher.stdout.take().unwrap().read_to_string(&mut output);
    let _ = publisher.stderr.take().unwrap().read_to_string(&mut output);
    assert!(
        received.is_ok(),
        "the viewer got no pictures from GStreamer through the centre: {received:?}\n{output}"
    );
    assert!(status.success(), "gst-whip-publish.py failed:\n{output}");
    let pod = fleet
        .pods
        .iter()
        .find(|pod| pod.node == placed)
        .expect("the room is on one of ours");
    assert!(
        output.contains(&format!("whip: 307 redirect to {}/whip/{ROOM}", pod.url)),
        "the publisher did not go through the centre's redirect:\n{output}"
    );
    assert!(
        !output.contains("ticket="),
        "the ticket was logged:\n{output}"
    );
    fleet.wait_for_joins(
        ROOM,
        &[("publish", "p-1", &placed), ("watch", "d-1", &placed)],
    );
    drop(viewer);
}
