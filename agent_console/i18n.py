"""Message catalogs: Chinese (zh_CN) first, English as a choice.

Every user-facing string is an English source msgid looked up in
``translations/<locale>/LC_MESSAGES/messages.po``. The .po files are the only form
kept in the tree: they are compiled in memory the first time a locale is used.

Templates call ``_()`` / ``ngettext()`` (jinja2's i18n extension); Python server texts
``from agent_console.i18n import gettext as _`` (``lazy_gettext`` where module-level);
scripts ``import { t } from "./i18n.js"``, which loads :func:`catalog_json`.
The locale of the running request is a context variable: :func:`use_locale` sets it
around rendering. ``python -m agent_console.catalogs`` refreshes the .po files.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any

from babel.core import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import LazyProxy, NullTranslations, Translations

DEFAULT_LOCALE = "zh_CN"
LOCALES = ("zh_CN", "en")
# How each locale names itself on the language switch and in <html lang>.
LOCALE_NAMES = {"zh_CN": "中文", "en": "English"}
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}
COOKIE = "hotline_locale"
DOMAIN = "messages"
TRANSLATIONS = Path(__file__).with_name("translations")
# Files whose msgids the scripts need (catalog_json sends only those).
SCRIPT_SUFFIX = ".js"

_current: ContextVar[str] = ContextVar("hotline_locale", default=DEFAULT_LOCALE)


def po_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(locale: str) -> NullTranslations:
    """The compiled catalog of ``locale`` (built from its .po once per process)."""
    path = po_path(locale)
    if locale not in LOCALES or not path.exists():
        return NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=locale, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def current_locale() -> str:
    return _current.get()


@contextmanager
def use_locale(locale: str) -> Iterator[None]:
    """Translate in ``locale`` for the duration of the block."""
    token = _current.set(locale if locale in LOCALES else DEFAULT_LOCALE)
    try:
        yield
    finally:
        _current.reset(token)


def gettext(message: str, **params: Any) -> str:
    """``message`` in the current locale; ``{name}`` placeholders filled from params."""
    text = translations(_current.get()).gettext(message)
    return text.format(**params) if params else text


def ngettext(singular: str, plural: str, n: int, **params: Any) -> str:
    text = translations(_current.get()).ngettext(singular, plural, n)
    return text.format(n=n, **params)


def lazy_gettext(message: str, **params: Any) -> LazyProxy:
    """A string translated when it is used (module-level labels)."""
    return LazyProxy(gettext, message, enable_cache=False, **params)


def lazy_ngettext(singular: str, plural: str, n: int, **params: Any) -> LazyProxy:
    return LazyProxy(ngettext, singular, plural, n, enable_cache=False, **params)


def N_(message: str) -> str:
    """Marks ``message`` for the catalog without translating it now."""
    return message


# ---------------------------------------------------------------- negotiation
def parse_accept_language(header: str) -> list[str]:
    """The languages of an ``Accept-Language`` header, most wanted first."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*" or len(tag) > 35:
            continue
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                continue
        if quality > 0:
            ranked.append((-quality, index, tag.replace("-", "_")))
    return [tag for _q, _i, tag in sorted(ranked)]


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The cookie's locale if it names one we have, else the best of the browser's
    languages, else Chinese."""
    if cookie in LOCALES:
        return cookie
    if accept_language:
        wanted = parse_accept_language(accept_language)
        # "zh_Hans_CN", "zh_TW" … are all Chinese here: we write one Chinese.
        wanted = [DEFAULT_LOCALE if w.lower().startswith("zh") else w for w in wanted]
        found = negotiate_locale(wanted, LOCALES, sep="_")
        if found is not None:  # Babel answers in the browser's spelling ("EN")
            return {code.lower(): code for code in LOCALES}.get(found.lower(), DEFAULT_LOCALE)
    return DEFAULT_LOCALE


# ---------------------------------------------------------------- scripts
@cache
def catalog_json(locale: str) -> str:
    """The scripts' catalog: msgid → msgstr of every message a script uses, plus the
    labels of the codes they show (see :mod:`agent_console.labels`), as JSON."""
    from agent_console.labels import code_labels  # labels import this module

    messages: dict[str, str] = {}
    path = po_path(locale)
    if locale in LOCALES and path.exists():
        with path.open("rb") as po:
            catalog = read_po(po, locale=locale, domain=DOMAIN)
        for message in catalog:
            if not message.id or message.fuzzy or isinstance(message.id, tuple):
                continue
            if not any(file.endswith(SCRIPT_SUFFIX) for file, _line in message.locations):
                continue
            if message.string:
                messages[str(message.id)] = str(message.string)
    with use_locale(locale):
        labels = code_labels()
    return json.dumps(
        {"locale": locale, "messages": messages, "labels": labels},
        ensure_ascii=False,
        sort_keys=True,
    )


@cache
def catalog_version(locale: str) -> str:
    """Changes whenever the script catalog does: the URL's cache buster."""
    return hashlib.sha256(catalog_json(locale).encode()).hexdigest()[:12]
