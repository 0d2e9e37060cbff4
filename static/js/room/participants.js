// The participant list (roles, presenter, hands, media) and the raised-hands queue.

import { $, h, reconcile } from "./dom.js";
import { t } from "./i18n.js";
import { confirmDialog } from "./dialogs.js";

function sortParticipants(room) {
  return Array.from(room.state.participants.values()).sort((a, b) => {
    if (Boolean(a.moderator) !== Boolean(b.moderator)) return a.moderator ? -1 : 1;
    return String(a.name).localeCompare(String(b.name), document.documentElement.lang || "fr");
  });
}

function createItem(room, p) {
  const li = h("li", { class: "participant", dataset: { participant: String(p.id) } });
  li.append(
    h("span", { class: "avatar", "aria-hidden": "true" }),
    h(
      "span",
      { class: "who" },
      h("span", { class: "name" }),
      h("span", { class: "badges" }),
    ),
  );
  if (room.isModerator && String(p.id) !== room.youId) li.append(moderatorMenu(room, p));
  return li;
}

function badge(text, kind) {
  return h("span", { class: `badge badge-${kind}`, dataset: { badge: kind } }, text);
}

function updateItem(room, li, p) {
  const id = String(p.id);
  const you = id === room.youId;
  li.querySelector(".avatar").textContent = initials(p.name);
  li.querySelector(".name").textContent = you ? t("you_suffix", { name: p.name }) : p.name;
  const badges = [badge(t(`role_${p.role}`), "role")];
  if (p.moderator) badges.push(badge(t("moderator"), "moderator"));
  if (p.presenter && !p.moderator) badges.push(badge(t("presenter"), "presenter"));
  if (p.draw && !p.presenter && !p.moderator) badges.push(badge(t("pen"), "pen"));
  const position = room.state.hands.indexOf(id);
  if (position >= 0) badges.push(badge(t("hand_position", { n: position + 1 }), "hand"));
  if (p.muted_audio) badges.push(badge(t("mic_muted"), "muted-audio"));
  if (p.muted_video) badges.push(badge(t("camera_muted"), "muted-video"));
  if (p.audio) badges.push(badge(t("mic_on"), "audio"));
  if (p.video) badges.push(badge(t("camera_on"), "video"));
  if (p.screen) badges.push(badge(t("screen_on"), "screen"));
  li.querySelector(".badges").replaceChildren(...badges);
  li.classList.toggle("has-hand", position >= 0);
  li.dataset.presenter = p.presenter ? "true" : "false";
  const menu = li.querySelector(".participant-menu");
  if (menu) updateMenu(room, menu, p);
}

function initials(name) {
  return String(name || "?")
    .split(/[\s-]+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((part) => part[0].toUpperCase())
    .join("");
}

function moderatorMenu(room, p) {
  const id = p.id;
  const target = () => room.participant(id) || p;
  const details = h("details", { class: "participant-menu" });
  const summary = h("summary", { class: "button small" }, t("actions"));
  const buttons = h(
    "div",
    { class: "menu-items" },
    h("button", { type: "button", dataset: { act: "mute-audio" }, onclick: () => room.act({ type: "mute", id, kind: "audio" }) }, t("mute_audio")),
    h("button", { type: "button", dataset: { act: "mute-video" }, onclick: () => room.act({ type: "mute", id, kind: "video" }) }, t("mute_video")),
    h("button", {
      type: "button",
      dataset: { act: "presenter" },
      onclick: () => room.act({ type: "presenter.set", id, presenter: !target().presenter }),
    }),
    h("button", { type: "button", dataset: { act: "pen" }, onclick: () => room.act({ type: "draw.set", id, draw: !target().draw }) }),
    h("button", { type: "button", dataset: { act: "lower-hand" }, onclick: () => room.act({ type: "hand.lower", id }) }, t("lower_hand")),
    h(
      "button",
      {
        type: "button",
        class: "danger",
        dataset: { act: "remove" },
        onclick: async () => {
          if (await confirmDialog(t("confirm_remove", { name: target().name }), t("remove"))) {
            room.act({ type: "participant.remove", id });
          }
        },
      },
      t("remove"),
    ),
  );
  details.append(summary, buttons);
  details.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && details.open) {
      details.open = false;
      summary.focus();
    }
  });
  return details;
}

function updateMenu(room, menu, p) {
  menu.querySelector("summary").setAttribute("aria-label", t("actions_for", { name: p.name }));
  menu.querySelector('[data-act="presenter"]').textContent = p.presenter ? t("presenter_unset") : t("presenter_set");
  menu.querySelector('[data-act="presenter"]').hidden = Boolean(p.moderator);
  menu.querySelector('[data-act="pen"]').textContent = p.draw ? t("pen_take") : t("pen_give");
  menu.querySelector('[data-act="pen"]').hidden = Boolean(p.moderator || p.presenter);
  menu.querySelector('[data-act="lower-hand"]').hidden = !room.state.hands.includes(String(p.id));
  menu.querySelector('[data-act="remove"]').hidden = Boolean(p.moderator);
}

export function mountParticipants(room) {
  const list = $("#participant-list");
  const count = $("#participant-count");
  const hands = $("#hand-list");
  const handsCount = $("#hand-count");

  room.watch("participants", () => {
    const items = sortParticipants(room);
    reconcile(list, items, (p) => p.id, (p) => createItem(room, p), (li, p) => updateItem(room, li, p));
    count.textContent = String(items.length);
  });

  room.watch("hands", () => {
    const queue = room.state.hands;
    reconcile(
      hands,
      queue,
      (id) => id,
      (id) => {
        const li = h("li", { dataset: { participant: id } }, h("span", { class: "name" }));
        if (room.isModerator) {
          li.append(h("button", { type: "button", class: "small", dataset: { act: "lower-hand" }, onclick: () => room.act({ type: "hand.lower", id: room.rawId(id) }) }, t("lower_hand")));
        }
        return li;
      },
      (li, id) => {
        li.querySelector(".name").textContent = room.nameOf(id);
        const button = li.querySelector("button");
        if (button) button.setAttribute("aria-label", t("lower_hand_of", { name: room.nameOf(id) }));
      },
    );
    handsCount.textContent = String(queue.length);
    $("#hands-empty").hidden = queue.length > 0;
  });
}
