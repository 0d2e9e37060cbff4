// The media area: the stage (a shared screen, the slides, a pinned video, the teacher or the
// speaker), a filmstrip or a grid of the other videos, and one's own camera as a small self view.

import { $, h } from "./dom.js";
import { t } from "./i18n.js";

// A grid tile that draws its camera at most this many CSS pixels wide gets the 160x90 layer, as
// the filmstrip's thumbnails (about 140 px) do whatever the screen's density; one drawn wider than
// GRID_NORMAL_PX gets the 640x360 layer back (between the two, a tile keeps its layer: a join or a
// resize near the line does not flip every camera). A phone's grid (two columns of about 170 px) is
// on the small layer; a laptop's, at most nine cameras in 3 x 3 of about 350 px (fitGrid), is not.
const GRID_SMALL_PX = 240;
const GRID_NORMAL_PX = 300;

/**
 * `attach(participantId, source, element)` puts a <video> (or <audio>) on the stage;
 * `detach(participantId, source)` removes it. The stage chooses where each tile goes.
 * `setSpeaking(ids, from)` marks the tiles of who speaks now: from the server's `speaking` events
 * (the forwarder's audio levels); the media engine's own analysis only until the first one comes.
 */
export class Stage {
  constructor(room) {
    this.room = room;
    this.area = $("#media-area");
    this.main = $("#stage-main");
    this.thumbs = $("#stage-thumbs");
    this.self = $("#stage-self");
    this.audio = $("#stage-audio");
    this.empty = $("#stage-empty");
    this.slides = $("#slides-panel");
    this.fullscreen = $("#stage-fullscreen");
    this.gridButton = $("#layout-grid");
    this.tiles = new Map();
    this.onSmall = null; // told the participants whose camera this page draws small (media.tiles)
    this.drawnSmall = new Set(); // the grid's tiles drawn small at the last measure
    this.pinned = null;
    this.speaking = new Set();
    this.lastSpeaker = null;
    this.serverSpeaking = false;
    room.on("speaking", (m) => this.setSpeaking(m.ids || [], "server"));
    this.grid = this.gridButton ? this.gridButton.getAttribute("aria-pressed") === "true" : false;
    room.watch("participants", () => this.layout());
    room.watch("slides", () => this.layout());
    room.watch("decks", () => this.layout());
    if (this.gridButton) {
      this.gridButton.addEventListener("click", () => {
        this.grid = !this.grid;
        this.gridButton.setAttribute("aria-pressed", String(this.grid));
        this.layout();
      });
    }
    this.fullscreen.addEventListener("click", () => {
      if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
      else if (this.main.requestFullscreen) this.main.requestFullscreen().catch(() => {});
    });
    document.addEventListener("fullscreenchange", () => {
      this.fullscreen.setAttribute("aria-pressed", String(document.fullscreenElement === this.main));
    });
    // a grid's tiles change size with the window and the side panel
    if (window.ResizeObserver) {
      new ResizeObserver(() => {
        if (this.area.dataset.stage !== "grid") return;
        this.fitGrid("grid");
        if (this.onSmall) this.onSmall(this.smallCameras("grid"));
      }).observe(this.thumbs);
    }
  }

  attach(participantId, source, element) {
    const id = String(participantId);
    element.dataset.participant = id;
    element.dataset.source = source;
    if (element.tagName === "AUDIO") {
      this.audio.append(element);
      return element;
    }
    const key = `${id}:${source}`;
    this.detach(id, source);
    element.autoplay = true;
    element.playsInline = true;
    const mine = id === this.room.youId;
    if (mine) element.muted = true;
    if (mine && source === "camera") element.dataset.self = "";
    const pin = mine
      ? null
      : h("button", { type: "button", class: "small tile-pin", "aria-pressed": "false", onclick: () => this.pin(key) }, pinIcon());
    const tile = h("figure", { class: "tile", dataset: { tile: key, source } }, element, h("figcaption"), pin);
    this.tiles.set(key, tile);
    this.layout();
    return element;
  }

  detach(participantId, source) {
    const id = String(participantId);
    const key = `${id}:${source}`;
    const tile = this.tiles.get(key);
    if (tile) {
      const hadFocus = tile.contains(document.activeElement);
      tile.remove();
      this.tiles.delete(key);
      if (hadFocus) this.area.focus();
    }
    if (this.pinned === key) this.pinned = null;
    for (const el of this.audio.querySelectorAll(`[data-participant="${CSS.escape(id)}"][data-source="${CSS.escape(source)}"]`)) el.remove();
    this.layout();
  }

  pin(key) {
    this.pinned = this.pinned === key ? null : key;
    this.layout();
    const tile = this.tiles.get(key);
    if (tile) tile.querySelector(".tile-pin").focus();
  }

  /** Who speaks now: participant ids, loudest first when measured here. */
  setSpeaking(ids, from = "local") {
    if (from === "server") this.serverSpeaking = true;
    else if (this.serverSpeaking) return;
    const next = new Set(ids.map(String));
    const same = next.size === this.speaking.size && [...next].every((id) => this.speaking.has(id));
    if (same) return;
    this.speaking = next;
    if (ids.length) this.lastSpeaker = String(ids[0]);
    this.layout();
  }

  slidesShown() {
    const slides = this.room.state.slides;
    return Boolean(slides) && this.room.state.decks.some((d) => String(d.id) === String(slides.deck));
  }

  /** The tile that deserves the stage; null when the slides (or nothing) take it. */
  featured() {
    const you = this.room.youId;
    const keys = Array.from(this.tiles.keys()).filter((key) => !key.startsWith(`${you}:`));
    const screen = keys.find((key) => key.endsWith(":screen"));
    if (screen) return screen;
    if (this.pinned && this.tiles.has(this.pinned)) return this.pinned;
    if (this.slidesShown() || this.grid) return null;
    const rank = (key) => {
      const [id] = key.split(":");
      const p = this.room.participant(id) || {};
      if (p.presenter && !p.moderator) return 1;
      if (p.moderator) return 2;
      if (this.speaking.has(id)) return 3;
      if (id === this.lastSpeaker) return 4;
      return 9;
    };
    let best = null;
    for (const key of keys) if (best === null || rank(key) < rank(best)) best = key;
    return best;
  }

  layout() {
    const featured = this.featured();
    const slides = featured === null && this.slidesShown();
    const grid = featured === null && !slides && this.grid;
    for (const [key, tile] of this.tiles) {
      const [id, source] = key.split(":");
      const name = this.room.nameOf(id);
      const mine = id === this.room.youId;
      const caption = source === "screen" ? t("screen_of", { name }) : mine ? t("you") : name;
      tile.querySelector("figcaption").textContent = caption;
      const video = tile.querySelector("video");
      if (video) video.setAttribute("aria-label", caption);
      tile.classList.toggle("speaking", this.speaking.has(id) && source === "camera");
      const pin = tile.querySelector(".tile-pin");
      if (pin) {
        pin.setAttribute("aria-pressed", String(this.pinned === key));
        pin.setAttribute("aria-label", t(this.pinned === key ? "unpin" : "pin", { name: caption }));
      }
      let parent = this.thumbs;
      if (key === featured) parent = this.main;
      else if (mine && source === "camera" && !grid) parent = this.self;
      if (tile.parentElement !== parent) parent.append(tile);
    }
    const stage = featured !== null ? "video" : slides ? "slides" : grid && this.thumbs.children.length ? "grid" : "empty";
    this.area.dataset.stage = stage;
    // "No video" only while there is none at all, one's own camera included.
    this.empty.hidden = stage !== "empty" || this.tiles.size > 0;
    this.fullscreen.hidden = stage !== "video" && stage !== "slides";
    this.thumbs.hidden = this.thumbs.children.length === 0;
    this.self.hidden = this.self.children.length === 0;
    this.fitGrid(stage);
    if (this.onSmall) this.onSmall(this.smallCameras(stage));
  }

  /**
   * In the grid, the number of columns that draws each camera (16:9, contained) the widest in the
   * space there is: six people on a laptop in 3 x 2, not in one row of tall tiles; forty in about
   * 7 x 6. Rows have a floor (room.css): a crowded grid scrolls.
   */
  fitGrid(stage) {
    if (stage !== "grid") {
      this.thumbs.style.gridTemplateColumns = "";
      return;
    }
    const count = this.thumbs.children.length;
    const box = this.thumbs.getBoundingClientRect();
    const style = getComputedStyle(this.thumbs);
    const gap = parseFloat(style.columnGap) || 0;
    const floor = parseFloat((/([\d.]+)px/.exec(style.gridAutoRows) || [0, 0])[1]); // the rows' least height
    let columns = 1;
    let best = -Infinity;
    for (let c = 1; c <= Math.max(count, 1); c++) {
      const rows = Math.ceil(count / c);
      const height = Math.max((box.height - gap * (rows - 1)) / rows, floor);
      const width = Math.min((box.width - gap * (c - 1)) / c, (height * 16) / 9);
      // a layout whose rows all fit beats one that scrolls
      const score = width - (rows * height + gap * (rows - 1) > box.height + 1 ? 1e5 : 0);
      if (score > best + 0.5) {
        columns = c;
        best = score;
      }
    }
    this.thumbs.style.gridTemplateColumns = `repeat(${columns}, minmax(0, 1fr))`;
  }

  /** Whose camera this page draws small (the filmstrip, a crowded grid's tiles): its low layer is enough. */
  smallCameras(stage) {
    const small = [];
    const drawnSmall = new Set();
    for (const tile of this.thumbs.children) {
      const id = tile.dataset.tile ? tile.dataset.tile.split(":")[0] : "";
      if (tile.dataset.source !== "camera" || !id || id === String(this.room.youId)) continue;
      if (stage === "grid") {
        const width = drawnWidth(tile);
        // not drawn (yet), or narrow; a tile between the two lines keeps what it had
        if (width > (this.drawnSmall.has(id) ? GRID_NORMAL_PX : GRID_SMALL_PX)) continue;
        drawnSmall.add(id);
      }
      small.push(id);
    }
    if (stage === "grid") this.drawnSmall = drawnSmall;
    return small.sort();
  }
}

/** How wide a tile draws its video (16:9, contained), in CSS pixels; 0 while not laid out. */
function drawnWidth(tile) {
  const box = (tile.querySelector("video") || tile).getBoundingClientRect();
  return Math.min(box.width, (box.height * 16) / 9);
}

function pinIcon() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", "true");
  const use = document.createElementNS(ns, "use");
  use.setAttribute("href", "#i-pin");
  svg.append(use);
  return svg;
}
