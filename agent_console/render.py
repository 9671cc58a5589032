"""Server-rendered pages: one jinja2 environment, autoescaped, no build step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from signaling.protocol import Category

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")

# How the caller page names the service categories (DOMAIN.md, "Typical categories").
CATEGORY_LABELS: dict[Category, tuple[str, str]] = {
    Category.MARRIAGE_FAMILY: ("婚姻家庭", "Marriage & family"),
    Category.LABOUR_WAGES: ("劳动争议与欠薪", "Labour disputes & unpaid wages"),
    Category.TRAFFIC: ("交通事故", "Traffic accidents"),
    Category.CONTRACT_DEBT: ("合同与债务", "Contracts & debts"),
    Category.PROPERTY_HOUSING: ("房产与拆迁", "Property & housing"),
    Category.CONSUMER: ("消费维权", "Consumer rights"),
    Category.CRIMINAL: ("刑事", "Criminal"),
    Category.ADMINISTRATIVE: ("行政", "Administrative"),
    Category.NOTARIZATION: ("公证", "Notarization"),
    Category.LEGAL_AID: ("法律援助申请", "Legal-aid eligibility"),
    Category.MEDIATION_INTAKE: ("调解申请", "Mediation intake"),
    Category.GENERAL: ("综合咨询", "General"),
}
SERVICE_CATEGORIES: tuple[tuple[str, str, str], ...] = tuple(
    (category.value, zh, en) for category, (zh, en) in CATEGORY_LABELS.items()
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
