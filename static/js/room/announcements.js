// Live events that no other part of the page reads out: presenter rights given or taken, a deck
// shown. Each is said once through the page's one announcer (`room.announce`).

import { t } from "./i18n.js";

export function mountAnnouncements(room) {
  let presenter = null; // unknown until the first state: joining is not news
  let deck = null;
  room.on("state", (m) => {
    presenter = Boolean(m.you && m.you.presenter && !m.you.moderator);
    deck = m.slides ? String(m.slides.deck) : null;
  });
  room.watch("you", () => {
    const you = room.state.you;
    if (!you || you.moderator || presenter === null) return;
    const now = Boolean(you.presenter);
    if (now !== presenter) room.announce(t(now ? "presenter_now" : "presenter_no_more"));
    presenter = now;
  });
  room.on("slides.page", (m) => {
    const shown = String(m.deck);
    if (shown === deck) return;
    deck = shown;
    const found = room.state.decks.find((d) => String(d.id) === shown);
    room.announce(t("slides_shown", { title: found ? found.title : t("slides") }));
  });
  room.on("slides.hidden", () => {
    deck = null;
  });
}
