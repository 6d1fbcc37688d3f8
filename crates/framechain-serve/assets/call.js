// The call page: one participant of a visit. It publishes the camera and
// microphone with WHIP to /whip/ROOM and watches every other participant
// who publishes with WHEP at /whep/ROOM/PARTICIPANT, all with the
// participant's signed token. The room's people and how each one's video
// is processed come from GET /rooms/ROOM.
//
// The link: /call?room=ROOM#token=JWT. The token is read from the fragment
// (which never reaches the server), kept for this tab only, and removed
// from the address bar at once. `&source=test` sends the lip-sync test
// signal (sync.js) instead of the camera and microphone; `&measure=1`
// measures the sync of what the page receives (the flashes and clicks of
// the others' test signal).
//
// Through a centre: `&center=URL` sends the offers to the centre's URL,
// which redirects them (307, with a placement ticket) to the pod holding
// the room. The pod's origin is learnt from where the offer was answered
// (the response's final URL), and the room's state and the calls' ends go
// straight there (docs/center.md, "How a browser reaches a pod").
import { h264First, exchange, release, show, ms, samplePicture } from './webrtc.js';
import { testSignal, measure } from './sync.js';

const $ = (id) => document.getElementById(id);
const POLL_MS = 2000;
const params = new URLSearchParams(location.search);
const room = params.get('room') || '';
const useTestSignal = params.get('source') === 'test';
const measuring = params.get('measure') === '1';
const center = centerOf(params.get('center'));

// What a test (or a curious person in the console) can read.
const status = (window.framechainCall = {
  state: 'idle', room, me: null, publishing: false, people: [], remotes: {}, error: null, pod: null,
});

const token = takeToken();
const me = claimsOf(token);
status.me = me && { id: me.sub, role: me.role };

let call = null; // { pc, resource, pod, source, remotes: Map, timer }

showWho();
$('join').addEventListener('click', join);
$('leave').addEventListener('click', () => leave('You left the visit.'));
$('mic').addEventListener('click', () => toggle('audio', $('mic'), 'Mute microphone', 'Unmute microphone'));
$('camera').addEventListener('click', () => toggle('video', $('camera'), 'Turn camera off', 'Turn camera on'));
addEventListener('pagehide', () => leave('closed'));
if (params.get('autojoin') === '1') join();

// The centre's origin from `&center=`, or '' (offers go to this page's
// server). Only http(s) URLs; anything else is ignored.
function centerOf(text) {
  if (!text) return '';
  try {
    const url = new URL(text);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.origin : '';
  } catch (_) {
    return '';
  }
}

function takeToken() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const fromLink = fragment.get('token');
  if (fromLink) {
    sessionStorage.setItem(`framechain-token-${room}`, fromLink);
    history.replaceState(null, '', location.pathname + location.search);
    return fromLink;
  }
  return sessionStorage.getItem(`framechain-token-${room}`) || '';
}

// The token's claims, for display only: the server verifies the token.
function claimsOf(jwt) {
  try {
    const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')));
  } catch (_) {
    return null;
  }
}

function showWho() {
  if (!room || !me) {
    show('who', 'This link is not complete: ask the clinic for a new one.');
    $('join').disabled = true;
    return;
  }
  show('title', `Visit ${room}`);
  show('who', `You are ${me.sub} (${me.role}).`);
}

function setState(text, kind) {
  status.state = text;
  const element = $('state');
  element.textContent = text;
  element.className = `state ${kind || ''}`;
}

function fail(message) {
  status.error = message;
  show('error', message);
}

async function join() {
  if (call) return;
  fail('');
  status.error = null;
  $('join').disabled = true;
  call = { pc: null, resource: null, pod: '', source: null, remotes: new Map(), timer: null };
  try {
    setState('Starting your camera…');
    call.source = await openSource();
    $('preview').srcObject = new MediaStream(call.source.tracks);
    await publish(call);
    $('mic').disabled = !call.source.tracks.some((t) => t.kind === 'audio');
    $('camera').disabled = false;
    $('leave').disabled = false;
    await refreshRoom(call);
    call.timer = setInterval(() => refreshRoom(call), POLL_MS);
  } catch (error) {
    fail(String(error.message || error));
    leave(null);
  }
}

// The camera and microphone (the microphone is optional: a participant
// without one is seen, not heard), or the test signal.
async function openSource() {
  if (useTestSignal) {
    const signal = testSignal();
    return { tracks: [signal.video, signal.audio], stop: () => signal.stop() };
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 1920 }, height: { ideal: 1080 }, frameRate: { ideal: 30 } },
      audio: { echoCancellation: true, noiseSuppression: true },
    });
  } catch (_) {
    stream = await navigator.mediaDevices.getUserMedia({ video: true });
  }
  return { tracks: stream.getTracks(), stop: () => stream.getTracks().forEach((t) => t.stop()) };
}

async function publish(current) {
  const pc = (current.pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' }));
  const stream = new MediaStream(current.source.tracks);
  pc.addEventListener('connectionstatechange', () => {
    const state = pc.connectionState;
    status.publishing = state === 'connected';
    if (state === 'connected') setState('Connected', 'connected');
    else if (state === 'failed') setState('Your connection failed', 'trouble');
    show('connection', state);
  });
  for (const track of current.source.tracks) {
    const transceiver = pc.addTransceiver(track, {
      direction: 'sendonly',
      streams: [stream],
      sendEncodings: track.kind === 'video' ? [{ maxBitrate: 4_000_000, maxFramerate: 30 }] : undefined,
    });
    if (track.kind === 'video') {
      transceiver.setCodecPreferences(h264First(RTCRtpSender.getCapabilities('video')));
    }
  }
  setState('Connecting…');
  current.resource = await exchange(pc, `${center}/whip/${encodeURIComponent(room)}`, token);
  // The pod that answered (after the centre's redirect) holds the room.
  current.pod = center && current.resource ? new URL(current.resource).origin : '';
  status.pod = current.pod || location.origin;
  // The pipeline redacts areas given in source pixels: drop frames rather
  // than shrink the picture when the CPU or the network is short.
  for (const sender of pc.getSenders()) {
    if (sender.track && sender.track.kind === 'video') {
      const parameters = sender.getParameters();
      parameters.degradationPreference = 'maintain-resolution';
      await sender.setParameters(parameters).catch(() => {});
    }
  }
}

// Who is in the room, who publishes, and how each one's video is processed.
async function refreshRoom(current) {
  if (call !== current) return;
  let info;
  try {
    const response = await fetch(`${current.pod}/rooms/${encodeURIComponent(room)}`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    const body = await response.text();
    if (!response.ok) {
      const reason = body.trim().split('\n')[0].slice(0, 200);
      if (response.status === 404 || response.status === 403 || response.status === 401) {
        leave(`The visit is over or you may not take part (${reason}).`);
      }
      return;
    }
    info = JSON.parse(body);
  } catch (_) {
    return; // The next poll tries again.
  }
  status.people = info.participants;
  showPeople(info);
  for (const person of info.participants) {
    if (person.id === me.sub || !person.publishing || current.remotes.has(person.id)) continue;
    watch(current, person);
  }
  for (const [id, remote] of current.remotes) {
    const person = info.participants.find((p) => p.id === id);
    if (!person || !person.publishing) endRemote(current, id, remote);
  }
  $('waiting').hidden = current.remotes.size > 0;
}

function showPeople(info) {
  const list = $('people');
  list.replaceChildren(...info.participants.map((person) => {
    const item = document.createElement('li');
    const you = person.id === me.sub ? ' (you)' : '';
    const state = person.publishing ? 'in the call' : 'not joined';
    item.textContent = `${person.id}${you}: ${person.role}, ${state}`;
    return item;
  }));
  const mine = info.participants.find((p) => p.id === me.sub);
  const notice = $('notice');
  if (mine && mine.video === 'redacted') {
    notice.textContent = 'Your video is redacted before anyone sees it: names and marked areas are blacked out by the clinic\'s server.';
  } else {
    const redacted = info.participants.filter((p) => p.id !== me.sub && p.video === 'redacted');
    notice.textContent = redacted.length
      ? `The video of ${redacted.map((p) => p.id).join(', ')} is redacted by the clinic's server before you see it.`
      : '';
  }
  notice.hidden = !notice.textContent;
}

async function watch(current, person) {
  const figure = document.createElement('figure');
  const video = document.createElement('video');
  video.autoplay = true;
  video.playsInline = true;
  const caption = document.createElement('figcaption');
  caption.textContent = `${person.id} (${person.role}): connecting…`;
  figure.append(video, caption);
  $('remotes').append(figure);
  const remote = {
    pc: new RTCPeerConnection({ bundlePolicy: 'max-bundle' }),
    resource: null, figure, video, stream: new MediaStream(), sync: null, timer: null,
    status: { id: person.id, role: person.role, state: 'connecting', width: 0, height: 0,
      framesDecoded: 0, audioPackets: 0, audioEnergy: 0, latency: null, sync: null },
  };
  current.remotes.set(person.id, remote);
  status.remotes[person.id] = remote.status;
  const { pc } = remote;
  pc.addEventListener('connectionstatechange', () => {
    remote.status.state = pc.connectionState;
    caption.textContent = `${person.id} (${person.role})${pc.connectionState === 'connected' ? '' : `: ${pc.connectionState}`}`;
    if (pc.connectionState === 'failed' || pc.connectionState === 'closed') endRemote(current, person.id, remote);
  });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  const videoTransceiver = pc.addTransceiver('video', { direction: 'recvonly' });
  videoTransceiver.setCodecPreferences(h264First(RTCRtpReceiver.getCapabilities('video')));
  pc.addEventListener('track', (event) => {
    remote.stream.addTrack(event.track);
    video.srcObject = remote.stream;
    if (measuring && event.track.kind === 'audio' && !remote.sync) {
      measure(video, remote.stream).then((sync) => { remote.sync = sync; }).catch((e) => fail(`sync: ${e.message}`));
    }
  });
  try {
    remote.resource = await exchange(pc, `${center}/whep/${encodeURIComponent(room)}/${encodeURIComponent(person.id)}`, token);
    remote.timer = setInterval(() => sample(remote), 1000);
  } catch (error) {
    fail(`Cannot see ${person.id}: ${error.message}`);
    endRemote(current, person.id, remote);
  }
}

async function sample(remote) {
  const report = await remote.pc.getStats();
  report.forEach((entry) => {
    if (entry.type !== 'inbound-rtp') return;
    if (entry.kind === 'video') {
      remote.status.framesDecoded = entry.framesDecoded || 0;
    } else if (entry.kind === 'audio') {
      remote.status.audioPackets = entry.packetsReceived || 0;
      remote.status.audioEnergy = entry.totalAudioEnergy || 0;
    }
  });
  remote.status.width = remote.video.videoWidth;
  remote.status.height = remote.video.videoHeight;
  if (remote.sync) {
    remote.status.sync = remote.sync.summary();
    const s = remote.status.sync;
    show('latency', `${ms(s.g2gVideo.p50)} (sound ${ms(s.g2gAudio.p50)})`);
    show('sync', `${ms(s.offset.p50 === null ? null : -s.offset.p50)}`);
  }
}

/**
 * Mean colour and luma range of a rectangle of one participant's picture
 * as shown now (webrtc.js, samplePicture). The browser test checks
 * redaction with it.
 */
window.framechainSampleRemote = (id, x, y, width, height) => {
  const remote = call && call.remotes.get(id);
  return remote && remote.video ? samplePicture(remote.video, x, y, width, height) : null;
};

function endRemote(current, id, remote) {
  if (current.remotes.get(id) !== remote) return;
  current.remotes.delete(id);
  clearInterval(remote.timer);
  if (remote.sync && remote.sync.stop) remote.sync.stop();
  remote.pc.close();
  remote.figure.remove();
  remote.status.state = 'ended';
  release(remote.resource, token);
  $('waiting').hidden = current.remotes.size > 0;
}

function toggle(kind, button, onText, offText) {
  if (!call || !call.source) return;
  const tracks = call.source.tracks.filter((t) => t.kind === kind);
  const off = button.getAttribute('aria-pressed') !== 'true';
  tracks.forEach((t) => { t.enabled = !off; });
  button.setAttribute('aria-pressed', String(off));
  button.textContent = off ? offText : onText;
}

function leave(message) {
  if (!call) return;
  const ending = call;
  call = null;
  clearInterval(ending.timer);
  for (const [id, remote] of ending.remotes) endRemote(ending, id, remote);
  if (ending.pc) ending.pc.close();
  if (ending.source) ending.source.stop();
  $('preview').srcObject = null;
  release(ending.resource, token);
  status.publishing = false;
  $('join').disabled = !me;
  for (const id of ['mic', 'camera', 'leave']) $(id).disabled = true;
  if (message) setState(message, 'trouble');
}
