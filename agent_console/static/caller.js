// The caller page: choose a service and voice or video, join the line, hear place and
// wait, talk with the duty lawyer in the call's media room, or ask for a callback /
// leave a message. The caller token and resume token live in sessionStorage, so a
// reload within the grace period resumes the call.
import { $, Signaling, formatWait, show, wsUrl } from "./ws.js";
import { MediaRoom, attachStream, detachStream, resumePlayback } from "./room.js";

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
let callbackKept = false;
let offDuty = false; // nobody is on duty: no wait is shown

const DEVICE_NOTICES = {
  camera_denied: "没有摄像头权限，改为语音通话。 · The camera was not allowed: this is a voice call.",
  no_camera: "没有找到摄像头，改为语音通话。 · No camera found: this is a voice call.",
  microphone_denied: "没有麦克风权限：律师听不到您，请在浏览器设置中允许麦克风。 · The microphone was not allowed: the lawyer cannot hear you. Allow it in the browser settings.",
  no_microphone: "没有找到麦克风：律师听不到您。 · No microphone found: the lawyer cannot hear you.",
  device_changed: "设备已更换。 · Your device changed; the call goes on.",
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
        ? "律师请您稍候，请不要挂断。 · The lawyer has put you on hold; please stay on the line."
        : "";
    } else if (code === "participant" && value.role === "host" && value.name) {
      agentName = value.name;
      $("#agent-name").textContent = agentName;
    }
    else if (code === "room_error") $("#device-notice").textContent = `音视频连接出错 · Media error: ${value}`;
  },
});
window.hotline = { room, state: () => state, session: () => sessionId };

function say(main, more = "") {
  text.textContent = main;
  detail.textContent = more;
}

function setState(next) {
  state = next;
  status.dataset.state = next;
}

function setMuteButton(muted) {
  muteButton.setAttribute("aria-pressed", String(muted));
  muteButton.textContent = muted ? "取消静音 · Unmute" : "静音 · Mute";
}

function positionText(position) {
  if (position <= 1) return "您是下一位。 · You are next.";
  return `前面还有 ${position - 1} 位。 · ${position - 1} ahead of you.`;
}

function showCallbackChoice(reason) {
  offDuty = reason === "off_duty";
  $("#callback-why").textContent = offDuty
    ? "现在没有值班人员。我们可以回拨您（为您保留位置），或者您可以留言，工作日内答复。 · Nobody is on duty now. We can call you back (you keep your place), or leave a message and we answer by the next working day."
    : "等待时间较长。我们可以回拨您（为您保留位置），或者您可以留言。 · Waiting is long: we can call you back (you keep your place) or take a message.";
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
    say("此通话已在另一个页面打开。 · This call moved to another tab or window.");
    room.leave();
    setState("moved");
    return;
  }
  if (signaling && !signaling.closedByUs && ["connected", "queued", "reconnecting"].includes(state)) {
    if (state === "connected") setState("reconnecting");
    say("正在重新连接… · Reconnecting…",
      "请不要关闭此页面，您的位置会保留。 · Please keep this page open; your place is kept.");
  }
}

function onMessage(msg) {
  if (room.handle(msg)) return;
  switch (msg.type) {
    case "welcome":
      if (!msg.resumed) {
        if (joinRequest) signaling.send("join_queue", joinRequest);
        else finish("通话已结束 · The call has ended", "您离开的时间太长。 · You were away too long.");
      }
      joinRequest = null;
      break;
    case "queued":
      sessionId = msg.session_id;
      setState("queued");
      room.teardown();
      show(inCall, false);
      show(muteButton, false);
      show($("#leave"), true);
      if (msg.reason === "agent_lost") {
        say("律师的连接中断了 · The lawyer's connection dropped",
          "您已排在最前面，请稍候。 · You are first in line again; please wait.");
      } else if (!callbackKept) {
        say("正在排队 · You are in line", "请不要关闭此页面。 · Please keep this page open.");
      }
      break;
    case "position":
      setState("queued");
      $("#position").textContent = msg.position;
      $("#position-text").textContent = positionText(msg.position);
      if (msg.estimated_wait_s === 0) $("#wait").textContent = "正在为您接通律师 · ringing a lawyer now";
      else $("#wait").textContent = formatWait(msg.estimated_wait_s); // null: "not known yet"
      show($("#wait-box"), !offDuty); // off duty: a callback or a message, no minutes
      show($("#position-box"), true);
      break;
    case "connected":
      sessionId = msg.session_id;
      setState("connected");
      agentName = msg.agent_name || "值班律师 · Duty lawyer";
      $("#agent-name").textContent = agentName;
      show($("#position-box"), false);
      show(callbackBox, false);
      show(inCall, true);
      show(muteButton, true);
      show($("#leave"), true);
      say("已接通 · Connected", `${agentName} 正在为您服务。 · ${agentName} is with you.`);
      if (msg.room && (room.room !== msg.room || joinedOn !== opens || !room.pc)) {
        joinedOn = opens;
        room.join(msg.room);
      }
      break;
    case "callback_offered":
      showCallbackChoice(msg.reason);
      break;
    case "ended":
      if (msg.survey) askRating(msg.session_id);
      finish("通话结束 · Finished", {
        answered: "感谢您致电 12348。 · Thank you for calling 12348.",
        abandoned: "您已离开排队。 · You left the line.",
        callback_done: "我们已回拨您。 · We have called you back.",
        voicemail: "已收到您的留言，律师将在下一个工作日内答复。 · Your message was taken; a lawyer will answer by the next working day.",
        transferred: "您已被转接。 · You were transferred.",
        expired: "请求已过期。 · The request expired.",
      }[msg.outcome] || "");
      break;
    case "error":
      if (msg.ref === "request_callback") {
        callbackKept = false;
        detail.textContent = msg.code === "bad_state"
          ? "这个号码已有一个回拨在等待。 · A callback for this number is already waiting."
          : "请填写有效的手机号码。 · Please give a valid phone number.";
        show($("#callback-phone-label"), true);
      } else if (msg.code === "bad_token") {
        finish("通话已结束 · The call has ended", "");
      } else {
        detail.textContent = `出错了 · Something went wrong: ${msg.detail}`;
      }
      break;
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

// An answered call invites a rating (docs/protocol.md, "ended"), sent with the caller token.
let survey = null;
function askRating(session) {
  survey = { session, token: sessionStorage.getItem(TOKEN_KEY) };
  show($("#survey"), true);
}

$("#survey").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!survey || !event.submitter) return;
  const { session, token } = survey;
  survey = null;
  show($("#survey"), false);
  try {
    await fetch(`/api/sessions/${encodeURIComponent(session)}/survey`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify({ rating: Number(event.submitter.value) }),
    });
  } catch {
    // the rating is a courtesy: nothing more to say if it did not arrive
  }
  detail.textContent = "谢谢您的评价。 · Thank you for your rating.";
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
  call = { media: data.get("media") === "video" ? "video" : "voice", phone };
  joinRequest.channel = call.media === "video" ? "web_video" : "web_voice";
  enterCallView();
  say("正在连接 · Connecting…");
  // Ask for the devices now, while the tap counts as the person's consent.
  await room.acquire(call.media === "video");
  const response = await fetch("/api/caller/token", { method: "POST" });
  if (!response.ok) {
    finish("暂时无法接通 · Cannot connect now", "请稍后再试。 · Please try again in a moment.");
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
  else finish("通话结束 · Finished", "");
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
    detail.textContent = "请填写回拨号码。 · Please give a number to call back.";
    $("#callback-phone").focus();
    return;
  }
  signaling.send("request_callback", { phone });
  callbackKept = true;
  show(callbackBox, false);
  say("已为您保留位置 · Your place is kept",
    `我们会回拨 ${phone}。您现在可以关闭此页面。 · We will call you back on ${phone}. You may close this page now.`);
});
$("#want-voicemail").addEventListener("click", () => {
  if (!signaling) return;
  const message = $("#voicemail-text").value.trim();
  if (!message) {
    detail.textContent = "请先写下留言。 · Please write your message first.";
    $("#voicemail-text").focus();
    return;
  }
  signaling.send("request_voicemail", { message });
});

// A reload within the grace period: the same caller token and resume token, the call resumes.
const savedToken = sessionStorage.getItem(TOKEN_KEY);
if (savedToken && sessionStorage.getItem(RESUME_KEY)) {
  enterCallView();
  say("正在恢复通话… · Resuming your call…");
  room.wantVideo = Boolean(call && call.media === "video");
  connect(savedToken);
}
