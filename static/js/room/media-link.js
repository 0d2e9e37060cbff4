// The plumbing of one RTCPeerConnection to the forwarder: codecs, trickled candidates, watchdogs.

// A connection that stays disconnected this long, or never connects, is rebuilt.
const DISCONNECTED_MS = 4000;
const CONNECT_TIMEOUT_MS = 15000;
export const RESTART_MIN_GAP_MS = 3000;
export const JOIN_TIMEOUT_MS = 10000;

/** A promise with its resolve function, for a reply that comes as a later event. */
export function deferred() {
  let resolve;
  const promise = new Promise((r) => {
    resolve = r;
  });
  promise.resolve = resolve;
  return promise;
}

/** Reject if a promise takes longer than ms. */
export function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no reply within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Keep only the codecs the forwarder handles (VP8 first, H264; Opus), without RTX. */
export function preferCodecs(transceiver, kind) {
  if (typeof transceiver.setCodecPreferences !== "function" || !window.RTCRtpReceiver?.getCapabilities) return;
  const codecs = RTCRtpReceiver.getCapabilities(kind)?.codecs || [];
  const rank = (mime) => (kind === "audio" ? (mime === "audio/opus" ? 0 : -1) : ["video/VP8", "video/H264"].indexOf(mime));
  const wanted = codecs.filter((c) => rank(c.mimeType) >= 0).sort((a, b) => rank(a.mimeType) - rank(b.mimeType));
  if (wanted.length === 0) return;
  try {
    transceiver.setCodecPreferences(wanted);
  } catch (error) {
    console.warn("codec preferences refused", error);
  }
}

/**
 * One of the two peer connections (`name`: publish or subscribe), with its trickled candidates
 * held until its SDP is sent. The engine gives `iceServers`, `room` and `restart(link)`.
 */
export class Link {
  constructor(engine, name) {
    this.engine = engine;
    this.name = name;
    this.pc = new RTCPeerConnection({ iceServers: engine.iceServers, bundlePolicy: "max-bundle" });
    engine.connectionsMade += 1;
    this.signalled = false;
    this.queue = [];
    this.timers = new Set();
    this.pc.addEventListener("icecandidate", (event) => {
      if (!event.candidate || !event.candidate.candidate) return;
      const message = {
        type: "media.candidate",
        pc: name,
        candidate: event.candidate.candidate,
        sdp_mid: event.candidate.sdpMid,
        sdp_mline_index: event.candidate.sdpMLineIndex,
      };
      if (this.signalled) engine.room.post(message);
      else this.queue.push(message);
    });
    let disconnected = null;
    this.pc.addEventListener("iceconnectionstatechange", () => {
      const state = this.pc.iceConnectionState;
      this.clear(disconnected);
      if (state === "failed") engine.restart(this);
      else if (state === "disconnected") disconnected = this.later(DISCONNECTED_MS, () => engine.restart(this));
    });
  }

  get connected() {
    return ["connected", "completed"].includes(this.pc.iceConnectionState);
  }

  /** The SDP went to the server: send the candidates found meanwhile, and watch the connection come up. */
  signalledNow() {
    this.signalled = true;
    for (const message of this.queue.splice(0)) this.engine.room.post(message);
    this.later(CONNECT_TIMEOUT_MS, () => {
      if (!this.connected) this.engine.restart(this);
    });
  }

  later(ms, fn) {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  clear(timer) {
    if (timer === null) return;
    clearTimeout(timer);
    this.timers.delete(timer);
  }

  close() {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.pc.close();
  }
}
