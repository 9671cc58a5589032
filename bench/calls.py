"""Calls benchmark: N concurrent two-party hotline calls through the real application.

``run(calls, seconds, video)`` returns one JSON-able dict: server CPU per call (% of one
core; also the idle server's, measured before the first call, and the bots' process's,
which shares the machine), delivery per direction (frames received / frames sent,
median and worst over the calls; frames in flight when the window opens make it a hair
over 1 at times), and how many calls connected and were recorded. ``compare()`` runs a
voice and a video level and reports their CPU ratio.

Each call is what a caller's page and an agent's desk do: the agent signs in through
``/signin`` and goes ``presence available``; the caller takes a token from
``/api/caller/token`` and says ``join_queue``; the agent ``accept``s the ``offer``; both
``join_room`` the ``room`` named in ``connected`` with an aiortc bot (media/bots.py) and
answer the server's re-offers; a call's room records from the first join (the agent
would ask with ``set_recording`` if it did not). Voice calls send Opus only
(``channel`` ``web_voice``); video calls send a 640x480 VP8 clip at 30 fps as well
(``web_video``).

Layout as in bench/media.py: the outer process starts ``python -m bench.calls inside``
under ``unshare -n`` (lo up, 127.0.0.2 added for ICE; nothing leaves the namespace).
Inside, ``hotline serve`` runs as its own process (embedded backplane, SQLite, in a
temporary folder) and its CPU time is read from /proc; the bots run in the inside
process. The folder (database, recordings) is removed at the end, even on error; the
outer process owns a folder above it, so nothing stays behind when the child is killed
on timeout.

The pieces (``hotline_server``, ``tcp_forward``, ``CallPeer``, ``sign_in``, ``place_call``)
are reused by the scale-out scenario (tests/media/scaled_calls.py): two servers on one
Redis and one PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NETNS_SETUP = 'ip link set lo up && ip addr add 127.0.0.2/8 dev lo && exec "$@"'
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PASSWORD = "bench calls password"  # noqa: S105 (bench agents in a throwaway database)
SECRET_KEY = "b" * 40
IDLE_SECONDS = 3.0  # the server measured with no call on it, before the first


# -- processes ----------------------------------------------------------------------------


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def until(check: Callable[[], bool], what: str, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)


@contextlib.contextmanager
def unix_relay(host: str, port: int) -> Iterator[str]:
    """A Unix socket relayed to ``host:port`` by ``socat`` (outside the namespace: the
    file system is shared, the network is not); its path, removed at the end."""
    socat = shutil.which("socat")
    if socat is None:
        raise RuntimeError("socat is needed to relay services into the namespace")
    directory = Path(tempfile.mkdtemp(prefix="hotline-relay-"))
    path = directory / "relay.sock"
    proc = subprocess.Popen([socat, f"UNIX-LISTEN:{path},fork,mode=600", f"TCP:{host}:{port}"])
    try:
        deadline = time.monotonic() + 5
        while not path.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("socat did not create its socket")
            time.sleep(0.02)
        yield str(path)
    finally:
        proc.terminate()
        proc.wait(5)
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.asynccontextmanager
async def tcp_forward(unix_path: str) -> AsyncIterator[int]:
    """Inside the namespace: a TCP port on loopback forwarded to ``unix_path``."""
    port = free_port()
    forwarder = await asyncio.create_subprocess_exec(
        "socat", f"TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr", f"UNIX-CONNECT:{unix_path}"
    )
    try:
        await until(lambda: _listening(port), f"forwarder to {unix_path}", within=5)
        yield port
    finally:
        forwarder.terminate()
        await forwarder.wait()


@dataclass(frozen=True)
class Server:
    """A running ``hotline serve`` process."""

    pid: int
    base: str
    data_dir: Path


@contextlib.asynccontextmanager
async def hotline_server(data_dir: Path, env: dict[str, str]) -> AsyncIterator[Server]:
    """``hotline serve`` on a free loopback port with ``env`` (DATABASE_URL, …) and its
    own data folder (none of the shell's HOTLINE_*, REDIS_URL or DATABASE_URL: without
    REDIS_URL in ``env`` it is one process on the embedded backplane); stopped and
    waited for at the end, even on error."""
    port = free_port()
    inherited = {  # the server's settings are ours alone, never the shell's
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HOTLINE_") and k not in ("REDIS_URL", "DATABASE_URL")
    }
    full_env = {
        **inherited,
        "HOTLINE_SECRET_KEY": SECRET_KEY,
        "HOTLINE_SECURE_COOKIES": "0",
        "HOTLINE_DATA_DIR": str(data_dir),
        "HOTLINE_SOCKETS_PER_ADDRESS": "1000",
        "HOTLINE_CALLER_TOKENS_PER_HOUR": "100000",
        "HOTLINE_LOG_LEVEL": os.environ.get("BENCH_CALLS_LOG_LEVEL", "WARNING"),
        **env,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
        cwd=ROOT, env=full_env, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        if not line.startswith(b"Hotline serving"):
            raise RuntimeError(f"hotline serve did not start: {line!r}")
        # the banner's other lines, then nothing: drain so the pipe never fills
        drain = asyncio.ensure_future(proc.stdout.read())
        yield Server(proc.pid, f"http://127.0.0.1:{port}", data_dir)
        drain.cancel()
    finally:
        if proc.returncode is None:
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def seed_agents(database_url: str, usernames: list[str]) -> None:
    """Migrate the database and add one agent (a lawyer on the general queue) per name."""
    from cases import migrate, staff
    from cases.db import Database
    from cases.models import Role
    from hotline.auth import hash_password

    await migrate.upgrade(database_url)
    db = Database(database_url)
    try:
        password_hash = hash_password(PASSWORD)
        async with db.session() as session:
            for username in usernames:
                await staff.create_user(
                    session=session,
                    username=username,
                    display_name=username.upper(),
                    password_hash=password_hash,
                    roles=[Role.LAWYER],
                    skills={"general": 3},
                )
    finally:
        await db.close()


# -- the two ends of a call ---------------------------------------------------------------


class CallPeer:
    """One end of a call: a signaling socket and, once in the room, an aiortc bot."""

    def __init__(self, ws: Any, name: str) -> None:
        self.ws = ws
        self.name = name
        self.bot: Any = None
        self.received: list[dict[str, Any]] = []
        self._reader = asyncio.ensure_future(self._read())

    async def send(self, **message: Any) -> None:
        await self.ws.send_str(json.dumps({"v": 1, **message}))

    async def _read(self) -> None:
        import aiohttp

        async for frame in self.ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            message = json.loads(frame.data)
            kind = message["type"]
            self.received.append({k: v for k, v in message.items() if k != "sdp"})
            if kind == "room_joined" and self.bot is not None:
                await self.bot.accept_answer(message["sdp"])
            elif kind == "room_offer" and self.bot is not None:
                answer = await self.bot.renegotiate(message["sdp"])
                await self.send(
                    type="room_answer", room=message["room"], seq=message["seq"], sdp=answer
                )

    def count(self, kind: str) -> int:
        return sum(1 for m in self.received if m["type"] == kind)

    def last(self, kind: str) -> dict[str, Any] | None:
        found = [m for m in self.received if m["type"] == kind]
        return found[-1] if found else None

    async def expect(self, kind: str, after: int = 0, within: float = 30.0) -> dict[str, Any]:
        """The first ``kind`` message after the first ``after`` of them."""
        try:
            await until(lambda: self.count(kind) > after, f"{self.name}: {kind}", within)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc} (received: {self.received[-12:]})") from None
        return [m for m in self.received if m["type"] == kind][after]

    async def join_room(self, room: str, bot: Any) -> dict[str, Any]:
        """Join ``room`` with ``bot`` (replacing any earlier one); ``room_joined``."""
        before = self.count("room_joined")
        self.bot = bot
        await self.send(type="join_room", room=room, sdp=await bot.offer())
        await until(
            lambda: self.count("room_joined") > before or self.last("room_error") is not None,
            f"{self.name}: room_joined",
        )
        error = self.last("room_error")
        if error is not None and error.get("ref") == "join_room":
            raise RuntimeError(f"{self.name}: join_room refused: {error}")
        return [m for m in self.received if m["type"] == "room_joined"][before]

    def inbound(self, kind: str) -> int:
        """Frames of ``kind`` this end's bot received from the other."""
        if self.bot is None:
            return 0
        return sum(i.packets for (_, k), i in self.bot.inbound.items() if k == kind)

    def sent(self, kind: str) -> int:
        return 0 if self.bot is None else int(self.bot.sent(kind))

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        if self.bot is not None:
            await self.bot.close()


async def sign_in(http: Any, base: str, username: str) -> None:
    """Fill the sign-in form as a browser does; the session cookie lands in ``http``."""
    async with http.get(f"{base}/signin") as form:
        html = await form.text()
    token = html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    async with http.post(
        f"{base}/signin",
        data={"username": username, "password": PASSWORD, "csrf_token": token, "next": "/"},
        allow_redirects=False,
    ) as response:
        if response.status != 303:
            raise RuntimeError(f"sign-in of {username} answered {response.status}")


async def open_agent(http: Any, base: str, username: str) -> CallPeer:
    """A signed-in agent's socket, said hello and available."""
    await sign_in(http, base, username)
    agent = CallPeer(await http.ws_connect(f"{base}/ws"), username)
    await agent.send(type="hello")
    await agent.expect("welcome")
    await agent.send(type="presence", state="available")
    await until(
        lambda: any(
            m["type"] == "presence_changed" and m.get("state") == "available"
            for m in agent.received
        ),
        f"{username} available",
    )
    return agent


async def caller_token(http: Any, base: str) -> str:
    async with http.post(f"{base}/api/caller/token") as response:
        data = await response.json()
    return str(data["token"])


async def open_caller(http: Any, base: str, token: str, name: str) -> CallPeer:
    return CallPeer(await http.ws_connect(f"{base}/ws", params={"token": token}), name)


@dataclass
class Call:
    """A connected call: its two ends and what ``connected`` said."""

    caller: CallPeer
    agent: CallPeer
    connected: dict[str, Any]
    token: str
    resume_token: str
    recording_asked: bool = False
    marks: dict[str, Any] = field(default_factory=dict)

    @property
    def room(self) -> str:
        return str(self.connected["room"])


async def place_call(http: Any, caller_base: str, agent: CallPeer, name: str, channel: str) -> Call:
    """A caller on ``caller_base`` joins the line; ``agent`` (available, alone) accepts."""
    token = await caller_token(http, caller_base)
    caller = await open_caller(http, caller_base, token, name)
    await caller.send(type="hello")
    welcome = await caller.expect("welcome")
    await caller.send(type="join_queue", category="general", language="zh", channel=channel)
    offers = agent.count("offer")
    offer = await agent.expect("offer", after=offers)
    await agent.send(type="accept", offer_id=offer["offer_id"])
    connected = await caller.expect("connected")
    await agent.expect("connected", after=agent.count("connected") - 1)
    return Call(caller, agent, connected, token, str(welcome["resume_token"]))


def make_bot(name: str, clips: dict[str, Any]) -> Any:
    from media.bots import Bot

    return Bot(name, video=clips.get("video"), audio=clips.get("audio"))


async def join_both(call: Call, clips: dict[str, Any], tag: str) -> None:
    """Both ends join the call's room with new bots, the agent first (staff open a
    room: the caller's join is refused ``bad_state`` until then); the agent records it."""
    await call.agent.join_room(call.room, make_bot(f"{tag}-agent", clips))
    await call.caller.join_room(call.room, make_bot(f"{tag}-caller", clips))
    if not call.recording_asked:
        call.recording_asked = True
        if call.agent.count("recording_started") == 0:
            # Rooms that record from the first join need no asking (refused, harmless).
            await call.agent.send(type="set_recording", room=call.room, on=True)
        await call.agent.expect("recording_started")


# -- the measurement (inside the namespace) -----------------------------------------------


def _delivery(sent: int, received: int) -> float | None:
    return None if sent <= 0 else round(received / sent, 4)


def _summary(values: list[float | None]) -> dict[str, float | None]:
    known = [v for v in values if v is not None]
    if not known:
        return {"median": None, "worst": None}
    return {"median": round(statistics.median(known), 4), "worst": round(min(known), 4)}


async def measure(
    calls: int, seconds: float, video: bool, warmup: float, scratch: str | None = None
) -> dict[str, Any]:
    """One load level: a server in a new temporary folder, ``calls`` calls, one window."""
    with tempfile.TemporaryDirectory(
        prefix="bench-calls-", dir=scratch, ignore_cleanup_errors=True
    ) as workdir:
        return await _measure(Path(workdir), calls, seconds, video, warmup)


async def _measure(
    workdir: Path, calls: int, seconds: float, video: bool, warmup: float
) -> dict[str, Any]:
    import aiohttp
    from sqlalchemy import func, select

    from cases.db import Database
    from cases.models import Recording, RecordingFile
    from media.bots import encode_opus_clip, encode_vp8_clip

    database_url = f"sqlite:///{workdir / 'hotline.sqlite3'}"
    agents = [f"agent{i}" for i in range(calls)]
    await seed_agents(database_url, agents)
    clips: dict[str, Any] = {"audio": encode_opus_clip()}
    if video:
        clips["video"] = encode_vp8_clip(640, 480, 30, bitrate=800_000)
    kinds = ("audio", "video") if video else ("audio",)
    channel = "web_video" if video else "web_voice"
    placed: list[Call] = []
    async with (
        hotline_server(workdir / "data", {"DATABASE_URL": database_url}) as server,
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as callers_http,
    ):
        agent_sessions: list[aiohttp.ClientSession] = []
        # what the server costs with nobody on it (timers, heartbeats), to tell apart
        idle0, i0 = proc_cpu_seconds(server.pid), time.monotonic()
        await asyncio.sleep(IDLE_SECONDS)
        idle = (proc_cpu_seconds(server.pid) - idle0) / (time.monotonic() - i0) * 100
        try:
            for i, username in enumerate(agents):
                http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
                agent_sessions.append(http)
                agent = await open_agent(http, server.base, username)
                call = await place_call(callers_http, server.base, agent, f"caller{i}", channel)
                placed.append(call)
                await join_both(call, clips, f"c{i}")

            def flowing() -> bool:
                return all(
                    min(c.caller.inbound(k), c.agent.inbound(k)) > 10 for c in placed for k in kinds
                )

            await until(flowing, "media flowing in every call", within=30 + 5 * calls)
            await asyncio.sleep(warmup)

            def snap() -> list[dict[str, int]]:
                return [
                    {f"{end}.{what}.{k}": getattr(getattr(c, end), what)(k)
                     for end in ("caller", "agent") for what in ("sent", "inbound") for k in kinds}
                    for c in placed
                ]  # fmt: skip

            start = snap()
            cpu0, t0 = proc_cpu_seconds(server.pid), time.monotonic()
            bots0 = proc_cpu_seconds(os.getpid())
            await asyncio.sleep(seconds)
            cpu1, t1 = proc_cpu_seconds(server.pid), time.monotonic()
            bots1 = proc_cpu_seconds(os.getpid())
            # stop sending, let what is in flight arrive, then count
            for c in placed:
                for peer in (c.caller, c.agent):
                    for track in peer.bot.tracks.values():
                        track.paused = True
            await asyncio.sleep(0.5)
            stop = snap()
            for c in placed:
                await c.caller.send(type="end")
            for c in placed:
                await c.agent.expect("ended")
            for c in placed:
                await c.agent.expect("room_left")  # taken out: the room closes, recorded
        finally:
            for c in placed:
                await c.caller.close()
                await c.agent.close()
            for http in agent_sessions:
                await http.close()
    db = Database(database_url)
    try:
        async with db.session() as session:
            rooms = {c.room for c in placed}
            recordings = await session.scalar(
                select(func.count()).select_from(Recording).where(Recording.room_id.in_(rooms))
            )
            files = await session.scalar(
                select(func.count())
                .select_from(RecordingFile)
                .join(Recording)
                .where(Recording.room_id.in_(rooms))
            )
    finally:
        await db.close()

    cpu = (cpu1 - cpu0) / (t1 - t0) * 100
    directions = {"caller_to_agent": ("caller", "agent"), "agent_to_caller": ("agent", "caller")}
    delivery: dict[str, dict[str, Any]] = {}
    for direction, (src, dst) in directions.items():
        delivery[direction] = {}
        for k in kinds:
            ratios = [
                _delivery(
                    e[f"{src}.sent.{k}"] - s[f"{src}.sent.{k}"],
                    e[f"{dst}.inbound.{k}"] - s[f"{dst}.inbound.{k}"],
                )
                for s, e in zip(start, stop, strict=True)
            ]
            delivery[direction][k] = _summary(ratios)
    worst = [d[k]["worst"] for d in delivery.values() for k in kinds if d[k]["worst"] is not None]
    return {
        "calls": calls,
        "seconds": seconds,
        "video": video,
        "kinds": list(kinds),
        "server_cpu_percent": round(cpu, 1),
        "server_cpu_percent_per_call": round(cpu / calls, 2),
        "server_idle_cpu_percent": round(idle, 1),
        "server_cpu_percent_per_call_above_idle": round((cpu - idle) / calls, 2),
        "bots_cpu_percent": round((bots1 - bots0) / (t1 - t0) * 100, 1),
        "delivery": delivery,
        "delivery_min": min(worst) if worst else None,
        "calls_connected": len(placed),
        "recordings": recordings,
        "recording_files": files,
    }


# -- entry points -------------------------------------------------------------------------


def run(
    calls: int, seconds: int = 10, *, video: bool = False, warmup: float = 2.0
) -> dict[str, Any]:
    """One load level in a fresh network namespace; the figures as a dict.

    The child works in a folder of ours, removed here whatever happened to it (killed
    on timeout, it cannot clean up after itself)."""
    params = {"calls": calls, "seconds": seconds, "video": video, "warmup": warmup}
    with tempfile.TemporaryDirectory(prefix="bench-calls-run-", ignore_cleanup_errors=True) as d:
        argv = ["unshare", "-n", "sh", "-c", NETNS_SETUP, "bench", sys.executable, "-m",
                "bench.calls", "inside", json.dumps({**params, "scratch": d})]  # fmt: skip
        proc = subprocess.run(
            argv,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=seconds + warmup + 120 + 20 * calls,
            check=False,
        )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"calls bench failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def compare(
    calls: list[int], seconds: int = 10, *, voice: bool = True, video: bool = True
) -> dict[str, Any]:
    """Each level voice-only and/or video; per level, voice CPU per call / video's."""
    levels: list[dict[str, Any]] = []
    for n in calls:
        level: dict[str, Any] = {"calls": n}
        if voice:
            level["voice"] = run(n, seconds, video=False)
        if video:
            level["video"] = run(n, seconds, video=True)
        if voice and video:
            v, w = level["voice"], level["video"]
            level["cpu_ratio_voice_to_video"] = (
                round(v["server_cpu_percent_per_call"] / w["server_cpu_percent_per_call"], 3)
                if w["server_cpu_percent_per_call"]
                else None
            )
        levels.append(level)
    return {
        "benchmark": "calls",
        "parameters": {"calls": calls, "seconds": seconds, "voice": voice, "video": video,
                       "video_clip": "640x480 VP8 30 fps 800 kb/s", "audio_clip": "Opus 50/s",
                       "recorded": True},
        "levels": levels,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.calls")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="voice and video levels")
    p_run.add_argument("--calls", type=int, nargs="+", default=[2, 4])
    p_run.add_argument("--seconds", type=int, default=10)
    p_inside = sub.add_parser("inside", help="(internal) server, bots and measurement")
    p_inside.add_argument("params")
    args = parser.parse_args(argv)
    if args.command == "run":
        print(json.dumps(compare(args.calls, args.seconds)))
    elif args.command == "inside":
        print(json.dumps(asyncio.run(measure(**json.loads(args.params)))))


if __name__ == "__main__":
    main()
