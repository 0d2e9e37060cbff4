// The toolbar: camera, microphone, screen, raise hand, leave (SPEC section 5 hooks).

import { $ } from "./dom.js";
import { t } from "./i18n.js";

const SOURCE_PERMISSION = { camera: "video", microphone: "audio", screen: "screen" };
// A moderator's mute on these sources (participant `muted_audio` / `muted_video`), lifted by `unmute`.
const MUTE_FLAG = { camera: ["muted_video", "video"], microphone: ["muted_audio", "audio"] };

export function mountControls(room) {
  for (const [kind, permission] of Object.entries(SOURCE_PERMISSION)) {
    const button = $(`[data-action="${kind}"]`);
    button.addEventListener("click", async () => {
      const on = button.getAttribute("aria-pressed") === "true";
      if (!room.media) {
        room.announce(t("media_unavailable"));
        $("#media-note").textContent = t("media_unavailable");
        return;
      }
      button.disabled = true;
      try {
        // Muted by a moderator: turning the source back on is the person's own choice (docs/protocol.md,
        // "Mute"); the server forwards it again once the mute is lifted.
        const mute = MUTE_FLAG[kind];
        if (!on && mute && room.state.you && room.state.you[mute[0]]) {
          if (!(await room.act({ type: "unmute", kind: mute[1] }))) return;
        }
        const now = await room.media.setSource(kind, !on);
        room.setSourceState(kind, Boolean(now));
      } catch (error) {
        console.error(error);
        room.setSourceState(kind, false);
        room.announce(t("media_failed"));
        $("#media-note").textContent = t("media_failed");
      } finally {
        button.disabled = !room.studentMay(permission);
      }
    });
    const update = () => {
      const allowed = room.studentMay(permission);
      button.disabled = !allowed;
      button.title = allowed ? "" : t("not_allowed_now");
      if (!allowed && button.getAttribute("aria-pressed") === "true" && room.media) {
        room.media.setSource(kind, false).then(() => room.setSourceState(kind, false), () => room.setSourceState(kind, false));
      }
    };
    room.watch("room", update);
    room.watch("you", update);
  }

  const hand = $('[data-action="raise-hand"]');
  const handLabel = hand.querySelector(".label");
  room.watch("hands", () => {
    const raised = room.youId !== null && room.state.hands.includes(room.youId);
    hand.setAttribute("aria-pressed", raised ? "true" : "false");
    handLabel.textContent = raised ? t("lower_my_hand") : t("raise_hand");
  });
  hand.addEventListener("click", () => {
    const raised = hand.getAttribute("aria-pressed") === "true";
    room.act({ type: raised ? "hand.lower" : "hand.raise" });
  });

  const report = $('[data-action="report"]');
  if (report) {
    report.addEventListener("click", async () => {
      if (await room.act({ type: "report", text: t("report_text") })) room.announce(t("report_sent"));
    });
  }

  const leave = $('[data-action="leave"]');
  leave.addEventListener("click", () => {
    room.client.close();
    window.location.assign(leave.dataset.href || "/");
  });
}
