"""HTTP handlers and middleware: pages, sign-in, health, metrics.

Access is declared on every handler with :func:`hotline.auth.allow`; the security
middleware refuses anything undeclared, sends anonymous visitors of staff pages to
the sign-in form, reads every form body once (a body that cannot be read is a 400),
checks the CSRF token of every state-changing form, and adds the security headers
(CSP on every response, HSTS outside development). See docs/security.md.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import time
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDictProxy
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agent_console import i18n
from agent_console.render import render
from cases import staff
from cases.models import AGENT_ROLES, SUPERVISOR_ROLES
from hotline import keys
from hotline.addresses import client_address
from hotline.auth import (
    PRESESSION_COOKIE,
    PUBLIC,
    SESSION_COOKIE,
    Handler,
    SignInError,
    Viewer,
    allow,
    check_session_csrf,
    permits,
    policy_of,
)
from hotline.contact import CALLER_AUDIENCE, CALLER_SCOPE, session_ref
from hotline.proxies import is_direct_loopback
from signaling.web import SIGNALING

log = logging.getLogger("hotline.web")
VIEWER_KEY: web.RequestKey[Viewer | None] = web.RequestKey("viewer")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# What aiohttp's request.post() parses ("" too: it reads that as url-encoded).
FORM_TYPES = frozenset({"", "application/x-www-form-urlencoded", "multipart/form-data"})
HSTS = "max-age=31536000"  # one year; browsers ignore it on plain HTTP
_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")

routes = web.RouteTableDef()


def viewer_of(request: web.Request) -> Viewer | None:
    return request.get(VIEWER_KEY)


def locale_of(request: web.Request) -> str:
    """The page's language: the switch's cookie, else Accept-Language, else Chinese."""
    return i18n.negotiate(request.cookies.get(i18n.COOKIE), request.headers.get("Accept-Language"))


def page(request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
    locale = locale_of(request)
    html = render(
        request.app[keys.TEMPLATES],
        template,
        locale=locale,
        viewer=viewer_of(request),
        here=request.path_qs,
        **context,
    )
    response = web.Response(text=html, content_type="text/html", status=status)
    response.headers["Content-Language"] = i18n.HTML_LANG[locale]
    response.headers["Vary"] = "Accept-Language, Cookie"
    return response


def _error(request: web.Request, status: int, message: str) -> web.Response:
    if _wants_json(request):
        return web.json_response({"error": message, "status": status}, status=status)
    return page(request, "error.html", status=status, code=status, message=message)


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get(
        "Accept", ""
    )


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect a signed-in user to another host."""
    if not target or len(target) > 512:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


# ---------------------------------------------------------------- middleware
@web.middleware
async def security_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    route = request.match_info.route
    resource = route.resource
    route_name = resource.canonical if resource is not None else "unmatched"
    try:
        response = await _guarded(request, handler)
    except web.HTTPException as exc:
        if exc.status < 400:  # redirects travel as exceptions in aiohttp
            _count(request, route_name, exc.status, started)
            raise
        response = _error(request, exc.status, exc.reason)
    _count(request, route_name, response.status, started)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Content-Security-Policy", _content_security_policy(request))
    if not request.app[keys.SETTINGS].dev:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def _content_security_policy(request: web.Request) -> str:
    """Scripts, styles and everything else from this origin only; no inline code (the
    templates have none); the signaling socket on the same host."""
    host = request.host
    sockets = f" ws://{host} wss://{host}" if _HOST.fullmatch(host) else ""
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' blob: data:",
            "media-src 'self' blob: data:",
            f"connect-src 'self'{sockets}",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


async def read_form(
    request: web.Request,
) -> MultiDictProxy[str | bytes | bytearray | web.FileField]:
    """The request's form, or 400 if its body cannot be read as one (no multipart
    boundary, broken multipart, unknown or wrong charset). aiohttp keeps the result,
    so handlers that call ``request.post()`` afterwards get the same form."""
    try:
        return await request.post()
    except (ValueError, LookupError, RuntimeError, HttpProcessingError) as exc:
        log.info("bad_form", extra={"path": request.path, "error": str(exc)[:200]})
        raise web.HTTPBadRequest(reason="The form could not be read.") from exc


QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


def _count(request: web.Request, route: str, status: int, started: float) -> None:
    elapsed = time.perf_counter() - started
    metrics = request.app[keys.METRICS]
    metrics.http_requests.labels(request.method, route, str(status)).inc()
    metrics.http_latency.labels(route).observe(elapsed)
    log.log(
        logging.DEBUG if route in QUIET_ROUTES else logging.INFO,
        "http_request",
        extra={
            "method": request.method,
            "path": request.path,
            "status": status,
            "ms": round(elapsed * 1000, 2),
            "remote": client_address(request),
        },
    )


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    match_info = request.match_info
    if match_info.http_exception is not None:
        raise match_info.http_exception
    cookie = request.cookies.get(SESSION_COOKIE)
    viewer = await request.app[keys.AUTH].viewer(cookie) if cookie else None
    request[VIEWER_KEY] = viewer
    if isinstance(match_info.route.resource, web.StaticResource):
        return await handler(request)
    allowed = permits(policy_of(match_info.handler), viewer)
    if allowed is None:
        if request.method == "GET" and not _wants_json(request):
            raise web.HTTPSeeOther(f"/signin?next={quote(request.path_qs)}")
        return _error(request, 401, "Sign in first.")
    if not allowed:
        return _error(request, 403, "You do not have access to this page.")
    if request.method in UNSAFE_METHODS:
        # Read here, once, for every route: a handler's request.post() gets this form.
        form = await read_form(request) if request.content_type in FORM_TYPES else None
        if viewer is not None:
            token = request.headers.get("X-CSRF-Token")
            if token is None and form is not None:
                token = str(form.get("csrf_token", ""))
            if not check_session_csrf(viewer, token):
                return _error(request, 403, "The form has expired; reload the page and try again.")
    return await handler(request)


# ---------------------------------------------------------------- pages
@routes.get("/")
@allow(PUBLIC)
async def caller_page(request: web.Request) -> web.Response:
    # Callers may ask for a named duty lawyer (DOMAIN.md); the line falls back to any
    # suitable agent after the queue's set wait.
    async with request.app[keys.DB].session() as session:
        duty = [(u.username, u.display_name) for u in await staff.agents(session=session)]
    return page(request, "caller.html", duty_agents=duty)


@routes.get("/agent")
@allow(AGENT_ROLES)
async def agent_page(request: web.Request) -> web.Response:
    viewer = viewer_of(request)
    assert viewer is not None
    async with request.app[keys.DB].session() as session:
        user = await staff.user_by_id(session=session, user_id=viewer.user_id)
    profile = user.profile if user else None
    return page(request, "agent.html", profile=profile, roles=sorted(viewer.roles))


@routes.get("/supervisor")
@allow(SUPERVISOR_ROLES)
async def supervisor_page(request: web.Request) -> web.Response:
    async with request.app[keys.DB].session() as session:
        rows = [
            {
                "display_name": u.display_name,
                "username": u.username,
                "roles": sorted(u.role_set),
                "tier": u.profile.tier if u.profile else "",
                "skills": [f"{s.skill}:{s.proficiency}" for s in u.profile.skills]
                if u.profile
                else [],
                "languages": u.profile.languages if u.profile else [],
                "home": u.profile.home_point.name if u.profile and u.profile.home_point else None,
            }
            for u in await staff.agents(session=session)
        ]
    return page(request, "supervisor.html", agents=rows)


# ---------------------------------------------------------------- language
@routes.get("/locale")
@routes.post("/locale")
@allow(PUBLIC)
async def choose_locale(request: web.Request) -> web.Response:
    """The language switch: remembers the choice in a cookie for a year and goes back
    to the page it was made on (``l`` and ``next`` from the query or the form)."""
    fields: Any = await read_form(request) if request.method == "POST" else request.query
    chosen = str(fields.get("l", ""))
    if chosen not in i18n.LOCALES:
        raise web.HTTPBadRequest(reason="Unknown language.")
    response = web.HTTPSeeOther(_safe_next(str(fields.get("next", "/"))))
    response.set_cookie(
        i18n.COOKIE,
        chosen,
        samesite="Lax",
        secure=request.app[keys.SETTINGS].secure_cookies,
        max_age=365 * 24 * 3600,
    )
    raise response


@routes.get("/i18n/{locale}.json")
@allow(PUBLIC)
async def script_catalog(request: web.Request) -> web.Response:
    """The scripts' catalog (i18n.js); its URL carries a version, so it may be cached."""
    locale = request.match_info["locale"]
    if locale not in i18n.LOCALES:
        raise web.HTTPNotFound(reason="No such language.")
    response = web.Response(
        text=i18n.catalog_json(locale), content_type="application/json", charset="utf-8"
    )
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


# ---------------------------------------------------------------- sign-in
def _signin_form(
    request: web.Request, *, error: str | None = None, username: str = "", status: int = 200
) -> web.Response:
    presession = request.cookies.get(PRESESSION_COOKIE) or secrets.token_urlsafe(24)
    response = page(
        request,
        "signin.html",
        status=status,
        error=error,
        username=username,
        next=_safe_next(request.query.get("next")),
        csrf_token=request.app[keys.CSRF].token_for(presession),
    )
    settings = request.app[keys.SETTINGS]
    response.set_cookie(
        PRESESSION_COOKIE,
        presession,
        httponly=True,
        samesite="Strict",
        secure=settings.secure_cookies,
        max_age=3600,
    )
    return response


@routes.get("/signin")
@allow(PUBLIC)
async def signin_form(request: web.Request) -> web.Response:
    return _signin_form(request)


@routes.post("/signin")
@allow(PUBLIC)
async def signin(request: web.Request) -> web.Response:
    form = await read_form(request)
    username = str(form.get("username", ""))[:64]
    password = str(form.get("password", ""))
    presession = request.cookies.get(PRESESSION_COOKIE)
    if not request.app[keys.CSRF].check_presession(presession, str(form.get("csrf_token", ""))):
        return _signin_form(
            request, error="The form has expired; please try again.", username=username, status=403
        )
    auth = request.app[keys.AUTH]
    try:
        session_id, _viewer = await auth.sign_in(
            username=username, password=password, remote=client_address(request)
        )
    except SignInError as exc:
        reason = "throttled" if exc.status == 429 else "bad_credentials"
        request.app[keys.METRICS].signin_failures.labels(reason).inc()
        return _signin_form(request, error=exc.message, username=username, status=exc.status)
    settings = request.app[keys.SETTINGS]
    response = web.HTTPSeeOther(_safe_next(str(form.get("next", "/")) or "/"))
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        httponly=True,
        samesite="Lax",
        secure=settings.secure_cookies,
        max_age=settings.session_ttl_s,
    )
    response.del_cookie(PRESESSION_COOKIE)
    raise response


@routes.post("/signout")
@allow("signed-in")
async def signout(request: web.Request) -> web.Response:
    viewer = viewer_of(request)
    assert viewer is not None
    await request.app[keys.AUTH].sign_out(viewer)
    # Its open WebSockets end too, on every process (4003).
    await request.app[SIGNALING].revoke(session_ref(viewer.session_id))
    response = web.HTTPSeeOther("/")
    response.del_cookie(SESSION_COOKIE)
    raise response


# ---------------------------------------------------------------- operations
@routes.get("/healthz")
@allow(PUBLIC)
async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


@routes.get("/readyz")
@allow(PUBLIC)
async def readyz(request: web.Request) -> web.Response:
    checks = {"database": await request.app[keys.DB].ping()}
    redis = request.app[keys.REDIS]
    if redis is not None:
        try:
            checks["redis"] = bool(await redis.ping())
        except Exception:  # any client error means not ready
            checks["redis"] = False
    ready = all(checks.values())
    request.app[keys.METRICS].ready.set(1 if ready else 0)
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    return web.json_response(body, status=200 if ready else 503)


def _may_scrape(request: web.Request) -> bool:
    """Overseeing staff; else the bearer token if one is set, else a direct local scrape."""
    if permits(SUPERVISOR_ROLES, viewer_of(request)):
        return True
    expected = request.app[keys.SETTINGS].metrics_token
    if expected is None:
        return is_direct_loopback(request)
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), expected.encode()
    )


@routes.get("/metrics")
@allow(PUBLIC)  # staff, token or loopback: checked here (docs/security.md)
async def metrics(request: web.Request) -> web.Response:
    if not _may_scrape(request):
        if viewer_of(request) is not None:
            return _error(request, 403, "You do not have access to this page.")
        response = _error(request, 401, "Metrics need a token or a supervisor's sign-in.")
        if request.app[keys.SETTINGS].metrics_token is not None:
            response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    payload = generate_latest(request.app[keys.METRICS].registry)
    response = web.Response(body=payload)
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return response


# ---------------------------------------------------------------- callers
@routes.post("/api/caller/token")
@allow(PUBLIC)
async def caller_token(request: web.Request) -> web.Response:
    """A signed, expiring token that lets an anonymous caller open the signaling socket
    and wait in line (no media room); so many an hour per address."""
    settings = request.app[keys.SETTINGS]
    address = client_address(request)
    if not await request.app[keys.CALLER_QUOTA].take(address):
        request.app[keys.METRICS].refused("caller_tokens_per_address")
        log.warning("caller_token_refused", extra={"remote": address})
        return _error(
            request, 429, "Too many calls from your address this hour; please try again later."
        )
    ttl = settings.caller_token_ttl_s
    token = request.app[keys.TOKENS].issue(
        aud=CALLER_AUDIENCE,
        sub=f"v-{secrets.token_hex(8)}",
        scope=CALLER_SCOPE,
        ttl_s=ttl,
        now=time.time(),
    )
    return web.json_response({"token": token, "expires_in_s": ttl})
