"""Server-rendered pages: one jinja2 environment, autoescaped, no build step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")

# The service categories callers choose from (DOMAIN.md, "Typical categories").
SERVICE_CATEGORIES: tuple[tuple[str, str, str], ...] = (
    ("marriage_family", "婚姻家庭", "Marriage & family"),
    ("labour_wages", "劳动争议与欠薪", "Labour disputes & unpaid wages"),
    ("traffic", "交通事故", "Traffic accidents"),
    ("contracts_debts", "合同与债务", "Contracts & debts"),
    ("property_housing", "房产与拆迁", "Property & housing"),
    ("consumer", "消费维权", "Consumer rights"),
    ("criminal", "刑事", "Criminal"),
    ("administrative", "行政", "Administrative"),
    ("notarization", "公证", "Notarization"),
    ("legal_aid", "法律援助申请", "Legal-aid eligibility"),
    ("mediation_intake", "调解申请", "Mediation intake"),
    ("general", "综合咨询", "General"),
)


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["service_categories"] = SERVICE_CATEGORIES
    return env


def render(env: Environment, template: str, **context: Any) -> str:
    return env.get_template(template).render(**context)
