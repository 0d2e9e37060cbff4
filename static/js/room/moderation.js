// Moderator settings: locks, what students may do, mute all, reports. Ending is in the toolbar (controls.js).

import { $, $$, h } from "./dom.js";

export function mountModeration(room) {
  const panel = $("#moderation-panel");
  if (!panel) return;

  // Each switch is a checkbox bound to one field of `room`: data-field="locked" or "students_can.audio".
  const switches = $$("input[data-field]", panel);
  const read = (field) => {
    const r = room.state.room || {};
    const [head, tail] = field.split(".");
    return Boolean(tail ? (r[head] || {})[tail] : r[head]);
  };
  room.watch("room", () => {
    for (const input of switches) input.checked = read(input.dataset.field);
  });
  for (const input of switches) {
    input.addEventListener("change", async () => {
      const [head, tail] = input.dataset.field.split(".");
      const update = { type: "room.update" };
      if (tail) update[head] = { ...(room.state.room[head] || {}), [tail]: input.checked };
      else update[head] = input.checked;
      const reply = await room.act(update);
      if (!reply) input.checked = read(input.dataset.field);
    });
  }

  $("#mute-all-audio").addEventListener("click", () => room.act({ type: "mute.all", kind: "audio" }));
  $("#mute-all-video").addEventListener("click", () => room.act({ type: "mute.all", kind: "video" }));

  const reports = $("#report-list");
  room.on("report", (m) => {
    const from = m.from && typeof m.from === "object" ? m.from.name : room.nameOf(m.from);
    reports.prepend(h("li", {}, h("strong", {}, from), " : ", m.text));
    $("#reports").hidden = false;
  });
}
