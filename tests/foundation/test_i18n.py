"""Message catalogs: Chinese by default, English by the switch or Accept-Language."""

from __future__ import annotations

import json
import re

import pytest

from agent_console import catalogs, i18n
from agent_console.labels import KINDS, label
from tests.app import AppClient, sign_in


class TestNegotiation:
    @pytest.mark.parametrize(
        ("cookie", "header", "expected"),
        [
            (None, None, "zh_CN"),
            (None, "", "zh_CN"),
            (None, "en-US,en;q=0.9", "en"),
            (None, "EN", "en"),
            (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
            (None, "zh-Hans-CN", "zh_CN"),
            (None, "zh-TW", "zh_CN"),
            (None, "fr-FR,en;q=0.5", "en"),
            (None, "fr-FR,de", "zh_CN"),
            (None, "en;q=0.2,zh;q=0.9", "zh_CN"),
            (None, "en;q=0, fr", "zh_CN"),
            (None, "en;q=bogus", "zh_CN"),
            ("en", "zh-CN", "en"),
            ("zh_CN", "en", "zh_CN"),
            ("klingon", "en", "en"),
        ],
    )
    def test_cookie_then_accept_language_then_chinese(
        self, cookie: str | None, header: str | None, expected: str
    ) -> None:
        """The switch's cookie wins; else the browser's best language we have; else 中文."""
        assert i18n.negotiate(cookie, header) == expected


class TestLookups:
    def test_gettext_follows_the_current_locale(self) -> None:
        """One msgid, two languages; placeholders filled after translation."""
        with i18n.use_locale("zh_CN"):
            assert i18n.gettext("Agent desk") == "坐席工作台"
        with i18n.use_locale("en"):
            assert i18n.gettext("Agent desk") == "Agent desk"
        assert i18n.gettext("Hello {name}", name="王律师") == "Hello 王律师"

    def test_lazy_strings_translate_when_used(self) -> None:
        """A module-level lazy label reads the locale of the moment it is shown."""
        lazy = i18n.lazy_gettext("Labour and wages")
        with i18n.use_locale("zh_CN"):
            assert str(lazy) == "劳动争议与欠薪"
        with i18n.use_locale("en"):
            assert str(lazy) == "Labour and wages"

    def test_every_code_has_a_label_in_both_languages(self) -> None:
        """No code is ever its own label; an unknown code is a dash, not the code."""
        for locale in i18n.LOCALES:
            with i18n.use_locale(locale):
                for kind, codes in KINDS.items():
                    for code in codes:
                        shown = label(kind, code)
                        assert shown, (locale, kind, code)
                        assert shown != code, (locale, kind, code)
        with i18n.use_locale("zh_CN"):
            assert label("presence", "in_session") == "通话中"
            assert label("category", "no_such_code") == "—"


class TestCatalogs:
    def test_check_passes(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The committed .po files are up to date and Chinese is complete."""
        assert catalogs.main(["--check"]) == 0, capsys.readouterr().err

    def test_check_fails_on_a_missing_translation(
        self, tmp_path: object, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A msgid the code uses but the catalog lacks makes --check fail."""
        template = catalogs.template_catalog()
        template.add("A string nobody translated", None, [("agent_console/x.py", 1)])
        monkeypatch.setattr(catalogs, "template_catalog", lambda: template)
        assert catalogs.main(["--check"]) == 1


class TestScriptCatalog:
    async def test_route_serves_the_scripts_messages_and_labels(
        self, make_client: AppClient
    ) -> None:
        """/i18n/<locale>.json: the messages scripts use and every code's label."""
        client = await make_client()
        response = await client.get("/i18n/zh_CN.json")
        assert response.status == 200
        assert "max-age" in response.headers["Cache-Control"]
        body = json.loads(await response.text())
        assert body["locale"] == "zh_CN"
        assert body["labels"]["category"]["labour_wages"] == "劳动争议与欠薪"
        assert body["labels"]["presence"]["in_session"] == "通话中"
        english = json.loads(await (await client.get("/i18n/en.json")).text())
        assert english["labels"]["category"]["labour_wages"] == "Labour and wages"
        assert (await client.get("/i18n/fr.json")).status == 404

    async def test_pages_name_the_catalog_and_their_language(self, make_client: AppClient) -> None:
        """<html lang> and data-catalog follow the negotiated locale."""
        client = await make_client()
        zh = await (await client.get("/")).text()
        assert '<html lang="zh-CN" data-catalog="/i18n/zh_CN.json?v=' in zh
        en = await (await client.get("/", headers={"Accept-Language": "en"})).text()
        assert '<html lang="en" data-catalog="/i18n/en.json?v=' in en


class TestSwitch:
    async def test_switch_sets_a_cookie_and_returns(self, make_client: AppClient) -> None:
        """GET /locale?l=en&next=… remembers English and goes back; POST works too."""
        client = await make_client()
        response = await client.get("/locale?l=en&next=/signin", allow_redirects=False)
        assert response.status == 303
        assert response.headers["Location"] == "/signin"
        page = await client.get("/signin")
        assert '<html lang="en"' in await page.text()
        response = await client.post(
            "/locale", data={"l": "zh_CN", "next": "/"}, allow_redirects=False
        )
        assert response.status == 303
        assert '<html lang="zh-CN"' in await (await client.get("/")).text()

    async def test_switch_refuses_other_hosts_and_languages(self, make_client: AppClient) -> None:
        """The switch never redirects off-site and knows only its languages."""
        client = await make_client()
        response = await client.get("/locale?l=en&next=//evil.example/", allow_redirects=False)
        assert response.headers["Location"] == "/"
        assert (await client.get("/locale?l=xx")).status == 400

    async def test_switch_is_on_every_page(self, make_client: AppClient) -> None:
        """The header offers the other language, named in itself."""
        client = await make_client()
        assert await sign_in(client, "law") == 303
        for path in ("/", "/signin", "/agent", "/nope"):
            html = await (await client.get(path)).text()
            switch = re.search(r'data-testid="language-switch">(.*?)</nav>', html, re.S)
            assert switch, path
            assert "English" in switch.group(1)
            assert "中文" in switch.group(1)
