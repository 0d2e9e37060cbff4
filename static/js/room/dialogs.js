// Modal dialogs on the native <dialog>: focus stays inside, Escape closes, focus returns.

import { $ } from "./dom.js";

/** Open a <dialog> modally and give focus back to the opener when it closes. */
export function openDialog(dialog, opener = document.activeElement) {
  dialog.addEventListener(
    "close",
    () => {
      // "close" comes a task after the dialog closed: a key pressed meanwhile (Escape then C)
      // may have moved the focus already, and it stays where the user put it.
      const focus = document.activeElement;
      const lost = !focus || focus === document.body || dialog.contains(focus);
      if (lost && opener && document.contains(opener)) opener.focus();
    },
    { once: true },
  );
  dialog.showModal();
  const first = dialog.querySelector("[autofocus], input, select, textarea, button");
  if (first) first.focus();
}

/** Ask a yes/no question in #confirm-dialog; resolves true when confirmed. */
export function confirmDialog(question, confirmLabel) {
  const dialog = $("#confirm-dialog");
  $("#confirm-question").textContent = question;
  $("#confirm-ok").textContent = confirmLabel;
  return new Promise((resolve) => {
    dialog.returnValue = "";
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    openDialog(dialog);
    $("#confirm-cancel").focus();
  });
}
