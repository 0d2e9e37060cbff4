// Help when the browser refuses the camera or the microphone: how to allow it in Chromium,
// Firefox and Safari, shown next to the button the person pressed, the current browser first.

import { $ } from "./dom.js";
import { t } from "./i18n.js";

/** Whether a getUserMedia failure is a refusal (by the person, the browser or the system). */
export function isRefusal(error) {
  return Boolean(error) && (error.name === "NotAllowedError" || error.name === "SecurityError" || error.name === "PermissionDeniedError");
}

function currentBrowser() {
  const agent = navigator.userAgent;
  if (/Firefox\//.test(agent)) return "firefox";
  if (/Safari\//.test(agent) && !/Chrome\/|Chromium\/|CriOS\/|Edg\//.test(agent)) return "safari";
  return "chromium";
}

/** Show the help above (or below) the button that failed; focus moves to it, Close brings it back. */
export function showPermissionHelp(button, kind) {
  const box = $("#permission-help");
  if (!box) return;
  $("#permission-help-title").textContent = t(kind === "camera" ? "blocked_camera" : "blocked_microphone");
  const steps = box.querySelector(".permission-steps");
  const mine = steps.querySelector(`[data-browser="${currentBrowser()}"]`);
  for (const item of steps.children) item.removeAttribute("aria-current");
  mine.setAttribute("aria-current", "true");
  steps.prepend(mine);
  box.hidden = false;
  box.dataset.kind = kind;
  place(box, button);
  box.focus();
  const close = $("#permission-help-close");
  const done = () => {
    box.hidden = true;
    button.focus();
  };
  close.onclick = done;
  box.onkeydown = (event) => {
    if (event.key === "Escape") {
      event.stopPropagation();
      done();
    }
  };
}

/** Put the box next to the button, inside the viewport: above it when there is room, else below. */
function place(box, button) {
  const margin = 8;
  const rect = button.getBoundingClientRect();
  box.style.left = "0px";
  box.style.top = "0px";
  const width = box.offsetWidth;
  const height = box.offsetHeight;
  const left = Math.min(Math.max(margin, rect.left + rect.width / 2 - width / 2), window.innerWidth - width - margin);
  let top = rect.top - height - margin;
  if (top < margin) top = Math.min(rect.bottom + margin, window.innerHeight - height - margin);
  box.style.left = `${Math.max(margin, left)}px`;
  box.style.top = `${Math.max(margin, top)}px`;
}
