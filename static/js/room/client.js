// The room WebSocket: request/reply by `ref`, pushed events, reconnection with backoff.

/**
 * The codes after which reconnecting cannot help, from the server's table (classroom/closecodes.py,
 * rendered into the page as `<script id="close-codes">`: [{code, name, reconnects}]).
 */
export function finalCloseCodes(table) {
  return new Set(table.filter((entry) => !entry.reconnects).map((entry) => entry.code));
}

const PING_EVERY_MS = 20000;
const PING_TIMEOUT_MS = 15000;
const REPLY_TIMEOUT_MS = 20000;
const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30000;

/** An `error` reply, or a request that could not be sent. */
export class RoomError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

export function roomSocketUrl(roomId, location = window.location) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws/rooms/${roomId}/`;
}

/**
 * One room connection.
 *
 * Listeners: `on("chat.message", fn)`, `on("media.*", fn)` for a prefix, `on("*", fn)` for all.
 * Besides the server's events, the client emits its own under `connection.`:
 * `connection.open`, `connection.lost` ({code, delay}), `connection.closed` ({code}, final).
 */
export class RoomClient {
  constructor(url, { pingEveryMs = PING_EVERY_MS, finalCodes = new Set() } = {}) {
    this.url = url;
    this.pingEveryMs = pingEveryMs;
    this.finalCodes = finalCodes;
    this.socket = null;
    this.listeners = new Map();
    this.pending = new Map();
    this.nextRef = 1;
    this.attempt = 0;
    this.stopped = false;
    this.retryTimer = null;
    this.pingTimer = null;
    this.closeCode = null;
    window.addEventListener("online", () => this.reconnectNow());
  }

  get connected() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  /** Subscribe to a message type, a `prefix.*`, or `*`; returns the unsubscribe function. */
  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return () => this.listeners.get(type)?.delete(fn);
  }

  emit(message) {
    const type = String(message.type || "");
    const keys = [type, "*"];
    const parts = type.split(".");
    for (let i = parts.length - 1; i > 0; i--) keys.push(`${parts.slice(0, i).join(".")}.*`);
    for (const key of keys) {
      for (const fn of this.listeners.get(key) || []) {
        try {
          fn(message);
        } catch (error) {
          console.error(error);
        }
      }
    }
  }

  connect() {
    this.stopped = false;
    clearTimeout(this.retryTimer);
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.addEventListener("open", () => {
      if (socket !== this.socket) return;
      this.startPings();
      this.emit({ type: "connection.open", attempt: this.attempt });
    });
    socket.addEventListener("message", (event) => {
      if (socket !== this.socket) return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message === null || typeof message !== "object") return;
      if (message.type === "state") this.attempt = 0;
      if ((message.type === "ok" || message.type === "error") && this.pending.has(message.ref)) {
        const { resolve, reject } = this.pending.get(message.ref);
        this.pending.delete(message.ref);
        if (message.type === "ok") resolve(message);
        else reject(new RoomError(message.code, message.message));
        return;
      }
      this.emit(message);
    });
    socket.addEventListener("close", (event) => {
      if (socket !== this.socket) return;
      this.handleClose(event.code);
    });
  }

  handleClose(code) {
    this.socket = null;
    this.stopPings();
    for (const { reject } of this.pending.values()) reject(new RoomError("offline", "connection closed"));
    this.pending.clear();
    if (this.stopped) return;
    if (this.finalCodes.has(code)) {
      this.stopped = true;
      this.closeCode = code;
      this.emit({ type: "connection.closed", code });
      return;
    }
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt) * (0.75 + Math.random() * 0.5);
    this.attempt += 1;
    this.emit({ type: "connection.lost", code, delay: Math.round(delay) });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** Go on in another room (a breakout group, and back): this socket closes, one to `url` opens now. */
  moveTo(url) {
    const old = this.socket;
    this.socket = null; // its close is no loss to report
    this.stopPings();
    for (const { reject } of this.pending.values()) reject(new RoomError("offline", "moved to another room"));
    this.pending.clear();
    this.url = url;
    this.attempt = 0;
    if (old) old.close(1000);
    this.connect();
  }

  /** Try again at once (the network came back, or the person asked). */
  reconnectNow() {
    if (this.stopped || this.socket !== null) return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  /** Send a message and wait for its `ok` (resolved) or `error` (rejected with RoomError). */
  send(message) {
    if (!this.connected) return Promise.reject(new RoomError("offline", "not connected"));
    const ref = this.nextRef++;
    return new Promise((resolve, reject) => {
      // A frame over the rate limit is dropped unread (docs/protocol.md): give up rather than wait forever.
      const timer = setTimeout(() => {
        if (this.pending.delete(ref)) reject(new RoomError("rate_limited", "no reply"));
      }, REPLY_TIMEOUT_MS);
      const settle = (fn) => (value) => {
        clearTimeout(timer);
        fn(value);
      };
      this.pending.set(ref, { resolve: settle(resolve), reject: settle(reject) });
      this.socket.send(JSON.stringify({ ...message, ref }));
    });
  }

  /** Send a message that expects no reply (no `ref`). Returns false when offline. */
  post(message) {
    if (!this.connected) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  /** Leave for good: no reconnection. */
  close() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.stopPings();
    if (this.socket) this.socket.close(1000);
    this.socket = null;
  }

  // A half-open socket (a phone that lost its network) only shows when a reply never comes.
  startPings() {
    this.stopPings();
    this.pingTimer = setInterval(() => {
      const socket = this.socket;
      const watchdog = setTimeout(() => {
        if (socket === this.socket && socket) {
          this.socket = null;
          socket.close(4000);
          this.handleClose(1006);
        }
      }, PING_TIMEOUT_MS);
      this.send({ type: "ping" }).then(
        () => clearTimeout(watchdog),
        () => clearTimeout(watchdog),
      );
    }, this.pingEveryMs);
  }

  stopPings() {
    clearInterval(this.pingTimer);
    this.pingTimer = null;
  }
}
