// Which screen the page shows (connecting, waiting, room, final) and the connection banner.

import { $ } from "./dom.js";
import { t } from "./i18n.js";

const SCREENS = ["connecting", "waiting", "room", "final"];

export function mountScreens(room) {
  const banner = $("#connection-banner");
  const status = $("#connection-status");
  let countdown = null;

  room.watch("screen", () => {
    const { name } = room.screen;
    for (const screen of SCREENS) $(`#screen-${screen}`).hidden = screen !== name;
    document.body.dataset.roomScreen = name;
    if (name === "waiting") {
      const reason = room.screen.reason || "not_in_class";
      $("#waiting-reason").textContent = t(`waiting_${reason}`);
      $("#waiting-reason").dataset.reason = reason;
      room.announce(t(`waiting_${reason}`));
    }
    if (name === "final") {
      const reason = room.screen.reason;
      const message = $("#final-message");
      message.textContent = t(`final_${reason}`) === `final_${reason}` ? t("final_close_other") : t(`final_${reason}`);
      message.dataset.reason = reason;
      $("#final-login").hidden = reason !== "close_4401";
      // Logged out (here or in another tab), or the session ended: straight to the login page.
      if (reason === "close_4401") window.location.assign($("#final-login").href);
      clearInterval(countdown);
      banner.dataset.state = "ok";
      status.textContent = "";
      room.client.close();
      document.title = `${t("final_title")} · ${document.title}`;
      $("#screen-final h1").focus();
    }
  });

  const notice = $("#room-notice");
  const clock = new Intl.DateTimeFormat(document.documentElement.lang || "fr", { hour: "2-digit", minute: "2-digit" });
  // Students are told when the last teacher of the lesson leaves (the notice is a status region: read once).
  let teachers = 0;
  let teacherLeft = false;
  room.watch("participants", () => {
    const now = Array.from(room.state.participants.values()).filter((p) => p.moderator && p.role === "teacher").length;
    const left = teachers > 0 && now === 0 && room.config.kind === "lesson" && !room.isModerator;
    teacherLeft = (teacherLeft || left) && now === 0;
    teachers = now;
    showNotice();
  });
  const showNotice = () => {
    const r = room.state.room || {};
    const lines = [];
    if (teacherLeft && !r.closes_at) lines.push(t("teacher_left"));
    if (r.safe_mode) lines.push(t("notice_safe_mode"));
    if (r.closes_at) lines.push(t("notice_closes_at", { time: clock.format(new Date(r.closes_at)) }));
    if (r.locked && room.isModerator) lines.push(t("notice_locked"));
    notice.textContent = lines.join(" ");
    notice.dataset.state = r.safe_mode ? "warning" : lines.length ? "info" : "none";
  };
  room.watch("room", showNotice);

  room.on("connection.lost", (m) => {
    if (room.screen.name === "final") return;
    let seconds = Math.ceil(m.delay / 1000);
    const show = () => {
      status.textContent = t("connection_lost", { seconds });
    };
    banner.dataset.state = "lost";
    show();
    clearInterval(countdown);
    countdown = setInterval(() => {
      seconds = Math.max(0, seconds - 1);
      show();
      if (seconds === 0) clearInterval(countdown);
    }, 1000);
  });
  room.on("connection.open", (m) => {
    clearInterval(countdown);
    if (m.attempt > 0) {
      banner.dataset.state = "back";
      status.textContent = t("connection_back");
      setTimeout(() => {
        if (banner.dataset.state !== "back") return;
        banner.dataset.state = "ok";
        status.textContent = "";
      }, 3000);
    } else {
      banner.dataset.state = "ok";
      status.textContent = "";
    }
  });
  $("#connection-retry").addEventListener("click", () => room.client.reconnectNow());
  room.on("connection.lost", () => {
    $("#connection-retry").hidden = false;
  });
  room.on("connection.open", () => {
    $("#connection-retry").hidden = true;
  });
}
