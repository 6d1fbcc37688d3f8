#!/usr/bin/python3
"""Publish an H.264 file to a WHIP endpoint with GStreamer's webrtcbin.

A real GStreamer WebRTC peer for framechain serve's tests and for people who
publish from edge boxes: Annex-B file -> h264parse -> real-time pacing ->
rtph264pay (packetization mode 1) -> webrtcbin (max-bundle, send-only).

Debian bookworm's GStreamer 1.22 has no WHIP client element (whipsink and
whipclientsink live in gst-plugins-rs, which Debian does not ship), so this
script does the WHIP exchange itself (RFC 9725): one POST of the complete offer
after ICE gathering, the answer from the 201, DELETE on the Location at the end.
A 307 or 308 (a framechain centre sending the offer to the pod holding the
room, with a placement ticket in the URL) is followed with the same offer; the
token is not sent to another origin.

webrtcbin keeps its own DTLS certificate (RSA-2048 in 1.22), which framechain
serve takes (its DTLS is OpenSSL's, docs/webrtc-stack.md). When the server is
on 127.0.0.1, pass `--ice-address 127.0.0.1` (libnice skips loopback
otherwise).

Prints one line per state change on stdout (`ice-connection-state: ...`,
`dtls-state: ...`, `connection-state: ...`) and a final `result:` line.
Exit status: 0 when connected and the frames were sent, 1 on any failure,
2 on bad arguments.
"""

import argparse
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

try:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstWebRTC", "1.0")
    gi.require_version("GstSdp", "1.0")
    from gi.repository import GLib, Gst, GstSdp, GstWebRTC
except (ImportError, ValueError) as err:  # ValueError: typelib missing
    print(
        f"gst-whip-publish: GStreamer Python bindings missing ({err}); "
        "install python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-bad-1.0 gstreamer1.0-nice",
        file=sys.stderr,
    )
    sys.exit(1)


_KEEP_ALIVE = []

# Redirects (307/308) an offer follows, at most.
MAX_REDIRECTS = 5


def origin(url):
    """scheme://host:port of a URL, to tell when a redirect changes origin."""
    parts = urllib.parse.urlsplit(url)
    return (parts.scheme, parts.netloc.rsplit("@", 1)[-1].lower())


def log(msg):
    print(msg, flush=True)


def profile_level_id(path):
    """The stream's profile-level-id (RFC 6184) from its first SPS, or None.

    rtph264pay 1.22 puts only sprop-parameter-sets in the fmtp; without
    profile-level-id an answerer must assume Baseline level 1.0 (42000a), so
    the offer states it.
    """
    with open(path, "rb") as f:
        data = f.read(1 << 20)
    i = 0
    while True:
        i = data.find(b"\x00\x00\x01", i)
        if i < 0 or i + 6 > len(data):
            return None
        if data[i + 3] & 0x1F == 7:
            return data[i + 4 : i + 7].hex()
        i += 3


class Publisher:
    def __init__(self, args):
        self.args = args
        self.loop = GLib.MainLoop()
        self.failure = None
        self.location = None
        self.connected_at = None
        self.frames_sent = 0
        self.eos = False
        self.eos_at = None
        self.released = False
        self.offer_posted = False
        self.started = time.monotonic()

        # h264parse timestamps the access units from the caps' framerate,
        # identity "count" bounds the clip to --frames access units, and
        # identity "pace" (sync=true) sends the packets at the frame rate.
        plid = profile_level_id(args.file)
        if plid is None:
            raise SystemExit(f"gst-whip-publish: no H.264 SPS in the first MiB of {args.file}")
        desc = (
            f"filesrc location=\"{args.file}\" ! video/x-h264,stream-format=byte-stream,framerate={args.fps}/1"
            " ! h264parse ! video/x-h264,stream-format=byte-stream,alignment=au"
            f" ! identity name=count eos-after={args.frames + 1 if args.frames > 0 else -1}"
            f" ! rtph264pay name=pay config-interval=-1 aggregate-mode=zero-latency pt={args.pt} mtu=1200"
            f" ! application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,payload={args.pt}"
            f",packetization-mode=(string)1,profile-level-id=(string){plid}"
            " ! identity name=pace sync=true"
            " ! webrtcbin name=webrtc bundle-policy=max-bundle"
        )
        if args.tone:
            # A microphone stand-in: a live sine tone, Opus in RTP, in the
            # same offer (one m-line each, bundled).
            desc += (
                f" audiotestsrc is-live=true wave=sine freq={args.tone} volume=0.5"
                " ! audio/x-raw,rate=48000,channels=1 ! audioconvert ! audioresample"
                " ! opusenc bitrate=64000 frame-size=20 ! rtpopuspay pt=111"
                " ! application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,payload=111"
                " ! webrtc."
            )
        self.pipe = Gst.parse_launch(desc)
        self.webrtc = self.pipe.get_by_name("webrtc")
        self.webrtc.connect("on-negotiation-needed", self.on_negotiation_needed)
        self.webrtc.connect("notify::ice-gathering-state", self.on_gathering)
        self.webrtc.connect("notify::ice-connection-state", self.on_state, "ice-connection-state")
        self.webrtc.connect("notify::connection-state", self.on_state, "connection-state")

        # Hold the media until DTLS is up: a file has no natural start, and
        # its first access unit is the only IDR for a whole GOP. The block
        # sits after the payloader so that its caps (which webrtcbin needs
        # for the offer) are already downstream, and before the pacing.
        pay_src = self.pipe.get_by_name("pay").get_static_pad("src")
        self.block_pad = pay_src
        self.block_id = pay_src.add_probe(
            Gst.PadProbeType.BLOCK | Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST,
            lambda *_: Gst.PadProbeReturn.OK,
        )
        count_src = self.pipe.get_by_name("count").get_static_pad("src")
        count_src.add_probe(Gst.PadProbeType.BUFFER, self.count_frame)
        count_src.add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, self.on_event)

        if args.ice_address:
            self.restrict_ice(args.ice_address)

        bus = self.pipe.get_bus()
        bus.add_signal_watch()
        bus.connect("message", self.on_message)

    def restrict_ice(self, addresses):
        # libnice leaves loopback out of its host candidates and, in 1.22's
        # webrtcbin, never pairs its other addresses with a 127.0.0.1 server
        # candidate; naming the local addresses makes it gather exactly those.
        try:
            gi.require_version("Nice", "0.1")
            from gi.repository import Nice
        except (ImportError, ValueError) as err:
            raise SystemExit(f"gst-whip-publish: --ice-address needs gir1.2-nice-0.1 ({err})")
        # webrtcbin 1.22 hands out its ICE object, and that its NiceAgent,
        # without a reference of the caller's own: keep both wrappers alive
        # as long as the process, so Python never drops a reference it was
        # not given (which frees webrtcbin's ICE agent under it).
        ice = self.webrtc.get_property("ice-agent")
        agent = ice.get_property("agent")
        _KEEP_ALIVE.extend([ice, agent])
        for text in addresses:
            addr = Nice.Address.new()
            if not addr.set_from_string(text):
                raise SystemExit(f"gst-whip-publish: --ice-address {text}: not an IP address")
            agent.add_local_address(addr)

    # --- negotiation -----------------------------------------------------
    def on_negotiation_needed(self, _element):
        for i in range(64):
            trans = self.webrtc.emit("get-transceiver", i)
            if trans is None:
                break
            # WHIP publishes; a send-only m-line is what the server expects.
            trans.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
        promise = Gst.Promise.new_with_change_func(self.on_offer_created, None)
        self.webrtc.emit("create-offer", None, promise)

    def transports(self):
        found = []
        for i in range(64):
            trans = self.webrtc.emit("get-transceiver", i)
            if trans is None:
                break
            dtls = trans.get_property("sender").get_property("transport")
            if dtls is not None and all(dtls is not t for t in found):
                found.append(dtls)
        return found

    def offer_reply(self, promise):
        if promise.wait() != Gst.PromiseResult.REPLIED:
            self.fail("create-offer did not reply")
            return None
        reply = promise.get_reply()
        offer = reply.get_value("offer") if reply and reply.has_field("offer") else None
        if offer is None:
            err = reply.get_value("error") if reply and reply.has_field("error") else "no offer"
            self.fail(f"create-offer failed: {err}")
            return None
        # The reply structure owns the offer: keep both alive together.
        return reply, offer

    def on_offer_created(self, promise, _data):
        got = self.offer_reply(promise)
        if got is None:
            return
        _reply, offer = got
        self.webrtc.emit("set-local-description", offer, Gst.Promise.new())
        GLib.idle_add(self.maybe_post)

    def on_gathering(self, *_):
        state = self.webrtc.get_property("ice-gathering-state")
        log(f"ice-gathering-state: {state.value_nick}")
        GLib.idle_add(self.maybe_post)

    def maybe_post(self):
        if self.offer_posted:
            return False
        state = self.webrtc.get_property("ice-gathering-state")
        local = self.webrtc.get_property("local-description")
        if state != GstWebRTC.WebRTCICEGatheringState.COMPLETE or local is None:
            return False
        self.offer_posted = True
        self.watch_dtls()
        offer = local.sdp.as_text()
        if self.args.verbose:
            sys.stderr.write("offer:\n" + offer)
        try:
            answer = self.post(offer)
        except RuntimeError as err:
            self.fail(str(err))
            return False
        if self.args.verbose:
            sys.stderr.write("answer:\n" + answer)
        res, sdp = GstSdp.SDPMessage.new_from_text(answer)
        if res != GstSdp.SDPResult.OK:
            self.fail("the answer is not SDP")
            return False
        desc = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, sdp)
        self.webrtc.emit("set-remote-description", desc, Gst.Promise.new())
        self.answered_at = time.monotonic()
        log("whip: answer set")
        return False

    def post(self, offer):
        # A WHIP/WHEP server may redirect (RFC 9725): a framechain centre
        # answers 307 to the pod holding the room, with a placement ticket
        # in the URL. urllib does not follow a 307 for POST; this does,
        # with the same offer, and drops the token when the origin
        # changes, as browsers do (the ticket carries what the pod needs).
        url = self.args.url
        headers = {"Content-Type": "application/sdp", **self.auth()}
        for _ in range(MAX_REDIRECTS + 1):
            req = urllib.request.Request(url, data=offer.encode(), method="POST", headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    status = resp.status
                    body = resp.read().decode()
                    location = resp.headers.get("Location")
                break
            except urllib.error.HTTPError as err:
                target = err.headers.get("Location") if err.code in (307, 308) else None
                if target:
                    err.read()
                    following = urllib.parse.urljoin(url, target)
                    if origin(following) != origin(url):
                        headers.pop("Authorization", None)
                    # The query holds the ticket: not logged.
                    log(f"whip: {err.code} redirect to {following.split('?')[0]}")
                    url = following
                    continue
                detail = err.read().decode(errors="replace").strip().splitlines()
                raise RuntimeError(f"whip: POST answered {err.code} {detail[0] if detail else ''}".strip())
            except (urllib.error.URLError, OSError) as err:
                raise RuntimeError(f"whip: POST failed: {err}")
        else:
            raise RuntimeError(f"whip: more than {MAX_REDIRECTS} redirects")
        if status != 201:
            raise RuntimeError(f"whip: POST answered {status}, expected 201")
        if location:
            self.location = urllib.parse.urljoin(url, location)
        log(f"whip: 201 Created, location {location}")
        return body

    def auth(self):
        return {"Authorization": f"Bearer {self.args.token}"} if self.args.token else {}

    def delete(self):
        if not self.location:
            return
        req = urllib.request.Request(self.location, method="DELETE", headers=self.auth())
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                log(f"whip: DELETE answered {resp.status}")
        except urllib.error.HTTPError as err:
            log(f"whip: DELETE answered {err.code}")
        except (urllib.error.URLError, OSError) as err:
            log(f"whip: DELETE failed: {err}")

    # --- state -----------------------------------------------------------
    def watch_dtls(self):
        for dtls in self.transports():
            dtls.connect("notify::state", self.on_dtls_state)

    def on_dtls_state(self, dtls, _pspec):
        state = dtls.get_property("state")
        log(f"dtls-state: {state.value_nick}")
        if state == GstWebRTC.WebRTCDTLSTransportState.CONNECTED:
            answered = getattr(self, "answered_at", None)
            if answered is not None:
                log(f"dtls: connected {1000 * (time.monotonic() - answered):.0f} ms after the answer")
            GLib.idle_add(self.release)
        elif state == GstWebRTC.WebRTCDTLSTransportState.FAILED:
            GLib.idle_add(self.fail, "DTLS handshake failed")

    def on_state(self, element, _pspec, name):
        state = element.get_property(name)
        log(f"{name}: {state.value_nick}")
        if state.value_nick == "failed":
            GLib.idle_add(self.fail, f"{name} failed")

    def release(self):
        if self.released:
            return False
        self.released = True
        self.connected_at = time.monotonic()
        # Start the clip's running time now, so identity paces it from here
        # instead of bursting the frames that queued up while connecting.
        clock = self.pipe.get_clock()
        if clock is not None:
            now = clock.get_time() - self.pipe.get_base_time()
            self.block_pad.set_offset(now)
        self.block_pad.remove_probe(self.block_id)
        log(f"media: flowing after {self.connected_at - self.started:.2f} s")
        return False

    def count_frame(self, _pad, _info):
        self.frames_sent += 1
        return Gst.PadProbeReturn.OK

    def on_event(self, _pad, info):
        if info.get_event().type == Gst.EventType.EOS and not self.eos:
            self.eos = True
            self.eos_at = time.monotonic()
            # Let the last packets leave the socket before tearing down.
            GLib.timeout_add(500, self.finish)
        return Gst.PadProbeReturn.OK

    def on_message(self, _bus, msg):
        if msg.type == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            src = msg.src.get_name() if msg.src else "?"
            self.fail(f"{src}: {err.message}" + (f" ({dbg.splitlines()[0]})" if dbg and self.args.verbose else ""))
        elif msg.type == Gst.MessageType.WARNING and self.args.verbose:
            err, _ = msg.parse_warning()
            log(f"warning: {err.message}")

    def fail(self, why):
        if self.failure is None:
            self.failure = why
            log(f"error: {why}")
        self.loop.quit()
        return False

    def finish(self):
        self.loop.quit()
        return False

    def on_timeout(self):
        if not self.released:
            self.fail(f"not connected within {self.args.connect_timeout} s")
        return False

    def on_deadline(self):
        if not self.eos:
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
        # Seconds from DTLS up to the clip's end (or to the stop): the pacing.
        end = self.eos_at or time.monotonic()
        elapsed = end - self.connected_at if self.connected_at else 0.0
        # The first access unit waits at the block until DTLS is up: it was
        # sent only if the media was released.
        sent = self.frames_sent if self.released else 0
        ok = self.failure is None and self.released
        log(
            f"result: {'ok' if ok else 'failed'} frames_sent={sent}"
            f" seconds={elapsed:.2f}" + ("" if ok else f" error={self.failure or 'not connected'}")
        )
        return 0 if ok else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True, help="WHIP endpoint, e.g. http://127.0.0.1:8080/whip/cam1")
    p.add_argument("--token", default=os.environ.get("WHIP_TOKEN"), help="bearer token (or $WHIP_TOKEN)")
    p.add_argument("--file", required=True, help="H.264 Annex-B elementary stream")
    p.add_argument("--fps", type=int, default=30, help="frame rate the file is paced at (default 30)")
    p.add_argument("--frames", type=int, default=0, help="send this many access units, then stop (0: whole file)")
    p.add_argument("--pt", type=int, default=102, help="RTP payload type to offer (default 102)")
    p.add_argument("--tone", type=float, default=0,
                   help="also send a sine tone of this frequency (Hz) as Opus audio (default: no audio)")
    p.add_argument("--connect-timeout", type=float, default=10.0, help="seconds to reach DTLS connected")
    p.add_argument("--duration", type=float, default=60.0, help="stop after this many seconds at most")
    p.add_argument("--ice-address", action="append", default=[],
                   help="gather ICE candidates on this local IP only (repeatable); "
                   "use 127.0.0.1 when the server's candidate is on loopback")
    p.add_argument("--verbose", action="store_true", help="print the SDP and warnings")
    args = p.parse_args()
    if not os.path.isfile(args.file):
        p.error(f"no such file: {args.file}")
    if args.fps <= 0 or args.duration <= 0 or args.connect_timeout <= 0:
        p.error("--fps, --duration and --connect-timeout must be positive")
    if args.tone < 0 or args.tone >= 24000:
        p.error("--tone must be between 0 (none) and 24000 Hz")
    Gst.init(None)
    for element in ("webrtcbin", "nicesrc", "dtlssrtpdec", "rtph264pay", "h264parse"):
        if Gst.ElementFactory.find(element) is None:
            print(f"gst-whip-publish: GStreamer element {element} missing "
                  "(gstreamer1.0-plugins-bad, gstreamer1.0-plugins-good, gstreamer1.0-nice)", file=sys.stderr)
            return 1
    return Publisher(args).run()


if __name__ == "__main__":
    sys.exit(main())
