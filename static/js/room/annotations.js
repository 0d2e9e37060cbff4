// Drawing on the page shown and the whiteboard (docs/protocol.md, "Annotations and the whiteboard").
//
// An SVG overlay `[data-annotations]` lies exactly over the page image, one child per stroke with
// `data-stroke`; coordinates are fractions of the page, so every screen agrees. A stroke is sent
// while it is drawn: `annotation.add` (final false) at pen-down, then `annotation.extend` batches.

import { $, h } from "./dom.js";
import { t } from "./i18n.js";

const SVG = "http://www.w3.org/2000/svg";
const UNITS = 1000; // the overlay's width in user units; its height follows the page's ratio
const BATCH_MS = 60; // at most ~16 frames a second while drawing (the server allows 20)
const MAX_POINTS = 2000;
const COLORS = [
  ["#d62728", "color_red"],
  ["#1f77b4", "color_blue"],
  ["#2ca02c", "color_green"],
  ["#111111", "color_black"],
];
const WIDTHS = [
  [0.003, "width_thin"],
  [0.006, "width_medium"],
  [0.012, "width_thick"],
];
const TOOLS = ["pen", "highlighter", "line", "arrow", "rect", "ellipse", "text", "eraser"];
const BACKGROUNDS = ["grid", "lines", "blank"];

/** A white 16:9 page with a squared grid or ruled lines, as the whiteboard's page image. */
export function boardBackground(kind = "grid") {
  const lines = [];
  if (kind === "grid") {
    for (let x = 80; x < 1600; x += 80) lines.push(`<path d="M${x} 0V900"/>`);
  }
  if (kind !== "blank") {
    for (let y = 80; y < 900; y += 80) lines.push(`<path d="M0 ${y}H1600"/>`);
  }
  const svg = `<svg xmlns="${SVG}" width="1600" height="900" viewBox="0 0 1600 900"><rect width="1600" height="900" fill="#fff"/><g stroke="#d8dee9" stroke-width="2">${lines.join("")}</g></svg>`;
  return `data:image/svg+xml,${encodeURIComponent(svg)}`;
}

function el(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

export function mountAnnotations(room) {
  const frame = $(".slide-frame");
  const image = $("img[data-slide-page]");
  if (!frame || !image) return;
  frame.style.position = "relative";
  const overlay = el("svg", { "data-annotations": "", "aria-hidden": "true", class: "annotations" });
  Object.assign(overlay.style, { position: "absolute", left: "0", top: "0", width: "0", height: "0", overflow: "hidden" });
  frame.append(overlay);

  // Where the strokes are: the page shown (deck or board) and its strokes by id, oldest first.
  let where = { deck: null, page: null };
  const strokes = new Map();
  let height = UNITS * 0.75;
  const me = () => (room.state.you ? String(room.state.you.id) : "");
  const mine = new Map(); // key → stroke being drawn here

  // --- placing the overlay over the image -------------------------------------------------
  const place = () => {
    const box = image.getBoundingClientRect();
    const outer = frame.getBoundingClientRect();
    Object.assign(overlay.style, {
      left: `${box.left - outer.left}px`,
      top: `${box.top - outer.top}px`,
      width: `${box.width}px`,
      height: `${box.height}px`,
    });
    const ratio = image.naturalWidth ? image.naturalHeight / image.naturalWidth : box.height / (box.width || 1);
    const next = Math.round(UNITS * (ratio || 0.75));
    if (next !== height) {
      height = next;
      redraw();
    }
    overlay.setAttribute("viewBox", `0 0 ${UNITS} ${height}`);
  };
  // the image may move without resizing (the frame around it changes): watch both
  const watcher = new ResizeObserver(place);
  watcher.observe(image);
  watcher.observe(frame);
  image.addEventListener("load", place);
  window.addEventListener("resize", place);

  // --- drawing strokes into the overlay ---------------------------------------------------
  const pt = ([x, y]) => [x * UNITS, y * height];
  const pathOf = (points) => points.map((p, i) => `${i ? "L" : "M"}${pt(p).join(" ")}`).join("") + (points.length === 1 ? "l0.01 0" : "");

  function shape(stroke) {
    const { tool, points } = stroke;
    const width = stroke.width * UNITS;
    const [x0, y0] = pt(points[0]);
    const [x1, y1] = pt(points[points.length - 1]);
    const line = { stroke: stroke.color, "stroke-width": width, fill: "none", "stroke-linecap": "round", "stroke-linejoin": "round" };
    if (tool === "text") {
      const text = el("text", { x: x0, y: y0, fill: stroke.color, "font-size": stroke.width * 10 * height, "dominant-baseline": "hanging", "font-family": "sans-serif" });
      text.textContent = stroke.text || ""; // text is text, never HTML
      return text;
    }
    if (tool === "line") return el("line", { x1: x0, y1: y0, x2: x1, y2: y1, ...line });
    if (tool === "arrow") {
      const angle = Math.atan2(y1 - y0, x1 - x0);
      const size = Math.max(4 * width, 20);
      const head = [angle - 0.45, angle + 0.45].map((a) => `${x1 - size * Math.cos(a)} ${y1 - size * Math.sin(a)}`);
      return el("path", { d: `M${x0} ${y0}L${x1} ${y1}M${head[0]}L${x1} ${y1}L${head[1]}`, ...line });
    }
    if (tool === "rect") {
      return el("rect", { x: Math.min(x0, x1), y: Math.min(y0, y1), width: Math.abs(x1 - x0), height: Math.abs(y1 - y0), ...line });
    }
    if (tool === "ellipse") {
      return el("ellipse", { cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, rx: Math.abs(x1 - x0) / 2, ry: Math.abs(y1 - y0) / 2, ...line });
    }
    if (tool === "highlighter") return el("path", { d: pathOf(points), ...line, "stroke-width": width * 3, opacity: 0.35 });
    if (tool === "eraser") return el("path", { d: pathOf(points), ...line, stroke: "#888", "stroke-dasharray": "6 6", opacity: 0.6 });
    return el("path", { d: pathOf(points), ...line });
  }

  function render(stroke) {
    const node = shape(stroke);
    node.setAttribute("data-stroke", stroke.id);
    node.setAttribute("data-tool", stroke.tool);
    const old = stroke.node;
    stroke.node = node;
    if (old && old.parentNode === overlay) overlay.replaceChild(node, old);
    else {
      // keep the server's order (ids grow), whatever order events arrive in
      const after = [...overlay.children].find((child) => Number(child.dataset.stroke) > Number(stroke.id));
      overlay.insertBefore(node, after || null);
    }
  }

  function redraw() {
    overlay.replaceChildren();
    for (const stroke of [...strokes.values()].sort((a, b) => Number(a.id) - Number(b.id))) {
      stroke.node = null;
      render(stroke);
    }
  }

  function showPage(slides, annotations) {
    where = slides ? { deck: slides.deck === null || slides.deck === undefined ? null : String(slides.deck), page: slides.page } : { deck: null, page: null };
    strokes.clear();
    for (const stroke of annotations || []) strokes.set(String(stroke.id), { ...stroke, id: String(stroke.id) });
    redraw();
  }

  const here = (m) => m.page === where.page && (m.deck === null ? null : String(m.deck)) === where.deck;

  room.on("state", (m) => showPage(m.slides, m.slides && m.slides.annotations));
  room.on("slides.page", (m) => showPage(m, m.annotations));
  room.on("slides.hidden", () => showPage(null, []));
  room.on("annotation.added", (m) => {
    if (!here(m)) return;
    const stroke = { ...m.stroke, id: String(m.stroke.id) };
    const local = stroke.by === me() ? mine.get(stroke.key) : null;
    if (local) {
      // our own stroke: keep the points drawn here meanwhile, take the server's id
      strokes.delete(local.id);
      local.id = stroke.id;
      if (local.node) local.node.setAttribute("data-stroke", stroke.id);
      strokes.set(stroke.id, local);
      return;
    }
    strokes.set(stroke.id, stroke);
    render(stroke);
  });
  room.on("annotation.extended", (m) => {
    const stroke = strokes.get(String(m.id));
    if (!here(m) || !stroke || (stroke.by === me() && mine.has(stroke.key))) return;
    stroke.points = stroke.points.concat(m.points);
    stroke.final = m.final;
    render(stroke);
  });
  room.on("annotation.removed", (m) => {
    const stroke = strokes.get(String(m.id));
    if (!here(m) || !stroke) return;
    strokes.delete(String(m.id));
    if (stroke.node) stroke.node.remove();
  });
  room.on("annotation.cleared", (m) => {
    if (here(m)) showPage(room.state.slides, []);
  });

  // --- the tools ---------------------------------------------------------------------------
  let tool = "pen";
  let color = COLORS[0][0];
  let width = WIDTHS[1][0];
  const toolSelect = h("select", { id: "draw-tool", "aria-label": t("draw_tool"), onchange: (e) => (tool = e.target.value) }, TOOLS.map((name) => new Option(t(`tool_${name}`), name)));
  const colorButtons = COLORS.map(([value, label]) =>
    h("button", {
      type: "button",
      class: "small swatch",
      "aria-label": t(label),
      "aria-pressed": value === color ? "true" : "false",
      style: `background:${value};width:1.8rem;min-width:1.8rem`,
      dataset: { color: value },
      onclick: (e) => {
        color = value;
        for (const b of colorButtons) b.setAttribute("aria-pressed", b === e.currentTarget ? "true" : "false");
      },
    }),
  );
  const widthSelect = h("select", { id: "draw-width", "aria-label": t("draw_width"), onchange: (e) => (width = Number(e.target.value)) }, WIDTHS.map(([value, label]) => new Option(t(label), String(value))));
  widthSelect.value = String(width);
  const page = () => room.state.slides && room.state.slides.page;
  const act = (message) => room.act(message);
  const undo = h("button", { type: "button", class: "small", dataset: { action: "annotation-undo" }, onclick: () => page() && act({ type: "annotation.undo", page: page() }) }, t("draw_undo"));
  const clear = h("button", { type: "button", class: "small", dataset: { action: "annotation-clear" }, onclick: () => page() && act({ type: "annotation.clear", page: page() }) }, t("draw_clear"));
  const textInput = h("input", { type: "text", id: "draw-text", maxlength: "500", "aria-label": t("draw_text_label"), placeholder: t("draw_text_label"), size: "12" });
  let textSlot = 0;
  const textForm = h(
    "form",
    {
      class: "draw-text",
      onsubmit: (event) => {
        event.preventDefault();
        const text = textInput.value.trim();
        if (!text || !page()) return;
        // keyboard placement: each text goes under the previous one, from the top left
        const y = 0.05 + ((textSlot++ * 0.07) % 0.85);
        act({ type: "annotation.add", page: page(), stroke: { tool: "text", color, width: Math.max(width, 0.004), points: [[0.05, y]], text } }).then((ok) => {
          if (ok) textInput.value = "";
        });
      },
    },
    textInput,
    h("button", { type: "submit", class: "small" }, t("draw_text_place")),
  );
  const drawing = h("button", { type: "button", class: "small", "aria-pressed": "false", dataset: { action: "draw" } }, t("draw_toggle"));
  const tools = h("div", { class: "draw-tools", role: "toolbar", "aria-label": t("draw_tools"), hidden: true }, toolSelect, ...colorButtons, widthSelect, undo, clear, textForm);
  Object.assign(tools.style, { display: "flex", flexWrap: "wrap", gap: ".3rem", alignItems: "center", padding: ".2rem .4rem" });

  const boardOpen = h("button", { type: "button", class: "small", dataset: { action: "board-open" }, onclick: () => act({ type: "board.open" }) }, t("board_open"));
  const boardAdd = h("button", { type: "button", class: "small", dataset: { action: "board-page-add" }, onclick: () => act({ type: "board.page.add" }) }, t("board_page_add"));
  let background = 0;
  const backgroundButton = h("button", { type: "button", class: "small", dataset: { action: "board-background" } }, t(`board_${BACKGROUNDS[0]}`));
  backgroundButton.addEventListener("click", () => {
    background = (background + 1) % BACKGROUNDS.length;
    backgroundButton.textContent = t(`board_${BACKGROUNDS[background]}`);
    image.dataset.background = BACKGROUNDS[background];
    if (room.state.slides && room.state.slides.board) image.src = boardBackground(BACKGROUNDS[background]);
  });
  // Everyone in the room may take the pages home with their drawings (the deck's, or the whiteboard's).
  const panel = $("#slides-panel");
  const download = h("a", { class: "draw-download", download: "", dataset: { link: "annotated-pdf" }, hidden: true }, t("draw_download"));
  const bar = h("div", { class: "draw-bar" }, drawing, boardAdd, backgroundButton, download);
  const nav = $("#slide-nav");
  frame.after(bar, tools);
  // Presenters open the whiteboard from the deck picker (the More tab), where decks are chosen.
  const picker = $("#deck-picker");
  if (picker) picker.after(h("p", { class: "board-open" }, boardOpen));

  const mayDraw = () => Boolean(room.state.you && (room.state.you.moderator || room.state.you.presenter || room.state.you.draw));
  let on = false;
  const setDrawing = (value) => {
    on = value && mayDraw();
    drawing.setAttribute("aria-pressed", on ? "true" : "false");
    tools.hidden = !on;
    overlay.style.pointerEvents = on ? "auto" : "none";
    overlay.style.touchAction = on ? "none" : "auto";
    overlay.style.cursor = on ? "crosshair" : "";
  };
  drawing.addEventListener("click", () => setDrawing(!on));
  const update = () => {
    const slides = room.state.slides;
    drawing.hidden = !mayDraw() || !slides;
    clear.hidden = !room.isPresenter;
    boardOpen.hidden = !room.isPresenter;
    boardAdd.hidden = !room.isPresenter || !(slides && slides.board);
    backgroundButton.hidden = !(slides && slides.board);
    if (on && !mayDraw()) setDrawing(false);
    // the server ended the stroke being drawn when the right to draw went: send no more of it
    if (current && !mayDraw()) endStroke();
    if (slides && slides.board && nav) nav.hidden = !room.isPresenter;
    const url = !slides || !panel ? "" : slides.board ? panel.dataset.boardUrl : slides.deck ? panel.dataset.annotatedUrl.replace("/decks/0/", `/decks/${slides.deck}/`) : "";
    download.hidden = !url;
    if (url) download.href = url;
  };
  room.watch("you", update);
  room.watch("slides", update);
  setDrawing(false);

  // --- pointer drawing: pen, mouse and touch ------------------------------------------------
  let current = null;
  let pending = [];
  let timer = null;
  const at = (event) => {
    const box = overlay.getBoundingClientRect();
    const clamp = (v) => Math.min(1, Math.max(0, Math.round(v * 10000) / 10000));
    return [clamp((event.clientX - box.left) / box.width), clamp((event.clientY - box.top) / box.height)];
  };
  const flush = (final) => {
    clearTimeout(timer);
    timer = null;
    if (!current) return;
    const points = current.tool === "text" ? [] : pending;
    pending = [];
    if (points.length || final) room.post({ type: "annotation.extend", page: current.page, key: current.key, points, final });
  };
  overlay.addEventListener("pointerdown", (event) => {
    if (!on || tool === "text" || !page() || current) return;
    event.preventDefault();
    overlay.setPointerCapture(event.pointerId);
    const key = Math.random().toString(36).slice(2, 12);
    // a pen's pressure thickens or thins the stroke it starts (mouse and touch report 0.5)
    const pressure = event.pointerType === "pen" && event.pressure > 0 ? event.pressure : 0.5;
    const strokeWidth = Math.min(0.05, Math.max(0.001, width * (0.5 + pressure)));
    current = { id: `local-${key}`, key, by: me(), tool, color, width: strokeWidth, points: [at(event)], page: page(), final: false, pointer: event.pointerId };
    mine.set(key, current);
    strokes.set(current.id, current);
    render(current);
    room.post({ type: "annotation.add", page: current.page, key, final: false, stroke: { tool, color, width: strokeWidth, points: current.points } });
  });
  overlay.addEventListener("pointermove", (event) => {
    if (!current || event.pointerId !== current.pointer || current.points.length >= MAX_POINTS - 1) return;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const item of events.length ? events : [event]) {
      if (current.points.length >= MAX_POINTS - 1) break;
      const point = at(item);
      const last = current.points[current.points.length - 1];
      if (Math.abs(point[0] - last[0]) + Math.abs(point[1] - last[1]) < 0.002) continue;
      current.points.push(point);
      pending.push(point);
    }
    render(current);
    if (!timer) timer = setTimeout(() => flush(false), BATCH_MS);
  });
  const endStroke = () => {
    current.final = true;
    const done = current;
    current = null;
    clearTimeout(timer);
    timer = null;
    pending = [];
    // once the server's events for it have come back, it is an ordinary stroke
    setTimeout(() => mine.delete(done.key), 5000);
  };
  const lift = (event) => {
    if (!current || event.pointerId !== current.pointer) return;
    flush(true);
    endStroke();
  };
  overlay.addEventListener("pointerup", lift);
  overlay.addEventListener("pointercancel", lift);
}
