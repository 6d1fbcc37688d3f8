// What the publish and watch pages share: the stream name and token fields,
// H.264 codec preferences, and the WHIP/WHEP exchange (one POST of a
// complete offer, no trickle ICE: the server is ICE-lite and answers with
// its only candidate).

/**
 * Fills the stream field from ?stream=NAME and the token field from a
 * #token=TOKEN fragment. The fragment never reaches the server; it is
 * removed from the address bar at once so the token does not linger in
 * the history. Tokens never go into the query string.
 */
export function prefill(streamInput, tokenInput) {
  const params = new URLSearchParams(location.search);
  if (params.get('stream')) streamInput.value = params.get('stream');
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get('token')) {
    tokenInput.value = fragment.get('token');
    history.replaceState(null, '', location.pathname + location.search);
  }
}

/**
 * The H.264 packetization-mode=1 codecs of `capabilities` first (constrained
 * baseline before the others, as every decoder takes it), then their
 * retransmission (RTX) entries. Throws if the browser has no H.264.
 */
export function h264First(capabilities) {
  const codecs = capabilities ? capabilities.codecs : [];
  const isH264 = (c) =>
    c.mimeType.toLowerCase() === 'video/h264' && /packetization-mode=1/.test(c.sdpFmtpLine || '');
  const rank = (c) => (/profile-level-id=42e0/.test(c.sdpFmtpLine || '') ? 0 : 1);
  const h264 = codecs.filter(isH264).sort((a, b) => rank(a) - rank(b));
  if (!h264.length) throw new Error('this browser cannot do H.264 (packetization-mode=1) over WebRTC');
  const rtx = codecs.filter((c) => c.mimeType.toLowerCase() === 'video/rtx');
  return [...h264, ...rtx];
}

/** Resolves when ICE gathering completes, or after `ms` (then with what there is). */
export function gatheringComplete(pc, ms = 2000) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    }
    function check() {
      if (pc.iceGatheringState === 'complete') done();
    }
    pc.addEventListener('icegatheringstatechange', check);
  });
}

/**
 * Creates the offer, waits for gathering, POSTs it to `endpoint` with the
 * bearer token, applies the answer and returns the resource URL (for
 * DELETE). A refusal throws an Error with the server's one-line reason.
 * A redirect (a centre's 307 to the pod holding the room) is followed by
 * fetch with the same offer; the resource is then on the server that
 * answered (the response's final URL).
 */
export async function exchange(pc, endpoint, token) {
  await pc.setLocalDescription(await pc.createOffer());
  await gatheringComplete(pc);
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` },
    body: pc.localDescription.sdp,
  });
  const body = await response.text();
  if (response.status !== 201) {
    const retry = response.headers.get('Retry-After');
    const more = retry ? ` (retry after ${retry} s)` : '';
    // The server's errors are one line; anything longer is not its answer.
    const reason = body.trim().split('\n')[0].slice(0, 200) || response.statusText;
    throw new Error(`${response.status}: ${reason}${more}`);
  }
  await pc.setRemoteDescription({ type: 'answer', sdp: body });
  const location = response.headers.get('Location');
  const answeredAt = response.url || new URL(endpoint, document.baseURI).href;
  return location ? new URL(location, answeredAt).href : null;
}

/** Ends a WHIP/WHEP resource; failures are ignored (the call is over anyway). */
export async function release(resource, token) {
  if (!resource) return;
  try {
    await fetch(resource, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
  } catch (_) {
    // The server may be gone; nothing more to do.
  }
}

/** Sets an element's text. */
export function show(id, text) {
  const element = document.getElementById(id);
  if (element) element.textContent = text;
}

/** "12.3" for a number, "–" for null/undefined. */
export function ms(value) {
  return value === null || value === undefined ? '–' : Number(value).toFixed(1);
}

/**
 * Mean colour and luma range of a rectangle of the picture a video element
 * shows now, in video pixels: { r, g, b, luma, min, max }, or null before
 * its first picture. The browser tests check redaction with it (through
 * the pages' window.framechainSample and window.framechainSampleRemote).
 */
let sampleCtx = null;
export function samplePicture(video, x, y, width, height) {
  const w = video.videoWidth;
  const h = video.videoHeight;
  if (!w || !h) return null;
  if (!sampleCtx) {
    sampleCtx = document.createElement('canvas').getContext('2d', { willReadFrequently: true });
  }
  sampleCtx.canvas.width = w;
  sampleCtx.canvas.height = h;
  sampleCtx.drawImage(video, 0, 0, w, h);
  const data = sampleCtx.getImageData(x, y, width, height).data;
  let r = 0, g = 0, b = 0, min = 255, max = 0;
  for (let o = 0; o < data.length; o += 4) {
    r += data[o];
    g += data[o + 1];
    b += data[o + 2];
    const luma = 0.299 * data[o] + 0.587 * data[o + 1] + 0.114 * data[o + 2];
    min = Math.min(min, luma);
    max = Math.max(max, luma);
  }
  const n = data.length / 4;
  const sample = { r: r / n, g: g / n, b: b / n, min, max };
  sample.luma = 0.299 * sample.r + 0.587 * sample.g + 0.114 * sample.b;
  return sample;
}
