"""Test-only signaling for a browser joining a room: one page and one WebSocket.

Not the product protocol (that is the lead's, in signaling/ and docs/protocol.md): just
enough JSON to carry the join offer/answer and the server's re-offers.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import WSMsgType, web

from media.room import Room

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>room test</title></head>
<body><script type="module">
const log = [];
const tracks = [];
window.sfu = { log, tracks, ready: false, error: null };
function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve();
    });
  });
}
try {
  const ws = new WebSocket(`ws://${location.host}/ws`);
  await new Promise((r) => ws.addEventListener("open", r));
  const pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: "max-bundle" });
  window.sfu.pc = pc;
  pc.addEventListener("track", (e) => {
    tracks.push({ mid: e.transceiver.mid, kind: e.track.kind,
                  stream: e.streams.length ? e.streams[0].id : null, id: e.track.id });
  });
  const media = await navigator.mediaDevices.getUserMedia({
    audio: true, video: { width: 320, height: 240, frameRate: 30 } });
  for (const track of media.getTracks()) {
    pc.addTransceiver(track, { direction: "sendonly", streams: [media] });
  }
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  ws.send(JSON.stringify({ type: "join", sdp: pc.localDescription.sdp }));
  ws.addEventListener("message", async (event) => {
   try {
    const msg = JSON.parse(event.data);
    log.push(msg.type);
    if (msg.type === "answer") {
      await pc.setRemoteDescription({ type: "answer", sdp: msg.sdp });
      window.sfu.ready = true;
    } else if (msg.type === "offer") {
      await pc.setRemoteDescription({ type: "offer", sdp: msg.sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      await gathered(pc);
      ws.send(JSON.stringify({ type: "answer", sdp: pc.localDescription.sdp }));
    } else if (msg.type === "error") {
      window.sfu.error = msg.message;
    }
   } catch (e) {
    window.sfu.error = String(e);
    console.log("signaling error: " + e);
   }
  });
} catch (e) {
  window.sfu.error = String(e);
}
</script></body></html>
"""

STATS_JS = """async () => {
  const pc = window.sfu.pc;
  const report = await pc.getStats();
  const inbound = [];
  const outbound = [];
  report.forEach((s) => {
    if (s.type === "outbound-rtp") {
      outbound.push({ kind: s.kind, mid: s.mid, packetsSent: s.packetsSent,
                      framesEncoded: s.framesEncoded || 0, pliCount: s.pliCount || 0,
                      nackCount: s.nackCount || 0 });
    }
    if (s.type === "inbound-rtp") {
      inbound.push({ kind: s.kind, mid: s.mid, framesDecoded: s.framesDecoded || 0,
                     packetsReceived: s.packetsReceived, totalSamplesReceived:
                     s.totalSamplesReceived || 0, frameWidth: s.frameWidth || 0 });
    }
  });
  return { inbound, outbound, tracks: window.sfu.tracks, log: window.sfu.log,
           state: pc.connectionState, error: window.sfu.error };
}"""


def make_app(room: Room, participant_id: str) -> web.Application:
    """A page at / and a WebSocket at /ws that joins ``room`` as ``participant_id``."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def websocket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        answers: asyncio.Queue[str] = asyncio.Queue()

        async def renegotiate(offer_sdp: str) -> str:
            await ws.send_str(json.dumps({"type": "offer", "sdp": offer_sdp}))
            return await answers.get()

        async for message in ws:
            if message.type != WSMsgType.TEXT:
                break
            data: dict[str, Any] = json.loads(message.data)
            if data["type"] == "join":
                answer = await room.join(participant_id, data["sdp"], renegotiate)
                await ws.send_str(json.dumps({"type": "answer", "sdp": answer}))
            elif data["type"] == "answer":
                answers.put_nowait(data["sdp"])
        return ws

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/ws", websocket)
    return app
