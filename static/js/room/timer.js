// The lesson timer: moderators start and stop it (Settings tab), everyone sees it count down in
// the header. The page counts from the server's `remaining` on its own clock (a wrong clock on a
// pupil's computer does not matter); "time is up" is said once to screen readers.

import { $ } from "./dom.js";
import { t } from "./i18n.js";

/** "4:05", or "1:02:03" past an hour. */
export function formatClock(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
}

export function mountTimer(room) {
  const box = $("#lesson-timer");
  const clock = $("#lesson-timer-clock");
  const form = $("#timer-form");
  const stop = $("#timer-stop");
  let endsAt = null; // performance.now() when it runs out; null without a timer
  let tick = null;
  let announcedEnd = false;

  const render = () => {
    if (endsAt === null) {
      box.hidden = true;
      if (stop) stop.hidden = true;
      return;
    }
    const left = (endsAt - performance.now()) / 1000;
    box.hidden = false;
    if (stop) stop.hidden = false;
    const over = left <= 0;
    box.dataset.state = over ? "over" : left <= 60 ? "soon" : "running";
    clock.textContent = over ? t("timer_over") : formatClock(left);
    box.setAttribute("aria-label", over ? t("timer_over") : t("timer_left", { time: formatClock(left) }));
    if (over) {
      clearInterval(tick);
      tick = null;
      if (!announcedEnd) {
        announcedEnd = true;
        room.announce(t("timer_over_announce"));
      }
    }
  };

  /** Show the server's timer object (or null); `fresh` says it was just started (announce it). */
  const show = (timer, { fresh = false } = {}) => {
    clearInterval(tick);
    tick = null;
    if (!timer) {
      endsAt = null;
      render();
      return;
    }
    endsAt = performance.now() + timer.remaining * 1000;
    // a timer that had run out before this page came is not news: no announcement
    announcedEnd = timer.remaining <= 0;
    if (fresh) room.announce(t("timer_started", { minutes: Math.round(timer.seconds / 60) }));
    render();
    if (timer.remaining > 0) tick = setInterval(render, 250);
  };

  room.on("state", (m) => show(m.timer || null));
  room.on("timer", (m) => {
    show(m.timer || null, { fresh: Boolean(m.timer) });
    if (!m.timer) room.announce(t("timer_stopped"));
  });

  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const minutes = Number($("#timer-minutes").value);
      if (!Number.isInteger(minutes) || minutes < 1 || minutes > 180) {
        $("#timer-minutes").focus();
        return;
      }
      await room.act({ type: "timer.start", minutes });
    });
    stop.addEventListener("click", async () => {
      await room.act({ type: "timer.stop" });
      // the Stop button hides: focus goes back to the minutes field
      $("#timer-minutes").focus();
    });
  }
}
