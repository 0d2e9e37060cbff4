// The toolbar: camera, microphone, screen, raise hand, leave (SPEC section 5 hooks), the moderators'
// End menu, "lower all hands" and the keyboard shortcuts.

import { $ } from "./dom.js";
import { t } from "./i18n.js";
import { confirmDialog, openDialog } from "./dialogs.js";
import { isRefusal, showPermissionHelp } from "./permission-help.js";

const SOURCE_PERMISSION = { camera: "video", microphone: "audio", screen: "screen" };
// A moderator's mute on these sources (participant `muted_audio` / `muted_video`), lifted by `unmute`.
const MUTE_FLAG = { camera: ["muted_video", "video"], microphone: ["muted_audio", "audio"] };

/** Whether a toolbar button is refused for now (aria-disabled: still focusable, and its title says why). */
const refused = (button) => button.disabled || button.getAttribute("aria-disabled") === "true";

export function mountControls(room) {
  for (const [kind, permission] of Object.entries(SOURCE_PERMISSION)) {
    const button = $(`[data-action="${kind}"]`);
    let busy = false;
    // Refused by the room's settings: aria-disabled rather than disabled, so that Tab still reaches the
    // button and reads why (its title); a click says it again. The server refuses the source anyway.
    const markAllowed = (allowed) => {
      button.setAttribute("aria-disabled", String(!allowed));
      button.title = allowed ? "" : t("not_allowed_now");
    };
    button.addEventListener("click", async () => {
      if (busy) return;
      if (refused(button)) {
        room.announce(t("not_allowed_now"));
        return;
      }
      const on = button.getAttribute("aria-pressed") === "true";
      if (!room.media) {
        room.announce(t("media_unavailable"));
        $("#media-note").textContent = t("media_unavailable");
        return;
      }
      // Busy, not disabled: a disabled button would drop the keyboard focus to the page.
      busy = true;
      button.setAttribute("aria-busy", "true");
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
        if (isRefusal(error) && kind !== "screen") {
          // the help is read out from where focus lands, not announced twice
          showPermissionHelp(button, kind);
        } else {
          room.announce(t("media_failed"));
          $("#media-note").textContent = t("media_failed");
        }
      } finally {
        busy = false;
        button.removeAttribute("aria-busy");
        markAllowed(room.studentMay(permission));
      }
    });
    const update = () => {
      const allowed = room.studentMay(permission);
      markAllowed(allowed);
      if (!allowed && button.getAttribute("aria-pressed") === "true" && room.media) {
        room.media.setSource(kind, false).then(() => room.setSourceState(kind, false), () => room.setSourceState(kind, false));
      }
    };
    room.watch("room", update);
    room.watch("you", update);
  }

  // Phone browsers cannot share a screen: no button that can only fail.
  if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) $('[data-action="screen"]').hidden = true;

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

  // The protocol has no "lower all": a moderator lowers each hand (not rate-limited, docs/protocol.md).
  const lowerAll = $("#lower-all-hands");
  if (lowerAll) {
    room.watch("hands", () => {
      lowerAll.hidden = room.state.hands.length < 2;
    });
    lowerAll.addEventListener("click", async () => {
      const ids = [...room.state.hands];
      await Promise.all(ids.map((id) => room.act({ type: "hand.lower", id: room.rawId(id) })));
      room.announce(t("hands_lowered"));
      $("#hands-title").setAttribute("tabindex", "-1");
      $("#hands-title").focus();
    });
  }

  const report = $('[data-action="report"]');
  if (report) {
    report.addEventListener("click", async () => {
      if (await room.act({ type: "report", text: t("report_text") })) room.announce(t("report_sent"));
    });
  }

  const leave = $('[data-action="leave"]');
  const goAway = (href) => {
    room.client.close();
    window.location.assign(href || leave.dataset.href || "/");
  };
  const endDialog = $("#end-dialog");
  leave.addEventListener("click", () => {
    if (endDialog) openDialog(endDialog, leave);
    else goAway();
  });
  if (endDialog) mountEndDialog(room, endDialog, goAway);

  mountShortcuts(room, leave, goAway);
}

/** The moderators' End menu: end for everyone (confirmed), leave it open N minutes, or just leave. */
function mountEndDialog(room, dialog, goAway) {
  $("#end-cancel").addEventListener("click", () => dialog.close());
  $("#end-room").addEventListener("click", async () => {
    if (await confirmDialog(t("confirm_end"), t("end_room"))) {
      if (await room.act({ type: "room.end" })) dialog.close();
    }
  });
  $("#leave-only").addEventListener("click", () => goAway($("#leave-only").dataset.href));
  const minutes = $("#leave-open-minutes");
  $("#leave-open-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!minutes) return;
    const value = Number(minutes.value);
    if (!Number.isInteger(value) || value < 1 || value > 15) {
      minutes.focus();
      return;
    }
    if (await room.act({ type: "room.leave_open", minutes: value })) {
      dialog.close();
      goAway($("#leave-open").dataset.href);
    }
  });
}

/** M, V, H, C, L and ?: never while typing, with a modifier, or with a dialog open. */
function mountShortcuts(room, leave, goAway) {
  const help = $("#shortcuts-dialog");
  const openHelp = () => openDialog(help, document.activeElement);
  $("#shortcuts-open").addEventListener("click", openHelp);
  const typing = (target) =>
    target instanceof Element && (target.closest("input, textarea, select, [contenteditable]:not([contenteditable=false])") !== null);
  document.addEventListener("keydown", async (event) => {
    if (room.screen.name !== "room" || event.defaultPrevented || event.repeat) return;
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (document.querySelector("dialog[open]")) return;
    const press = (selector) => {
      const button = $(selector);
      if (!button || button.disabled) return;
      // a refused source's button is pressed too: its click handler says why, and does nothing else
      event.preventDefault();
      button.click();
      button.focus();
    };
    switch (event.key.toLowerCase()) {
      case "m":
        return press('[data-action="microphone"]');
      case "v":
        return press('[data-action="camera"]');
      case "h":
        return press('[data-action="raise-hand"]');
      case "c":
        event.preventDefault();
        room.panel.select("chat");
        $("#chat-input").focus();
        return;
      case "l":
        event.preventDefault();
        if ($("#end-dialog")) return leave.click();
        if (await confirmDialog(t("confirm_leave"), t("leave"))) goAway();
        return;
      case "?":
        event.preventDefault();
        return openHelp();
    }
  });
}

