"""Sign-in and web hardening (issue 7): lockouts, concurrent guesses, argon2 off the
event loop, malformed forms, /metrics access, CSP and HSTS — over real HTTP."""

from __future__ import annotations

import asyncio
import io
import ipaddress
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from hotline import keys
from hotline.auth import MemoryFailureCounter, RedisFailureCounter
from hotline.proxies import client_address, parse_networks
from hotline.settings import SettingsError, load_settings
from tests.app import PASSWORD, AppClient, sign_in

TEMPLATES = Path(__file__).resolve().parents[2] / "agent_console" / "templates"
WRONG = "not-the-password"


async def form_token(client: TestClient) -> str:
    html = await (await client.get("/signin")).text()
    return html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


async def post_signin(
    client: TestClient,
    token: str,
    username: str,
    password: str = PASSWORD,
    *,
    forwarded_for: str | None = None,
) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else None
    response = await client.post(
        "/signin",
        data={"username": username, "password": password, "csrf_token": token, "next": "/"},
        headers=headers,
        allow_redirects=False,
    )
    await response.read()
    return response.status


async def delete_keys(redis_url: str, prefix: str) -> None:
    client: Redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        found = [key async for key in client.scan_iter(f"{prefix}*")]
        if found:
            await client.delete(*found)
    finally:
        await client.aclose()


# ---------------------------------------------------------------- per-user lockout
class TestLockoutIsPerUser:
    async def test_made_up_usernames_do_not_lock_out_the_admin(
        self, make_client: AppClient
    ) -> None:
        """Failures for made-up usernames from one address do not refuse the admin there."""
        client = await make_client()
        token = await form_token(client)
        for n in range(5):
            assert await post_signin(client, token, f"ghost{n}", WRONG) == 401
        assert await post_signin(client, token, "adm") == 303

    async def test_failures_for_one_user_lock_only_that_user(self, make_client: AppClient) -> None:
        """Five failures for one username refuse it; another user at the address signs in."""
        client = await make_client()
        token = await form_token(client)
        for _ in range(5):
            assert await post_signin(client, token, "law", WRONG) == 401
        assert await post_signin(client, token, "law") == 429
        assert await post_signin(client, token, "sup") == 303

    async def test_address_ceiling(self, make_client: AppClient) -> None:
        """An address that fails for many usernames is refused for all of them."""
        client = await make_client(HOTLINE_SIGNIN_ADDRESS_MAX_FAILURES="4")
        token = await form_token(client)
        for n in range(4):
            assert await post_signin(client, token, f"ghost{n}", WRONG) == 401
        assert await post_signin(client, token, "adm") == 429

    async def test_user_ceiling_across_addresses(self, make_client: AppClient) -> None:
        """Guesses for one username spread over addresses stop at the per-user ceiling."""
        client = await make_client(
            HOTLINE_TRUSTED_PROXIES="127.0.0.1", HOTLINE_SIGNIN_USER_MAX_FAILURES="3"
        )
        token = await form_token(client)
        for n in range(3):
            status = await post_signin(client, token, "law", WRONG, forwarded_for=f"203.0.113.{n}")
            assert status == 401
        assert await post_signin(client, token, "law", forwarded_for="203.0.113.99") == 429
        assert await post_signin(client, token, "sup", forwarded_for="203.0.113.99") == 303

    async def test_unknown_user_and_wrong_password_look_alike(self, make_client: AppClient) -> None:
        """An unknown username and a wrong password get the same status and message,
        and both count towards the same kind of lockout."""
        client = await make_client(HOTLINE_SIGNIN_MAX_FAILURES="2")
        token = await form_token(client)

        async def error_of(username: str) -> tuple[int, str]:
            response = await client.post(
                "/signin", data={"username": username, "password": WRONG, "csrf_token": token}
            )
            html = await response.text()
            match = re.search(r'data-testid="signin-error">([^<]*)<', html)
            assert match is not None
            return response.status, match.group(1)

        wrong = [await error_of("law") for _ in range(3)]
        unknown = [await error_of("nobody") for _ in range(3)]
        assert wrong == unknown
        assert [status for status, _ in wrong] == [401, 401, 429]


# ---------------------------------------------------------------- client address
class TestClientAddress:
    async def test_forwarded_for_is_ignored_without_a_trusted_proxy(
        self, make_client: AppClient
    ) -> None:
        """A client that invents X-Forwarded-For is still counted at its own address."""
        client = await make_client(HOTLINE_SIGNIN_ADDRESS_MAX_FAILURES="3")
        token = await form_token(client)
        for n in range(3):
            status = await post_signin(client, token, f"g{n}", WRONG, forwarded_for=f"10.9.9.{n}")
            assert status == 401
        assert await post_signin(client, token, "adm", forwarded_for="10.9.9.77") == 429

    async def test_trusted_proxy_passes_the_client_address(self, make_client: AppClient) -> None:
        """Behind a trusted proxy every client has its own count; a spoofed left part of
        the header does not change whose count it is."""
        client = await make_client(
            HOTLINE_TRUSTED_PROXIES="127.0.0.0/8", HOTLINE_SIGNIN_ADDRESS_MAX_FAILURES="3"
        )
        token = await form_token(client)
        for n in range(3):
            # what the client sent, then what the proxy appended (its peer)
            chain = f"198.51.100.{n}, 203.0.113.7"
            assert await post_signin(client, token, f"g{n}", WRONG, forwarded_for=chain) == 401
        assert await post_signin(client, token, "adm", forwarded_for="203.0.113.7") == 429
        assert await post_signin(client, token, "adm", forwarded_for="203.0.113.8") == 303

    @pytest.mark.parametrize(
        ("peer", "header", "trusted", "client"),
        [
            ("127.0.0.1", [], "", "127.0.0.1"),
            ("127.0.0.1", ["203.0.113.7"], "", "127.0.0.1"),
            ("127.0.0.1", ["203.0.113.7"], "127.0.0.1", "203.0.113.7"),
            ("10.0.0.2", ["198.51.100.1, 203.0.113.7"], "10.0.0.0/24", "203.0.113.7"),
            ("10.0.0.2", ["203.0.113.7, 10.0.0.9"], "10.0.0.0/24", "203.0.113.7"),
            ("10.0.0.2", ["203.0.113.7", "10.0.0.9"], "10.0.0.0/24", "203.0.113.7"),
            ("10.0.0.2", ["10.0.0.8, 10.0.0.9"], "10.0.0.0/24", "10.0.0.8"),
            ("10.0.0.2", ["nonsense, 10.0.0.9"], "10.0.0.0/24", "10.0.0.9"),
            ("10.0.0.2", ["203.0.113.7,,"], "10.0.0.0/24", "203.0.113.7"),
            ("::ffff:10.0.0.2", ["2001:db8::5"], "10.0.0.2", "2001:db8::5"),
            ("::1", ["[2001:db8::5]"], "::1", "2001:db8::5"),
            ("192.0.2.1", ["203.0.113.7"], "10.0.0.0/8", "192.0.2.1"),
            (None, ["203.0.113.7"], "10.0.0.0/8", "unknown"),
        ],
    )
    def test_right_to_left(
        self, peer: str | None, header: list[str], trusted: str, client: str
    ) -> None:
        """The client is the rightmost address not reached through a trusted proxy."""
        assert client_address(peer, header, parse_networks(trusted)) == client

    def test_trusted_proxies_setting(self) -> None:
        """Addresses and CIDRs are accepted; anything else is reported with the setting."""
        settings = load_settings(
            {"HOTLINE_DEV": "1", "HOTLINE_TRUSTED_PROXIES": "172.28.0.10, 10.1.0.0/16,::1"}
        )
        assert settings.trusted_proxies == (
            ipaddress.ip_network("172.28.0.10/32"),
            ipaddress.ip_network("10.1.0.0/16"),
            ipaddress.ip_network("::1/128"),
        )
        with pytest.raises(SettingsError, match="HOTLINE_TRUSTED_PROXIES"):
            load_settings({"HOTLINE_DEV": "1", "HOTLINE_TRUSTED_PROXIES": "nginx"})


# ---------------------------------------------------------------- concurrent guesses
@pytest.fixture(params=["memory", "redis"])
async def backplane_env(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, str]]:
    """The sign-in counter in this process's memory, or shared in the real Redis."""
    if request.param == "memory":
        yield {}
        return
    redis_url: str = request.getfixturevalue("redis_url")
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    yield {"REDIS_URL": redis_url, "HOTLINE_REDIS_PREFIX": prefix}
    await delete_keys(redis_url, prefix + ":")


class TestConcurrentGuesses:
    async def test_parallel_guesses_are_checked_up_to_the_limit(
        self, make_client: AppClient, backplane_env: dict[str, str]
    ) -> None:
        """Of 40 guesses sent at once only the allowed number are checked; the right
        password afterwards is still refused."""
        client = await make_client(**backplane_env)
        token = await form_token(client)
        statuses = await asyncio.gather(
            *(post_signin(client, token, "law", WRONG) for _ in range(40))
        )
        assert sorted(statuses) == [401] * 5 + [429] * 35
        assert await post_signin(client, token, "law") == 429

    async def test_guesses_mixed_with_the_right_password(
        self, make_client: AppClient, backplane_env: dict[str, str]
    ) -> None:
        """39 wrong guesses and the right one sent at once: at most five are checked."""
        client = await make_client(**backplane_env)
        token = await form_token(client)
        attempts = [post_signin(client, token, "law", WRONG) for _ in range(39)]
        attempts.append(post_signin(client, token, "law"))
        statuses = await asyncio.gather(*attempts)
        assert sum(status != 429 for status in statuses) == 5
        assert set(statuses) <= {303, 401, 429}

    async def test_success_gives_its_reservation_back(
        self, make_client: AppClient, backplane_env: dict[str, str]
    ) -> None:
        """Successful sign-ins count as no failure: many in a row are never throttled."""
        client = await make_client(HOTLINE_SIGNIN_MAX_FAILURES="2", **backplane_env)
        for _ in range(4):
            assert await sign_in(client, "sup") == 303
            client.session.cookie_jar.clear()  # a new browser, the same address


class TestFailureCounters:
    @pytest.fixture(params=["memory", "redis"])
    async def counter(
        self, request: pytest.FixtureRequest
    ) -> AsyncIterator[MemoryFailureCounter | RedisFailureCounter]:
        if request.param == "memory":
            yield MemoryFailureCounter()
            return
        redis_url: str = request.getfixturevalue("redis_url")
        prefix = f"test-counter-{uuid.uuid4().hex[:10]}:"
        redis: Redis = Redis.from_url(redis_url, decode_responses=True)
        try:
            yield RedisFailureCounter(redis, prefix=prefix)
        finally:
            await redis.aclose()
            await delete_keys(redis_url, prefix)

    async def test_reservations_are_atomic(
        self, counter: MemoryFailureCounter | RedisFailureCounter
    ) -> None:
        """Concurrent reservations on one key never exceed the limit."""
        taken = await asyncio.gather(*(counter.reserve("k", 7, 60) for _ in range(50)))
        assert sum(taken) == 7

    async def test_release_gives_one_back(
        self, counter: MemoryFailureCounter | RedisFailureCounter
    ) -> None:
        """A released reservation can be taken again; releasing an empty key is harmless."""
        assert await counter.reserve("k", 1, 60)
        assert not await counter.reserve("k", 1, 60)
        await counter.release("k")
        assert await counter.reserve("k", 1, 60)
        await counter.release("empty")
        await counter.release("empty")
        assert await counter.reserve("empty", 1, 60)
        assert not await counter.reserve("empty", 1, 60)

    async def test_memory_forgets_expired_keys(self) -> None:
        """Made-up usernames do not grow the in-memory counter without end."""
        now = [0.0]
        counter = MemoryFailureCounter(lambda: now[0], sweep_at=10)
        for n in range(10):
            assert await counter.reserve(f"ghost{n}", 5, 60)
        assert len(counter) == 10
        now[0] = 61.0
        assert await counter.reserve("fresh", 5, 60)
        assert len(counter) == 1


# ---------------------------------------------------------------- argon2 off the loop
class TestPasswordChecksOffTheLoop:
    async def test_loop_answers_while_passwords_are_checked(self, make_client: AppClient) -> None:
        """While sign-ins wait for argon2, the server still answers a quick request: the
        checks run in the thread pool, not on the event loop (which the test shares)."""
        client = await make_client(HOTLINE_PASSWORD_THREADS="1")
        registry = client.app[keys.METRICS].registry
        token = await form_token(client)

        def checking() -> float:
            return registry.get_sample_value("hotline_signin_checks_in_progress") or 0.0

        signins = asyncio.gather(
            *(post_signin(client, token, f"ghost{n}", WRONG) for n in range(12))
        )
        seen_checking = False
        answered_while_checking = False
        while not signins.done():
            if checking() >= 1:
                seen_checking = True
                health = await client.get("/healthz")
                assert health.status == 200
                # /healthz came back before the last password check finished
                answered_while_checking = checking() >= 1
                break
            await asyncio.sleep(0.005)  # polling, not a deadline
        statuses = await signins
        assert statuses == [401] * 12
        assert seen_checking, "no password check was ever seen in progress from the loop"
        assert answered_while_checking
        assert checking() == 0


# ---------------------------------------------------------------- malformed forms
MALFORMED = {
    "multipart without boundary": ("multipart/form-data", b"csrf_token=x"),
    "garbage multipart": ("multipart/form-data; boundary=zz", b"garbage\r\n--zz\r\nnope"),
    "multipart part without name": ("multipart/form-data; boundary=zz", b"--zz\r\n\r\n1\r\n--zz--"),
    "unknown charset in a part": (
        "multipart/form-data; boundary=zz",
        b"--zz\r\nContent-Disposition: form-data; name=a\r\n"
        b"Content-Type: text/plain; charset=nope\r\n\r\n1\r\n--zz--\r\n",
    ),
    "unknown transfer encoding": (
        "multipart/form-data; boundary=zz",
        b"--zz\r\nContent-Disposition: form-data; name=a\r\n"
        b"Content-Transfer-Encoding: weird\r\n\r\n1\r\n--zz--\r\n",
    ),
    "unknown charset": ("application/x-www-form-urlencoded; charset=nope", b"a=1"),
    "bytes that are not the charset": ("application/x-www-form-urlencoded", b"a=\xff\xfe"),
}


class TestMalformedForms:
    @pytest.mark.parametrize("path", ["/signin", "/signout", "/api/caller/token"])
    async def test_clean_400(self, make_client: AppClient, path: str) -> None:
        """A form body that cannot be read is a 400 on every form route, never a 500."""
        client = await make_client()
        if path == "/signout":
            assert await sign_in(client, "sup") == 303
        for case, (content_type, body) in MALFORMED.items():
            response = await client.post(path, data=body, headers={"Content-Type": content_type})
            assert (case, response.status) == (case, 400)
            assert "Traceback" not in await response.text()
        too_big = await client.post(
            path,
            data=io.BytesIO(b"csrf_token=" + b"x" * (2 * 1024 * 1024)),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert too_big.status == 413


# ---------------------------------------------------------------- /metrics
class TestMetricsAccess:
    async def test_loopback_scrape_without_token(self, make_client: AppClient) -> None:
        """With no token configured, a direct scrape from loopback is answered."""
        client = await make_client()
        assert (await client.get("/metrics")).status == 200

    async def test_proxied_request_is_not_loopback(self, make_client: AppClient) -> None:
        """A request relayed by a proxy (it names a client) is refused, trusted or not."""
        plain = await make_client()
        assert (await plain.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})).status == 401
        behind = await make_client(HOTLINE_TRUSTED_PROXIES="127.0.0.1")
        response = await behind.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"})
        assert response.status == 401

    async def test_overseeing_staff_may_read(self, make_client: AppClient) -> None:
        """A supervisor or an admin may read /metrics from anywhere; an agent may not."""
        env = {"HOTLINE_TRUSTED_PROXIES": "127.0.0.1"}
        outside = {"X-Forwarded-For": "203.0.113.7"}
        for username, status in (("sup", 200), ("adm", 200), ("law", 403)):
            client = await make_client(**env)
            assert await sign_in(client, username) == 303
            assert (await client.get("/metrics", headers=outside)).status == status

    async def test_bearer_token(self, make_client: AppClient) -> None:
        """With HOTLINE_METRICS_TOKEN set, the token is needed (loopback is not enough)."""
        secret = "m" * 32
        client = await make_client(HOTLINE_METRICS_TOKEN=secret)
        assert (await client.get("/metrics")).status == 401
        bad = await client.get("/metrics", headers={"Authorization": "Bearer " + "x" * 32})
        assert bad.status == 401
        assert bad.headers["WWW-Authenticate"].startswith("Bearer")
        good = await client.get("/metrics", headers={"Authorization": f"Bearer {secret}"})
        assert good.status == 200
        assert "hotline_http_requests_total" in await good.text()

    def test_short_token_refused(self) -> None:
        """A metrics token shorter than 16 characters is a configuration error."""
        with pytest.raises(SettingsError, match="HOTLINE_METRICS_TOKEN"):
            load_settings({"HOTLINE_DEV": "1", "HOTLINE_METRICS_TOKEN": "short"})


# ---------------------------------------------------------------- CSP and HSTS
class TestSecurityHeaders:
    @pytest.mark.parametrize("path", ["/", "/signin", "/nope"])
    async def test_content_security_policy(self, make_client: AppClient, path: str) -> None:
        """Every page forbids inline and foreign scripts and allows only its own socket."""
        client = await make_client()
        response = await client.get(path)
        assert response.content_type == "text/html"
        policy = dict(
            part.strip().split(" ", 1)
            for part in response.headers["Content-Security-Policy"].split(";")
        )
        host = f"{client.host}:{client.port}"
        assert policy["default-src"] == "'self'"
        assert policy["script-src"] == "'self'"
        assert policy["object-src"] == "'none'"
        assert policy["frame-ancestors"] == "'none'"
        assert policy["connect-src"] == f"'self' ws://{host} wss://{host}"
        assert "unsafe-inline" not in response.headers["Content-Security-Policy"]

    async def test_signed_in_pages_have_it_too(self, make_client: AppClient) -> None:
        """The staff pages carry the same policy."""
        client = await make_client()
        assert await sign_in(client, "adm") == 303
        for path in ("/agent", "/supervisor"):
            response = await client.get(path)
            assert "script-src 'self'" in response.headers["Content-Security-Policy"]

    def test_templates_need_no_inline_code(self) -> None:
        """No template holds an inline script, a style attribute or an event handler."""
        for template in TEMPLATES.glob("*.html"):
            html = template.read_text()
            assert not re.search(r"<script(?![^>]*\bsrc=)", html), template.name
            assert not re.search(r"<style\b|\sstyle=", html), template.name
            assert not re.search(r"\son[a-z]+=", html), template.name

    async def test_hsts_outside_development(self, make_client: AppClient) -> None:
        """HSTS is sent outside development and never in it."""
        production = await make_client()
        header = (await production.get("/")).headers["Strict-Transport-Security"]
        assert header.startswith("max-age=")
        assert int(header.split("=", 1)[1].split(";")[0]) >= 180 * 86400
        development = await make_client(HOTLINE_DEV="1")
        assert "Strict-Transport-Security" not in (await development.get("/")).headers
