// Camera, microphone and screen through the embedded forwarder (docs/media.md, "How the room page uses them").
//
// Two RTCPeerConnections: `publish`, offered by this page with four sendonly transceivers
// (microphone, camera 640x360, camera 160x90, screen) whose tracks are swapped with replaceTrack;
// `subscribe`, offered by the server with a fixed set of slots that `media.sources` maps to
// participants. The server decides what is forwarded; this page only asks.
//
// The server asks this page to stop encoding a camera layer nobody receives (`media.camera_layers`):
// a student nobody watches sends only the 160x90 layer, which saves the school's uplink.
//
// The server may lower the cameras it sends to the low layer while this page's connection is weak,
// and pause the video (sound only) while it is too weak even for that (`media.quality` with
// `reason: "bandwidth"`, effective "low" or "audio"); a notice says so until it ends.
//
// One socket of a user owns the user's media in a room: the last to send media.join. Another tab
// (or device) that joins takes it over; this page then gets `media.moved`, stops everything and
// offers "Use media here", which joins again and takes it back.
//
// Moving to another room (a breakout group and back) or a socket reconnecting keeps both
// connections: media.join carries the `resume` token of the last media.joined, and the forwarder
// moves this page's connections into the new room (`resumed: true`, no new offer; docs/media.md,
// "Moving between rooms"). If it cannot (`resumed: false`), the page starts again from nothing.
//
// A media.join refused as `unavailable` (no media node registered: the first second after Redis
// restarted, a node stopped and its room not yet moved) is sent again, after 1, 2, 4 then every
// 8 s, for as long as this page is in the room: a page that came in then gets its media without a
// reload.

import { room } from "./main.js";
import { $, h } from "./dom.js";
import { t } from "./i18n.js";
import { JOIN_TIMEOUT_MS, Link, RESTART_MIN_GAP_MS, deferred, preferCodecs, within } from "./media-link.js";

const QUALITY_KEY = "classroom.media.quality";

/** The notice for what a weak connection gets: low cameras, or sound only. */
const loweredKey = (effective) => (effective === "audio" ? "media_quality_paused" : "media_quality_lowered");
const QUALITIES = ["normal", "low", "audio"];
const SMALL_DELAY_MS = 300;
const SMALL_RETRY_MS = 2000;
// The forwarder sends the room's loudest microphones (its RFC 6464 levels); above this received
// level (0-1, linear) their sender counts as speaking for the active-speaker ring.
const SPEAKING_LEVEL = 0.02;
const SPEAKER_POLL_MS = 400;
const JOIN_RETRY_MS = [1000, 2000, 4000, 8000];
const CAMERA = { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 24, max: 30 }, facingMode: "user" };
const CAMERA_LOW = { width: 160, height: 90, frameRate: 15 };
const MICROPHONE = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
// What each publish transceiver carries, in offer order; bitrates keep a class on a school's uplink.
const PUBLISHED = [
  { name: "microphone", kind: "audio", source: "microphone", layer: "normal", maxBitrate: 40_000 },
  { name: "camera", kind: "video", source: "camera", layer: "normal", maxBitrate: 600_000 },
  { name: "cameraLow", kind: "video", source: "camera", layer: "low", maxBitrate: 120_000 },
  { name: "screen", kind: "video", source: "screen", layer: "normal", maxBitrate: 1_500_000 },
];

/** The remembered quality choice; storage may be refused (private browsing). */
function storedQuality() {
  try {
    const value = localStorage.getItem(QUALITY_KEY);
    return QUALITIES.includes(value) ? value : "normal";
  } catch {
    return "normal";
  }
}

class MediaEngine {
  constructor(room) {
    this.room = room;
    this.iceServers = [];
    this.quality = storedQuality();
    this.active = false; // media.join sent for this admission
    this.moved = false; // another tab or device took this user's media (media.moved)
    this.lowered = false; // "low" or "audio" while the server sends less for a weak connection
    this.cameraLayers = { camera: true, cameraLow: true }; // what media.camera_layers asks to send
    this.joined = null; // resolves when media.joined came
    this.subscribe = null;
    this.publish = null; // { link, senders, ready }
    this.everPublished = false;
    this.local = { microphone: null, camera: null, cameraLow: null, screen: null };
    this.previews = new Map(); // source -> own <video>
    this.remote = new Map(); // mid -> MediaStreamTrack of the subscribe connection
    this.slots = []; // the last media.sources
    this.placed = new Map(); // mid -> { peer, source, element }
    this.blockedAudio = new Set();
    this.lastRestart = { publish: 0, subscribe: 0 };
    this.resumeToken = null; // from the last media.joined: lets the next media.join keep the connections
    this.resuming = false; // a media.join with `resume` is waiting for its media.joined
    this.connectionsMade = 0; // RTCPeerConnections made by this page (tests, benchmarks)
    this.joinRefusals = 0; // media.join refused as unavailable in a row: the next retry's wait
    this.joinRetry = null; // the timer of that retry
    this.small = []; // whose camera the stage shows as a thumbnail (media.tiles)
    this.smallSent = null; // the list the forwarder has, as JSON (null: none sent since media.joined)
    this.inMedia = false; // media.joined came for the last media.join
    this.smallTimer = null;
  }

  /** For tests and the console: the live RTCPeerConnections. */
  get pcs() {
    return { publish: this.publish ? this.publish.link.pc : null, subscribe: this.subscribe ? this.subscribe.pc : null };
  }

  // --- the session --------------------------------------------------------------------------

  /** Enter media for this admission (again after a reconnection, or in another room): the same
   * connections if the forwarder can move them here, else new ones; the same local tracks. */
  start() {
    const resume = this.resumable();
    if (resume) {
      // what the room left showed goes; the new room's media.sources fills the stage again
      this.slots = [];
      this.render();
      // the old room's speakers: nobody speaks here until the new room says
      this.room.stage.setSpeaking([], this.room.stage.serverSpeaking ? "server" : "local");
    } else {
      this.stopConnections();
    }
    this.resumeToken = null; // one use
    this.resuming = Boolean(resume);
    this.active = true;
    this.inMedia = false;
    clearTimeout(this.joinRetry);
    const joined = (this.joined = deferred());
    const join = { type: "media.join", quality: this.quality };
    if (resume) join.resume = resume;
    this.room.send(join).then(
      () => {
        this.joinRefusals = 0;
      },
      (error) => {
        console.warn("media.join refused", error);
        if (this.resuming) {
          this.resuming = false;
          this.stopConnections();
        }
        // no media node now: ask again later, unless this page left or joined again meanwhile
        if (error && error.code === "unavailable" && this.active && this.joined === joined) {
          const wait = JOIN_RETRY_MS[Math.min(this.joinRefusals, JOIN_RETRY_MS.length - 1)];
          this.joinRefusals += 1;
          this.joinRetry = setTimeout(() => {
            if (this.active && this.joined === joined) this.start();
          }, wait);
        }
      },
    );
    if (!resume && this.hasLocal()) this.ensurePublisher().catch((error) => console.warn("republish failed", error));
  }

  /** The token to keep the connections with: both up (or no publish connection), else null. */
  resumable() {
    if (!this.resumeToken || !this.subscribe || !this.subscribe.connected) return null;
    if (this.publish && (!this.publish.link.connected || this.publish.link.pc.signalingState !== "stable")) return null;
    return this.resumeToken;
  }

  /** Another tab or device sent media.join: stop here, say so, and offer to take the media back. */
  onMoved() {
    this.moved = true;
    this.stop();
    this.showMoved(true);
    this.room.announce(t("media_moved"));
  }

  /** "Use media here": join again, which moves the media back to this page. */
  takeBack() {
    this.moved = false;
    this.showMoved(false);
    this.start();
  }

  showMoved(shown) {
    let notice = $("#media-moved");
    if (!notice && shown) {
      notice = h(
        "div",
        { id: "media-moved", class: "room-notice media-moved", "data-state": "warning", role: "status" },
        h("span", {}, t("media_moved")),
        " ",
        h("button", { type: "button", id: "media-take-back", class: "small", onclick: () => this.takeBack() }, t("media_take_back")),
      );
      const area = $("#media-area");
      if (area) area.before(notice);
      else document.body.prepend(notice);
    }
    if (notice) notice.hidden = !shown;
  }

  /** Leave media (waiting room, room over): stop capturing and drop both connections. */
  stop() {
    this.active = false;
    this.inMedia = false;
    clearTimeout(this.joinRetry);
    clearTimeout(this.smallTimer);
    this.joinRefusals = 0; // the next admission starts its retries from 1 s
    this.stopConnections();
    for (const source of ["camera", "microphone", "screen"]) {
      if (this.local[source]) {
        this.stopLocal(source);
        this.room.setSourceState(source, false);
      }
    }
  }

  stopConnections() {
    this.resumeToken = null; // nothing left to resume
    // a new subscribe connection starts on the chosen quality
    this.showLowered(false);
    if (this.subscribe) this.subscribe.close();
    this.subscribe = null;
    if (this.publish) this.publish.link.close();
    this.publish = null;
    this.remote.clear();
    this.slots = [];
    this.render();
  }

  hasLocal() {
    return Object.values(this.local).some(Boolean);
  }

  onJoined(message) {
    this.iceServers = (message.ice_servers || []).map((server) => {
      const entry = { urls: server.urls };
      if (server.username) entry.username = server.username;
      if (server.credential) entry.credential = server.credential;
      return entry;
    });
    // the forwarder could not move the connections here: new ones, as on a first join (its offer follows)
    const fallBack = this.resuming && !message.resumed;
    this.resuming = false;
    if (fallBack) this.stopConnections();
    this.resumeToken = typeof message.resume === "string" ? message.resume : null;
    if (this.joined) this.joined.resolve();
    // a new media peer on the forwarder knows no thumbnails yet
    this.inMedia = true;
    this.smallSent = null;
    this.sendSmall();
    if (fallBack && this.hasLocal()) this.ensurePublisher().catch((error) => console.warn("republish failed", error));
  }

  /** Rebuild one connection after ICE failed, stayed disconnected or never came up. */
  restart(link) {
    if (!this.active) return;
    const current = link.name === "subscribe" ? this.subscribe : this.publish && this.publish.link;
    if (current !== link) return;
    const now = Date.now();
    if (now - this.lastRestart[link.name] < RESTART_MIN_GAP_MS) {
      link.later(RESTART_MIN_GAP_MS, () => this.restart(link));
      return;
    }
    this.lastRestart[link.name] = now;
    if (link.name === "subscribe") {
      // the server answers with a new offer (restart: true)
      this.room.send({ type: "media.restart", pc: "subscribe" }).catch((error) => console.warn(error));
      return;
    }
    link.close();
    this.publish = null;
    if (this.hasLocal()) this.ensurePublisher().catch((error) => console.warn("republish failed", error));
  }

  // --- receiving --------------------------------------------------------------------------

  async onOffer(message) {
    if (message.pc !== "subscribe" || typeof message.sdp !== "string" || !message.sdp || !this.active) return;
    // every server offer is a new server-side connection: answer it from a new one
    if (this.subscribe) this.subscribe.close();
    this.remote.clear();
    this.render();
    const link = new Link(this, "subscribe");
    this.subscribe = link;
    link.pc.addEventListener("track", (event) => {
      if (this.subscribe !== link) return;
      this.remote.set(event.transceiver.mid, event.track);
      this.render();
    });
    try {
      await link.pc.setRemoteDescription({ type: "offer", sdp: message.sdp });
      await link.pc.setLocalDescription(await link.pc.createAnswer());
      if (this.subscribe !== link) return;
      await this.room.send({ type: "media.answer", pc: "subscribe", sdp: link.pc.localDescription.sdp });
      link.signalledNow();
    } catch (error) {
      console.warn("subscribe negotiation failed", error);
      if (this.subscribe === link) link.later(RESTART_MIN_GAP_MS, () => this.restart(link));
    }
  }

  onSources(message) {
    this.slots = Array.isArray(message.slots) ? message.slots : [];
    this.render();
  }

  /** Put each slot's track where media.sources says; a slot that moves gets a fresh element. */
  render() {
    const wanted = new Map();
    for (const slot of this.slots) {
      if (slot.peer === null || slot.peer === undefined || !slot.source) continue;
      const peer = String(slot.peer);
      if (peer === this.room.youId || !this.remote.has(slot.mid)) continue;
      wanted.set(slot.mid, { peer, source: slot.source, track: this.remote.get(slot.mid) });
    }
    for (const [mid, placed] of this.placed) {
      const want = wanted.get(mid);
      if (!want || want.peer !== placed.peer || want.source !== placed.source || want.track !== placed.track) {
        this.unplace(mid);
      }
    }
    for (const [mid, want] of wanted) if (!this.placed.has(mid)) this.place(mid, want);
  }

  place(mid, { peer, source, track }) {
    let element;
    if (track.kind === "audio") {
      element = h("audio", { autoplay: true });
      element.srcObject = new MediaStream([track]);
      this.room.stage.attach(peer, source, element);
      this.play(element);
    } else {
      element = h("video", { autoplay: true, playsinline: true, muted: true });
      element.muted = true;
      element.srcObject = new MediaStream([track]);
      this.room.stage.attach(peer, source, element);
      element.play().catch(() => {});
    }
    this.placed.set(mid, { peer, source, track, element });
  }

  unplace(mid) {
    const placed = this.placed.get(mid);
    this.placed.delete(mid);
    if (!placed) return;
    placed.element.srcObject = null;
    this.blockedAudio.delete(placed.element);
    if (placed.element.tagName === "AUDIO") placed.element.remove();
    else if (placed.element.isConnected) this.room.stage.detach(placed.peer, placed.source);
    this.updateSoundButton();
  }

  /** Who speaks now: the level of each received microphone, loudest first, to the stage. */
  async measureSpeakers() {
    const pc = this.subscribe ? this.subscribe.pc : null;
    const loud = [];
    if (pc) {
      for (const transceiver of pc.getTransceivers()) {
        const placed = this.placed.get(transceiver.mid);
        if (!placed || placed.track.kind !== "audio") continue;
        const stats = await transceiver.receiver.getStats();
        for (const report of stats.values()) {
          if (report.type === "inbound-rtp" && report.audioLevel > SPEAKING_LEVEL) loud.push([report.audioLevel, placed.peer]);
        }
      }
    }
    loud.sort((a, b) => b[0] - a[0]);
    this.room.stage.setSpeaking(loud.map(([, peer]) => peer));
  }

  /** Play remote sound; a browser that wants a gesture first gets a button. */
  play(element) {
    element.play().catch((error) => {
      if (error && error.name === "NotAllowedError") {
        this.blockedAudio.add(element);
        this.updateSoundButton();
      }
    });
  }

  updateSoundButton() {
    const button = $("#media-sound");
    if (button) button.hidden = this.blockedAudio.size === 0;
  }

  unblockSound() {
    for (const element of this.blockedAudio) element.play().catch(() => {});
    this.blockedAudio.clear();
    this.updateSoundButton();
  }

  /** `media.quality` from the server: what this page receives differs from its choice, or no longer does. */
  onEffectiveQuality(message) {
    // false, or what the server sends instead of the choice: "low" cameras, or "audio" only
    const lowered = message.reason === "bandwidth" && message.effective !== message.requested && message.effective;
    if (lowered === this.lowered) return;
    this.showLowered(lowered);
    // picking another quality here also ends it: that is not the connection getting better
    if (lowered) this.room.announce(t(loweredKey(lowered)));
    else if (message.requested === "normal") this.room.announce(t("media_quality_restored"));
  }

  showLowered(lowered) {
    this.lowered = lowered;
    const note = $("#media-quality-note");
    if (!note) return;
    note.textContent = lowered ? t(loweredKey(lowered)) : "";
    note.hidden = !lowered;
  }

  setQuality(quality) {
    if (!QUALITIES.includes(quality)) return;
    this.quality = quality;
    try {
      localStorage.setItem(QUALITY_KEY, quality);
    } catch {
      // not remembered: the choice still applies to this page
    }
    if (this.active) this.room.send({ type: "media.quality", quality }).catch((error) => this.room.showError(error));
  }

  /** The stage laid its tiles out: the forwarder sends the thumbnails' cameras on their low layer. */
  setSmall(ids) {
    if (JSON.stringify(ids) === JSON.stringify(this.small)) return; // a redraw that moved no camera
    const grown = this.small.some((id) => !ids.includes(id));
    this.small = ids;
    clearTimeout(this.smallTimer);
    // A camera that grew (pinned, or the new speaker on the stage) is told at once: it plays
    // upscaled from 160x90 until then. One that shrank only saves bits: a layout settling (tiles
    // arriving one by one) sends one message for it, not one per tile.
    if (grown) this.sendSmall();
    else this.smallTimer = setTimeout(() => this.sendSmall(), SMALL_DELAY_MS);
  }

  sendSmall() {
    clearTimeout(this.smallTimer);
    const json = JSON.stringify(this.small);
    if (!this.active || !this.inMedia || json === this.smallSent) return;
    this.smallSent = json;
    this.room.send({ type: "media.tiles", small: this.small }).catch((error) => {
      console.warn("media.tiles", error);
      // not applied (the socket dropped it, or is reconnecting): tell the forwarder again later
      if (this.smallSent === json) this.smallSent = null;
      this.smallTimer = setTimeout(() => this.sendSmall(), SMALL_RETRY_MS);
    });
  }

  // --- publishing -------------------------------------------------------------------------

  /** The publish connection, offered once with all four transceivers; resolves when answered. */
  ensurePublisher() {
    if (this.publish) return this.publish.ready;
    const link = new Link(this, "publish");
    const senders = {};
    const tracks = [];
    for (const spec of PUBLISHED) {
      const transceiver = link.pc.addTransceiver(spec.kind, {
        direction: "sendonly",
        sendEncodings: [{ maxBitrate: spec.maxBitrate }],
      });
      preferCodecs(transceiver, spec.kind);
      senders[spec.name] = transceiver.sender;
      tracks.push({ transceiver, spec });
    }
    const publish = { link, senders, answered: deferred() };
    publish.ready = (async () => {
      await within(this.joined, JOIN_TIMEOUT_MS, "media.joined");
      if (this.everPublished) await this.room.send({ type: "media.restart", pc: "publish" });
      for (const { spec } of tracks) if (this.local[spec.name]) await senders[spec.name].replaceTrack(this.local[spec.name]);
      await link.pc.setLocalDescription(await link.pc.createOffer());
      this.everPublished = true;
      await this.room.send({
        type: "media.offer",
        pc: "publish",
        sdp: link.pc.localDescription.sdp,
        tracks: tracks.map(({ transceiver, spec }) => ({ mid: transceiver.mid, source: spec.source, layer: spec.layer })),
      });
      link.signalledNow();
      await within(publish.answered, JOIN_TIMEOUT_MS, "media.answer");
    })();
    publish.ready.catch((error) => {
      console.warn("publish negotiation failed", error);
      if (this.publish === publish) link.later(RESTART_MIN_GAP_MS, () => this.restart(link));
    });
    this.publish = publish;
    return publish.ready;
  }

  async onAnswer(message) {
    const publish = this.publish;
    if (message.pc !== "publish" || !publish || typeof message.sdp !== "string") return;
    if (publish.link.pc.signalingState !== "have-local-offer") return;
    try {
      await publish.link.pc.setRemoteDescription({ type: "answer", sdp: message.sdp });
      publish.answered.resolve();
      await this.applyCameraLayers();
    } catch (error) {
      console.warn("publish answer refused", error);
    }
  }

  /** `media.camera_layers`: the camera layers that reach somebody; the others stop being encoded. */
  async onCameraLayers(message) {
    this.cameraLayers = { camera: message.normal !== false, cameraLow: message.low !== false };
    await this.applyCameraLayers();
  }

  async applyCameraLayers() {
    if (!this.publish) return;
    for (const [name, active] of Object.entries(this.cameraLayers)) {
      const sender = this.publish.senders[name];
      const parameters = sender.getParameters();
      if (!parameters.encodings || !parameters.encodings.length || parameters.encodings[0].active === active) continue;
      parameters.encodings[0].active = active;
      await sender.setParameters(parameters).catch((error) => console.warn("camera layer", name, error));
    }
  }

  /** `room.registerMedia`'s entry point: turn a source on or off; resolves with whether it is on. */
  async setSource(kind, on) {
    if (!on) {
      this.stopLocal(kind);
      return false;
    }
    if (this.moved) {
      // the media is in another tab: the notice says so and has the button to bring it here
      this.showMoved(true);
      this.room.announce(t("media_moved"));
      return false;
    }
    if (!this.active) throw new Error("media not started");
    if (this.local[kind]) return true;
    if (!navigator.mediaDevices) throw new Error("no media devices (not a secure context?)");
    if (kind === "camera") {
      const stream = await navigator.mediaDevices.getUserMedia({ video: CAMERA });
      const track = stream.getVideoTracks()[0];
      const low = track.clone();
      await low.applyConstraints(CAMERA_LOW).catch((error) => console.warn("low camera layer", error));
      this.local.cameraLow = low;
      this.own(kind, track);
      this.preview("camera", track);
    } else if (kind === "microphone") {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: MICROPHONE });
      this.own(kind, stream.getAudioTracks()[0]);
    } else if (kind === "screen") {
      let stream;
      try {
        stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15, max: 30 } }, audio: false });
      } catch (error) {
        // the person closed the browser's picker: nothing to report
        if (error && (error.name === "NotAllowedError" || error.name === "AbortError")) return false;
        throw error;
      }
      const track = stream.getVideoTracks()[0];
      if ("contentHint" in track) track.contentHint = "detail";
      this.own(kind, track);
    } else {
      return false;
    }
    // the permission may have gone while the browser asked the person
    if (!this.room.studentMay({ camera: "video", microphone: "audio", screen: "screen" }[kind]) || !this.active) {
      this.stopLocal(kind);
      return false;
    }
    await this.ensurePublisher();
    await this.sendLocal();
    return Boolean(this.local[kind]);
  }

  own(kind, track) {
    this.local[kind] = track;
    // the browser's own "stop sharing", an unplugged camera
    track.addEventListener("ended", () => {
      if (this.local[kind] !== track) return;
      this.stopLocal(kind);
      this.room.setSourceState(kind, false);
    });
  }

  async sendLocal() {
    const publish = this.publish;
    if (!publish) return;
    for (const spec of PUBLISHED) {
      const track = this.local[spec.name];
      if (publish.senders[spec.name].track !== track) await publish.senders[spec.name].replaceTrack(track);
    }
  }

  stopLocal(kind) {
    const names = kind === "camera" ? ["camera", "cameraLow"] : [kind];
    for (const name of names) {
      const track = this.local[name];
      this.local[name] = null;
      if (track) track.stop();
      if (this.publish) this.publish.senders[name].replaceTrack(null).catch(() => {});
    }
    if (kind === "camera" && this.previews.has("camera")) {
      this.previews.delete("camera");
      if (this.room.youId) this.room.stage.detach(this.room.youId, "camera");
    }
  }

  /** Show my own camera on the stage, muted and mirrored. */
  preview(source, track) {
    if (!this.room.youId) return;
    const video = h("video", { autoplay: true, playsinline: true, muted: true, class: "own-preview" });
    video.muted = true;
    video.srcObject = new MediaStream([track]);
    this.previews.set(source, video);
    this.room.stage.attach(this.room.youId, source, video);
    video.play().catch(() => {});
  }
}

function mountMedia(room) {
  const engine = new MediaEngine(room);

  // a page whose media moved away does not take it back by itself (a reconnected socket would)
  room.on("state", () => {
    if (!engine.moved) engine.start();
  });
  room.on("waiting", () => engine.stop());
  room.watch("screen", () => {
    if (room.screen.name === "final") engine.stop();
  });
  room.on("media.joined", (m) => engine.onJoined(m));
  room.on("media.offer", (m) => engine.onOffer(m));
  room.on("media.answer", (m) => engine.onAnswer(m));
  room.on("media.sources", (m) => engine.onSources(m));
  room.on("media.quality", (m) => engine.onEffectiveQuality(m));
  room.on("media.camera_layers", (m) => engine.onCameraLayers(m));
  room.on("media.reconnect", () => {
    // the forwarder went or dropped this page: nothing there to resume
    engine.resumeToken = null;
    if (engine.active) engine.start();
  });
  room.on("media.moved", () => engine.onMoved());
  // the tab that took the media closed: nobody has it, take it back here without a click
  room.on("media.released", () => {
    if (engine.moved) engine.takeBack();
  });
  room.on("muted", (m) => engine.stopLocal(m.kind === "audio" ? "microphone" : "camera"));
  room.watch("participants", () => engine.render());

  const quality = $("#media-quality");
  if (quality) {
    quality.value = engine.quality;
    quality.addEventListener("change", () => {
      engine.setQuality(quality.value);
      room.announce(quality.selectedOptions[0] ? quality.selectedOptions[0].textContent : "");
    });
  }
  const sound = $("#media-sound");
  if (sound) sound.addEventListener("click", () => engine.unblockSound());

  setInterval(() => {
    if (room.screen.name === "room" && document.visibilityState === "visible") engine.measureSpeakers().catch(() => {});
  }, SPEAKER_POLL_MS);

  room.registerMedia({ setSource: (kind, on) => engine.setSource(kind, on) });
  room.stage.onSmall = (ids) => engine.setSmall(ids);
  // the state may have come before this module ran
  if (room.screen.name === "room") engine.start();
  return engine;
}

// For tests and the console: `classroomMedia.pcs.subscribe.getStats()`.
window.classroomMedia = mountMedia(room);
