// Lip-sync measurement. The sending side makes a test signal: once a
// second, an audible click (WebAudio) and a white flash (a canvas track)
// at the same instant, on a moving scene that carries the timestamp code
// (timecode.js) at the bottom and the caption a real camera feed would
// carry burnt in, where the clinic's pipeline redacts. The watching side
// timestamps each flash when it is presented (requestVideoFrameCallback)
// and each click's onset when it is played (an AudioWorklet on the
// received audio, mapped to the page clock by getOutputTimestamp), and
// pairs them: the offset is what a person would perceive. The flash frame's
// timestamp code gives the glass-to-glass latency of both tracks (both
// pages on machines whose clocks agree, typically the same machine).
import { drawCode, nowCode, readCode, stripRect, ageOf, percentile } from './timecode.js';

const WIDTH = 1920;
const HEIGHT = 1080;
const FPS = 30;
const FLASH_EVERY_MS = 1000;
// Pairs left out of the figures while the receiver's synchroniser settles
// (it moves its delays in steps over the first seconds of a call).
export const SETTLING_PAIRS = 4;
// The pairs of the `latest` figure: where the synchroniser has got to now.
// On a loaded machine the pipeline's delay moves, the synchroniser follows
// it in steps, and the early pairs of the call still carry its first
// guesses.
export const LATEST_PAIRS = 8;
// The caption a real camera feed would carry burnt in, where
// examples/telemedicine.yaml redacts (x, y, width, height at 1080p).
export const CAPTION = { x: 120, y: 67, width: 600, height: 135 };
// Where a flash is looked for: the middle of the picture, clear of the
// caption and of the code strip.
const PROBE = { x: 0.3, y: 0.35, width: 0.4, height: 0.3 };

/**
 * The test signal as a camera and a microphone track: { video, audio, stop }.
 * Every FLASH_EVERY_MS the frame is white (except the caption and the code)
 * and a 20 ms 1 kHz click starts in the same JavaScript turn.
 */
export function testSignal() {
  const canvas = document.createElement('canvas');
  canvas.width = WIDTH;
  canvas.height = HEIGHT;
  const ctx = canvas.getContext('2d');
  // captureStream(0): a frame is captured exactly when requestFrame() says,
  // so the flash frame is the one drawn at the click's instant.
  const video = canvas.captureStream(0).getVideoTracks()[0];

  const audioContext = new AudioContext({ sampleRate: 48000, latencyHint: 'interactive' });
  const destination = audioContext.createMediaStreamDestination();
  // A quiet hum keeps the audio flowing between clicks (no DTX gaps in
  // what the receiver's synchroniser sees).
  const hum = audioContext.createOscillator();
  hum.frequency.value = 220;
  const humGain = audioContext.createGain();
  humGain.gain.value = 0.01;
  hum.connect(humGain).connect(destination);
  hum.start();
  const click = audioContext.createBuffer(1, 960, 48000);
  const samples = click.getChannelData(0);
  for (let i = 0; i < samples.length; i++) samples[i] = 0.8 * Math.sin((2 * Math.PI * 1000 * i) / 48000);
  const audio = destination.stream.getAudioTracks()[0];

  let frame = 0;
  let nextFlash = performance.now() + FLASH_EVERY_MS;
  const timer = setInterval(() => {
    frame++;
    const now = performance.now();
    const flash = now >= nextFlash;
    if (flash) {
      nextFlash += FLASH_EVERY_MS * Math.ceil((now - nextFlash + 1) / FLASH_EVERY_MS);
      const source = audioContext.createBufferSource();
      source.buffer = click;
      source.connect(destination);
      source.start();
    }
    drawScene(ctx, frame, flash);
    drawCode(ctx, WIDTH, HEIGHT, nowCode());
    video.requestFrame();
  }, 1000 / FPS);
  return {
    video,
    audio,
    stop() {
      clearInterval(timer);
      video.stop();
      audioContext.close();
    },
  };
}

function drawScene(ctx, frame, flash) {
  ctx.fillStyle = flash ? '#ffffff' : '#303848';
  ctx.fillRect(0, 0, WIDTH, HEIGHT);
  if (!flash) {
    // A moving bar, so the encoders have motion to code.
    ctx.fillStyle = '#6a7fa8';
    ctx.fillRect((frame * 16) % WIDTH, HEIGHT * 0.25, 160, HEIGHT * 0.5);
  }
  // The caption: white text on a light box, as a camera's overlay would be.
  ctx.fillStyle = '#e0e0e0';
  ctx.fillRect(CAPTION.x, CAPTION.y, CAPTION.width, CAPTION.height);
  ctx.fillStyle = '#101010';
  ctx.font = 'bold 64px sans-serif';
  ctx.fillText('PATIENT NAME', CAPTION.x + 24, CAPTION.y + 92);
}

/**
 * Measures one received participant: call with the <video> showing it and
 * its MediaStream (audio and video). Returns the live results object
 * { flashes, clicks, offsets, g2gVideo, g2gAudio, summary() }.
 */
export async function measure(video, stream) {
  const results = {
    flashes: [], // { shown: page ms, sent: Date ms }
    clicks: [], // { heard: page ms of the onset }
    offsets: [], // click onset - flash presentation, ms (positive: sound behind)
    g2gVideo: [],
    g2gAudio: [],
    // The figures over the pairs after the first SETTLING_PAIRS; `pairs`
    // counts those. `latest` is the offset over the last LATEST_PAIRS
    // pairs alone.
    summary() {
      const offsets = this.offsets.slice(SETTLING_PAIRS);
      const video = this.g2gVideo.slice(SETTLING_PAIRS);
      const audio = this.g2gAudio.slice(SETTLING_PAIRS);
      return {
        pairs: offsets.length,
        offset: { p50: percentile(offsets, 50), p99: p99Abs(offsets) },
        latest: { pairs: Math.min(offsets.length, LATEST_PAIRS), p50: percentile(offsets.slice(-LATEST_PAIRS), 50) },
        g2gVideo: { p50: percentile(video, 50), p99: percentile(video, 99) },
        g2gAudio: { p50: percentile(audio, 50), p99: percentile(audio, 99) },
      };
    },
  };
  const dateMinusPage = () => Date.now() - performance.now();

  // Flashes: the first bright frame after a dark one, when it is shown.
  const probe = document.createElement('canvas');
  const probeCtx = probe.getContext('2d', { willReadFrequently: true });
  let bright = false;
  const onFrame = (_now, metadata) => {
    const w = video.videoWidth;
    const h = video.videoHeight;
    if (w && h) {
      probe.width = 64;
      probe.height = 36;
      probeCtx.drawImage(video, w * PROBE.x, h * PROBE.y, w * PROBE.width, h * PROBE.height, 0, 0, 64, 36);
      const luma = meanLuma(probeCtx.getImageData(0, 0, 64, 36).data);
      const isBright = luma > 200;
      if (isBright && !bright) {
        const shown = metadata.expectedDisplayTime;
        const rect = stripRect(w, h);
        const strip = document.createElement('canvas');
        strip.width = w;
        strip.height = rect.height;
        const stripCtx = strip.getContext('2d', { willReadFrequently: true });
        stripCtx.drawImage(video, 0, rect.y, w, rect.height, 0, 0, w, rect.height);
        const code = readCode(stripCtx.getImageData(0, 0, w, rect.height));
        const shownDate = shown + dateMinusPage();
        const age = code === null ? null : ageOf(code, Math.round(shownDate) % 4294967296);
        const flash = { shown, sent: age === null ? null : shownDate - age };
        if (age !== null) results.g2gVideo.push(age);
        results.flashes.push(flash);
        pair(results, flash, null);
      }
      bright = isBright;
    }
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);

  // Clicks: an onset detector on the received audio.
  const audioContext = new AudioContext({ sampleRate: 48000, latencyHint: 'interactive' });
  await audioContext.audioWorklet.addModule('/assets/onset-worklet.js');
  const detector = new AudioWorkletNode(audioContext, 'onset-detector');
  detector.port.onmessage = (event) => {
    const stamp = audioContext.getOutputTimestamp();
    // The sample at context time t is heard at performanceTime + (t - contextTime).
    const heard = stamp.performanceTime + (event.data.time - stamp.contextTime) * 1000;
    const click = { heard };
    results.clicks.push(click);
    pair(results, null, click);
  };
  const source = audioContext.createMediaStreamSource(stream);
  const silent = audioContext.createGain();
  silent.gain.value = 0;
  source.connect(detector).connect(silent).connect(audioContext.destination);
  results.stop = () => audioContext.close();
  return results;
}

// Pairs a new flash with the nearest unpaired click within 600 ms, or a
// new click with the nearest unpaired flash.
function pair(results, flash, click) {
  const within = 600;
  if (flash) {
    const found = results.clicks.find((c) => !c.paired && Math.abs(c.heard - flash.shown) < within);
    if (found) record(results, flash, found);
  } else {
    const found = results.flashes.find((f) => !f.paired && Math.abs(click.heard - f.shown) < within);
    if (found) record(results, found, click);
  }
}

function record(results, flash, click) {
  flash.paired = true;
  click.paired = true;
  results.offsets.push(click.heard - flash.shown);
  if (flash.sent !== null) results.g2gAudio.push(click.heard + (Date.now() - performance.now()) - flash.sent);
}

function meanLuma(data) {
  let sum = 0;
  for (let o = 0; o < data.length; o += 4) sum += 0.299 * data[o] + 0.587 * data[o + 1] + 0.114 * data[o + 2];
  return sum / (data.length / 4);
}

function p99Abs(values) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => Math.abs(a) - Math.abs(b));
  return sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)];
}
