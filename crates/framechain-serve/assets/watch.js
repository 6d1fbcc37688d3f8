// The watch page: the processed video over WHEP, the latencies the server
// measures, and the glass-to-glass latency read from the timestamp code.
import { prefill, h264First, exchange, release, show, ms, samplePicture } from './webrtc.js';
import { readCode, stripRect, ageOf, percentile } from './timecode.js';

const $ = (id) => document.getElementById(id);
const MAX_SAMPLES = 20000;
const video = $('video');

// What a test (or a curious person in the console) can read.
const results = (window.framechainResults = {
  state: 'idle', width: 0, height: 0, framesDecoded: 0, framesDropped: 0,
  framesRead: 0, codeMisses: 0, g2gSamples: [], g2g: { p50: null, p99: null },
  server: null, decoder: '', samplePixels: null, error: null,
});

let call = null; // { pc, resource, token, stream, timers }

prefill($('stream'), $('token'));
$('form').addEventListener('submit', (event) => { event.preventDefault(); start(); });
$('stop').addEventListener('click', () => stop('stopped'));
addEventListener('pagehide', () => stop('closed'));

function setState(state) {
  results.state = state;
  show('state', state);
}

function fail(error) {
  results.error = String(error.message || error);
  show('error', results.error);
  stop('failed');
}

async function start() {
  if (call) return;
  show('error', '');
  results.error = null;
  $('start').disabled = true;
  $('stop').disabled = false;
  const stream = $('stream').value;
  call = { pc: null, resource: null, token: $('token').value, stream, timers: [] };
  try {
    const pc = (call.pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' }));
    pc.addEventListener('connectionstatechange', () => {
      setState(pc.connectionState);
      if (pc.connectionState === 'failed') fail(new Error('the connection failed (ICE or DTLS)'));
    });
    const transceiver = pc.addTransceiver('video', { direction: 'recvonly' });
    transceiver.setCodecPreferences(h264First(RTCRtpReceiver.getCapabilities('video')));
    pc.addEventListener('track', (event) => {
      video.srcObject = new MediaStream([event.track]);
      // Ends when the publisher leaves and the server ends the stream.
      event.track.addEventListener('ended', () => setState('stream ended'));
    });
    setState('connecting');
    call.resource = await exchange(pc, `/whep/${encodeURIComponent(stream)}`, call.token);
    call.timers.push(setInterval(() => poll(call), 1000));
  } catch (error) {
    fail(error);
  }
}

// Reads the timestamp code of every presented frame. requestVideoFrameCallback
// runs once per new frame, just before it is shown.
const strip = document.createElement('canvas');
const stripCtx = strip.getContext('2d', { willReadFrequently: true });
function onFrame(_now, metadata) {
  const w = video.videoWidth;
  const h = video.videoHeight;
  if (w && h) {
    // The wall-clock time this frame reaches the screen.
    const shown = Date.now() + (metadata.expectedDisplayTime - performance.now());
    const rect = stripRect(w, h);
    if (strip.width !== w || strip.height !== rect.height) {
      strip.width = w;
      strip.height = rect.height;
    }
    stripCtx.drawImage(video, 0, rect.y, w, rect.height, 0, 0, w, rect.height);
    const code = readCode(stripCtx.getImageData(0, 0, w, rect.height));
    const age = code === null ? null : ageOf(code, Math.round(shown) % 4294967296);
    if (age === null) {
      results.codeMisses++;
    } else {
      results.framesRead++;
      if (results.g2gSamples.length >= MAX_SAMPLES) results.g2gSamples.shift();
      results.g2gSamples.push(age);
    }
  }
  video.requestVideoFrameCallback(onFrame);
}
video.requestVideoFrameCallback(onFrame);

/**
 * Mean colour and luma range of a rectangle of the picture now shown
 * (webrtc.js, samplePicture), with the rectangle, also kept in the results.
 * Used by the browser test to check the redacted area is filled.
 */
window.framechainSample = (x, y, width, height) => {
  const picture = samplePicture(video, x, y, width, height);
  if (!picture) return null;
  const sample = { x, y, width, height, ...picture };
  results.samplePixels = sample;
  return sample;
};

async function poll(current) {
  if (!current.pc) return;
  const report = await current.pc.getStats();
  report.forEach((entry) => {
    if (entry.type !== 'inbound-rtp' || entry.kind !== 'video') return;
    results.framesDecoded = entry.framesDecoded || 0;
    results.framesDropped = entry.framesDropped || 0;
    results.decoder = entry.decoderImplementation || '';
  });
  results.width = video.videoWidth;
  results.height = video.videoHeight;
  // The last 10 s (300 frames) for the display; all samples for the test.
  const recent = results.g2gSamples.slice(-300);
  results.g2g = { p50: percentile(recent, 50), p99: percentile(recent, 99) };
  show('size', results.width ? `${results.width}x${results.height}` : '–');
  show('frames', `${results.framesDecoded} (${results.framesDropped} dropped, ${results.framesRead} codes read)`);
  show('g2g', results.framesRead ? `${ms(results.g2g.p50)} / ${ms(results.g2g.p99)}` : 'no timestamp code seen');
  try {
    const response = await fetch(`/streams/${encodeURIComponent(current.stream)}/stats`, {
      headers: { Authorization: `Bearer ${current.token}` },
    });
    if (!response.ok) throw new Error(`${response.status}: ${(await response.text()).trim()}`);
    showServer((results.server = await response.json()));
  } catch (error) {
    show('e2e', `stats unavailable (${error.message})`);
  }
}

function showServer(stats) {
  const latency = stats.latency_ms || {};
  const e2e = latency.end_to_end || {};
  show('e2e', `${ms(e2e.p50)} / ${ms(e2e.p99)}${stats.live ? '' : ' (no publisher)'}`);
  const frames = stats.frames || {};
  const dropped = Object.entries(frames.dropped || {}).map(([why, n]) => `${n} ${why}`).join(', ');
  show('counts', `${frames.in ?? '–'} / ${frames.out ?? '–'} / ${dropped || '0'}`);
  const rtp = stats.rtp || {};
  show('rtp', `${rtp.packets ?? '–'} / ${rtp.lost ?? '–'}`);
  const target = stats.bitrate && stats.bitrate.target;
  show('bitrate', target ? `${(target / 1e6).toFixed(2)} Mbit/s` : 'the pipeline\'s');
  const body = $('stages').tBodies[0];
  body.replaceChildren(...(latency.stages || []).map((stage) => {
    const row = document.createElement('tr');
    for (const text of [stage.name, ms(stage.p50), ms(stage.p99)]) {
      const cell = document.createElement('td');
      cell.textContent = text;
      row.append(cell);
    }
    return row;
  }));
}

async function stop(state) {
  if (!call) return;
  const ending = call;
  call = null;
  ending.timers.forEach(clearInterval);
  if (ending.pc) ending.pc.close();
  video.srcObject = null;
  setState(state);
  $('start').disabled = false;
  $('stop').disabled = true;
  await release(ending.resource, ending.token);
}
