"""Refresh the message catalogs from the code: ``python -m agent_console.catalogs``.

Extracts every msgid from the templates (``_("…")``), the Python packages (``_``,
``gettext``, ``ngettext``, ``lazy_gettext``, ``N_``) and the scripts (``t("…")``) and
rewrites ``agent_console/translations/<locale>/LC_MESSAGES/messages.po``, keeping the
translations already there and dropping messages no longer used.

``--check`` changes nothing and fails (exit 1) if a .po file is not what a refresh would
write, or if a message has no Chinese translation. ``make lint`` runs it.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from agent_console.i18n import DEFAULT_LOCALE, DOMAIN, LOCALES, po_path

ROOT = Path(__file__).resolve().parent.parent
# Where user-facing strings live: the web layer and every package that speaks to people.
PYTHON_PACKAGES = ("agent_console", "hotline", "signaling", "cases", "media", "recordings", "rooms")
PYTHON_KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "lazy_gettext": None,
    "lazy_ngettext": (1, 2),
    "N_": None,
}
# A fixed date keeps the files identical from one refresh to the next.
FIXED_DATE = datetime(2026, 1, 1, tzinfo=UTC)
WIDTH = 100
HEADER_COMMENT = (
    "# The hotline's screens in one language (docs/translations.md).\n"
    "# Write the msgstr lines; `python -m agent_console.catalogs` keeps them and adds new msgids."
)


Keywords = dict[str, Any]
Extracted = tuple[str, int, str | tuple[str, ...], list[str], str | None]


def _extract(
    directory: Path, method_map: Sequence[tuple[str, str]], keywords: Keywords
) -> Iterator[Extracted]:
    if not directory.is_dir():
        return
    for filename, lineno, message, comments, context in extract_from_dir(
        directory, method_map=method_map, keywords=keywords, strip_comment_tags=True
    ):
        relative = (directory / filename).relative_to(ROOT).as_posix()
        yield relative, lineno, message, comments, context


def template_catalog() -> Catalog:
    """Every msgid the code uses, with where it is used."""
    catalog = Catalog(
        project="hotline", domain=DOMAIN, creation_date=FIXED_DATE, revision_date=FIXED_DATE
    )
    sources: list[tuple[Path, list[tuple[str, str]], Keywords]] = [
        (
            ROOT / "agent_console" / "templates",
            [("**.html", "jinja2.ext:babel_extract")],
            {"_": None, "gettext": None, "ngettext": (1, 2)},
        ),
        (ROOT / "agent_console" / "static", [("**.js", "javascript")], {"t": None}),
    ]
    sources += [
        (ROOT / package, [("**.py", "python")], PYTHON_KEYWORDS) for package in PYTHON_PACKAGES
    ]
    for directory, method_map, keywords in sources:
        for filename, lineno, message, comments, context in _extract(
            directory, method_map, keywords
        ):
            catalog.add(
                message,
                None,
                [(filename, lineno)],
                auto_comments=comments,
                context=context,
            )
    return catalog


def refreshed(template: Catalog, locale: str) -> Catalog:
    """The catalog of ``locale`` after a refresh: the template's messages, with the
    translations the current .po file has for them."""
    path = po_path(locale)
    if path.exists():
        with path.open("rb") as po:
            catalog = read_po(po, locale=locale, domain=DOMAIN)
    else:
        catalog = Catalog(locale=locale, domain=DOMAIN, project="hotline")
    catalog.update(template, no_fuzzy_matching=True, update_header_comment=True)
    catalog.obsolete.clear()
    catalog.creation_date = FIXED_DATE
    catalog.revision_date = FIXED_DATE
    catalog.project = "hotline"
    catalog.version = ""
    catalog.fuzzy = False
    catalog.header_comment = HEADER_COMMENT
    catalog.last_translator = "hotline"
    catalog.language_team = "hotline"
    catalog.msgid_bugs_address = ""
    return catalog


def serialize(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_po(
        buffer,
        catalog,
        width=WIDTH,
        sort_output=True,
        include_lineno=False,
        include_previous=False,
        ignore_obsolete=True,
    )
    # Babel names its own version in the header: leave it out, or an upgrade would make
    # every catalog stale.
    lines = buffer.getvalue().splitlines(keepends=True)
    return b"".join(line for line in lines if not line.startswith(b'"Generated-By:'))


def untranslated(catalog: Catalog) -> list[str]:
    missing = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            missing.append(str(message.id if isinstance(message.id, str) else message.id[0]))
    return missing


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent_console.catalogs", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="fail if a catalog is stale or lacks Chinese"
    )
    args = parser.parse_args(argv)
    template = template_catalog()
    problems: list[str] = []
    for locale in LOCALES:
        catalog = refreshed(template, locale)
        text = serialize(catalog)
        path = po_path(locale)
        current = path.read_bytes() if path.exists() else b""
        if args.check:
            if text != current:
                stale = path.relative_to(ROOT)
                problems.append(f"{stale} is stale: run python -m agent_console.catalogs")
        elif text != current:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text)
            print(f"wrote {path.relative_to(ROOT)} ({len(catalog)} messages)")
        if locale == DEFAULT_LOCALE:
            problems += [f"{locale}: no translation for {m!r}" for m in untranslated(catalog)]
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if args.check and problems else 0


if __name__ == "__main__":
    sys.exit(main())
