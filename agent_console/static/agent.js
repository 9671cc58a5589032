// The agent desk: presence, ringing offers with their countdown, the live call with
// its media room (audio and video, mute, end, transfer).
import { label, t } from "./i18n.js";
import { $, Signaling, formatWait, show, wsUrl } from "./ws.js";
import { MediaRoom, attachStream, detachStream, resumePlayback } from "./room.js";
import { loadPlaces, placeName } from "./towns.js";
import { onDeskMessage } from "./history.js";
import { CallMover } from "./consult.js";

const offers = new Map();
let live = null; // {session_id, room, caller, consultant?: a colleague's call we joined}
let stopped = false;
// Sockets opened so far, and on which one the live call's room was joined: a new
// socket (a reconnect) has to join again, a repeated message on the same one not.
let opens = 0;
let joinedOn = 0;
let graceS = 30;
let restoring = false; // reconnected: the server's first presence says whether the call was kept
const NOTES_KEY = "hotline.desk.notes."; // + session id: live notes survive a reload

const DEVICE_NOTICES = {
  camera_denied: t("The camera was not allowed: voice only."),
  no_camera: t("No camera found: voice only."),
  microphone_denied: t("The microphone was not allowed: the caller cannot hear you."),
  no_microphone: t("No microphone found: the caller cannot hear you."),
  device_changed: t("Your device changed; the call goes on."),
};

const signaling = new Signaling({ url: wsUrl("/ws"), onMessage, onStatus });
const remotes = $("#remotes");
const room = new MediaRoom({
  send: (type, fields) => signaling.send(type, fields),
  preview: $("#preview"),
  onRemote(participant, stream) {
    // A colleague in the call (a consult) is shown by name; the caller as the caller.
    const person = room.people.get(participant);
    const colleague = person && person.role !== "caller" ? person.name : "";
    attachStream(remotes, participant, stream, colleague || (live ? live.caller : ""));
  },
  onRemoteGone: (participant) => detachStream(remotes, participant),
  onNotice(code, value) {
    if (DEVICE_NOTICES[code]) $("#device-notice").textContent = DEVICE_NOTICES[code];
    else if (code === "recording") show($("#recording-on"), value);
    else if (code === "hold") setHold(value.on);
    else if (code === "participant" && value.role === "caller" && live) {
      if (live.callback) callbackReached();
      const tile = remotes.querySelector(`[data-participant="${CSS.escape(value.id)}"] figcaption`);
      if (tile && value.name) tile.textContent = value.name;
    } else if (code === "participant" && value.role !== "caller" && value.name) {
      const tile = remotes.querySelector(`[data-participant="${CSS.escape(value.id)}"] figcaption`);
      if (tile) tile.textContent = value.name;
    } else if (code === "room_error") $("#device-notice").textContent = t("The audio and video connection failed: {detail}", { detail: value });
  },
});
const mover = new CallMover({ send: (type, fields) => signaling.send(type, fields), live: () => live });
window.hotline = { room, offers };

function note(textContent) {
  $("#desk-note").textContent = textContent;
  show($("#desk-note"), Boolean(textContent));
}

function stopDesk(message, connection) {
  stopped = true;
  signaling.close();
  offers.clear();
  renderOffers();
  endLive();
  note(message);
  $("#connection").textContent = connection;
  $("#connection").dataset.state = "moved";
  $("#presence").textContent = "—";
  delete $("#presence").dataset.state;
  for (const button of document.querySelectorAll(".desk button")) button.disabled = true;
}

function onStatus(state, code) {
  if (stopped) return;
  if (code === 4001) {
    stopDesk(t("The desk moved to a newer tab; this one has stopped. Use the newer tab."),
      t("moved to another tab"));
    return;
  }
  if (code === 4003) {
    stopDesk(t("You are signed out; sign in again."), t("Signed out"));
    return;
  }
  $("#connection").dataset.state = state;
  $("#connection").textContent = state === "open" ? t("Online") : t("Reconnecting…");
  if (state !== "open") {
    // A dropped desk's offers move on at once; a call (or a wrap-up) waits for the
    // desk for the grace period, then the caller goes back to the head of the line.
    restoring = true;
    offers.clear();
    renderOffers();
    if (live) {
      note(t("Connection lost. Reconnecting… the call is kept for {seconds} seconds.", { seconds: Math.round(graceS) }));
    } else {
      $("#presence").textContent = label("presence", "offline");
      $("#presence").dataset.state = "offline";
    }
  }
}

// A short two-tone chime for a new offer (no focus is taken).
let audio = null;
function chime() {
  try {
    audio = audio || new AudioContext();
    const now = audio.currentTime;
    for (const [i, freq] of [880, 660].entries()) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, now + i * 0.18);
      gain.gain.exponentialRampToValueAtTime(0.25, now + i * 0.18 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.18 + 0.16);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + i * 0.18);
      osc.stop(now + i * 0.18 + 0.17);
    }
  } catch {
    // no sound on this device: the live region still says it
  }
}

function describe(offer) {
  if (offer.kind === "consult") {
    return t("{what}: {category}, from {name}", {
      what: label("offer_kind", offer.kind),
      category: label("category", offer.category),
      name: offer.from_name || t("A colleague"),
    });
  }
  return t("{what}: {category}", {
    what: label("offer_kind", offer.kind),
    category: label("category", offer.category),
  });
}

function renderOffers() {
  const list = $("#offers");
  const now = Date.now();
  for (const [id, offer] of offers) if (offer.deadline <= now) offers.delete(id);
  list.replaceChildren();
  for (const offer of offers.values()) {
    const item = document.createElement("li");
    item.className = "offer";
    item.dataset.offerId = offer.offer_id;
    item.dataset.kind = offer.kind;
    const left = Math.max(0, Math.round((offer.deadline - now) / 1000));
    const waited = offer.waited_s + (now - offer.received) / 1000;
    const what = document.createElement("span");
    what.className = "what";
    what.textContent = describe(offer);
    const meta = document.createElement("span");
    meta.className = "meta";
    const parts = [];
    parts.push(offer.channel === "web_video" ? t("Video call") : t("Voice call"));
    const town = offer.town && placeName(offer.town);
    if (town) parts.push(town);
    parts.push(t("waited {wait}", { wait: formatWait(waited) }));
    parts.push(label("language", offer.language, offer.language));
    // The full number comes only to this desk, for a callback (callback_number).
    if (offer.full_phone || offer.phone) parts.push(`☎ ${offer.full_phone || offer.phone}`);
    parts.push(t("rings for {left} s more", { left }));
    meta.textContent = parts.join(" · ");
    item.append(what);
    if (offer.priority && offer.priority !== "ordinary") {
      const green = document.createElement("span");
      green.className = "green";
      green.textContent = t("Green channel: {who}", { who: label("priority", offer.priority) });
      item.append(green);
    }
    const actions = document.createElement("span");
    actions.className = "actions";
    const accept = document.createElement("button");
    accept.className = "accept";
    accept.type = "button";
    accept.textContent = t("Accept");
    accept.addEventListener("click", () => {
      accept.disabled = true;
      // The tap allows the devices; a voice call needs no camera.
      if (live === null) room.acquire(offer.channel === "web_video");
      signaling.send("accept", { offer_id: offer.offer_id });
    });
    const reject = document.createElement("button");
    reject.className = "reject";
    reject.type = "button";
    reject.textContent = t("Reject");
    reject.addEventListener("click", () => {
      signaling.send("reject", { offer_id: offer.offer_id, reason: "declined" });
      offers.delete(offer.offer_id); // it leaves the screen at once
      renderOffers();
    });
    actions.append(accept, reject);
    item.append(meta, actions);
    list.append(item);
  }
  show($("#no-offers"), offers.size === 0);
}

// A callback on the desk: the number to dial, the attempt, whether the caller's page
// rings; "not reached" ends it (docs/protocol.md, "callback_unreached").
function showCallback(msg, offer) {
  const number = offer ? offer.full_phone || offer.phone : "";
  live.callback = { attempt: msg.attempt, attempts: msg.attempts };
  $("#callback-attempt").textContent = t("Callback, attempt {n} of {total}", {
    n: msg.attempt || 1, total: msg.attempts || 1,
  });
  $("#callback-dial").textContent = number ? `☎ ${number}` : "";
  $("#callback-where").textContent = msg.caller_online
    ? t("The caller's page is ringing. If nobody answers, call the number.")
    : t("The caller has closed the page: call the number.");
  const last = (msg.attempt || 1) >= (msg.attempts || 1);
  $("#callback-retry").checked = !last;
  show($("#callback-retry-label"), !last);
  show($("#callback-results"), true);
  show($("#callback-call"), true);
}

function callbackReached() {
  $("#callback-where").textContent = t("The caller answered on the page.");
  show($("#callback-results"), false);
}

for (const button of document.querySelectorAll("#callback-results button")) {
  button.addEventListener("click", () => {
    if (!live || !live.callback) return;
    const result = button.dataset.result;
    const retry = $("#callback-retry").checked && result !== "wrong_number";
    signaling.send("callback_unreached", { session_id: live.session_id, result, retry });
    live.retry = retry;
  });
}

// A consultant in a colleague's call may only leave it (or mute): the call is theirs.
function setConsultant(on) {
  for (const id of ["#end-session", "#hold", "#live-notes"]) show($(id).closest("label") || $(id), !on);
}

function endLive() {
  show($("#callback-call"), false);
  live = null;
  mover.reset();
  setConsultant(false);
  room.leave(false); // the server takes both out of a call's room when it ends
  remotes.replaceChildren();
  show($("#live"), false);
  show($("#recording-on"), false);
  $("#device-notice").textContent = "";
  setMute(false);
  setHold(false);
}

// Wrap-up lasts until the call's disposition is recorded (docs/protocol.md, "ended").
function askDisposition(sessionId) {
  const form = $("#disposition");
  if (!form.hidden && form.dataset.session === sessionId) return; // asked again after a reconnect
  form.dataset.session = sessionId;
  form.reset();
  // What was noted during the call (kept across a reload until the disposition is in).
  form.elements.notes.value = $("#live-notes").value || sessionStorage.getItem(NOTES_KEY + sessionId) || "";
  $("#live-notes").value = "";
  showKindFields();
  $("#disposition-error").textContent = "";
  show(form, true);
}

// A booked callback asks when, a referral elsewhere which agency, an abusive call how
// many warnings were given (cases.dispositions).
function showKindFields() {
  const kind = $("#disposition-kind").value;
  for (const field of document.querySelectorAll("#disposition [data-for]")) {
    show(field, field.dataset.for === kind);
  }
}
$("#disposition-kind").addEventListener("change", showKindFields);

$("#disposition").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const data = new FormData(form);
  const body = { kind: data.get("kind"), category: data.get("category") };
  const notes = String(data.get("notes") || "").trim();
  if (notes) body.notes = notes;
  if (body.kind === "callback_booked") {
    const when = new Date(String(data.get("callback_at") || ""));
    if (Number.isNaN(when.getTime())) {
      $("#disposition-error").textContent = t("Please give the time to call back.");
      return;
    }
    body.callback_at = when.toISOString(); // the desk's local time, in UTC
  }
  if (body.kind === "referred_other_agency") body.agency = String(data.get("agency") || "").trim();
  if (body.kind === "abusive_ended") body.warnings = Number(data.get("warnings") || 0);
  const csrf = document.querySelector("input[name=csrf_token]");
  let response;
  try {
    response = await fetch(`/api/sessions/${encodeURIComponent(form.dataset.session)}/disposition`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf ? csrf.value : "" },
      body: JSON.stringify(body),
    });
  } catch {
    response = null;
  }
  if (response && response.ok) {
    sessionStorage.removeItem(NOTES_KEY + form.dataset.session);
    show(form, false);
    $("#last-outcome").textContent = t("{outcome}; disposition recorded", { outcome: $("#last-outcome").textContent });
  } else {
    let reason = "";
    try {
      const answer = response ? await response.json() : {};
      const field = form.querySelector(`[data-for] [name="${answer.field}"]`);
      reason = answer.error || "";
      if (field) reason = `${reason} (${field.closest("label").firstChild.textContent.trim()})`;
    } catch {
      reason = "";
    }
    $("#disposition-error").textContent = reason
      ? t("The disposition was not recorded: {reason}", { reason })
      : t("The disposition was not recorded; please try again.");
  }
});

function setHold(on) {
  $("#hold").setAttribute("aria-pressed", String(on));
  $("#hold").textContent = on ? t("Resume") : t("Hold");
}

function setMute(muted) {
  $("#mute").setAttribute("aria-pressed", String(muted));
  $("#mute").textContent = muted ? t("Unmute") : t("Mute");
}

function onMessage(msg) {
  if (room.handle(msg)) return;
  onDeskMessage(msg);
  switch (msg.type) {
    case "welcome":
      note("");
      opens += 1;
      graceS = msg.grace_s || graceS;
      break;
    case "presence_changed":
      if (restoring) {
        restoring = false;
        if (live && msg.state !== "in_session") {
          // Away longer than the grace period: the call was not kept.
          endLive();
          $("#last-outcome").textContent = t("Connection lost: the caller went back to the head of the line.");
        }
      }
      $("#presence").textContent = msg.reason
        ? t("{state} ({reason})", {
          state: label("presence", msg.state),
          reason: label("presence_reason", msg.reason, msg.reason),
        })
        : label("presence", msg.state);
      $("#presence").dataset.state = msg.state;
      break;
    case "offer": {
      const fresh = !offers.has(msg.offer_id);
      offers.set(msg.offer_id, { ...msg, received: Date.now(), deadline: Date.now() + msg.expires_in_s * 1000 });
      renderOffers();
      if (fresh) {
        chime();
        $("#announce").textContent = describe(msg);
      }
      break;
    }
    case "callback_number": {
      const offer = msg.offer_id ? offers.get(msg.offer_id) : null;
      if (offer) {
        offer.full_phone = msg.phone;
        renderOffers();
      } else if (live && live.callback && live.session_id === msg.session_id) {
        $("#callback-dial").textContent = `☎ ${msg.phone}`; // the desk came back to it
      }
      break;
    }
    case "offer_cancelled":
      offers.delete(msg.offer_id);
      renderOffers();
      break;
    case "connected": {
      let accepted = null;
      for (const [id, offer] of offers) {
        if (offer.session_id === msg.session_id) {
          accepted = offer;
          offers.delete(id);
        }
      }
      renderOffers();
      if (live && live.session_id === msg.session_id) {
        // A repeated connected; on a new socket (a reconnect) the room is joined again.
        if (msg.room && joinedOn !== opens) {
          joinedOn = opens;
          room.join(msg.room);
        }
        break;
      }
      if (live && live.consultant && msg.room === live.room) {
        // Handed over: the call is now ours, in the same room (nothing to rejoin).
        live.session_id = msg.session_id;
        live.consultant = false;
        setConsultant(false);
        mover.reset();
        mover.refresh();
        $("#live-session").textContent = msg.session_id;
        mover.status(t("The call was handed over to you."));
        break;
      }
      // What the call is about and where the caller is: from the offer, or (after a
      // reload, with no offer on this page) from the message itself.
      const category = accepted ? accepted.category : msg.category;
      const town = accepted ? accepted.town : msg.town;
      live = {
        session_id: msg.session_id,
        room: msg.room,
        caller: category ? t("Caller ({category})", { category: label("category", category) }) : t("Caller"),
      };
      const where = town ? placeName(town) : "";
      const how = msg.channel === "web_video" ? t("Video call") : t("Voice call");
      $("#live-where").textContent = where ? `${how} · ${where}` : how;
      if (msg.callback) showCallback(msg, accepted);
      $("#live-caller").textContent = live.caller;
      $("#live-session").textContent = msg.session_id;
      $("#live-notes").value = sessionStorage.getItem(NOTES_KEY + msg.session_id) || "";
      show($("#live"), true);
      if (msg.room) {
        // After a reload no offer asked for the devices: the call's channel says which.
        if (!room.local) room.wantVideo = msg.channel === "web_video";
        joinedOn = opens;
        room.join(msg.room);
      }
      mover.refresh();
      break;
    }
    case "targets":
      mover.onTargets(msg);
      break;
    case "consult_state":
      if (msg.side === "requester") {
        mover.onConsultState(msg);
      } else if (msg.state === "connected") {
        for (const [id, offer] of offers) if (offer.session_id === msg.consult_id) offers.delete(id);
        renderOffers();
        live = {
          session_id: msg.session_id,
          room: msg.room,
          consultant: true,
          caller: t("Caller ({category})", { category: label("category", msg.category) }),
        };
        $("#live-where").textContent = t("Consult in {name}'s call", { name: msg.agent_name || t("A colleague") });
        $("#live-caller").textContent = live.caller;
        $("#live-session").textContent = msg.session_id;
        show($("#live"), true);
        setConsultant(true);
        mover.asConsultant(msg.agent_name || t("A colleague"));
        if (!room.local && msg.channel) room.wantVideo = msg.channel === "web_video";
        joinedOn = opens;
        room.join(msg.room);
      } else if (live && live.consultant && live.session_id === msg.session_id) {
        endLive(); // the server takes us out of the room
        $("#last-outcome").textContent = msg.reason === "call_ended"
          ? t("The consult ended with the call.")
          : t("The consult has ended.");
      }
      break;
    case "ended": {
      const retry = Boolean(live && live.session_id === msg.session_id && live.retry);
      if (live && msg.session_id === live.session_id) endLive();
      $("#last-outcome").textContent = msg.outcome === "callback_failed" && retry
        ? t("{outcome}; it will be tried again later", { outcome: label("outcome", msg.outcome) })
        : label("outcome", msg.outcome);
      if (msg.disposition) askDisposition(msg.session_id);
      break;
    }
    case "error":
      if (msg.ref === "hello" && msg.code === "not_allowed") {
        stopDesk(t("This account does not take calls (only lawyers, mediators, notaries and legal-aid staff do). Use the Supervisor page to watch the lines."),
          t("not taking calls"));
      } else if (!mover.onError(msg)) {
        $("#last-error").textContent = label("error", msg.code, t("Something went wrong; please try again."));
      }
      break;
  }
}

$("#go-available").addEventListener("click", () => {
  if (!audio) try { audio = new AudioContext(); } catch { /* no sound */ }
  signaling.send("presence", { state: "available" });
});
$("#go-break").addEventListener("click", () =>
  signaling.send("presence", { state: "break", reason: $("#break-reason").value || "break" }));
$("#end-session").addEventListener("click", () => live && signaling.send("end", { session_id: live.session_id }));
$("#mute").addEventListener("click", () => {
  room.setMuted(!room.muted);
  setMute(room.muted);
});
$("#hold").addEventListener("click", () => room.hold($("#hold").getAttribute("aria-pressed") !== "true"));
$("#remotes").addEventListener("click", () => resumePlayback(remotes));
$("#live-notes").addEventListener("input", () => {
  if (live && !live.consultant) sessionStorage.setItem(NOTES_KEY + live.session_id, $("#live-notes").value);
});
$("#disposition").elements.notes.addEventListener("input", (event) => {
  sessionStorage.setItem(NOTES_KEY + $("#disposition").dataset.session, event.target.value);
});
setInterval(() => offers.size && renderOffers(), 1000);
signaling.connect();

loadPlaces();
