// The caller page: choose a service, join the line, hear position and wait,
// be connected to a duty lawyer, or ask for a callback / leave a message.
import { label, t } from "./i18n.js";
import { $, Signaling, formatWait, show, wsUrl } from "./ws.js";

const form = $("#join-form");
const status = $("#call-status");
const text = $("#status-text");
const detail = $("#status-detail");
const callbackBox = $("#callback-box");
let signaling = null;
let sessionId = null;
let joinRequest = null;

function say(main, more = "") {
  text.textContent = main;
  detail.textContent = more;
}

function onMessage(msg) {
  switch (msg.type) {
    case "welcome":
      if (!msg.resumed && joinRequest) signaling.send("join_queue", joinRequest);
      break;
    case "queued":
      sessionId = msg.session_id;
      status.dataset.state = "queued";
      say(t("You are in line"), t("Please keep this page open."));
      break;
    case "position":
      status.dataset.state = "queued";
      $("#position").textContent = msg.position;
      $("#wait").textContent = formatWait(msg.estimated_wait_s);
      show($("#position-box"), true);
      if (msg.position === 1) detail.textContent = t("You are next.");
      break;
    case "connected":
      status.dataset.state = "connected";
      show($("#position-box"), false);
      show(callbackBox, false);
      say(t("Connected"), t("{name} is with you.", { name: msg.agent_name || t("A duty lawyer") }));
      break;
    case "callback_offered":
      show(callbackBox, true);
      break;
    case "ended":
      status.dataset.state = "ended";
      show($("#position-box"), false);
      show(callbackBox, false);
      say(t("Finished"), {
        answered: t("Thank you for calling 12348."),
        abandoned: t("You left the line."),
        callback_done: t("We have called you back."),
        voicemail: t("Your message was taken; a lawyer will answer by the next working day."),
        transferred: t("You were transferred."),
        expired: t("The request expired."),
        interrupted: t("The call was interrupted."),
      }[msg.outcome] || "");
      signaling.close();
      signaling = null;
      show($("#leave"), false);
      show(form, true);
      break;
    case "error":
      detail.textContent = label("error", msg.code);
      break;
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(form);
  joinRequest = {
    category: data.get("category"),
    language: data.get("language"),
    priority: data.get("priority"),
  };
  const phone = String(data.get("phone") || "").trim();
  if (phone) joinRequest.phone = phone;
  const named = String(data.get("named_agent") || "");
  if (named) joinRequest.named_agent = named;
  const response = await fetch("/api/caller/token", { method: "POST" });
  if (!response.ok) {
    say(t("Cannot connect now"), t("Please try again in a moment."));
    show(status, true);
    return;
  }
  const { token } = await response.json();
  show(form, false);
  show(status, true);
  show($("#leave"), true);
  say(t("Connecting…"));
  signaling = new Signaling({
    url: wsUrl(`/ws?token=${encodeURIComponent(token)}`),
    onMessage,
    resumeKey: "hotline.caller.resume",
  });
  signaling.connect();
});

$("#leave").addEventListener("click", () => {
  if (signaling && sessionId) signaling.send("end", { session_id: sessionId });
});
$("#want-callback").addEventListener("click", () => {
  if (!signaling) return;
  const phone = $("#callback-phone").value.trim() || (joinRequest && joinRequest.phone);
  if (!phone) {
    detail.textContent = t("Please give a number to call back.");
    $("#callback-phone").focus();
    return;
  }
  signaling.send("request_callback", { phone });
});
$("#want-voicemail").addEventListener("click", () => {
  if (!signaling) return;
  const message = $("#voicemail-text").value.trim();
  if (!message) {
    detail.textContent = t("Please write your message first.");
    $("#voicemail-text").focus();
    return;
  }
  signaling.send("request_voicemail", { message });
});
