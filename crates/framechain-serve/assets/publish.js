// The publish page: a camera, a test pattern or a file, sent with WHIP.
import { prefill, h264First, exchange, release, show } from './webrtc.js';
import { drawCode, nowCode } from './timecode.js';

const $ = (id) => document.getElementById(id);
const FPS = 30;
// The caption a real camera feed would carry burnt in, where
// examples/telemedicine.yaml redacts (x, y, width, height at 1080p).
const CAPTION = { x: 120, y: 67, width: 600, height: 135 };

// What a test (or a curious person in the console) can read.
const status = (window.framechainPublish = {
  state: 'idle', width: 0, height: 0, fps: 0, bitrateKbps: 0, framesSent: 0,
  encoder: '', qualityLimitation: '', error: null,
});

let call = null; // { pc, resource, token, tracks, timers, cleanups }

prefill($('stream'), $('token'));
$('source').addEventListener('change', () => { $('file').hidden = $('source').value !== 'file'; });
$('form').addEventListener('submit', (event) => { event.preventDefault(); start(); });
$('stop').addEventListener('click', () => stop('stopped'));
addEventListener('pagehide', () => stop('closed'));

function setState(state) {
  status.state = state;
  show('state', state);
}

function fail(error) {
  status.error = String(error.message || error);
  show('error', status.error);
  stop('failed');
}

async function start() {
  if (call) return;
  show('error', '');
  status.error = null;
  $('start').disabled = true;
  $('stop').disabled = false;
  call = { pc: null, resource: null, token: $('token').value, tracks: [], timers: [], cleanups: [] };
  try {
    setState('opening source');
    const track = await openSource($('source').value, call);
    call.tracks.push(track);
    $('preview').srcObject = new MediaStream([track]);

    const pc = (call.pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' }));
    pc.addEventListener('connectionstatechange', () => {
      setState(pc.connectionState);
      if (pc.connectionState === 'failed') fail(new Error('the connection failed (ICE or DTLS)'));
    });
    const transceiver = pc.addTransceiver(track, {
      direction: 'sendonly',
      sendEncodings: [{ maxBitrate: 4_000_000, maxFramerate: FPS }],
    });
    transceiver.setCodecPreferences(h264First(RTCRtpSender.getCapabilities('video')));
    setState('connecting');
    const endpoint = `/whip/${encodeURIComponent($('stream').value)}`;
    call.resource = await exchange(pc, endpoint, call.token);
    await keepResolution(transceiver.sender);
    call.timers.push(setInterval(() => sample(pc), 1000));
  } catch (error) {
    fail(error);
  }
}

// The pipeline redacts areas given in source pixels, so the browser must
// not shrink the picture when its CPU or the network is short: it drops
// frames instead.
async function keepResolution(sender) {
  try {
    const parameters = sender.getParameters();
    parameters.degradationPreference = 'maintain-resolution';
    await sender.setParameters(parameters);
  } catch (error) {
    console.warn('degradationPreference not applied:', error);
  }
}

async function openSource(kind, call) {
  if (kind === 'camera') {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { width: { ideal: 1920 }, height: { ideal: 1080 }, frameRate: { ideal: FPS } },
    });
    return stream.getVideoTracks()[0];
  }
  if (kind === 'file') {
    const file = $('file').files[0];
    if (!file) throw new Error('choose a video file first');
    const video = document.createElement('video');
    video.muted = true;
    video.loop = true;
    video.playsInline = true;
    video.src = URL.createObjectURL(file);
    call.cleanups.push(() => { video.pause(); URL.revokeObjectURL(video.src); });
    await video.play();
    const track = video.captureStream().getVideoTracks()[0];
    if (!track) throw new Error('the file has no video track this browser can play');
    return track;
  }
  return patternTrack(call);
}

// A 1920x1080 30 fps scene: moving shapes (so the encoders have motion to
// code), a caption where the pipeline redacts, and the timestamp code at the
// bottom drawn with the time of each picture.
function patternTrack(call) {
  const canvas = $('pattern');
  const ctx = canvas.getContext('2d', { alpha: false });
  const { width, height } = canvas;
  let frame = 0;
  const draw = () => {
    const t = frame / FPS;
    const hue = (frame * 2) % 360;
    const gradient = ctx.createLinearGradient(0, 0, width, height);
    gradient.addColorStop(0, `hsl(${hue}, 60%, 45%)`);
    gradient.addColorStop(1, `hsl(${(hue + 120) % 360}, 60%, 35%)`);
    ctx.fillStyle = gradient;
    ctx.fillRect(0, 0, width, height);
    // A bouncing ball and a sweeping bar.
    const bx = width / 2 + Math.sin(t * 1.3) * width * 0.35;
    const by = height / 2 + Math.cos(t * 0.9) * height * 0.25;
    ctx.fillStyle = '#ffd54f';
    ctx.beginPath();
    ctx.arc(bx, by, 90, 0, 2 * Math.PI);
    ctx.fill();
    ctx.fillStyle = 'rgba(255,255,255,0.5)';
    ctx.fillRect((frame * 12) % width, 260, 40, height - 420);
    // The burnt-in caption the pipeline must hide.
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(CAPTION.x, CAPTION.y, CAPTION.width, CAPTION.height);
    ctx.fillStyle = '#c62828';
    ctx.font = 'bold 44px sans-serif';
    ctx.fillText('PATIENT: JANE DOE', CAPTION.x + 20, CAPTION.y + 60);
    ctx.fillText('MRN 0012345', CAPTION.x + 20, CAPTION.y + 115);
    // A readable clock for people.
    const code = nowCode();
    ctx.fillStyle = '#ffffff';
    ctx.font = 'bold 96px monospace';
    ctx.fillText(new Date().toISOString().slice(11, 23), 620, 620);
    ctx.font = '48px monospace';
    ctx.fillText(`frame ${frame}`, 620, 700);
    drawCode(ctx, width, height, code);
    frame++;
  };
  draw();
  const ticker = new Worker('/assets/ticker.js');
  ticker.onmessage = draw;
  ticker.postMessage(1000 / FPS);
  call.cleanups.push(() => ticker.terminate());
  const track = canvas.captureStream(FPS).getVideoTracks()[0];
  // Tell the encoder that detail matters more than motion.
  track.contentHint = 'detail';
  return track;
}

let last = null;
async function sample(pc) {
  const report = await pc.getStats();
  report.forEach((entry) => {
    if (entry.type !== 'outbound-rtp' || entry.kind !== 'video') return;
    if (last && entry.timestamp > last.timestamp) {
      status.bitrateKbps = Math.round(
        ((entry.bytesSent - last.bytesSent) * 8) / (entry.timestamp - last.timestamp));
    }
    last = { bytesSent: entry.bytesSent, timestamp: entry.timestamp };
    status.width = entry.frameWidth || 0;
    status.height = entry.frameHeight || 0;
    status.fps = entry.framesPerSecond || 0;
    status.framesSent = entry.framesSent || 0;
    status.encoder = entry.encoderImplementation || '';
    status.qualityLimitation = entry.qualityLimitationReason || '';
  });
  show('size', `${status.width}x${status.height} at ${status.fps} fps, ${status.framesSent} frames`);
  show('bitrate', `${status.bitrateKbps} kbit/s`);
  const limited = status.qualityLimitation && status.qualityLimitation !== 'none'
    ? ` (limited by ${status.qualityLimitation})` : '';
  show('encoder', status.encoder + limited);
}

async function stop(state) {
  if (!call) return;
  const ending = call;
  call = null;
  last = null;
  ending.timers.forEach(clearInterval);
  ending.cleanups.forEach((cleanup) => cleanup());
  ending.tracks.forEach((track) => track.stop());
  if (ending.pc) ending.pc.close();
  $('preview').srcObject = null;
  setState(state);
  $('start').disabled = false;
  $('stop').disabled = true;
  await release(ending.resource, ending.token);
}
