// The room's invitation link for moderators: copy the room's address to the clipboard. Whoever
// opens it still knocks: outsiders wait until a moderator lets them in. Where the clipboard is
// refused, the address is shown selected for a manual copy.
const box = document.querySelector(".invite[data-invite-url]");

async function copy() {
  const url = box.dataset.inviteUrl;
  const status = box.querySelector("[data-invite-status]");
  const field = box.querySelector("[data-invite-field]");
  try {
    await navigator.clipboard.writeText(url);
    field.hidden = true;
    status.textContent = status.dataset.copied;
  } catch {
    field.value = url;
    field.hidden = false;
    status.textContent = status.dataset.manual;
    field.focus();
    field.select();
  }
}

if (box) box.querySelector('[data-action="copy-invite"]').addEventListener("click", copy);
