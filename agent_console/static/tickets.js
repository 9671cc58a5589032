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

// The full number, asked for when the caller is to be called back (audited).
async function reveal(button) {
  const id = button.closest("[data-ticket]").dataset.ticket;
  const csrf = document.querySelector("input[name=csrf_token]");
  const response = await fetch(`/api/tickets/${id}/number`, {
    method: "POST",
    headers: { "X-CSRF-Token": csrf ? csrf.value : "" },
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok || !body.phone) {
    announce(t("The number was not shown: {reason}", { reason: body.error || response.status }));
    return;
  }
  const link = document.createElement("a");
  link.href = `tel:${body.phone}`;
  link.textContent = body.phone;
  button.parentElement.querySelector("[data-testid=ticket-phone]").replaceChildren(link);
  button.remove();
  link.focus();
  announce(t("The full number is shown; this is recorded."));
}

function bind(root) {
  for (const button of root.querySelectorAll("button[data-reveal]")) {
    button.hidden = false;
    button.addEventListener("click", () => {
      button.disabled = true;
      reveal(button).finally(() => { button.disabled = false; });
    });
  }
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
