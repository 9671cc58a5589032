// The desk's transfer and consult controls for the live call (docs/protocol.md:
// get_targets / targets, transfer, consult, end_consult, hand_over, consult_state).
// Targets are queues by their label and colleagues by name, only those who could take
// the call; every move is confirmed first, and a refusal is said in words.
import { label, t } from "./i18n.js";
import { $, show } from "./ws.js";

const MOVES = ["transfer", "consult", "hand_over", "end_consult", "get_targets"];

export class CallMover {
  // send(type, fields) sends a message; live() is the desk's live call (or null).
  constructor({ send, live }) {
    this.send = send;
    this.live = live;
    this.pending = null; // {kind, field, value, name} of the move asked for
    this.consult = null; // {consult_id, name} while this desk's consult is open
    $("#transfer").addEventListener("click", () => this.choose("transfer"));
    $("#consult").addEventListener("click", () => this.choose("consult"));
    $("#move-no").addEventListener("click", () => this.cancel());
    $("#move-yes").addEventListener("click", () => this.confirm());
    $("#move-target").addEventListener("focus", () => this.refresh());
    $("#hand-over").addEventListener("click", () => this.callMove("hand_over"));
    $("#end-consult").addEventListener("click", () => this.callMove("end_consult"));
  }

  status(text) {
    $("#move-status").textContent = text;
  }

  // Ask who could take the call now (on connect, on focus, after every change).
  refresh() {
    const live = this.live();
    if (live && !live.consultant) this.send("get_targets", { session_id: live.session_id });
  }

  onTargets(msg) {
    const live = this.live();
    if (!live || live.session_id !== msg.session_id) return;
    const select = $("#move-target");
    const chosen = select.value;
    const queues = new Map(msg.queues.map((q) => [q.category, q.free]));
    for (const option of $("#move-queues").querySelectorAll("option")) {
      const code = option.value.slice("queue:".length);
      const state = !queues.has(code) ? t("nobody signed in") : queues.get(code) ? t("free") : t("busy");
      option.textContent = t("{name} ({state})", { name: option.dataset.name, state });
    }
    const agents = $("#move-agents");
    agents.replaceChildren();
    for (const agent of msg.agents) {
      const option = document.createElement("option");
      option.value = `agent:${agent.agent_id}`;
      option.dataset.name = agent.name;
      option.textContent = t("{name} ({state})", { name: agent.name, state: agent.free ? t("free") : t("busy") });
      agents.append(option);
    }
    if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
  }

  choose(kind) {
    const live = this.live();
    const option = $("#move-target").selectedOptions[0];
    if (!live || !option) return;
    const [field, value] = option.value.startsWith("agent:")
      ? ["to_agent", option.value.slice("agent:".length)]
      : ["to_queue", option.value.slice("queue:".length)];
    const name = option.dataset.name;
    this.pending = { kind, field, value, name };
    $("#move-question").textContent = kind === "transfer"
      ? t("Transfer the caller to {target}? The call leaves your desk.", { target: name })
      : t("Ask {target} to join this call?", { target: name });
    this.status("");
    show($("#move-confirm"), true);
    $("#move-yes").focus();
  }

  cancel() {
    this.pending = null;
    show($("#move-confirm"), false);
  }

  confirm() {
    const live = this.live();
    const move = this.pending;
    show($("#move-confirm"), false);
    if (!live || !move) return;
    this.send(move.kind, { session_id: live.session_id, [move.field]: move.value });
    this.status(move.kind === "transfer"
      ? t("Transferring to {target}…", { target: move.name })
      : t("Asking {target}…", { target: move.name }));
  }

  callMove(kind) {
    const live = this.live();
    if (!live) return;
    this.pending = { kind, name: this.consult ? this.consult.name : "" };
    this.send(kind, { session_id: live.session_id });
  }

  // A refusal of one of these moves, in words; false for any other error.
  onError(msg) {
    if (!MOVES.includes(msg.ref)) return false;
    const target = this.pending ? this.pending.name : "";
    const what = msg.ref === "transfer" ? t("Not transferred") : t("No consult");
    const why = msg.code === "nobody_eligible"
      ? t("nobody who could take it is signed in for {target}", { target })
      : label("error", msg.code, t("Something went wrong; please try again."));
    this.status(t("{what}: {why}", { what, why }));
    this.pending = null;
    this.refresh();
    return true;
  }

  // The requester's side of a consult.
  onConsultState(msg) {
    const name = msg.agent_name || (this.pending && this.pending.name) || t("A colleague");
    if (msg.state === "ringing") {
      this.consult = { consult_id: msg.consult_id, name };
      this.status("");
      this.panel(t("Asking {name} to join the call…", { name }), false, t("Cancel the consult"));
    } else if (msg.state === "connected") {
      this.consult = { consult_id: msg.consult_id, name };
      this.panel(t("{name} has joined the call: three-way.", { name }), true, t("Ask them to leave"));
    } else {
      const gone = this.consult ? this.consult.name : name;
      this.consult = null;
      this.pending = null;
      this.panel(null);
      this.status(msg.reason === "agent_lost"
        ? t("{name}'s connection was lost; the consult has ended.", { name: gone })
        : t("The consult with {name} has ended.", { name: gone }));
      this.refresh();
    }
  }

  // The colleague's side: in someone's call as a consultant.
  asConsultant(name) {
    this.panel(t("You joined {name}'s call (consult).", { name }), false, t("Leave the call"));
  }

  panel(text, handOver = false, endText = "") {
    show($("#consult-panel"), text !== null);
    show($("#move-call"), text === null);
    if (text === null) return;
    $("#consult-text").textContent = text;
    show($("#hand-over"), handOver);
    $("#end-consult").textContent = endText;
  }

  reset() {
    this.pending = null;
    this.consult = null;
    this.panel(null);
    show($("#move-confirm"), false);
    this.status("");
    $("#move-agents").replaceChildren();
  }
}
