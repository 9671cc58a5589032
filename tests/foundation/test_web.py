"""Sign-in, sessions, CSRF, roles and the health endpoints over real HTTP."""

from __future__ import annotations

import logging

import pytest

from hotline import keys
from tests.app import PASSWORD, AppClient, sign_in


class TestPages:
    async def test_caller_page_is_public(self, make_client: AppClient) -> None:
        """Anyone can open the caller page; it announces recording."""
        client = await make_client()
        response = await client.get("/")
        assert response.status == 200
        assert "recording-notice" in await response.text()
        assert response.headers["X-Frame-Options"] == "DENY"

    @pytest.mark.parametrize("path", ["/agent", "/supervisor"])
    async def test_staff_pages_send_visitors_to_sign_in(
        self, make_client: AppClient, path: str
    ) -> None:
        """Staff pages redirect an anonymous visitor to the sign-in form."""
        client = await make_client()
        response = await client.get(path, allow_redirects=False)
        assert response.status == 303
        assert response.headers["Location"] == f"/signin?next={path}"

    async def test_unknown_path_is_404(self, make_client: AppClient) -> None:
        """A missing page is a plain 404."""
        client = await make_client()
        assert (await client.get("/nope")).status == 404

    async def test_static_files_served(self, make_client: AppClient) -> None:
        """The stylesheet is served without sign-in."""
        client = await make_client()
        assert (await client.get("/static/style.css")).status == 200


class TestSignIn:
    async def test_supervisor_signs_in_and_sees_wall(self, make_client: AppClient) -> None:
        """The right password opens a session that reaches the supervisor page."""
        client = await make_client()
        assert await sign_in(client, "sup") == 303
        page = await client.get("/supervisor")
        assert page.status == 200
        assert "班长监控" in await page.text()

    async def test_wrong_password_clear_error_no_session(
        self, make_client: AppClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A wrong password shows an error, sets no session, and is logged without it."""
        client = await make_client()
        caplog.set_level(logging.INFO)
        form = await client.get("/signin")
        token = (await form.text()).split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        response = await client.post(
            "/signin", data={"username": "sup", "password": "wrong-password-x", "csrf_token": token}
        )
        assert response.status == 401
        assert "用户名或密码错误。" in await response.text()
        assert "hotline_session" not in {c.key for c in client.session.cookie_jar}
        assert "wrong-password-x" not in caplog.text
        assert "signin_failed" in caplog.text
        assert (await client.get("/supervisor", allow_redirects=False)).status == 303

    async def test_unknown_user_same_error(self, make_client: AppClient) -> None:
        """An unknown username gets the same message as a wrong password."""
        client = await make_client()
        assert await sign_in(client, "ghost") == 401

    async def test_form_without_csrf_is_refused(self, make_client: AppClient) -> None:
        """A sign-in post without the form's token is refused (CSRF)."""
        client = await make_client()
        response = await client.post("/signin", data={"username": "sup", "password": PASSWORD})
        assert response.status == 403
        assert "表单已过期" in await response.text()

    async def test_failed_sign_ins_are_rate_limited(self, make_client: AppClient) -> None:
        """After the allowed failures even the right password is refused for a while."""
        client = await make_client(HOTLINE_SIGNIN_MAX_FAILURES="3")
        for _ in range(3):
            assert await sign_in(client, "sup", "nope-nope-nope") == 401
        assert await sign_in(client, "sup") == 429

    async def test_redirect_target_stays_on_site(self, make_client: AppClient) -> None:
        """`next` never sends a signed-in user to another host."""
        client = await make_client()
        form = await client.get("/signin?next=//evil.example/x")
        assert 'name="next" value="/"' in await form.text()

    async def test_sign_out_needs_csrf_and_ends_session(self, make_client: AppClient) -> None:
        """Sign-out without the session's token is refused; with it, the session ends."""
        client = await make_client()
        await sign_in(client, "sup")
        assert (await client.post("/signout", data={"csrf_token": "forged"})).status == 403
        page = await (await client.get("/supervisor")).text()
        token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        response = await client.post("/signout", data={"csrf_token": token}, allow_redirects=False)
        assert response.status == 303
        assert (await client.get("/supervisor", allow_redirects=False)).status == 303


class TestRoles:
    async def test_lawyer_cannot_open_supervisor_page(self, make_client: AppClient) -> None:
        """An agent is forbidden from the supervisor wall, and is not offered its link."""
        client = await make_client()
        await sign_in(client, "law")
        assert (await client.get("/supervisor")).status == 403
        agent = await client.get("/agent")
        assert agent.status == 200
        html = await agent.text()
        assert "general" in html
        assert 'href="/supervisor"' not in html

    async def test_supervisor_is_not_an_agent(self, make_client: AppClient) -> None:
        """The agent desk is for agents; an admin may open everything."""
        client = await make_client()
        await sign_in(client, "sup")
        assert (await client.get("/agent")).status == 403
        admin = await make_client()
        await sign_in(admin, "adm")
        assert (await admin.get("/agent")).status == 200
        assert (await admin.get("/supervisor")).status == 200
        assert 'href="/supervisor"' in await (await admin.get("/agent")).text()

    async def test_undeclared_route_is_denied(self, make_client: AppClient) -> None:
        """A handler that declares no access policy is refused (deny by default)."""
        client = await make_client()

        async def secret(_request: object) -> None:
            raise AssertionError("must not run")

        client.app.router._frozen = False  # add a route after start, for this test only
        client.app.router.add_get("/undeclared", secret)
        assert (await client.get("/undeclared")).status == 403


class TestOperations:
    async def test_health_and_ready(self, make_client: AppClient) -> None:
        """/healthz says alive, /readyz checks the database."""
        client = await make_client()
        assert (await (await client.get("/healthz")).json()) == {"status": "alive"}
        ready = await client.get("/readyz")
        assert ready.status == 200
        assert (await ready.json())["checks"] == {"database": True}

    async def test_metrics_in_prometheus_format(self, make_client: AppClient) -> None:
        """/metrics is Prometheus text and counts requests."""
        client = await make_client()
        await client.get("/")
        response = await client.get("/metrics")
        assert response.content_type == "text/plain"
        assert 'hotline_http_requests_total{method="GET",route="/",status="200"}' in (
            await response.text()
        )

    async def test_ready_checks_redis(self, make_client: AppClient, redis_url: str) -> None:
        """With Redis configured, /readyz checks it too."""
        client = await make_client(REDIS_URL=redis_url)
        body = await (await client.get("/readyz")).json()
        assert body["checks"] == {"database": True, "redis": True}

    async def test_rate_limit_shared_through_redis(
        self, make_client: AppClient, redis_url: str
    ) -> None:
        """On Redis, failures counted by one process throttle sign-in on another."""
        first = await make_client(REDIS_URL=redis_url, HOTLINE_SIGNIN_MAX_FAILURES="2")
        second = await make_client(REDIS_URL=redis_url, HOTLINE_SIGNIN_MAX_FAILURES="2")
        redis = first.app[keys.REDIS]
        assert redis is not None
        assert await sign_in(first, "law", "nope-nope-nope") == 401
        assert await sign_in(first, "law", "nope-nope-nope") == 401
        assert await sign_in(second, "law") == 429
        prefix = first.app[keys.SETTINGS].redis_prefix
        await redis.delete(*[k async for k in redis.scan_iter(f"{prefix}:*")])
