// The media area: one large tile (a shared screen, else the teacher) and thumbnails.

import { $, h } from "./dom.js";
import { t } from "./i18n.js";

/**
 * `attach(participantId, source, element)` puts a <video> (or <audio>) on the stage;
 * `detach(participantId, source)` removes it. The stage chooses where each tile goes.
 */
export class Stage {
  constructor(room) {
    this.room = room;
    this.main = $("#stage-main");
    this.thumbs = $("#stage-thumbs");
    this.audio = $("#stage-audio");
    this.empty = $("#stage-empty");
    this.tiles = new Map();
    room.watch("participants", () => this.layout());
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
    if (id === this.room.youId) element.muted = true;
    const tile = h("figure", { class: "tile", dataset: { tile: key, source } }, element, h("figcaption"));
    this.tiles.set(key, tile);
    this.layout();
    return element;
  }

  detach(participantId, source) {
    const id = String(participantId);
    const key = `${id}:${source}`;
    const tile = this.tiles.get(key);
    if (tile) {
      tile.remove();
      this.tiles.delete(key);
    }
    for (const el of this.audio.querySelectorAll(`[data-participant="${CSS.escape(id)}"][data-source="${CSS.escape(source)}"]`)) el.remove();
    this.layout();
  }

  /** The tile that deserves the large place: a shared screen, then a presenter's or a moderator's camera. */
  featured() {
    const rank = (key) => {
      const [id, source] = key.split(":");
      const p = this.room.participant(id) || {};
      if (source === "screen") return 0;
      if (p.presenter && !p.moderator) return 1;
      if (p.moderator) return 2;
      return 9;
    };
    let best = null;
    for (const key of this.tiles.keys()) if (rank(key) < 9 && (best === null || rank(key) < rank(best))) best = key;
    return best;
  }

  layout() {
    const featured = this.featured();
    for (const [key, tile] of this.tiles) {
      const [id, source] = key.split(":");
      const name = this.room.nameOf(id);
      const caption = source === "screen" ? t("screen_of", { name }) : id === this.room.youId ? t("you") : name;
      tile.querySelector("figcaption").textContent = caption;
      const video = tile.querySelector("video");
      if (video) video.setAttribute("aria-label", caption);
      const parent = key === featured ? this.main : this.thumbs;
      if (tile.parentElement !== parent) parent.append(tile);
    }
    this.empty.hidden = featured !== null;
    this.thumbs.hidden = this.thumbs.children.length === 0;
  }
}
