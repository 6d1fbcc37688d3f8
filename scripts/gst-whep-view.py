#!/usr/bin/python3
"""Watch a stream from a WHEP endpoint with GStreamer's webrtcbin.

The viewing side of scripts/gst-whip-publish.py, with webrtcbin's own DTLS
certificate (docs/webrtc-stack.md): webrtcbin offers a receive-only
H.264 m-line, POSTs the offer to the WHEP URL with the view token, and counts
the access units it depayloads (rtph264depay -> h264parse -> fakesink), or
writes them to --output as an Annex-B file. With --audio-output it also offers
a receive-only Opus m-line and writes the decoded sound there as raw 16-bit
mono 48 kHz samples (opusdec), and reports the samples missing between
decoded buffers (`audio_gap_samples`).

Prints one line per state change and a final `result:` line with
`frames_received=N`. Exit status: 0 when connected and at least --min-frames
access units arrived, 1 otherwise, 2 on bad arguments.
"""

import argparse
import importlib.util
import os
import sys
import time

_spec = importlib.util.spec_from_file_location(
    "gst_whip_publish", os.path.join(os.path.dirname(os.path.abspath(__file__)), "gst-whip-publish.py")
)
whip = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(whip)

Gst, GLib, GstSdp, GstWebRTC = whip.Gst, whip.GLib, whip.GstSdp, whip.GstWebRTC
log = whip.log


class Viewer(whip.Publisher):
    """Reuses the publisher's signalling and state handling;
    only the media part differs."""

    def __init__(self, args):  # noqa: D107 - deliberately not calling Publisher.__init__
        self.args = args
        self.loop = GLib.MainLoop()
        self.failure = None
        self.location = None
        self.connected_at = None
        self.frames_sent = 0
        self.frames_received = 0
        self.audio_samples = 0
        self.audio_gap_samples = 0
        self.audio_next_pts = None
        self.eos = False
        self.eos_at = None
        self.released = False
        self.offer_posted = False
        self.started = time.monotonic()

        self.pipe = Gst.Pipeline.new("viewer")
        self.webrtc = Gst.ElementFactory.make("webrtcbin", "webrtc")
        self.webrtc.set_property("bundle-policy", GstWebRTC.WebRTCBundlePolicy.MAX_BUNDLE)
        self.pipe.add(self.webrtc)
        self.webrtc.connect("on-negotiation-needed", self.on_negotiation_needed)
        self.webrtc.connect("notify::ice-gathering-state", self.on_gathering)
        self.webrtc.connect("notify::ice-connection-state", self.on_state, "ice-connection-state")
        self.webrtc.connect("notify::connection-state", self.on_state, "connection-state")
        self.webrtc.connect("pad-added", self.on_pad_added)
        caps = Gst.Caps.from_string(
            "application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,payload=102,"
            "packetization-mode=(string)1,profile-level-id=(string)42e01f"
        )
        self.webrtc.emit("add-transceiver", GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY, caps)
        if args.audio_output:
            audio = Gst.Caps.from_string(
                "application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,payload=111,encoding-params=(string)2"
            )
            self.webrtc.emit("add-transceiver", GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY, audio)
        if args.ice_address:
            self.restrict_ice(args.ice_address)
        bus = self.pipe.get_bus()
        bus.add_signal_watch()
        bus.connect("message", self.on_message)

    def on_negotiation_needed(self, _element):
        promise = Gst.Promise.new_with_change_func(self.on_offer_created, None)
        self.webrtc.emit("create-offer", None, promise)

    def release(self):
        if not self.released:
            self.released = True
            self.connected_at = time.monotonic()
            log(f"media: connected after {self.connected_at - self.started:.2f} s")
        return False

    def on_pad_added(self, _element, pad):
        if pad.get_direction() != Gst.PadDirection.SRC:
            return
        caps = pad.get_current_caps() or pad.query_caps(None)
        if caps and caps.get_size() and caps.get_structure(0).get_string("media") == "audio":
            self.add_audio(pad)
            return
        desc = "rtph264depay ! h264parse name=viewparse ! video/x-h264,stream-format=byte-stream,alignment=au ! "
        desc += f"filesink location=\"{self.args.output}\"" if self.args.output else "fakesink sync=false"
        sink = Gst.parse_bin_from_description(desc, True)
        self.pipe.add(sink)
        sink.sync_state_with_parent()
        # Count whole access units after the parser.
        parse = sink.get_by_name("viewparse")
        parse.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, self.count_received)
        if pad.link(sink.get_static_pad("sink")) != Gst.PadLinkReturn.OK:
            GLib.idle_add(self.fail, f"cannot link {pad.get_name()} to the depayloader")
            return
        log("media: receiving")

    def add_audio(self, pad):
        if not self.args.audio_output:
            sink = Gst.parse_bin_from_description("fakesink sync=false", True)
        else:
            sink = Gst.parse_bin_from_description(
                "rtpopusdepay ! opusdec ! audioconvert ! audioresample"
                " ! audio/x-raw,format=S16LE,rate=48000,channels=1 ! identity name=pcm"
                f" ! filesink location=\"{self.args.audio_output}\"",
                True,
            )
            sink.get_by_name("pcm").get_static_pad("src").add_probe(
                Gst.PadProbeType.BUFFER, self.count_audio
            )
        self.pipe.add(sink)
        sink.sync_state_with_parent()
        if pad.link(sink.get_static_pad("sink")) != Gst.PadLinkReturn.OK:
            GLib.idle_add(self.fail, f"cannot link {pad.get_name()} to the Opus decoder")
            return
        log("media: receiving audio")

    def count_audio(self, _pad, info):
        # Samples (2 bytes each) and the stretches the timestamps skip.
        buf = info.get_buffer()
        samples = buf.get_size() // 2
        if buf.pts != Gst.CLOCK_TIME_NONE:
            if self.audio_next_pts is not None and buf.pts > self.audio_next_pts:
                self.audio_gap_samples += (buf.pts - self.audio_next_pts) * 48000 // Gst.SECOND
            self.audio_next_pts = buf.pts + samples * Gst.SECOND // 48000
        self.audio_samples += samples
        return Gst.PadProbeReturn.OK

    def count_received(self, _pad, _info):
        self.frames_received += 1
        if self.args.frames and self.frames_received >= self.args.frames and not self.eos:
            self.eos = True
            GLib.idle_add(self.finish)
        return Gst.PadProbeReturn.OK

    def on_deadline(self):
        log(f"stopping after {self.args.duration} s")
        self.finish()
        return False

    def run(self):
        if self.pipe.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            log("error: the pipeline did not start")
            return 1
        GLib.timeout_add(int(self.args.connect_timeout * 1000), self.on_timeout)
        GLib.timeout_add(int(self.args.duration * 1000), self.on_deadline)
        self.loop.run()
        self.delete()
        self.pipe.set_state(Gst.State.NULL)
        ok = self.failure is None and self.released and self.frames_received >= self.args.min_frames
        error = self.failure or (
            "not connected" if not self.released else f"fewer than {self.args.min_frames} frames"
        )
        log(
            f"result: {'ok' if ok else 'failed'} frames_received={self.frames_received}"
            f" audio_samples={self.audio_samples} audio_gap_samples={self.audio_gap_samples}"
            + ("" if ok else f" error={error}")
        )
        return 0 if ok else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True, help="WHEP endpoint, e.g. http://127.0.0.1:8080/whep/cam1")
    p.add_argument("--token", default=os.environ.get("WHEP_TOKEN"), help="bearer token (or $WHEP_TOKEN)")
    p.add_argument("--frames", type=int, default=0, help="stop after this many access units (0: at --duration)")
    p.add_argument("--min-frames", type=int, default=1, help="access units needed for success (default 1)")
    p.add_argument("--output", help="write the received stream here (Annex-B)")
    p.add_argument("--audio-output",
                   help="also take Opus audio and write it here decoded (raw S16LE, mono, 48 kHz)")
    p.add_argument("--ice-address", action="append", default=[],
                   help="gather ICE candidates on this local IP only (repeatable)")
    p.add_argument("--connect-timeout", type=float, default=10.0, help="seconds to reach DTLS connected")
    p.add_argument("--duration", type=float, default=30.0, help="stop after this many seconds at most")
    p.add_argument("--verbose", action="store_true", help="print the SDP and warnings")
    args = p.parse_args()
    if args.duration <= 0 or args.connect_timeout <= 0:
        p.error("--duration and --connect-timeout must be positive")
    Gst.init(None)
    for element in ("webrtcbin", "nicesrc", "dtlssrtpdec", "rtph264depay", "h264parse"):
        if Gst.ElementFactory.find(element) is None:
            print(f"gst-whep-view: GStreamer element {element} missing", file=sys.stderr)
            return 1
    return Viewer(args).run()


if __name__ == "__main__":
    sys.exit(main())
