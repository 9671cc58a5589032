// The agent desk: presence, ringing offers with their countdown, the live session.
import { label, t } from "./i18n.js";
import { $, Signaling, formatWait, show, wsUrl } from "./ws.js";

const offers = new Map();
let live = null;

const signaling = new Signaling({ url: wsUrl("/ws"), onMessage, onStatus });

function onStatus(state, code) {
  const signedOut = code === 4003; // signed out or the session lapsed: no reconnecting
  $("#connection").textContent = state === "open" ? t("Online") : signedOut ? t("Signed out") : t("Reconnecting…");
}

function renderOffers() {
  const list = $("#offers");
  list.replaceChildren();
  for (const offer of offers.values()) {
    const item = document.createElement("li");
    item.className = "offer";
    item.dataset.offerId = offer.offer_id;
    const left = Math.max(0, Math.round((offer.deadline - Date.now()) / 1000));
    const what = offer.kind === "callback"
      ? t("Call back {phone}", { phone: offer.phone || "" })
      : label("offer_kind", "call");
    item.innerHTML = `<strong></strong> <span class="meta"></span>
      <button class="accept"></button> <button class="reject"></button>`;
    item.querySelector(".accept").textContent = t("Accept");
    item.querySelector(".reject").textContent = t("Reject");
    item.querySelector("strong").textContent =
      t("{what}: {category}", { what, category: label("category", offer.category) });
    item.querySelector(".meta").textContent = t(
      "{priority}; waited {waited}; {language}; rings for {left} s more",
      {
        priority: label("priority", offer.priority),
        waited: formatWait(offer.waited_s),
        language: label("language", offer.language),
        left,
      },
    );
    item.querySelector(".accept").addEventListener("click", () =>
      signaling.send("accept", { offer_id: offer.offer_id }));
    item.querySelector(".reject").addEventListener("click", () =>
      signaling.send("reject", { offer_id: offer.offer_id, reason: "declined" }));
    list.append(item);
  }
  show($("#no-offers"), offers.size === 0);
}

function onMessage(msg) {
  switch (msg.type) {
    case "presence_changed":
      $("#presence").textContent = msg.reason
        ? t("{state} ({reason})", {
          state: label("presence", msg.state),
          reason: label("presence_reason", msg.reason, msg.reason),
        })
        : label("presence", msg.state);
      $("#presence").dataset.state = msg.state;
      break;
    case "offer":
      offers.set(msg.offer_id, { ...msg, deadline: Date.now() + msg.expires_in_s * 1000 });
      renderOffers();
      break;
    case "offer_cancelled":
      offers.delete(msg.offer_id);
      renderOffers();
      break;
    case "connected":
      for (const [id, offer] of offers) if (offer.session_id === msg.session_id) offers.delete(id);
      renderOffers();
      live = msg.session_id;
      $("#live-session").textContent = msg.session_id;
      show($("#live"), true);
      break;
    case "ended":
      if (msg.session_id === live) {
        live = null;
        show($("#live"), false);
      }
      $("#last-outcome").textContent = label("outcome", msg.outcome);
      break;
    case "error":
      $("#last-error").textContent = label("error", msg.code);
      break;
  }
}

$("#go-available").addEventListener("click", () => signaling.send("presence", { state: "available" }));
$("#go-break").addEventListener("click", () =>
  signaling.send("presence", { state: "break", reason: $("#break-reason").value || t("Break") }));
$("#end-session").addEventListener("click", () => live && signaling.send("end", { session_id: live }));
$("#transfer").addEventListener("click", () =>
  live && signaling.send("transfer", { session_id: live, to_queue: $("#transfer-queue").value }));
setInterval(() => offers.size && renderOffers(), 1000);
signaling.connect();
