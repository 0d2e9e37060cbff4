// The room as this page knows it: filled by `state`, kept current by events.

import { RoomClient, RoomError, finalCloseCodes, roomSocketUrl } from "./client.js";
import { t } from "./i18n.js";

/**
 * The page's room: the socket (`on`, `send`, `post`), the state, and local notifications.
 *
 * `watch(aspect, fn)` calls fn after an aspect of the state changed; aspects are
 * `room`, `you`, `participants`, `hands`, `chat`, `polls`, `waiting`, `decks`, `slides`,
 * `screen` (which screen the page shows: connecting, waiting, room, final).
 */
export class Room {
  constructor(config) {
    this.config = config;
    // A recess page pings every few seconds: the server treats a silent recess socket as gone.
    const pingEveryMs = config.pingSeconds ? config.pingSeconds * 1000 : undefined;
    this.client = new RoomClient(roomSocketUrl(config.roomId), {
      pingEveryMs,
      finalCodes: finalCloseCodes(config.closeCodes),
    });
    this.watchers = new Map();
    this.media = null;
    this.screen = { name: "connecting" };
    this.everAdmitted = false;
    this.reset();
    this.bindEvents();
  }

  reset() {
    this.state = {
      room: null,
      you: null,
      participants: new Map(),
      hands: [],
      chat: [],
      polls: new Map(),
      waiting: [],
      decks: [],
      slides: null,
    };
  }

  // --- the socket, for every module (media included) --------------------------------------

  /** Subscribe to server events: a type, `prefix.*` (e.g. `media.*`) or `*`. */
  on(type, fn) {
    return this.client.on(type, fn);
  }

  /** Send a message with a `ref`; resolves with the `ok`, rejects with a RoomError. */
  send(message) {
    return this.client.send(message);
  }

  /** Send a message without waiting for a reply. */
  post(message) {
    return this.client.post(message);
  }

  // --- local notifications ---------------------------------------------------------------

  watch(aspect, fn) {
    if (!this.watchers.has(aspect)) this.watchers.set(aspect, new Set());
    this.watchers.get(aspect).add(fn);
  }

  changed(...aspects) {
    for (const aspect of aspects) {
      for (const fn of this.watchers.get(aspect) || []) {
        try {
          fn(this);
        } catch (error) {
          console.error(error);
        }
      }
    }
  }

  setScreen(name, detail = {}) {
    this.screen = { name, ...detail };
    this.changed("screen");
  }

  // --- questions every module asks --------------------------------------------------------

  get you() {
    return this.state.you;
  }

  get youId() {
    return this.state.you ? String(this.state.you.id) : null;
  }

  get isModerator() {
    return this.state.you ? Boolean(this.state.you.moderator) : this.config.isModerator;
  }

  get isPresenter() {
    return Boolean(this.state.you && (this.state.you.presenter || this.state.you.moderator));
  }

  /** The id as the server wrote it (a number or a string), for messages back to it. */
  rawId(id) {
    const p = this.participant(id);
    return p ? p.id : id;
  }

  participant(id) {
    return this.state.participants.get(String(id)) || null;
  }

  nameOf(id) {
    const p = this.participant(id);
    return p ? p.name : t("someone");
  }

  /** May I (not a moderator) use this kind of source or the chat now? The server decides; this only greys out. */
  studentMay(kind) {
    const room = this.state.room;
    if (!room || this.isModerator) return true;
    if (kind === "screen" && this.isPresenter) return !room.safe_mode;
    if (kind === "chat" && room.chat_locked) return false;
    if (room.safe_mode) return false;
    return Boolean(room.students_can && room.students_can[kind]);
  }

  /** Announce a short text to screen readers (polite). */
  announce(text) {
    const region = document.getElementById("room-announcer");
    if (!region) return;
    region.textContent = "";
    // A fresh text node after a tick, so that the same sentence twice is read twice.
    setTimeout(() => {
      region.textContent = text;
    }, 50);
  }

  /** Show a failed request to the person (role=alert), briefly. */
  showError(error) {
    const code = error instanceof RoomError ? error.code : "unknown";
    const known = ["invalid", "forbidden", "not_found", "conflict", "locked", "rate_limited", "unavailable", "offline"];
    const text = t(known.includes(code) ? `error_${code}` : "error_unknown");
    const region = document.getElementById("room-error");
    if (!region) return;
    region.textContent = text;
    region.hidden = false;
    clearTimeout(this.errorTimer);
    this.errorTimer = setTimeout(() => {
      region.hidden = true;
      region.textContent = "";
    }, 6000);
  }

  /** Send and report a failure to the person; resolves with the reply or null. */
  async act(message) {
    try {
      return await this.send(message);
    } catch (error) {
      this.showError(error);
      return null;
    }
  }

  // --- media: the media module plugs in here -----------------------------------------------

  /**
   * Register the media engine: `{ setSource(kind, on) -> Promise<boolean> }` with kind
   * `camera`, `microphone` or `screen`; it resolves with whether the source is on afterwards.
   */
  registerMedia(handler) {
    this.media = handler;
    this.changed("you");
  }

  /** The media engine reports a source it turned on or off by itself (ended share, mute). */
  setSourceState(kind, on) {
    const button = document.querySelector(`[data-action="${kind}"]`);
    if (button) button.setAttribute("aria-pressed", on ? "true" : "false");
  }

  // --- keeping the state current -----------------------------------------------------------

  bindEvents() {
    const s = () => this.state;
    const on = (type, fn) => this.on(type, fn);

    on("state", (m) => {
      this.reset();
      const st = s();
      st.room = m.room || null;
      st.you = m.you || null;
      for (const p of m.participants || []) st.participants.set(String(p.id), p);
      if (st.you) st.participants.set(String(st.you.id), { ...st.participants.get(String(st.you.id)), ...st.you });
      st.hands = (m.hands || []).map(String);
      st.chat = m.chat || [];
      for (const poll of m.polls || []) st.polls.set(String(poll.id), poll);
      st.waiting = m.waiting || [];
      st.decks = m.decks || [];
      st.slides = m.slides || null;
      this.everAdmitted = true;
      this.setScreen("room");
      this.changed("room", "you", "participants", "hands", "chat", "polls", "waiting", "decks", "slides");
    });
    on("waiting", (m) => this.setScreen("waiting", { reason: m.reason }));
    on("admitted", () => this.announce(t("you_were_admitted")));
    on("denied", () => this.setScreen("final", { reason: "denied" }));
    on("room.ended", (m) => this.setScreen("final", { reason: `ended_${m.reason || "ended"}` }));
    on("connection.closed", (m) => {
      if (this.screen.name === "final") return;
      let reason = `close_${m.code}`;
      if (m.code === 4403 && this.everAdmitted) reason = "removed";
      this.setScreen("final", { reason });
    });

    on("participant.joined", (m) => this.upsertParticipant(m.participant));
    on("participant.updated", (m) => this.upsertParticipant(m.participant));
    on("participant.left", (m) => {
      s().participants.delete(String(m.id));
      this.changed("participants");
    });
    on("hands", (m) => {
      const before = new Set(s().hands);
      s().hands = (m.queue || []).map(String);
      for (const [id, p] of s().participants) p.hand = s().hands.includes(id);
      if (this.isModerator) {
        for (const id of s().hands) if (!before.has(id)) this.announce(t("hand_raised_by", { name: this.nameOf(id) }));
      }
      this.changed("hands", "participants", "you");
    });
    on("chat.message", (m) => {
      s().chat.push(m.message);
      if (s().chat.length > 500) s().chat.splice(0, s().chat.length - 500);
      this.changed("chat");
    });
    on("chat.deleted", (m) => {
      s().chat = s().chat.filter((msg) => String(msg.id) !== String(m.id));
      this.changed("chat");
    });
    on("poll.opened", (m) => {
      s().polls.set(String(m.poll.id), m.poll);
      this.announce(t("poll_opened", { question: m.poll.question }));
      this.changed("polls");
    });
    on("poll.results", (m) => {
      const id = String(m.poll.id);
      const before = s().polls.get(id) || {};
      const poll = { ...before, ...m.poll };
      s().polls.set(id, poll);
      if (poll.status === "published" && before.status !== "published") {
        this.announce(t("poll_published", { question: poll.question || "" }));
      }
      this.changed("polls");
    });
    on("poll.closed", (m) => {
      const poll = s().polls.get(String(m.id));
      if (poll && poll.status === "open") poll.status = "closed";
      this.changed("polls");
    });
    on("room.updated", (m) => {
      s().room = { ...s().room, ...m.room };
      this.changed("room", "you");
    });
    on("waiting.updated", (m) => {
      const before = new Set(s().waiting.map((w) => String(w.id)));
      s().waiting = m.waiting || [];
      for (const w of s().waiting) if (!before.has(String(w.id))) this.announce(t("someone_waiting", { name: w.name }));
      this.changed("waiting");
    });
    on("muted", (m) => {
      const kind = m.kind === "audio" ? "microphone" : "camera";
      this.setSourceState(kind, false);
      this.announce(t(m.kind === "audio" ? "you_were_muted_audio" : "you_were_muted_video"));
    });
    on("slides.page", (m) => {
      const deck = s().decks.find((d) => String(d.id) === String(m.deck));
      s().slides = { deck: m.deck, page: m.page, pages: m.pages || (deck ? deck.pages : null), board: Boolean(m.board) };
      this.changed("slides");
    });
    on("decks", (m) => {
      s().decks = m.decks || [];
      this.changed("decks", "slides");
    });
    on("report", (m) => this.announce(t("report_from", { name: m.from && m.from.name ? m.from.name : this.nameOf(m.from) })));
  }

  upsertParticipant(participant) {
    const id = String(participant.id);
    const merged = { ...this.state.participants.get(id), ...participant };
    this.state.participants.set(id, merged);
    if (id === this.youId) {
      this.state.you = { ...this.state.you, ...participant };
      this.changed("you");
    }
    this.changed("participants");
  }
}
