// The caller's earlier sessions from the same number, on the desk while their call
// rings and during it (docs/back-office.md, GET /api/sessions/{id}/earlier). The offer
// brings a pass only to the agent it is offered to (and `connected` to a desk that came
// back to its call after a reload); without one nothing is asked.
import { label, t } from "./i18n.js";

const box = () => document.getElementById("earlier");
let shownFor = null; // the session whose caller's history is on screen

function hide() {
  const element = box();
  if (!element) return;
  element.hidden = true;
  element.replaceChildren();
  shownFor = null;
}

function item(past) {
  const li = document.createElement("li");
  li.className = "past";
  li.dataset.session = past.id;
  const head = document.createElement("h2");
  const category = document.createElement("span");
  category.textContent = label("category", past.category);
  const when = document.createElement("time");
  when.className = "when";
  when.textContent = past.when || "";
  head.append(category, when);
  const list = document.createElement("dl");
  const rows = [
    [t("Outcome"), label("outcome", past.outcome), "outcome"],
    [t("Disposition"), past.disposition ? label("disposition", past.disposition) : t("Not recorded"), "disposition"],
    [t("Taken by"), past.agent || "—", "agent"],
  ];
  if (past.notes) rows.push([t("Notes"), past.notes, "notes"]);
  for (const [name, value, role] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.dataset.role = role;
    dd.textContent = value;
    list.append(dt, dd);
  }
  li.append(head, list);
  return li;
}

async function load(offer) {
  const element = box();
  if (!element || !offer.history_pass || shownFor === offer.session_id) return;
  shownFor = offer.session_id;
  let body;
  try {
    const response = await fetch(`/api/sessions/${encodeURIComponent(offer.session_id)}/earlier`, {
      headers: { "X-History-Pass": offer.history_pass, Accept: "application/json" },
      credentials: "same-origin",
    });
    if (!response.ok) throw new Error(String(response.status));
    body = await response.json();
  } catch {
    if (shownFor === offer.session_id) hide();
    return;
  }
  if (shownFor !== offer.session_id) return; // another call came meanwhile
  const heading = document.createElement("h2");
  heading.textContent = t("Earlier calls from this number");
  element.replaceChildren(heading);
  if (!body.sessions.length) {
    const none = document.createElement("p");
    none.dataset.testid = "no-earlier";
    none.textContent = t("None: this number has not called before.");
    element.append(none);
  } else {
    const list = document.createElement("ul");
    list.className = "history";
    list.append(...body.sessions.map(item));
    element.append(list);
  }
  element.hidden = false;
}

// Every desk message passes here first: an offer shows its caller's earlier calls, and
// they go when that offer is withdrawn or its call ends.
export function onDeskMessage(msg) {
  if (msg.type === "offer") load(msg);
  else if (msg.type === "connected" && msg.history_pass) load(msg); // a desk that came back
  else if ((msg.type === "offer_cancelled" || msg.type === "ended") && msg.session_id === shownFor) hide();
}
