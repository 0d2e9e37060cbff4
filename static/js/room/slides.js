// The slides panel: hidden without a deck; presenters open decks and turn pages.

import { boardBackground } from "./annotations.js";
import { $ } from "./dom.js";
import { t } from "./i18n.js";

const phone = window.matchMedia("(max-width: 600px)");
const wide = window.matchMedia("(min-width: 900px)");

/** Where a slide page image lives: the small rendering on phones saves their data. */
export function slideUrl(deck, page, format = "webp") {
  const size = phone.matches ? "small" : "large";
  return `/slides/${encodeURIComponent(deck)}/pages/${page}.${format}?size=${size}`;
}

export function mountSlides(room) {
  const panel = $("#slides-panel");
  const image = $("img[data-slide-page]");
  const counter = $("#slide-counter");
  const prev = $("#slide-prev");
  const next = $("#slide-next");
  const nav = $("#slide-nav");
  const picker = $("#deck-picker");
  const select = $("#deck-select");

  room.watch("slides", () => {
    const slides = room.state.slides;
    panel.hidden = !slides;
    if (!slides) {
      image.removeAttribute("src");
      image.dataset.slidePage = "";
      return;
    }
    const deck = room.state.decks.find((d) => String(d.id) === String(slides.deck));
    const pages = slides.pages || (deck && deck.pages) || null;
    image.dataset.deck = String(slides.deck);
    image.dataset.slidePage = String(slides.page);
    image.src = slides.board ? boardBackground(image.dataset.background) : slideUrl(slides.deck, slides.page, (deck && deck.format) || "webp");
    image.alt = pages ? t("slide_n_of", { n: slides.page, total: pages }) : t("slide_n", { n: slides.page });
    counter.textContent = pages ? `${slides.page} / ${pages}` : String(slides.page);
    $("#slides-title").textContent = slides.board ? t("board") : deck ? deck.title : t("slides");
    prev.disabled = slides.page <= 1;
    next.disabled = pages !== null && slides.page >= pages;
  });

  const updatePresenter = () => {
    nav.hidden = !room.isPresenter;
    const ready = room.state.decks.filter((d) => d.status === "ready");
    picker.hidden = !room.isPresenter || ready.length === 0;
    const current = select.value;
    select.replaceChildren(...ready.map((d) => new Option(d.title, String(d.id))));
    if (ready.some((d) => String(d.id) === current)) select.value = current;
  };
  room.watch("you", updatePresenter);
  room.watch("decks", updatePresenter);
  // A deck deleted while shown drops out of `decks`: stop showing it.
  room.watch("decks", () => {
    const slides = room.state.slides;
    if (slides && !slides.board && !room.state.decks.some((d) => String(d.id) === String(slides.deck))) {
      panel.hidden = true;
      image.removeAttribute("src");
      image.dataset.slidePage = "";
    }
  });

  const go = (delta) => {
    const slides = room.state.slides;
    if (slides) room.act({ type: "slides.goto", page: slides.page + delta });
  };
  prev.addEventListener("click", () => go(-1));
  // Stop showing the slides: the stage goes back to the videos, focus to the media area.
  $("#slide-hide").addEventListener("click", async () => {
    if (await room.act({ type: "slides.hide" })) $("#media-area").focus();
  });
  room.on("slides.hidden", () => {
    room.state.slides = null;
    room.changed("slides");
    room.announce(t("slides_hidden"));
  });
  next.addEventListener("click", () => go(1));
  panel.addEventListener("keydown", (event) => {
    if (!room.isPresenter || event.target.closest("input, select, textarea")) return;
    if (event.key === "ArrowLeft" || event.key === "PageUp") go(-1);
    if (event.key === "ArrowRight" || event.key === "PageDown") go(1);
  });
  picker.addEventListener("submit", (event) => {
    event.preventDefault();
    const deck = room.state.decks.find((d) => String(d.id) === select.value);
    if (!deck) return;
    room.act({ type: "slides.open", deck: deck.id }).then((reply) => {
      if (!reply) return;
      // The slides are on the stage now: on a phone the sheet gets out of the way, and the
      // arrow keys turn the pages from where focus lands.
      if (!wide.matches && room.panel) room.panel.setOpen(false);
      panel.focus();
    });
  });

  const upload = $("#slides-upload");
  if (upload) mountUpload(upload);
}

/** Upload a deck from the room without leaving it; the server's `decks` events show progress. */
function mountUpload(form) {
  const status = $("#slides-upload-status");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    status.textContent = t("upload_sending");
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "application/json", "X-CSRFToken": form.elements.csrfmiddlewaretoken.value },
        credentials: "same-origin",
      });
      const body = await response.json().catch(() => ({}));
      if (response.ok) {
        status.textContent = t("upload_done");
        form.reset();
      } else {
        status.textContent = body.message || t("upload_failed");
      }
    } catch {
      status.textContent = t("upload_failed");
    } finally {
      button.disabled = false;
    }
  });
}
