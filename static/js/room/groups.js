// Breakout groups (docs/protocol.md, "Breakout groups").
//
// Students: `group.assigned` moves this page into the group's room (the socket goes to the other
// room, media follows with the same connections: media.js joins again on `state` with its resume
// token, and starts again from nothing only if the forwarder cannot move them),
// `group.closed` brings it back into the lesson; no reload. A "call the teacher" button in a group.
// Teachers: a "Groups" dialog (how many, random / students choose / by hand, names, minutes, the
// previous lesson's groups), then the overview: one `[data-group]` card per group with its
// members, who speaks, hands, a call for help, the time left, join and listen; a broadcast; close.

import { roomSocketUrl } from "./client.js";
import { $, h, replaceChildren } from "./dom.js";
import { t } from "./i18n.js";

/** "m:ss" (or "h:mm:ss") for a number of seconds. */
function clock(seconds) {
  const whole = Math.ceil(seconds);
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = String(whole % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

export function mountGroups(room) {
  const lesson = { id: null, groups: null }; // the lesson whose groups run, as this page knows it
  let here = null; // state.group in a group room
  let overview = null;
  let tick = null;
  let listening = false; // this page listens in silently to the group it is in

  /** Go on in another room on the same page: the socket moves, the state and media follow.
   * `listen`: a moderator listening in silently (the server lists them nowhere, sends sound only). */
  const moveTo = (roomId, { listen = false } = {}) => {
    if (String(roomId) === String(room.config.roomId) && listen === listening) return;
    listening = listen;
    room.config.roomId = String(roomId);
    history.replaceState(null, "", `/rooms/${roomId}/`);
    room.setScreen("connecting");
    room.client.moveTo(roomSocketUrl(roomId) + (listen ? "?listen=1" : ""));
  };
  room.moveTo = moveTo;

  // --- everyone ---------------------------------------------------------------------------------

  const banner = h("p", { id: "group-banner", class: "group-banner", role: "status", hidden: true });
  const helpButton = h(
    "button",
    { type: "button", class: "small", "data-action": "help", hidden: true, onclick: () => askHelp() },
    t("group_help"),
  );
  const backButton = h(
    "button",
    { type: "button", class: "small", "data-action": "back-to-lesson", hidden: true, onclick: () => here && moveTo(here.lesson) },
    t("group_back"),
  );
  const broadcastNotice = h("p", { class: "group-broadcast", role: "alert", hidden: true });
  const bar = h("div", { id: "group-bar", class: "group-bar" }, banner, helpButton, backButton, broadcastNotice);
  const stage = $("#stage-main");
  const screenRoom = $("#screen-room");
  if (screenRoom) screenRoom.prepend(bar);

  const askHelp = async () => {
    if (await room.act({ type: "help.request" })) {
      helpButton.disabled = true;
      room.announce(t("group_help_sent"));
    }
  };

  const renderBar = () => {
    if (here) {
      banner.hidden = false;
      banner.textContent = t(listening ? "group_listening" : "group_in", { name: here.name });
      helpButton.hidden = room.isModerator;
      backButton.hidden = !room.isModerator;
    } else {
      banner.hidden = true;
      helpButton.hidden = true;
      backButton.hidden = true;
    }
  };

  room.on("state", (m) => {
    here = m.group || null;
    helpButton.disabled = false;
    broadcastNotice.hidden = true;
    if (m.room && m.room.kind === "lesson") {
      lesson.id = String(m.room.id);
      lesson.groups = m.groups || null;
    } else if (here) {
      lesson.id = here.lesson;
    }
    renderBar();
    renderChoice();
    renderOverviewShell();
  });
  room.on("group.assigned", (m) => {
    room.announce(t("group_assigned", { name: m.group.name }));
    moveTo(m.group.room);
  });
  room.on("group.closed", (m) => {
    room.announce(t("group_closed"));
    moveTo(m.room);
  });
  room.on("group.broadcast", (m) => {
    broadcastNotice.hidden = false;
    broadcastNotice.textContent = t("group_broadcast", { name: m.from.name, text: m.text });
  });
  // a group that ended while this page was away: back to the lesson rather than "ended"
  room.on("connection.closed", (m) => {
    if (here && m.code === 4409) moveTo(here.lesson);
  });
  room.on("room.ended", (m) => {
    if (here && m.reason === "groups_closed") moveTo(here.lesson);
  });
  room.on("groups.updated", (m) => {
    lesson.groups = m.groups;
    renderChoice();
    renderOverviewShell();
  });

  // --- students choosing their group ------------------------------------------------------------

  const choice = h("section", { id: "group-choice", class: "group-choice card", "aria-label": t("group_choose"), hidden: true });
  if (screenRoom) screenRoom.prepend(choice);
  const renderChoice = () => {
    const groups = lesson.groups;
    const show = Boolean(groups && groups.mode === "choose" && !groups.mine && !room.isModerator && !here);
    choice.hidden = !show;
    if (!show) return;
    replaceChildren(
      choice,
      h("h2", {}, t("group_choose")),
      h(
        "ul",
        { class: "plain-list" },
        groups.groups.map((group) =>
          h("li", {}, h("button", { type: "button", "data-join-group": group.id, onclick: () => room.act({ type: "group.join", group: group.id }) }, group.name)),
        ),
      ),
    );
  };

  // --- teachers: opening groups -----------------------------------------------------------------

  // The toolbar's buttons are an icon from the page's sprite and a label, as in room.html.
  const icon = (id) => {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "icon");
    svg.setAttribute("aria-hidden", "true");
    const use = document.createElementNS("http://www.w3.org/2000/svg", "use");
    use.setAttribute("href", `#${id}`);
    svg.append(use);
    return svg;
  };

  const openButton = h(
    "button",
    { type: "button", id: "groups-open", "data-action": "groups", "aria-haspopup": "dialog", hidden: true, onclick: () => openDialog() },
    icon("i-groups"),
    h("span", { class: "label" }, t("groups")),
  );
  const controls = $(".room-controls");
  const leave = controls ? controls.querySelector('[data-action="leave"]') : null;
  if (controls) controls.insertBefore(openButton, leave);

  const dialog = h("dialog", { id: "groups-dialog", class: "groups-dialog", "aria-labelledby": "groups-dialog-title" });
  document.body.append(dialog);

  const students = () =>
    [...room.state.participants.values()].filter((p) => !p.moderator).sort((a, b) => a.name.localeCompare(b.name));

  const openDialog = async (previous = null) => {
    const count = h("input", { type: "number", id: "groups-count", min: "2", max: "20", value: String(previous ? previous.length : 2), required: true });
    const mode = h(
      "select",
      { id: "groups-mode" },
      h("option", { value: "hand" }, t("groups_by_hand")),
      h("option", { value: "random" }, t("groups_random")),
      h("option", { value: "choose" }, t("groups_choose")),
    );
    const minutes = h("input", { type: "number", id: "groups-minutes", min: "1", max: "120", placeholder: t("groups_no_limit") });
    const names = h("div", { class: "groups-names" });
    const assign = h("div", { class: "groups-assign" });
    const chosen = new Map(); // user id -> group number (from 1)
    for (const [number, group] of (previous || []).entries()) for (const id of group.members) chosen.set(String(id), number + 1);
    const render = () => {
      const n = Math.max(2, Math.min(20, Number(count.value) || 2));
      const old = [...names.querySelectorAll("input")].map((input) => input.value);
      replaceChildren(
        names,
        Array.from({ length: n }, (_, i) =>
          h(
            "label",
            {},
            t("groups_name", { n: i + 1 }),
            h("input", { type: "text", maxlength: "60", "data-group-name": String(i + 1), value: old[i] ?? (previous && previous[i] ? previous[i].name : t("group_default", { n: i + 1 })) }),
          ),
        ),
      );
      assign.hidden = mode.value !== "hand";
      // by hand: one box per group holding its students; drag a student to another box, or use
      // the student's select (the keyboard's way), and the student moves box
      const everyone = students();
      const bins = Array.from({ length: n }, (_, i) => {
        const list = h("ul", { class: "plain-list" });
        const bin = h(
          "section",
          {
            class: "groups-bin",
            "data-drop-group": String(i + 1),
            "aria-label": t("group_default", { n: i + 1 }),
            ondragover: (event) => {
              event.preventDefault();
              bin.classList.add("drop-here");
            },
            ondragleave: () => bin.classList.remove("drop-here"),
            ondrop: (event) => {
              event.preventDefault();
              const id = event.dataTransfer.getData("text/plain");
              if (!everyone.some((p) => String(p.id) === id)) return;
              chosen.set(id, i + 1);
              render();
            },
          },
          h("h3", {}, names.querySelectorAll("input")[i].value || t("group_default", { n: i + 1 })),
          list,
        );
        return { bin, list };
      });
      for (const [index, p] of everyone.entries()) {
        const picked = chosen.get(String(p.id));
        const number = picked && picked <= n ? picked : (index % n) + 1;
        const select = h(
          "select",
          { "data-assign": String(p.id), "aria-label": t("groups_for", { name: p.name }) },
          Array.from({ length: n }, (_, i) => h("option", { value: String(i + 1) }, t("group_default", { n: i + 1 }))),
        );
        select.value = String(number);
        select.addEventListener("change", () => {
          chosen.set(String(p.id), Number(select.value));
          render();
          assign.querySelector(`[data-assign="${p.id}"]`)?.focus();
        });
        const row = h(
          "li",
          {
            class: "groups-assign-row",
            draggable: "true",
            "data-student": String(p.id),
            ondragstart: (event) => {
              event.dataTransfer.setData("text/plain", String(p.id));
              event.dataTransfer.effectAllowed = "move";
            },
          },
          h("span", {}, p.name),
          select,
        );
        bins[number - 1].list.append(row);
      }
      replaceChildren(assign, bins.map(({ bin }) => bin));
    };
    count.addEventListener("input", render);
    mode.addEventListener("change", render);
    const reuse = h("button", { type: "button", class: "small", onclick: () => reusePrevious() }, t("groups_reuse"));
    const form = h(
      "form",
      { method: "dialog", onsubmit: (event) => submit(event) },
      h("h2", { id: "groups-dialog-title" }, t("groups")),
      h("label", {}, t("groups_count"), count),
      h("label", {}, t("groups_mode"), mode),
      h("label", {}, t("groups_minutes"), minutes),
      names,
      assign,
      h("p", { class: "actions" }, reuse, h("button", { type: "button", class: "small", onclick: () => dialog.close() }, t("groups_cancel")), h("button", { type: "submit", class: "primary" }, t("groups_start"))),
    );
    const reusePrevious = async () => {
      const reply = await room.act({ type: "groups.previous" });
      if (!reply) return;
      if (!reply.groups.length) {
        room.announce(t("groups_no_previous"));
        return;
      }
      dialog.close();
      openDialog(reply.groups);
    };
    const submit = async (event) => {
      event.preventDefault();
      const n = Math.max(2, Math.min(20, Number(count.value) || 2));
      const message = { type: "groups.open", names: [...names.querySelectorAll("input")].map((input) => input.value.trim() || input.placeholder) };
      if (minutes.value) message.minutes = Number(minutes.value);
      if (mode.value === "hand") {
        const lists = Array.from({ length: n }, () => []);
        for (const select of assign.querySelectorAll("select")) lists[Number(select.value) - 1].push(select.dataset.assign);
        message.groups = lists;
      } else {
        message.count = n;
        message.mode = mode.value;
      }
      if (await room.act(message)) dialog.close();
    };
    replaceChildren(dialog, form);
    render();
    if (!dialog.open) dialog.showModal();
    count.focus();
  };

  // --- teachers: the overview -------------------------------------------------------------------

  const cards = h("div", { class: "groups-cards" });
  const timeLeft = h("p", { class: "groups-time", role: "timer" });
  const broadcastText = h("input", { type: "text", id: "groups-broadcast-text", maxlength: "1000", "aria-label": t("groups_broadcast") });
  const broadcastForm = h(
    "form",
    {
      class: "groups-broadcast",
      onsubmit: async (event) => {
        event.preventDefault();
        const text = broadcastText.value.trim();
        if (text && (await room.act({ type: "groups.broadcast", text }))) {
          broadcastText.value = "";
          room.announce(t("groups_broadcast_sent"));
        }
      },
    },
    broadcastText,
    h("button", { type: "submit", class: "small", "data-action": "groups-broadcast" }, t("groups_broadcast")),
  );
  const closeButton = h("button", { type: "button", class: "small danger", "data-action": "groups-close", onclick: () => room.act({ type: "groups.close" }) }, t("groups_close"));
  // the spoken broadcast: the teacher's microphone heard in every group while the button is held
  // (pointer or Space/Enter); the microphone is turned on first if it was off
  const speakButton = h("button", { type: "button", class: "small", "data-action": "groups-speak", "aria-pressed": "false" }, t("groups_speak"));
  let speaking = false;
  const speak = async (on) => {
    if (on === speaking) return;
    speaking = on;
    speakButton.setAttribute("aria-pressed", on ? "true" : "false");
    if (on && room.media) await room.media.setSource("microphone", true);
    if (speaking !== on) return; // released while the microphone started
    if (await room.act({ type: "groups.speak", on }) && on) room.announce(t("groups_speaking"));
  };
  speakButton.addEventListener("pointerdown", (event) => {
    speakButton.setPointerCapture?.(event.pointerId);
    speak(true);
  });
  for (const end of ["pointerup", "pointercancel", "lostpointercapture"]) speakButton.addEventListener(end, () => speak(false));
  speakButton.addEventListener("keydown", (event) => {
    if ((event.key === " " || event.key === "Enter") && !event.repeat) {
      event.preventDefault();
      speak(true);
    }
  });
  speakButton.addEventListener("keyup", (event) => {
    if (event.key === " " || event.key === "Enter") speak(false);
  });
  speakButton.addEventListener("blur", () => speak(false));
  const panel = h(
    "section",
    { id: "groups-overview", class: "groups-overview", "aria-labelledby": "groups-overview-title", hidden: true },
    h("h2", { id: "groups-overview-title" }, t("groups")),
    timeLeft,
    cards,
    broadcastForm,
    speakButton,
    closeButton,
  );
  if (stage) stage.prepend(panel);

  const renderOverviewShell = () => {
    const inLesson = room.state.room && room.state.room.kind === "lesson";
    openButton.hidden = !(room.isModerator && inLesson) || Boolean(lesson.groups);
    if (!lesson.groups || !inLesson) {
      panel.hidden = true;
      overview = null;
    }
  };

  const renderTime = () => {
    const endsAt = overview && overview.ends_at ? Date.parse(overview.ends_at) : null;
    timeLeft.hidden = endsAt === null;
    if (endsAt !== null) timeLeft.textContent = t("groups_time_left", { time: clock(Math.max(0, (endsAt - Date.now()) / 1000)) });
  };

  const card = (group) => {
    const speaking = new Set(group.speaking.map(String));
    const present = new Set(group.participants.map((p) => String(p.id)));
    const hands = new Set(group.hands.map(String));
    const people = [...group.members];
    for (const p of group.participants) if (!people.some((m) => String(m.id) === String(p.id))) people.push({ id: p.id, name: p.name });
    return h(
      "article",
      { class: "group-card", "data-group": group.id, "data-help": group.help ? "true" : "false" },
      h("h3", {}, group.name),
      group.help ? h("p", { class: "group-help", "data-help-call": "" }, t("groups_help_called")) : null,
      h(
        "ul",
        { class: "plain-list group-people" },
        people.map((p) =>
          h(
            "li",
            { "data-member": String(p.id), "data-present": present.has(String(p.id)) ? "true" : "false", "data-speaking": speaking.has(String(p.id)) ? "true" : "false" },
            p.name,
            speaking.has(String(p.id)) ? h("span", { class: "badge" }, ` ${t("groups_speaking")}`) : null,
            hands.has(String(p.id)) ? h("span", { class: "badge" }, ` ${t("groups_hand")}`) : null,
            present.has(String(p.id)) ? null : h("span", { class: "muted" }, ` ${t("groups_absent")}`),
          ),
        ),
      ),
      h(
        "p",
        { class: "actions" },
        h("button", { type: "button", class: "small primary", "data-action": "group-join", onclick: () => moveTo(group.room) }, t("groups_join")),
        h("button", { type: "button", class: "small", "data-action": "group-listen", onclick: () => listen(group.room) }, t("groups_listen")),
      ),
    );
  };

  /** Drop in silently: camera and microphone off before going; in no one's list, hearing only. */
  const listen = async (roomId) => {
    if (room.media) {
      await room.media.setSource("microphone", false);
      await room.media.setSource("camera", false);
    }
    moveTo(roomId, { listen: true });
  };

  room.on("groups.overview", (m) => {
    overview = m;
    panel.hidden = m.groups.length === 0;
    // groups that called for help first, oldest call first; then in their order
    const ordered = [...m.groups].sort((a, b) => (a.help === b.help ? (a.help ? a.help_at.localeCompare(b.help_at) : 0) : a.help ? -1 : 1));
    replaceChildren(cards, ordered.map(card));
    renderTime();
    clearInterval(tick);
    tick = m.ends_at ? setInterval(renderTime, 1000) : null;
  });
}
