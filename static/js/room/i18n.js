// Strings come from the page (translated by Django), so this module holds no language.

const strings = new Map();

/** Read the `<template id="room-i18n">` block rendered by the server. */
export function loadStrings(root = document) {
  const template = root.getElementById("room-i18n");
  if (!template) return;
  for (const span of template.content.querySelectorAll("[data-key]")) {
    strings.set(span.dataset.key, span.textContent);
  }
}

/** Translate a key, filling `{name}` placeholders from vars. */
export function t(key, vars = {}) {
  const text = strings.has(key) ? strings.get(key) : key;
  return text.replace(/\{(\w+)\}/g, (match, name) => (name in vars ? String(vars[name]) : match));
}

/** Pick `<key>_one` or `<key>_other` for a count. */
export function tn(key, count, vars = {}) {
  return t(count === 1 ? `${key}_one` : `${key}_other`, { n: count, ...vars });
}
