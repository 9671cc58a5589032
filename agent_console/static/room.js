// One media room seen from a browser (docs/protocol.md, "Media rooms"): the local
// microphone and camera, one RTCPeerConnection to the server's SFU, the server's
// re-offers answered, each remote participant's stream (its id is the participant's
// id) handed to the page. Used by every page that enters a room.
//
// No trickle ICE: every SDP is sent once gathering is complete. aiortc has no ICE
// restart, so after a dropped socket the page calls join() again: a new connection.

const VIDEO = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 24 } };

// Resolves once ICE gathering is complete. A re-offer on the bundled transport gathers
// nothing new, and a browser may not report "complete" again: after a short wait the
// SDP goes with the candidates it already carries.
function gathered(pc, patience = 2000) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      pc.removeEventListener("icegatheringstatechange", check);
      clearTimeout(timer);
      resolve();
    };
    const check = () => pc.iceGatheringState === "complete" && done();
    const timer = setTimeout(done, patience);
    pc.addEventListener("icegatheringstatechange", check);
  });
}

// What getUserMedia's refusal means for the person in front of the screen.
function refusal(error) {
  if (!error) return null;
  if (error.name === "NotAllowedError" || error.name === "SecurityError") return "denied";
  if (error.name === "NotFoundError" || error.name === "OverconstrainedError") return "missing";
  return "failed";
}

export class MediaRoom {
  // send(type, fields) sends a room message; onRemote(participant, stream) and
  // onRemoteGone(participant) place and remove the other side; onNotice(code, detail)
  // tells the page what happened to the devices or the room ("camera_denied",
  // "no_microphone", "microphone_denied", "device_changed", "recording", "left",
  // "room_error", "muted_by_staff", "connection", "hold" {on, participant, self},
  // "participant" {id, role, name} when someone's name becomes known,
  // "participant_left" {id, role}).
  constructor({ send, onRemote, onRemoteGone, onNotice, preview }) {
    this.send = send;
    this.onRemote = onRemote || (() => {});
    this.onRemoteGone = onRemoteGone || (() => {});
    this.onNotice = onNotice || (() => {});
    this.preview = preview || null;
    this.room = null;
    this.participant = null;
    this.local = null; // our MediaStream (may have no tracks at all)
    this.pc = null;
    this.muted = false;
    this.wantVideo = false;
    this.remotes = new Map(); // participant id -> MediaStream
    this.senderOf = new Map(); // remote track id -> participant id (for stats)
    this.people = new Map(); // participant id -> {role, name}, from participant_joined
    this.chain = Promise.resolve(); // room messages handled one at a time
    this.acquiring = null;
    this.joined = false;
    this.error = null;
    navigator.mediaDevices?.addEventListener?.("devicechange", () => this.devicesChanged());
  }

  // The microphone, and the camera when asked for; a refused camera falls back to voice.
  // Asked once: a second call while the first is pending gets the same answer.
  acquire(video) {
    if (!this.acquiring) {
      this.acquiring = this.getDevices(video).finally(() => { this.acquiring = null; });
    }
    return this.acquiring;
  }

  async getDevices(video) {
    this.wantVideo = video;
    if (!navigator.mediaDevices?.getUserMedia) {
      this.onNotice("no_microphone");
      this.local = new MediaStream();
      return this.local;
    }
    let stream = null;
    if (video) {
      try {
        stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: VIDEO });
      } catch (error) {
        this.onNotice(refusal(error) === "denied" ? "camera_denied" : "no_camera");
      }
    }
    if (!stream) {
      try {
        stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      } catch (error) {
        this.onNotice(refusal(error) === "denied" ? "microphone_denied" : "no_microphone");
        stream = new MediaStream();
      }
    }
    this.local = stream;
    for (const track of stream.getTracks()) {
      track.addEventListener("ended", () => this.devicesChanged());
      track.enabled = !(track.kind === "audio" && this.muted);
    }
    if (this.preview) {
      this.preview.srcObject = stream.getVideoTracks().length ? stream : null;
      this.preview.hidden = !stream.getVideoTracks().length;
    }
    return stream;
  }

  get hasVideo() {
    return Boolean(this.local && this.local.getVideoTracks().length);
  }

  // Enter `room` (again): a new peer connection, our tracks send-only, the server's
  // answer; its re-offers then bring the other participants' streams.
  join(room) {
    return this.enqueue(async () => {
      this.teardown();
      this.room = room;
      this.error = null;
      if (!this.local) await this.acquire(this.wantVideo);
      if (this.room !== room) return; // left while the devices were being asked for
      const pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: "max-bundle" });
      this.pc = pc;
      pc.addEventListener("track", (event) => this.remoteTrack(event));
      pc.addEventListener("connectionstatechange", () => {
        if (pc === this.pc) this.onNotice("connection", pc.connectionState);
      });
      const tracks = this.local.getTracks();
      for (const track of tracks) {
        pc.addTransceiver(track, { direction: "sendonly", streams: [this.local] });
      }
      // An offer needs Opus: with no microphone we still listen.
      if (!this.local.getAudioTracks().length) pc.addTransceiver("audio", { direction: "recvonly" });
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      if (pc !== this.pc) return;
      this.send("join_room", { room, sdp: pc.localDescription.sdp });
    });
  }

  // Hand a server message to the room; true when it was one of ours.
  handle(msg) {
    if (!this.room || msg.room !== this.room) return false;
    switch (msg.type) {
      case "room_joined":
        this.enqueue(async () => {
          if (!this.pc) return;
          await this.pc.setRemoteDescription({ type: "answer", sdp: msg.sdp });
          this.participant = msg.participant;
          this.joined = true;
          if (this.muted) this.announceMute();
        });
        return true;
      case "room_offer":
        this.enqueue(async () => {
          const pc = this.pc;
          if (!pc) return;
          await pc.setRemoteDescription({ type: "offer", sdp: msg.sdp });
          await pc.setLocalDescription(await pc.createAnswer());
          await gathered(pc);
          if (pc === this.pc) {
            this.send("room_answer", { room: msg.room, seq: msg.seq, sdp: pc.localDescription.sdp });
          }
          this.dropSilentRemotes();
        });
        return true;
      case "room_left":
        this.teardown();
        this.onNotice("left");
        return true;
      case "muted":
        if (msg.participant === this.participant && msg.kind === "audio") {
          this.setLocalMuted(msg.muted);
          if (msg.by && msg.by !== this.participant) this.onNotice("muted_by_staff", msg.muted);
        }
        return true;
      case "recording_started":
        this.onNotice("recording", true);
        return true;
      case "room_notice":
        if (msg.notice === "recording") this.onNotice("recording", true);
        else if (msg.notice === "on_hold" || msg.notice === "resumed") {
          this.onNotice("hold", { on: msg.notice === "on_hold", participant: msg.participant,
            self: msg.participant === this.participant });
        }
        return true;
      case "participant_joined":
        this.people.set(msg.participant, { role: msg.role, name: msg.name || "" });
        this.onNotice("participant", { id: msg.participant, role: msg.role, name: msg.name || "" });
        return true;
      case "participant_left": {
        const person = this.people.get(msg.participant);
        this.people.delete(msg.participant);
        this.onNotice("participant_left", { id: msg.participant, role: person ? person.role : "" });
        return true;
      }
      case "recording_stopped":
        this.onNotice("recording", false);
        return true;
      case "room_error":
        this.error = msg.code;
        this.onNotice("room_error", msg.detail || msg.code);
        return true;
      default:
        return false;
    }
  }

  enqueue(step) {
    this.chain = this.chain.then(step).catch((error) => {
      this.error = String(error);
      console.error("room:", error);
      this.onNotice("room_error", String(error));
    });
    return this.chain;
  }

  remoteTrack(event) {
    const stream = event.streams[0];
    if (!stream) return;
    const participant = stream.id;
    this.senderOf.set(event.track.id, participant);
    if (this.remotes.get(participant) !== stream) {
      this.remotes.set(participant, stream);
      stream.addEventListener("removetrack", () => {
        if (!stream.getTracks().length && this.remotes.get(participant) === stream) {
          this.removeRemote(participant);
        }
      });
    }
    this.onRemote(participant, stream);
  }

  // After a re-offer, a participant whose transceivers all stopped has left.
  dropSilentRemotes() {
    if (!this.pc) return;
    const live = new Set();
    for (const t of this.pc.getTransceivers()) {
      if (t.currentDirection === "stopped" || t.direction === "stopped") continue;
      if (t.receiver.track && t.currentDirection && t.currentDirection.includes("recv")) {
        for (const [id, stream] of this.remotes) {
          if (stream.getTracks().includes(t.receiver.track)) live.add(id);
        }
      }
    }
    for (const id of [...this.remotes.keys()]) if (!live.has(id)) this.removeRemote(id);
  }

  removeRemote(participant) {
    if (!this.remotes.delete(participant)) return;
    this.onRemoteGone(participant);
  }

  // The host puts the others on hold (the server cuts their routes both ways) or back.
  hold(on) {
    if (this.room) this.send("hold", { room: this.room, on });
  }

  // Mute: the track stops sending sound here and the server stops forwarding it.
  setMuted(muted) {
    this.setLocalMuted(muted);
    this.announceMute();
  }

  setLocalMuted(muted) {
    this.muted = muted;
    for (const track of this.local ? this.local.getAudioTracks() : []) track.enabled = !muted;
  }

  announceMute() {
    if (this.room && this.participant) {
      this.send("mute", { room: this.room, participant: this.participant, kind: "audio", muted: this.muted });
    }
  }

  // A device came or went: replace an ended microphone or camera on the same sender.
  async devicesChanged() {
    if (!this.local) return;
    for (const kind of ["audio", "video"]) {
      const current = kind === "audio" ? this.local.getAudioTracks()[0] : this.local.getVideoTracks()[0];
      if (current && current.readyState === "live") continue;
      if (kind === "video" && !this.wantVideo) continue;
      let track;
      try {
        const got = await navigator.mediaDevices.getUserMedia(kind === "audio" ? { audio: true } : { video: VIDEO });
        track = got.getTracks()[0];
      } catch {
        if (current) this.onNotice(kind === "audio" ? "no_microphone" : "no_camera");
        continue;
      }
      if (current) this.local.removeTrack(current);
      this.local.addTrack(track);
      track.enabled = !(kind === "audio" && this.muted);
      track.addEventListener("ended", () => this.devicesChanged());
      const sender = this.pc?.getSenders().find((s) => s.track === current || (s.track === null && current));
      if (sender) await sender.replaceTrack(track);
      else if (this.room && this.pc) this.join(this.room); // a new kind of track: enter afresh
      this.onNotice("device_changed", kind);
    }
  }

  teardown() {
    if (this.pc) this.pc.close();
    this.pc = null;
    this.joined = false;
    this.participant = null;
    for (const id of [...this.remotes.keys()]) this.removeRemote(id);
    this.senderOf.clear();
  }

  // Leave the room and release the devices; `tell` false when the server has already
  // taken us out (a call's room on `ended`).
  leave(tell = true) {
    if (tell && this.room && this.pc) this.send("leave_room", { room: this.room });
    this.teardown();
    this.room = null;
    this.people.clear();
    if (this.local) for (const track of this.local.getTracks()) track.stop();
    this.local = null;
    if (this.preview) {
      this.preview.srcObject = null;
      this.preview.hidden = true;
    }
  }

  // For tests and diagnostics: what arrives (per sending participant) and what leaves.
  async stats() {
    const pc = this.pc;
    if (!pc) return { state: "closed", inbound: [], outbound: [], participant: this.participant };
    // Only what still arrives: a participant who left (or came back) leaves stopped
    // transceivers behind, whose figures no longer move.
    const live = new Set();
    for (const t of pc.getTransceivers()) {
      if (t.mid !== null && (t.currentDirection || "").includes("recv")) live.add(t.mid);
    }
    const inbound = [];
    const outbound = [];
    (await pc.getStats()).forEach((s) => {
      if (s.type === "inbound-rtp") {
        if (!live.has(s.mid)) return;
        inbound.push({ kind: s.kind, mid: s.mid, source: this.senderOf.get(s.trackIdentifier) || null,
          packetsReceived: s.packetsReceived || 0, framesDecoded: s.framesDecoded || 0 });
      } else if (s.type === "outbound-rtp") {
        outbound.push({ kind: s.kind, mid: s.mid, packetsSent: s.packetsSent || 0,
          framesEncoded: s.framesEncoded || 0 });
      }
    });
    return { state: pc.connectionState, participant: this.participant, inbound, outbound,
      error: this.error };
  }
}

// A <video> for each remote participant (it plays their sound too; without a camera it
// is shown as a voice tile, and so is everyone in a voice-only call). Returns the element.
export function attachStream(container, participant, stream, label, { voiceOnly = false } = {}) {
  let tile = container.querySelector(`[data-participant="${CSS.escape(participant)}"]`);
  if (!tile) {
    tile = document.createElement("figure");
    tile.className = "tile";
    tile.dataset.participant = participant;
    const video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    const caption = document.createElement("figcaption");
    tile.append(video, caption);
    container.append(tile);
  }
  const video = tile.querySelector("video");
  if (video.srcObject !== stream) video.srcObject = stream;
  tile.querySelector("figcaption").textContent = label || "";
  tile.classList.toggle("voice", voiceOnly || !stream.getVideoTracks().length);
  video.play().catch(() => tile.classList.add("blocked"));
  return tile;
}

export function detachStream(container, participant) {
  const tile = container.querySelector(`[data-participant="${CSS.escape(participant)}"]`);
  if (tile) tile.remove();
}

// Browsers block sound that starts without a tap (a reloaded page): one tap plays all.
export function resumePlayback(container) {
  for (const video of container.querySelectorAll("video")) {
    video.play().then(() => video.closest(".tile")?.classList.remove("blocked")).catch(() => {});
  }
}
