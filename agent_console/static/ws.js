// One signaling connection (docs/protocol.md): says hello, resumes after a drop,
// and hands every server message to the page's handler.
import { t } from "./i18n.js";

export class Signaling {
  constructor({ url, onMessage, onStatus, resumeKey }) {
    this.url = url;
    this.onMessage = onMessage;
    this.onStatus = onStatus || (() => {});
    this.resumeKey = resumeKey;
    this.closedByUs = false;
    this.retries = 0;
  }

  connect() {
    const resume = this.resumeKey && sessionStorage.getItem(this.resumeKey);
    // The resume token also admits a caller whose own token expired during the drop.
    const url = resume
      ? `${this.url}${this.url.includes("?") ? "&" : "?"}resume=${encodeURIComponent(resume)}`
      : this.url;
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.retries = 0;
      this.onStatus("open");
      const hello = { v: 1, type: "hello" };
      if (resume) hello.resume_token = resume;
      ws.send(JSON.stringify(hello));
    });
    ws.addEventListener("message", (event) => {
      let msg;
      try { msg = JSON.parse(event.data); } catch { return; }
      if (msg.type === "welcome" && this.resumeKey) {
        sessionStorage.setItem(this.resumeKey, msg.resume_token);
      }
      this.onMessage(msg);
    });
    ws.addEventListener("close", (event) => {
      this.onStatus("closed", event.code);
      // 4001: replaced by a newer connection; 4003: signed out (sign in again).
      if (this.closedByUs || event.code === 4001 || event.code === 4003) return;
      // Reconnect within the grace period; the resume token gives the place back.
      const delay = Math.min(5000, 250 * 2 ** this.retries++);
      setTimeout(() => this.connect(), delay);
    });
  }

  send(type, fields = {}) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify({ v: 1, type, ...fields }));
    return true;
  }

  close() {
    this.closedByUs = true;
    if (this.resumeKey) sessionStorage.removeItem(this.resumeKey);
    if (this.ws) this.ws.close(1000);
  }
}

export function wsUrl(path) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}${path}`;
}

export function $(selector) {
  return document.querySelector(selector);
}

export function show(element, visible) {
  element.hidden = !visible;
}

export function formatWait(seconds) {
  // None when nobody who could take the call is on duty: no minutes are promised.
  if (seconds === null || seconds === undefined) return t("not known yet");
  if (seconds < 60) return t("{n} s", { n: Math.round(seconds) });
  return t("{n} min", { n: Math.round(seconds / 60) });
}
