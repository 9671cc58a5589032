"""Message catalogs: Chinese by default, English by the switch or Accept-Language."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from agent_console import catalogs, i18n
from agent_console.labels import KINDS, label
from tests.app import STAFF, AppClient, sign_in


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
        """No code is ever its own label (the server's English phrases may be, in
        English); an unknown code is a dash, not the code."""
        for locale in i18n.LOCALES:
            with i18n.use_locale(locale):
                for kind, codes in KINDS.items():
                    for code in codes:
                        shown = label(kind, code)
                        assert shown, (locale, kind, code)
                        if locale != "en" or "_" in code:  # "signed out" is a phrase
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


# ---------------------------------------------------------------- whole pages
class _Visible(HTMLParser):
    """The text a person sees or hears: text outside <script>/<style>/<title>, and the
    placeholder, aria-label, title and alt of elements; the language switch apart."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.switch: list[str] = []
        self._skip = 0
        self._in_switch = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag in {"script", "style", "title"}:
            self._skip += 1
        if named.get("data-testid") == "language-switch":
            self._in_switch = True
        for attribute in ("placeholder", "aria-label", "title", "alt"):
            if named.get(attribute):
                self.text.append(str(named[attribute]))

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style", "title"}:
            self._skip -= 1
        if tag == "nav":
            self._in_switch = False

    def handle_data(self, data: str) -> None:
        if self._skip or not data.strip():
            return
        (self.switch if self._in_switch else self.text).append(data.strip())


def visible(html: str) -> tuple[str, str]:
    parser = _Visible()
    parser.feed(html)
    return " ".join(parser.text), " ".join(parser.switch)


# Seeded staff are named in capitals (tests/app.py); GB/T is a standard's name.
NOT_ENGLISH = {name.upper() for name in STAFF} | {"GB", "T"}
CODES = {code for codes in KINDS.values() for code in codes if len(code) > 2}
# In English text only the codes that cannot be words ("callback" is both).
CODE_NAMES = {code for code in CODES if "_" in code}
PAGES = [(None, "/"), (None, "/signin"), (None, "/nope"), ("law", "/agent"), ("sup", "/supervisor")]


def english_words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z]{2,}", text)) - NOT_ENGLISH


class TestPagesInEachLanguage:
    @pytest.mark.parametrize(("who", "path"), PAGES)
    async def test_chinese_by_default(
        self, make_client: AppClient, who: str | None, path: str
    ) -> None:
        """No English word, no "中文 · English" pair, no raw code, no login on the page;
        the switch offers English."""
        client = await make_client()
        if who:
            assert await sign_in(client, who) == 303
        html = await (await client.get(path)).text()
        text, switch = visible(html)
        assert re.search(r"[\u4e00-\u9fff]", text), text
        assert english_words(text) == set(), text
        assert "·" not in text
        assert not {code for code in CODES if re.search(rf"\b{code}\b", text)}, text
        if who:
            assert not re.search(rf"\b{who}\b", text), text  # the login, not the name
        assert switch == "中文 English"

    @pytest.mark.parametrize(("who", "path"), PAGES)
    async def test_english_after_the_switch_or_by_accept_language(
        self, make_client: AppClient, who: str | None, path: str
    ) -> None:
        """English pages have no Chinese but the switch's own 中文."""
        client = await make_client()
        if who:
            assert await sign_in(client, who) == 303
        by_header = await client.get(path, headers={"Accept-Language": "en-GB,en;q=0.8"})
        assert by_header.headers["Content-Language"] == "en"
        await client.get(f"/locale?l=en&next={path}", allow_redirects=False)
        by_cookie = await client.get(path, headers={"Accept-Language": "zh-CN"})
        for response in (by_header, by_cookie):
            text, switch = visible(await response.text())
            assert not re.search(r"[\u4e00-\u9fff]", text), text
            assert english_words(text), text
            assert "·" not in text
            assert not {code for code in CODE_NAMES if code in text}, text
            assert switch == "中文 English"

    async def test_labels_replace_codes(self, make_client: AppClient) -> None:
        """The caller's choices are named, in Chinese; their values stay the codes."""
        client = await make_client()
        html = await (await client.get("/")).text()
        assert '<option value="labour_wages">劳动争议与欠薪</option>' in html
        assert '<option value="wage_claim">农民工讨薪</option>' in html
        assert '<option value="law">LAW</option>' in html  # display name, login as value
        await client.get("/locale?l=en&next=/", allow_redirects=False)
        html = await (await client.get("/")).text()
        assert '<option value="labour_wages">Labour and wages</option>' in html

    def test_script_strings_are_in_the_scripts_catalog(self) -> None:
        """What the scripts say comes with the catalog they load."""
        zh = json.loads(i18n.catalog_json("zh_CN"))["messages"]
        assert zh["You are in line"] == "正在排队"
        assert zh["{n} s"] == "{n} 秒"
        assert "Agent desk" not in zh  # a template's message stays with the templates
