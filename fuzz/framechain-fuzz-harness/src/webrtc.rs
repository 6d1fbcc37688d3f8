//! The WebRTC targets: what `framechain serve` does with untrusted bytes
//! outside the sandbox, in str0m (SDP offers; STUN, DTLS, RTP and RTCP
//! datagrams), through `framechain_serve::fuzzing`, the server's own code
//! path without sockets or threads. The promise checked is that the server
//! survives: no panic, whatever the bytes.

/// The head of one send-only media section of [`OFFER`]: its `m=` line
/// (`MEDIA PORT PROTO FORMATS`), then the transport every section shares
/// (the fixed ICE credentials, the fingerprint, rtcp-mux), its `mid`, any
/// further header extensions, and its track; the codec lines follow.
macro_rules! media_section {
    ($m:literal, $mid:literal, $extmaps:literal, $track:literal) => {
        concat!(
            "m=", $m, "\r\n\
c=IN IP4 0.0.0.0\r\n\
a=rtcp:9 IN IP4 0.0.0.0\r\n\
a=ice-ufrag:fuzz\r\n\
a=ice-pwd:fuzzfuzzfuzzfuzzfuzzfuzz\r\n\
a=ice-options:trickle\r\n\
a=fingerprint:sha-256 0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9\r\n\
a=setup:actpass\r\n\
a=mid:", $mid, "\r\n\
a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\n",
            $extmaps,
            "a=sendonly\r\n\
a=msid:- ", $track, "\r\n\
a=rtcp-mux\r\n"
        )
    };
}

/// The offer the datagram target's call is opened from: an H.264
/// (packetization mode 1) send-only video and Opus (with RED, in-band FEC
/// and DTX) send-only audio offer as a WHIP publisher with a camera and a
/// microphone makes it, written for the fuzzer (self-made; fixed ICE credentials `fuzz` /
/// `fuzzfuzzfuzzfuzzfuzzfuzz`, and a host candidate at the address the
/// fuzzed datagrams come from, 127.0.0.1:50000).
pub const OFFER: &str = concat!(
    "v=0\r\n\
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0 1\r\n\
a=msid-semantic: WMS\r\n",
    media_section!(
        "video 9 UDP/TLS/RTP/SAVPF 96 97",
        "0",
        "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n",
        "fuzz-video"
    ),
    "a=rtpmap:96 H264/90000\r\n\
a=rtcp-fb:96 nack\r\n\
a=rtcp-fb:96 nack pli\r\n\
a=rtcp-fb:96 ccm fir\r\n\
a=fmtp:96 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n\
a=rtpmap:97 rtx/90000\r\n\
a=fmtp:97 apt=96\r\n\
a=ssrc-group:FID 1111 2222\r\n\
a=ssrc:1111 cname:fuzz\r\n\
a=ssrc:2222 cname:fuzz\r\n\
a=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\n\
a=end-of-candidates\r\n",
    media_section!("audio 9 UDP/TLS/RTP/SAVPF 111 63", "1", "", "fuzz-audio"),
    "a=rtpmap:111 opus/48000/2\r\n\
a=rtcp-fb:111 transport-cc\r\n\
a=fmtp:111 minptime=10;useinbandfec=1;usedtx=1\r\n\
a=rtpmap:63 red/48000/2\r\n\
a=fmtp:63 111/111\r\n\
a=ssrc:3333 cname:fuzz\r\n",
);

/// An SDP offer (any bytes), taken as a publisher's and as a viewer's,
/// exactly as `POST /whip` and `POST /whep` take it after their size and
/// token checks. Accepted or refused, the server must not panic.
pub fn webrtc_offer(data: &[u8]) {
    let accepted = framechain_serve::fuzzing::offer(data);
    assert!(accepted <= 2);
}

/// Datagrams (each a 2-byte big-endian length, then its bytes) arriving
/// from the peer's address at a call opened from [`OFFER`], handled as the
/// media loop handles them, time advancing 5 ms per datagram and then a
/// second. The server must not panic, and must not spin.
pub fn webrtc_datagrams(data: &[u8]) {
    let taken = framechain_serve::fuzzing::datagrams(OFFER, data);
    // At most one datagram per two bytes of input (each has a length).
    assert!(taken <= data.len() / 2);
}
