// The ticket list: each action is sent as JSON and the ticket is redrawn in place from
// the server's own rendering (its labels are the catalog's); the change is announced.
// Without this script the forms post and the page reloads (same result).
import { t } from "./i18n.js";

const status = document.getElementById("ticket-status");

function announce(text) {
  status.textContent = text;
}

async function redraw(id) {
  const response = await fetch(location.href, { headers: { Accept: "text/html" } });
  const html = new DOMParser().parseFromString(await response.text(), "text/html");
  const fresh = html.getElementById(`ticket-${id}`);
  const current = document.getElementById(`ticket-${id}`);
  if (!current) return;
  if (fresh) {
    current.replaceWith(fresh);
    bind(fresh);
    fresh.querySelector("button, textarea")?.focus();
  } else {
    current.remove(); // it no longer matches the filters
  }
}

async function send(form, submitter) {
  const id = form.closest("[data-ticket]").dataset.ticket;
  const note = form.querySelector("textarea[name=note]");
  const response = await fetch(`/api/tickets/${id}/transition`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      "X-CSRF-Token": form.elements.csrf_token.value,
    },
    body: JSON.stringify({ to: submitter.value, note: note ? note.value : "" }),
  });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    announce(t("Not saved: {reason}", { reason: body.error || response.status }));
    (note || submitter).focus();
    return;
  }
  announce(t("Saved."));
  await redraw(id);
}

function bind(root) {
  for (const form of root.querySelectorAll("form[data-ticket-action]")) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const submitter = event.submitter || form.querySelector("button[name=to]");
      for (const button of form.querySelectorAll("button")) button.disabled = true;
      send(form, submitter).finally(() => {
        for (const button of form.querySelectorAll("button")) button.disabled = false;
      });
    });
  }
}

bind(document);
