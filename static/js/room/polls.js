// Polls: moderators create, follow live counts, close and publish; participants vote; all see results.

import { $, h, reconcile } from "./dom.js";
import { t, tn } from "./i18n.js";
import { openDialog } from "./dialogs.js";

const MIN_OPTIONS = 2;
const MAX_OPTIONS = 10;
const percentFormat = new Intl.NumberFormat(document.documentElement.lang || "fr", { style: "percent" });

function votedKey(room, poll) {
  return `cv-voted:${room.config.roomId}:${poll.id}`;
}

function hasVoted(room, poll) {
  if (Array.isArray(poll.mine)) return true;
  try {
    return sessionStorage.getItem(votedKey(room, poll)) === "1";
  } catch {
    return false;
  }
}

function rememberVote(room, poll) {
  try {
    sessionStorage.setItem(votedKey(room, poll), "1");
  } catch {
    // Private browsing without storage: the server still refuses a second vote.
  }
}

function createPoll(room, poll) {
  const headingId = `poll-${poll.id}-q`;
  return h(
    "article",
    { class: "poll", dataset: { poll: String(poll.id) }, "aria-labelledby": headingId },
    h("h3", { id: headingId, class: "poll-question", tabindex: "-1" }),
    h("p", { class: "poll-meta hint" }),
    h("div", { class: "poll-body" }),
    h("div", { class: "poll-results-area" }),
    room.isModerator ? h("div", { class: "poll-actions row-actions" }) : null,
  );
}

function updatePoll(room, el, poll) {
  el.querySelector(".poll-question").textContent = poll.question;
  el.dataset.status = poll.status;
  const meta = [t(`poll_status_${poll.status}`)];
  if (poll.anonymous) meta.push(t("poll_anonymous"));
  if (poll.multiple) meta.push(t("poll_multiple"));
  el.querySelector(".poll-meta").textContent = meta.join(" · ");

  const body = el.querySelector(".poll-body");
  const canVote = poll.status === "open" && !room.isModerator && !hasVoted(room, poll);
  if (canVote && !body.querySelector("form")) body.replaceChildren(voteForm(room, poll));
  else if (!canVote) {
    const voted = poll.status === "open" && !room.isModerator;
    const hadFocus = body.contains(document.activeElement);
    body.replaceChildren(voted ? h("p", { class: "poll-thanks", tabindex: "-1" }, t("poll_voted")) : "");
    // After a vote, focus goes to the thanks (read out), not to the page.
    if (hadFocus) (body.querySelector(".poll-thanks") || el.querySelector(".poll-question")).focus();
  }

  const results = el.querySelector(".poll-results-area");
  results.replaceChildren(Array.isArray(poll.counts) ? renderResults(room, poll) : "");

  const actions = el.querySelector(".poll-actions");
  if (actions) {
    const buttons = [];
    if (poll.status === "open") {
      buttons.push(h("button", { type: "button", class: "small", dataset: { act: "close-poll" }, onclick: () => room.act({ type: "poll.close", poll: poll.id }) }, t("poll_close")));
    }
    if (poll.status !== "published") {
      buttons.push(h("button", { type: "button", class: "small primary", dataset: { act: "publish-poll" }, onclick: () => room.act({ type: "poll.publish", poll: poll.id }) }, t("poll_publish")));
    }
    // Rebuild only when the set of buttons changes, so focus on them survives a vote arriving.
    const signature = buttons.map((b) => b.dataset.act).join(",");
    if (actions.dataset.signature !== signature) {
      const hadFocus = actions.contains(document.activeElement);
      actions.dataset.signature = signature;
      actions.replaceChildren(...buttons);
      // Closed: focus on "publish"; published: on the question, right above the results.
      if (hadFocus) (actions.querySelector("button") || el.querySelector(".poll-question")).focus();
    }
  }
}

function voteForm(room, poll) {
  const name = `poll-${poll.id}-choice`;
  const fieldset = h("fieldset", {}, h("legend", { class: "visually-hidden" }, poll.question));
  poll.options.forEach((option, index) => {
    const id = `${name}-${index}`;
    fieldset.append(
      h(
        "div",
        { class: "choice" },
        h("input", { type: poll.multiple ? "checkbox" : "radio", name, id, value: String(index), dataset: { pollOption: String(index) } }),
        h("label", { for: id }, option),
      ),
    );
  });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const form = h("form", { class: "poll-vote", dataset: { act: "vote" } }, fieldset, error, h("button", { type: "submit", class: "primary" }, t("poll_vote")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const choices = Array.from(form.querySelectorAll("input:checked")).map((input) => Number(input.value));
    if (choices.length === 0) {
      error.textContent = t("poll_choose");
      error.hidden = false;
      form.querySelector("input").focus();
      return;
    }
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await room.send({ type: "poll.vote", poll: poll.id, choices });
      rememberVote(room, poll);
    } catch (err) {
      if (err.code === "conflict") rememberVote(room, poll);
      else {
        button.disabled = false;
        room.showError(err);
        return;
      }
    }
    room.changed("polls");
  });
  return form;
}

function renderResults(room, poll) {
  const counts = poll.counts;
  const total = counts.reduce((sum, n) => sum + n, 0);
  const max = Math.max(1, ...counts);
  const list = h("ul", { class: "poll-results", dataset: { results: poll.status } });
  poll.options.forEach((option, index) => {
    const n = counts[index] || 0;
    const share = total ? n / total : 0;
    list.append(
      h(
        "li",
        { dataset: { option: String(index), count: String(n) } },
        h("span", { class: "option-label" }, option),
        h("span", { class: "bar", "aria-hidden": "true" }, h("span", { class: "fill", style: `width: ${(100 * n) / max}%` })),
        h("span", { class: "option-count" }, `${n} (${percentFormat.format(share)})`),
      ),
    );
  });
  const parts = [h("p", { class: "hint" }, tn("poll_voters", Number(poll.voters ?? total)))];
  parts.unshift(list);
  if (Array.isArray(poll.votes) && poll.votes.length) {
    const who = h("ul", { class: "poll-votes" });
    for (const vote of poll.votes) {
      const chosen = (vote.choices || []).map((i) => poll.options[i]).join(", ");
      who.append(h("li", {}, `${vote.name} : ${chosen}`));
    }
    parts.push(h("details", {}, h("summary", {}, t("poll_who_voted")), who));
  }
  return h("div", {}, ...parts);
}

function mountCreateDialog(room) {
  const dialog = $("#poll-dialog");
  const form = $("#poll-form");
  const options = $("#poll-options");
  const addButton = $("#poll-add-option");
  const error = $("#poll-error");

  const renumber = () => {
    const rows = Array.from(options.children);
    rows.forEach((row, index) => {
      const label = row.querySelector("label");
      const input = row.querySelector("input");
      input.id = `poll-option-${index}`;
      label.setAttribute("for", input.id);
      label.textContent = t("poll_option_n", { n: index + 1 });
      const remove = row.querySelector("button");
      remove.setAttribute("aria-label", t("poll_remove_option_n", { n: index + 1 }));
      remove.hidden = rows.length <= MIN_OPTIONS;
    });
    addButton.disabled = rows.length >= MAX_OPTIONS;
  };
  const addOption = (focus) => {
    if (options.children.length >= MAX_OPTIONS) return;
    const input = h("input", { type: "text", maxlength: "100", required: true, dataset: { option: "" } });
    const row = h(
      "li",
      { class: "option-row" },
      h("label"),
      h(
        "span",
        { class: "option-input" },
        input,
        h(
          "button",
          {
            type: "button",
            class: "small",
            onclick: () => {
              const next = row.nextElementSibling || row.previousElementSibling;
              row.remove();
              renumber();
              if (next) next.querySelector("input").focus();
            },
          },
          "×",
        ),
      ),
    );
    options.append(row);
    renumber();
    if (focus) input.focus();
  };
  const resetForm = () => {
    form.reset();
    options.replaceChildren();
    for (let i = 0; i < MIN_OPTIONS; i++) addOption(false);
    error.hidden = true;
  };

  addButton.addEventListener("click", () => addOption(true));
  $("#poll-new").addEventListener("click", () => {
    resetForm();
    openDialog(dialog);
  });
  $("#poll-cancel").addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const question = $("#poll-question").value.trim();
    const values = Array.from(options.querySelectorAll("input")).map((input) => input.value.trim());
    const empty = [$("#poll-question"), ...options.querySelectorAll("input")].find((input) => !input.value.trim());
    if (empty) {
      error.textContent = t("poll_fill_all");
      error.hidden = false;
      empty.focus();
      return;
    }
    const submit = $("#poll-submit");
    submit.disabled = true;
    try {
      await room.send({
        type: "poll.create",
        question,
        options: values,
        anonymous: $("#poll-anonymous").checked,
        multiple: $("#poll-multiple").checked,
      });
      dialog.close();
    } catch (err) {
      error.textContent = t(`error_${err.code}`) === `error_${err.code}` ? t("error_unknown") : t(`error_${err.code}`);
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
}

export function mountPolls(room) {
  const list = $("#poll-list");
  if ($("#poll-dialog")) mountCreateDialog(room);
  room.watch("polls", () => {
    // Newest first: the poll people are asked about now is on top.
    const polls = Array.from(room.state.polls.values()).reverse();
    reconcile(list, polls, (p) => p.id, (p) => createPoll(room, p), (el, p) => updatePoll(room, el, p));
    $("#polls-empty").hidden = polls.length > 0;
  });
}
