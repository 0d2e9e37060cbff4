// The moderators' waiting-room panel: admit, deny, admit all; and the waiting screen's leave button.

import { $, h, reconcile } from "./dom.js";
import { t, tn } from "./i18n.js";

export function mountWaiting(room) {
  $("#waiting-leave").addEventListener("click", () => {
    room.client.close();
    window.location.assign($("#waiting-leave").dataset.href || "/");
  });

  const panel = $("#waiting-panel");
  if (!panel) return;
  const list = $("#waiting-list");
  $("#admit-all").addEventListener("click", () => room.act({ type: "waiting.admit_all" }));

  room.watch("waiting", () => {
    const waiting = room.state.waiting;
    reconcile(
      list,
      waiting,
      (w) => w.id,
      (w) => {
        const id = w.id;
        return h(
          "li",
          { dataset: { waiting: id } },
          h("span", { class: "who" }, h("span", { class: "name" }), h("span", { class: "reason hint" })),
          h(
            "span",
            { class: "row-actions" },
            h("button", { type: "button", class: "primary small", dataset: { act: "admit" }, onclick: () => room.act({ type: "waiting.admit", id }) }, t("admit")),
            h("button", { type: "button", class: "small", dataset: { act: "deny" }, onclick: () => room.act({ type: "waiting.deny", id }) }, t("deny")),
          ),
        );
      },
      (li, w) => {
        li.querySelector(".name").textContent = w.name;
        li.querySelector(".reason").textContent = t(`waiting_reason_${w.reason}`);
        li.querySelector('[data-act="admit"]').setAttribute("aria-label", t("admit_name", { name: w.name }));
        li.querySelector('[data-act="deny"]').setAttribute("aria-label", t("deny_name", { name: w.name }));
      },
    );
    panel.hidden = waiting.length === 0;
    $("#waiting-count").textContent = tn("waiting_count", waiting.length);
  });
}
