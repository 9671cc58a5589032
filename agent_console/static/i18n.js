// The message catalog for scripts (docs/translations.md): the same catalog as the
// templates, loaded once from the URL in <html data-catalog> before any page script runs.
//   import { t, label } from "./i18n.js";
//   t("Position {n} in line", { n: 3 });  label("category", "labour_wages");
const root = document.documentElement;

export const locale = root.lang || "zh-CN";

let catalog = { messages: {}, labels: {} };
if (root.dataset.catalog) {
  try {
    const response = await fetch(root.dataset.catalog, { credentials: "same-origin" });
    if (response.ok) catalog = await response.json();
  } catch {
    // No catalog: the English source strings are shown rather than nothing.
  }
}

function fill(text, params) {
  return text.replace(/\{(\w+)\}/g, (whole, name) =>
    Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : whole);
}

// msgid translated into the page's language, {name} placeholders filled from params.
export function t(msgid, params = {}) {
  return fill(catalog.messages[msgid] || msgid, params);
}

// How a code (a category, a presence state, an outcome …) is named; never the raw code:
// a code without a label is shown as `unknown` (a dash, or free text given as such).
export function label(kind, code, unknown = "—") {
  const names = catalog.labels[kind] || {};
  return names[code] || unknown;
}
