// The class page's deck list follows the rendering: while a deck is being prepared, ask the
// server for the decks' status every 2 s (GET /classes/<slug>/slides/, JSON), move the progress
// bars, and when a status changes swap in the list as the server renders it now.
const POLL_MS = 2000;

const section = document.querySelector('[data-section="slides"][data-decks-url]');

function rendering(root) {
  return root.querySelector('[data-deck][data-status="rendering"]') !== null;
}

async function poll() {
  const response = await fetch(section.dataset.decksUrl, {
    headers: { Accept: "application/json" },
    credentials: "same-origin",
  });
  if (!response.ok) return;
  const { decks } = await response.json();
  let changed = false;
  for (const deck of decks) {
    const item = section.querySelector(`[data-deck="${CSS.escape(deck.id)}"]`);
    if (!item || item.dataset.status !== deck.status) {
      changed = true;
      continue;
    }
    const bar = item.querySelector("progress");
    if (bar && deck.pages) {
      bar.max = deck.pages;
      bar.value = deck.progress;
      bar.textContent = `${deck.progress}/${deck.pages}`;
    }
  }
  if (changed) await swapList();
}

async function swapList() {
  const response = await fetch(window.location.href, { credentials: "same-origin" });
  if (!response.ok) return;
  const page = new DOMParser().parseFromString(await response.text(), "text/html");
  const fresh = page.querySelector('[data-section="slides"] ul.decks');
  const list = section.querySelector("ul.decks");
  if (fresh && list) list.replaceWith(document.importNode(fresh, true));
}

async function follow() {
  while (rendering(section)) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    try {
      await poll();
    } catch {
      // Offline for a moment: the next round asks again.
    }
  }
}

if (section) follow();
