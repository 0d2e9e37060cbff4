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
      clearInterval(countdown);
      banner.dataset.state = "ok";
      status.textContent = "";
      room.client.close();
      document.title = `${t("final_title")} · ${document.title}`;
      $("#screen-final h1").focus();
    }
  });

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
