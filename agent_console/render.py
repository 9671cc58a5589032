"""Server-rendered pages: one jinja2 environment, autoescaped, no build step.

Every page is rendered in one locale (agent_console.i18n): ``_()`` and ``ngettext()``
in the templates, ``label(kind, code)`` for codes, ``locale`` / ``html_lang`` /
``catalog_url`` for base.html."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from agent_console import i18n
from agent_console.labels import CATEGORY, DISPOSITION, label

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")

# The service categories in the order the caller page offers them (DOMAIN.md).
SERVICE_CATEGORIES: tuple[tuple[str, Any], ...] = tuple(
    (code, i18n.lazy_gettext(msgid)) for code, msgid in CATEGORY.items()
)


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    # Our own callables, so templates, Python and scripts share one placeholder style
    # ({name}); what they return is escaped like any other value.
    env.globals.update(_=i18n.gettext, gettext=i18n.gettext, ngettext=i18n.ngettext)
    env.globals["service_categories"] = SERVICE_CATEGORIES
    env.globals["disposition_kinds"] = tuple(DISPOSITION)  # cases.dispositions, in order
    env.globals["label"] = label
    env.globals["locales"] = tuple((code, i18n.LOCALE_NAMES[code]) for code in i18n.LOCALES)
    return env


def render(
    env: Environment, template: str, *, locale: str = i18n.DEFAULT_LOCALE, **context: Any
) -> str:
    with i18n.use_locale(locale):
        return env.get_template(template).render(
            locale=locale,
            html_lang=i18n.HTML_LANG[locale],
            catalog_url=f"/i18n/{locale}.json?v={i18n.catalog_version(locale)}",
            **context,
        )
