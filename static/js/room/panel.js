// The side panel: tabs (participants, chat, polls, more) with unread badges; a column on wide
// screens, a bottom sheet on phones. A new poll or published results open the polls tab everywhere.

import { $, $$ } from "./dom.js";
import { t, tn } from "./i18n.js";

const wide = window.matchMedia("(min-width: 900px)");

export function mountPanel(room) {
  const layout = $("#screen-room");
  const toggle = $("#panel-toggle");
  const tabs = $$('[role="tab"]', layout);
  const unread = { people: 0, chat: 0, polls: 0 };
  let selected = "people";

  const isOpen = () => layout.classList.contains("panel-open");
  const visible = (name) => isOpen() && selected === name && document.visibilityState === "visible";

  const showBadges = () => {
    for (const [name, n] of Object.entries(unread)) {
      const badge = $(`[data-unread="${name}"]`);
      badge.hidden = n === 0;
      badge.textContent = String(n);
      badge.setAttribute("aria-label", tn("panel_unread", n));
    }
    const hidden = Object.entries(unread).reduce((sum, [name, n]) => sum + (visible(name) ? 0 : n), 0);
    const total = $("#panel-badge");
    total.hidden = hidden === 0;
    total.textContent = String(hidden);
    total.setAttribute("aria-label", tn("panel_unread", hidden));
  };

  // A phone is too narrow for every tab: the strip scrolls, and the selected tab is kept whole in it
  // (in the phone's bottom sheet, Chromium's focus() left it cut). Only the strip scrolls, never the page.
  const revealSelected = () => {
    const tab = $(`#tab-${selected}`);
    const strip = tab.parentElement;
    const box = tab.getBoundingClientRect();
    const view = strip.getBoundingClientRect();
    if (box.left < view.left) strip.scrollLeft -= view.left - box.left;
    else if (box.right > view.right) strip.scrollLeft += box.right - view.right;
  };

  const setOpen = (open) => {
    layout.classList.toggle("panel-open", open);
    toggle.setAttribute("aria-expanded", String(open));
    if (open && selected in unread) unread[selected] = 0;
    if (open) revealSelected();
    showBadges();
  };

  /** Show a tab; `focus` moves focus to the tab (keyboard), else focus stays where it was. */
  const select = (name, { focus = false, open = true } = {}) => {
    selected = name;
    for (const tab of tabs) {
      const on = tab.dataset.tab === name;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
      $(`#${tab.getAttribute("aria-controls")}`).hidden = !on;
      if (on && focus) tab.focus();
    }
    if (open) setOpen(true);
    else if (isOpen()) revealSelected();
    if (name in unread) unread[name] = 0;
    showBadges();
  };

  // The tab a person opened last is remembered per user on this browser (a new poll or published
  // results still open the polls tab for the moment, without being remembered).
  const memoryKey = () => (room.youId ? `cv-panel-tab:${room.youId}` : null);
  const remember = (name) => {
    const key = memoryKey();
    try {
      if (key) localStorage.setItem(key, name);
    } catch {
      // storage refused (private mode, quota): the panel simply starts on its first tab
    }
  };
  let restored = false;
  room.on("state", () => {
    if (restored) return;
    restored = true;
    let saved = null;
    try {
      saved = memoryKey() ? localStorage.getItem(memoryKey()) : null;
    } catch {
      saved = null;
    }
    if (saved && tabs.some((tab) => tab.dataset.tab === saved)) select(saved, { open: isOpen() });
  });

  for (const tab of tabs) {
    tab.addEventListener("click", () => {
      select(tab.dataset.tab);
      remember(tab.dataset.tab);
    });
    tab.addEventListener("keydown", (event) => {
      const index = tabs.indexOf(tab);
      let next = null;
      if (event.key === "ArrowRight") next = tabs[(index + 1) % tabs.length];
      if (event.key === "ArrowLeft") next = tabs[(index - 1 + tabs.length) % tabs.length];
      if (event.key === "Home") next = tabs[0];
      if (event.key === "End") next = tabs[tabs.length - 1];
      if (next) {
        event.preventDefault();
        select(next.dataset.tab, { focus: true });
        remember(next.dataset.tab);
      }
    });
  }

  toggle.addEventListener("click", () => {
    setOpen(!isOpen());
    if (isOpen() && !wide.matches) $(`#tab-${selected}`).focus();
  });
  $("#panel-close").addEventListener("click", () => {
    setOpen(false);
    toggle.focus();
  });
  $("#side-panel").addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !wide.matches && isOpen() && !event.target.closest("details[open]")) {
      setOpen(false);
      toggle.focus();
    }
  });

  // Wide screens start with the panel open (a recess supervisor's grid starts without it); phones closed.
  setOpen(wide.matches && layout.dataset.panel !== "closed");
  wide.addEventListener("change", () => setOpen(wide.matches && layout.dataset.panel !== "closed"));

  // The bottom sheet sits right above the toolbar, whatever its height (zoom, wrapped labels).
  const bar = $(".room-controls");
  new ResizeObserver(() => layout.style.setProperty("--bar-height", `${bar.offsetHeight}px`)).observe(bar);

  const bump = (name) => {
    if (visible(name)) return;
    unread[name] += 1;
    showBadges();
  };
  room.on("chat.message", (m) => {
    if (m.message && m.message.from && String(m.message.from.id) !== room.youId) bump("chat");
  });
  room.on("waiting.updated", () => {
    if (room.isModerator && room.state.waiting.length) setOpen(true);
  });
  let handCount = 0;
  room.watch("hands", () => {
    const count = room.state.hands.length;
    if (room.isModerator && count > handCount) bump("people");
    handCount = count;
  });
  // A poll is the question of the moment: open it in view on every screen, without taking focus.
  room.on("poll.opened", () => select("polls"));
  room.on("poll.results", (m) => {
    if (m.poll && m.poll.status === "published") select("polls");
    else bump("polls");
  });
  document.addEventListener("visibilitychange", showBadges);

  room.panel = { select, setOpen, isOpen, selected: () => selected };
  select("people", { open: isOpen() });
}
