// The dashboard's "Live now" list follows the server: every 10 s (and when the tab comes back
// into view) ask GET /rooms/live.json and redraw the list of a[data-room] links, so that a pupil
// who arrives early sees the lesson appear without reloading. A new room is announced once.
const POLL_MS = 10000;

const section = document.querySelector('[data-section="live"][data-live-url]');

function link(room) {
  const item = document.createElement("li");
  const anchor = document.createElement("a");
  anchor.className = "button primary";
  anchor.dataset.room = room.id;
  anchor.href = room.url;
  anchor.textContent = room.label;
  item.append(anchor);
  return item;
}

function render(rooms) {
  const list = section.querySelector("ul.rooms");
  const known = new Set([...list.querySelectorAll("a[data-room]")].map((a) => a.dataset.room));
  const fresh = rooms.filter((room) => !known.has(room.id));
  const same = fresh.length === 0 && known.size === rooms.length;
  if (!same) {
    // Keep the links that stay (and the focus on one of them); drop ended rooms; add new ones.
    const wanted = new Set(rooms.map((room) => room.id));
    for (const anchor of list.querySelectorAll("a[data-room]")) {
      if (!wanted.has(anchor.dataset.room)) anchor.closest("li").remove();
    }
    for (const room of fresh) list.append(link(room));
  }
  list.hidden = rooms.length === 0;
  section.querySelector("[data-empty]").hidden = rooms.length > 0;
  if (fresh.length) {
    const announcer = section.querySelector("[data-announcer]");
    announcer.textContent = fresh.map((room) => announcer.dataset.started.replace("{title}", room.label)).join(" ");
  }
}

async function refresh() {
  try {
    const response = await fetch(section.dataset.liveUrl, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
    });
    // Logged out meanwhile: the login page came back instead; leave the list as it is.
    if (!response.ok || response.redirected) return;
    render((await response.json()).rooms);
  } catch {
    // Offline for a moment: the next round asks again.
  }
}

if (section) {
  setInterval(() => {
    if (document.visibilityState === "visible") refresh();
  }, POLL_MS);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") refresh();
  });
}
