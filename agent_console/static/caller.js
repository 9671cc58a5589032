// The caller page: choose a service and voice or video, join the line, hear place and
// wait, talk with the duty lawyer in the call's media room, or ask for a callback /
// leave a message. The caller token and resume token live in sessionStorage, so a
// reload within the grace period resumes the call.
import { label, t } from "./i18n.js";
import { $, Signaling, formatWait, show, wsUrl } from "./ws.js";
import { MediaRoom, attachStream, detachStream, resumePlayback } from "./room.js";
import { fillTownPicker } from "./towns.js";

const TOKEN_KEY = "hotline.caller.token";
const RESUME_KEY = "hotline.caller.resume";
const CALL_KEY = "hotline.caller.call"; // {media, phone}: what this page session asked for

const form = $("#join-form");
const startButton = $("#call");
const status = $("#call-status");
const text = $("#status-text");
const detail = $("#status-detail");
const callbackBox = $("#callback-box");
const inCall = $("#in-call");
const remotes = $("#remotes");
const muteButton = $("#mute");

let signaling = null;
let sessionId = null;
let joinRequest = null; // sent after the first welcome; null when resuming
let call = JSON.parse(sessionStorage.getItem(CALL_KEY) || "null");
let state = "idle";
let agentName = "";
let opens = 0; // socket openings: a reopened socket means a new peer connection
let joinedOn = -1;
let agentAway = null; // the timer before "the lawyer's connection dropped" is said
const AGENT_AWAY = t("The lawyer's connection dropped and is being restored. Please stay on the line.");
let callbackKept = false;
let callbackPhone = ""; // the number a callback was asked to
let offDuty = false; // nobody is on duty: no wait is shown
// The voice message: "idle", "asking" (devices, then record_voicemail), "recording"
// (in the voicemail room), "full" (stopped at its limit), "sending", or "written" (no
// microphone: a written message only).
let voicemail = "idle";
let voicemailEnds = 0; // when the recording's limit is reached (ms, from recording start)
let voicemailLimit = 120;
let voicemailTimer = null;

const DEVICE_NOTICES = {
  camera_denied: t("The camera was not allowed: this is a voice call."),
  no_camera: t("No camera found: this is a voice call."),
  microphone_denied: t("The microphone was not allowed: the lawyer cannot hear you. Allow it in the browser settings."),
  no_microphone: t("No microphone found: the lawyer cannot hear you."),
  device_changed: t("Your device changed; the call goes on."),
};

const room = new MediaRoom({
  send: (type, fields) => signaling && signaling.send(type, fields),
  preview: $("#preview"),
  onRemote(participant, stream) {
    const tile = attachStream(remotes, participant, stream, agentName, {
      voiceOnly: !call || call.media !== "video",
    });
    show($("#tap-to-hear"), tile.classList.contains("blocked"));
  },
  onRemoteGone: (participant) => detachStream(remotes, participant),
  onNotice(code, value) {
    if (DEVICE_NOTICES[code]) $("#device-notice").textContent = DEVICE_NOTICES[code];
    else if (code === "recording") show($("#recording-on"), value);
    else if (code === "muted_by_staff") setMuteButton(value);
    else if (code === "hold" && value.self) {
      $("#device-notice").textContent = value.on
        ? t("The lawyer has put you on hold; please stay on the line.")
        : "";
    } else if (code === "participant_left" && value.role === "host") {
      // The lawyer's desk dropped (a reload, the network): the call is kept for the
      // grace period. Said only if nobody of the staff is back within two seconds.
      clearTimeout(agentAway);
      agentAway = setTimeout(() => {
        const hosts = [...room.people.values()].filter((person) => person.role === "host");
        if (state === "connected" && !hosts.length) $("#device-notice").textContent = AGENT_AWAY;
      }, 2000);
    } else if (code === "participant" && value.role === "host" && value.name) {
      clearTimeout(agentAway);
      if ($("#device-notice").textContent === AGENT_AWAY) $("#device-notice").textContent = "";
      const hosts = [...room.people.values()].filter((person) => person.role === "host");
      if (hosts.length > 1) {
        // A consult: a colleague of the lawyer's joins the call (docs/protocol.md).
        $("#device-notice").textContent = t("Another member of staff has joined the call: {name}.", { name: value.name });
      } else {
        agentName = value.name;
        $("#agent-name").textContent = agentName;
      }
    }
    else if (code === "room_error") $("#device-notice").textContent = t("The audio and video connection failed: {detail}", { detail: value });
  },
});
// The voicemail room (V-<session>): the microphone alone, its own peer connection.
const voice = new MediaRoom({
  send: (type, fields) => signaling && signaling.send(type, fields),
  onNotice(code, value) {
    if (code === "recording" && value && voicemail === "asking") startCountdown();
    else if (code === "room_error") {
      $("#device-notice").textContent = t("The audio and video connection failed: {detail}", { detail: value });
    }
  },
});
window.hotline = {
  room, voice, state: () => state, session: () => sessionId, rated: () => rated && rated.status,
  voicemail: () => voicemail,
};

function say(main, more = "") {
  text.textContent = main;
  detail.textContent = more;
}

function setState(next) {
  state = next;
  status.dataset.state = next;
  if (next !== "connected" && $("#device-notice").textContent === AGENT_AWAY) {
    $("#device-notice").textContent = "";
  }
}

function setMuteButton(muted) {
  muteButton.setAttribute("aria-pressed", String(muted));
  muteButton.textContent = muted ? t("Unmute") : t("Mute");
}

function positionText(position) {
  if (position <= 1) return t("You are next.");
  return t("{n} ahead of you.", { n: position - 1 });
}

function showCallbackChoice(reason) {
  offDuty = reason === "off_duty";
  $("#callback-why").textContent = offDuty
    ? t("Nobody is on duty now. We can call you back (you keep your place), or leave a message and we answer by the next working day.")
    : t("Waiting is long: we can call you back (you keep your place) or take a message.");
  if (offDuty) show($("#wait-box"), false);
  show($("#callback-phone-label"), !(call && call.phone));
  show(callbackBox, true);
}

function onStatus(socket, code) {
  if (socket === "open") {
    opens += 1;
    return;
  }
  if (code === 4001) {
    say(t("This call moved to another tab or window."));
    room.leave();
    setState("moved");
    return;
  }
  if (signaling && !signaling.closedByUs && ["connected", "queued", "reconnecting"].includes(state)) {
    if (state === "connected") setState("reconnecting");
    say(t("Reconnecting…"),
      t("Please keep this page open; your place is kept."));
  }
}

function onMessage(msg) {
  if (msg.type === "room_notice" && msg.notice === "recording_limit" && msg.room === voice.room) {
    voicemailFull();
    return;
  }
  if (voice.handle(msg)) return;
  if (room.handle(msg)) return;
  switch (msg.type) {
    case "welcome":
      if (!msg.resumed) {
        if (joinRequest) signaling.send("join_queue", joinRequest);
        else finish(t("The call has ended"), t("You were away too long."));
      }
      joinRequest = null;
      break;
    case "queued":
      if (["asking", "recording", "full"].includes(voicemail)) {
        endVoicemail(); // a new connection: the server gave the voicemail room up
        $("#device-notice").textContent = t("The recording was interrupted; please leave your message again.");
      }
      sessionId = msg.session_id;
      setState("queued");
      room.teardown();
      show(inCall, false);
      show(muteButton, false);
      show($("#leave"), true);
      if (msg.reason === "agent_lost") {
        say(t("The lawyer's connection dropped"),
          t("You are first in line again; please wait."));
      } else if (msg.reason === "callback_retry") {
        stopRinging();
        callbackKept = true;
        say(t("We could not reach you"),
          t("We will try to call you back again later. You may close this page."));
      } else if (!callbackKept) {
        say(t("You are in line"), t("Please keep this page open."));
      }
      break;
    case "position":
      setState("queued");
      $("#position").textContent = msg.position;
      $("#position-text").textContent = positionText(msg.position);
      if (msg.estimated_wait_s === 0) $("#wait").textContent = t("ringing a lawyer now");
      else $("#wait").textContent = formatWait(msg.estimated_wait_s); // null: "not known yet"
      show($("#wait-box"), !offDuty); // off duty: a callback or a message, no minutes
      show($("#position-box"), true);
      break;
    case "connected":
      // A callback rings once: answered (even before a reload), it simply connects.
      if (msg.callback && state !== "connected" && !(call && call.answered === msg.session_id)) {
        ring(msg); // the lawyer calls back: the caller answers, or declines
        break;
      }
      connectCall(msg);
      break;
    case "callback_kept":
      callbackKept = true;
      $("#want-callback").disabled = false;
      show(callbackBox, false);
      say(t("Your place is kept"),
        t("We will call you back on {phone}. You may close this page now.", { phone: callbackPhone }));
      break;
    case "callback_offered":
      showCallbackChoice(msg.reason);
      break;
    case "voicemail_room":
      voicemailLimit = msg.limit_s;
      if (voicemail === "asking") voice.join(msg.room);
      else signaling.send("cancel_voicemail", {}); // given up while it was being granted
      break;
    case "ended":
      stopRinging();
      if (msg.survey) askRating(msg.session_id, msg.survey_token);
      finish(t("Finished"), {
        answered: t("Thank you for calling 12348."),
        abandoned: t("You left the line."),
        callback_done: t("We have called you back."),
        callback_failed: t("We could not reach you."),
        voicemail: t("Your message was taken; a lawyer will answer by the next working day."),
        transferred: t("You were transferred."),
        expired: t("The request expired."),
      }[msg.outcome] || "");
      break;
    case "error":
      if (["record_voicemail", "request_voicemail", "cancel_voicemail"].includes(msg.ref)) {
        if (voicemail === "asking") endVoicemail();
        else if (voicemail === "sending") voicemail = voice.room ? "recording" : "written";
        $("#send-voicemail").disabled = false;
        detail.textContent = msg.ref === "request_voicemail" && msg.code === "missing_field"
          ? t("Please write your message first.")
          : label("error", msg.code, t("Something went wrong; please try again."));
      } else if (msg.ref === "request_callback") {
        callbackKept = false;
        $("#want-callback").disabled = false;
        detail.textContent = msg.code === "bad_state"
          ? t("A callback for this number is already waiting.")
          : t("Please give a valid phone number.");
        show($("#callback-phone-label"), true);
      } else if (msg.code === "bad_token") {
        finish(t("The call has ended"), "");
      } else {
        detail.textContent = label("error", msg.code, t("Something went wrong; please try again."));
      }
      break;
  }
}

// A callback rings the page: a repeating tone and an Answer / Decline choice, until
// the caller chooses or the call ends.
let ringing = null; // {msg, timer, audio}
function ring(msg) {
  sessionId = msg.session_id;
  if (ringing) {
    ringing.msg = msg;
    return;
  }
  setState("ringing");
  agentName = msg.agent_name || t("A duty lawyer");
  say(t("A lawyer is calling you back"), "");
  $("#ringing-who").textContent = t("{name} is calling you back.", { name: agentName });
  show($("#position-box"), false);
  show(callbackBox, false);
  show($("#ringing"), true);
  ringing = { msg, timer: null, audio: null };
  const tone = () => {
    try {
      ringing.audio = ringing.audio || new AudioContext();
      const ctx = ringing.audio;
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = 440;
      gain.gain.setValueAtTime(0.2, ctx.currentTime);
      gain.gain.setValueAtTime(0, ctx.currentTime + 0.8);
      osc.connect(gain).connect(ctx.destination);
      osc.start();
      osc.stop(ctx.currentTime + 0.8);
    } catch {
      // no sound here: the screen and the live region say it
    }
  };
  tone();
  ringing.timer = setInterval(tone, 3000);
  $("#answer").focus({ preventScroll: true });
}

function stopRinging() {
  if (!ringing) return null;
  const { msg, timer, audio } = ringing;
  clearInterval(timer);
  if (audio) audio.close().catch(() => {});
  ringing = null;
  show($("#ringing"), false);
  return msg;
}

$("#answer").addEventListener("click", async () => {
  const msg = stopRinging();
  if (!msg) return;
  if (call) {
    call.answered = msg.session_id;
    sessionStorage.setItem(CALL_KEY, JSON.stringify(call));
  }
  await room.acquire(Boolean(call && call.media === "video"));
  connectCall(msg);
});
$("#decline").addEventListener("click", () => {
  if (!stopRinging() || !signaling) return;
  signaling.send("end", { session_id: sessionId });
});

function connectCall(msg) {
  if (voicemail !== "idle") endVoicemail(); // answered after all: the server took it back
  sessionId = msg.session_id;
  setState("connected");
  agentName = msg.agent_name || t("A duty lawyer");
  $("#agent-name").textContent = agentName;
  show($("#position-box"), false);
  show(callbackBox, false);
  show(inCall, true);
  show(muteButton, true);
  show($("#leave"), true);
  say(t("Connected"), t("{name} is with you.", { name: agentName }));
  if (msg.room && (room.room !== msg.room || joinedOn !== opens || !room.pc)) {
    joinedOn = opens;
    room.join(msg.room);
  }
}

function connect(token) {
  signaling = new Signaling({
    url: wsUrl(`/ws?token=${encodeURIComponent(token)}`),
    onMessage,
    onStatus,
    resumeKey: RESUME_KEY,
  });
  signaling.connect();
}

function enterCallView() {
  show(form, false);
  show(status, true);
  show($("#leave"), true);
  status.scrollIntoView({ block: "start" });
  status.focus({ preventScroll: true });
}

function finish(main, more) {
  endVoicemail();
  setState("ended");
  say(main, more);
  room.leave(false); // the server takes both out of a call's room when it ends
  remotes.replaceChildren();
  for (const box of [$("#position-box"), callbackBox, inCall, muteButton, $("#leave")]) show(box, false);
  if (signaling) signaling.close();
  signaling = null;
  sessionId = null;
  callbackKept = false;
  offDuty = false;
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(CALL_KEY);
  startButton.disabled = false;
  show(form, true);
}

// An answered call invites a rating (docs/protocol.md, "ended"), sent with the call's
// survey token (or else the caller token).
let survey = null;
let rated = null; // the last rating's response (for tests)
function askRating(session, token) {
  survey = { session, token: token || sessionStorage.getItem(TOKEN_KEY) };
  show($("#survey"), true);
}

$("#survey").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!survey || !event.submitter) return;
  const { session, token } = survey;
  survey = null;
  show($("#survey"), false);
  try {
    rated = await fetch(`/api/sessions/${encodeURIComponent(session)}/survey`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify({ rating: Number(event.submitter.value) }),
    });
  } catch {
    // the rating is a courtesy: nothing more to say if it did not arrive
  }
  detail.textContent = t("Thank you for your rating.");
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (startButton.disabled || signaling) return; // a double tap opens one session
  startButton.disabled = true;
  show($("#survey"), false);
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
  const town = String(data.get("town") || "");
  if (town) joinRequest.town = town;
  call = { media: data.get("media") === "video" ? "video" : "voice", phone };
  joinRequest.channel = call.media === "video" ? "web_video" : "web_voice";
  enterCallView();
  say(t("Connecting…"));
  // Ask for the devices now, while the tap counts as the person's consent.
  await room.acquire(call.media === "video");
  const response = await fetch("/api/caller/token", { method: "POST" });
  if (!response.ok) {
    finish(t("Cannot connect now"), t("Please try again in a moment."));
    show(status, true);
    return;
  }
  const { token } = await response.json();
  sessionStorage.setItem(TOKEN_KEY, token);
  sessionStorage.setItem(CALL_KEY, JSON.stringify(call));
  setState("connecting");
  connect(token);
});

$("#leave").addEventListener("click", () => {
  if (!signaling) return;
  if (sessionId) signaling.send("end", { session_id: sessionId });
  else finish(t("Finished"), "");
});
muteButton.addEventListener("click", () => {
  room.setMuted(!room.muted);
  setMuteButton(room.muted);
});
$("#tap-to-hear").addEventListener("click", () => {
  resumePlayback(remotes);
  show($("#tap-to-hear"), false);
});
$("#want-callback").addEventListener("click", () => {
  if (!signaling) return;
  const phone = $("#callback-phone").value.trim() || (call && call.phone);
  if (!phone) {
    show($("#callback-phone-label"), true);
    detail.textContent = t("Please give a number to call back.");
    $("#callback-phone").focus();
    return;
  }
  // The place is confirmed only when the server has booked it (callback_kept).
  signaling.send("request_callback", { phone });
  callbackPhone = phone;
  $("#want-callback").disabled = true;
  detail.textContent = t("Keeping your place…");
});
// Leave a message: up to two minutes of the caller's voice through the voicemail room,
// with an optional written note; without a microphone, a written message only.
$("#want-voicemail").addEventListener("click", async () => {
  if (!signaling || voicemail !== "idle") return;
  voicemail = "asking";
  show($("#want-voicemail"), false);
  show($("#want-callback"), false);
  show($("#voicemail-box"), true);
  $("#send-voicemail").disabled = true;
  $("#voicemail-hint").textContent = t("Starting the recording…");
  const stream = await voice.acquire(false);
  if (voicemail !== "asking") return; // cancelled meanwhile
  if (!stream.getAudioTracks().length) {
    voice.leave(false);
    voicemail = "written";
    writtenOnly();
    return;
  }
  signaling.send("record_voicemail", {});
});

function writtenOnly() {
  show($("#voicemail-recording"), false);
  show($("#voicemail-optional"), false);
  $("#voicemail-hint").textContent = t("No microphone could be used: please write your message instead.");
  $("#send-voicemail").disabled = false;
  $("#voicemail-text").focus();
}

function startCountdown() {
  voicemail = "recording";
  voicemailEnds = Date.now() + voicemailLimit * 1000;
  show($("#voicemail-recording"), true);
  show($("#voicemail-optional"), true);
  $("#voicemail-hint").textContent = t("Speak now, up to two minutes. You may also write a few words. Then send it.");
  $("#send-voicemail").disabled = false;
  tick();
  clearInterval(voicemailTimer);
  voicemailTimer = setInterval(tick, 1000);
}

function tick() {
  const left = Math.max(0, Math.ceil((voicemailEnds - Date.now()) / 1000));
  const time = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
  $("#voicemail-left").textContent = t("{time} left", { time });
  $("#voicemail-left").dataset.seconds = String(left);
}

function voicemailFull() {
  if (voicemail !== "recording") return;
  voicemail = "full";
  clearInterval(voicemailTimer);
  voicemailTimer = null;
  show($("#voicemail-recording"), false);
  $("#voicemail-hint").textContent = t("Two minutes are up: the recording has stopped. Send your message now.");
  $("#send-voicemail").focus();
}

// Back to the choice (cancelled, answered, or over); the server has taken the room back.
function endVoicemail() {
  clearInterval(voicemailTimer);
  voicemailTimer = null;
  voice.leave(false);
  voicemail = "idle";
  show($("#voicemail-box"), false);
  show($("#voicemail-recording"), false);
  show($("#want-voicemail"), true);
  show($("#want-callback"), true);
  $("#send-voicemail").disabled = false;
}

$("#send-voicemail").addEventListener("click", () => {
  if (!signaling || !["recording", "full", "written"].includes(voicemail)) return;
  const message = $("#voicemail-text").value.trim();
  const recorded = voicemail !== "written";
  if (!recorded && !message) {
    detail.textContent = t("Please write your message first.");
    $("#voicemail-text").focus();
    return;
  }
  const fields = recorded ? { recorded: true } : {};
  if (message) fields.message = message;
  const phone = $("#callback-phone").value.trim();
  if (phone && !(call && call.phone)) fields.phone = phone;
  voicemail = "sending";
  clearInterval(voicemailTimer);
  voicemailTimer = null;
  show($("#voicemail-recording"), false);
  $("#send-voicemail").disabled = true;
  $("#voicemail-hint").textContent = t("Sending your message…");
  signaling.send("request_voicemail", fields); // "ended" once the ticket exists
});

$("#cancel-voicemail").addEventListener("click", () => {
  if (!signaling || voicemail === "sending") return;
  if (voicemail === "recording" || voicemail === "full") signaling.send("cancel_voicemail", {});
  // "asking": a voicemail_room still to come is given back when it arrives
  endVoicemail();
  detail.textContent = "";
});

// A reload within the grace period: the same caller token and resume token, the call resumes.
const savedToken = sessionStorage.getItem(TOKEN_KEY);
if (savedToken && sessionStorage.getItem(RESUME_KEY)) {
  enterCallView();
  say(t("Resuming your call…"));
  room.wantVideo = Boolean(call && call.media === "video");
  connect(savedToken);
}

fillTownPicker($("#town"));
