// The chat: public and private messages, deletion by moderators. Text only ever as text.

import { $, h, reconcile } from "./dom.js";
import { t } from "./i18n.js";

const timeFormat = new Intl.DateTimeFormat(document.documentElement.lang || "fr", { hour: "2-digit", minute: "2-digit" });

function formatTime(at) {
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? "" : timeFormat.format(date);
}

function createMessage(room, msg) {
  const li = h(
    "li",
    { class: "chat-message", dataset: { message: String(msg.id) } },
    h("span", { class: "chat-meta" }, h("strong", { class: "chat-from" }), " ", h("span", { class: "chat-private" }), " ", h("time", { class: "chat-time" })),
    h("p", { class: "chat-text" }),
  );
  if (room.isModerator) {
    li.append(
      h(
        "button",
        { type: "button", class: "small link chat-delete", dataset: { act: "delete" }, onclick: () => room.act({ type: "chat.delete", id: msg.id }) },
        t("delete"),
      ),
    );
  }
  return li;
}

function updateMessage(room, li, msg) {
  const fromId = msg.from ? String(msg.from.id) : "";
  const fromName = msg.from ? msg.from.name : t("someone");
  li.querySelector(".chat-from").textContent = fromId === room.youId ? t("you") : fromName;
  const privateLabel = li.querySelector(".chat-private");
  if (msg.to !== null && msg.to !== undefined) {
    li.classList.add("is-private");
    privateLabel.textContent =
      fromId === room.youId ? t("private_to", { name: room.nameOf(msg.to) }) : t("private_from");
  } else {
    privateLabel.textContent = "";
  }
  const time = li.querySelector(".chat-time");
  time.textContent = formatTime(msg.at);
  time.setAttribute("datetime", msg.at || "");
  // The one place where people's words reach the page: textContent, never HTML.
  li.querySelector(".chat-text").textContent = msg.text;
  const remove = li.querySelector(".chat-delete");
  if (remove) remove.setAttribute("aria-label", t("delete_message_from", { name: fromName }));
}

function recipients(room) {
  const others = Array.from(room.state.participants.values()).filter((p) => String(p.id) !== room.youId);
  const allowed = room.isModerator ? others : others.filter((p) => p.moderator);
  return allowed.sort((a, b) => String(a.name).localeCompare(String(b.name)));
}

export function mountChat(room) {
  const log = $("#chat-log");
  const form = $("#chat-form");
  const input = $("#chat-input");
  const to = $("#chat-to");
  const closed = $("#chat-closed");
  const sendButton = $("#chat-send");

  // Messages from others are read out once, through the page's one live region.
  room.on("chat.message", (m) => {
    const msg = m.message || {};
    if (msg.from && String(msg.from.id) !== room.youId) room.announce(t("chat_from", { name: msg.from.name, text: msg.text }));
  });

  // Whether the reader follows the newest message, from her own scrolling: a log in a closed tab
  // measures 0 and loses its scroll position, so it cannot be measured when a message comes.
  let following = true;
  const toBottom = () => {
    log.scrollTop = log.scrollHeight;
  };
  log.addEventListener("scroll", () => {
    if (log.clientHeight > 0) following = log.scrollHeight - log.scrollTop - log.clientHeight < 60;
  });
  // Shown (the tab or the panel opened): the newest message; resized (a phone's keyboard): kept in view.
  let shown = false;
  new ResizeObserver(() => {
    const visible = log.clientHeight > 0;
    if (visible && (!shown || following)) {
      following = true;
      toBottom();
    }
    shown = visible;
  }).observe(log);

  room.watch("chat", () => {
    const newest = log.lastElementChild ? log.lastElementChild.dataset.key : null;
    reconcile(log, room.state.chat, (m) => m.id, (m) => createMessage(room, m), (li, m) => updateMessage(room, li, m));
    $("#chat-empty").hidden = room.state.chat.length > 0;
    const last = room.state.chat[room.state.chat.length - 1];
    const sentByMe = last && String(last.id) !== newest && last.from && String(last.from.id) === room.youId;
    if (following || sentByMe) toBottom();
  });

  room.watch("participants", () => {
    const current = to.value;
    const options = [h("option", { value: "" }, t("to_everyone"))];
    for (const p of recipients(room)) options.push(h("option", { value: String(p.id) }, p.name));
    to.replaceChildren(...options);
    to.value = Array.from(to.options).some((o) => o.value === current) ? current : "";
    $("#chat-to-row").hidden = options.length < 2;
  });

  const updateAllowed = () => {
    const allowed = room.studentMay("chat");
    input.disabled = !allowed;
    sendButton.disabled = !allowed;
    closed.hidden = allowed;
  };
  room.watch("room", updateAllowed);
  room.watch("you", updateAllowed);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) {
      input.focus();
      return;
    }
    const message = { type: "chat.send", text };
    if (to.value) message.to = room.rawId(to.value);
    sendButton.disabled = true;
    const reply = await room.act(message);
    sendButton.disabled = !room.studentMay("chat");
    if (reply) input.value = "";
    input.focus();
  });
}
