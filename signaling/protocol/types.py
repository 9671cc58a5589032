"""The field types every message module shares: ids, languages, phone numbers, texts
and numbers with their limits (``signaling.schema`` checks them at ``parse()``)."""

from __future__ import annotations

from typing import Annotated

from routing.actions import Outcome as Outcome  # how a session ended, one per session
from routing.model import Category as Category  # queue ids are service categories
from routing.presence import Presence as Presence  # reported to agents as routing sees it
from signaling.schema import Num, Text

# Ids are opaque to clients: letters, digits and a few separators.
Id = Annotated[str, Text(1, 64, r"[A-Za-z0-9][A-Za-z0-9._:-]*")]


# BCP 47-like: "zh", "zh-CN", "zh-yue", "zh-x-sichuan" (dialects as private use).
Language = Annotated[str, Text(2, 35, r"[a-z]{2,3}(-[A-Za-z0-9]{1,8}){0,4}")]


# A phone number as people type it (spaces, dashes, full-width digits, +86 …): the node
# checks it with ``cases.phone`` (phonenumbers) and logs only its hash and mask.
Phone = Annotated[str, Text(3, 32)]


Reason = Annotated[str, Text(1, 200)]


Token = Annotated[str, Text(16, 512, r"[A-Za-z0-9._~-]+")]


Nonce = Annotated[str, Text(0, 64)]


Seconds = Annotated[float, Num(0, 10 * 365 * 86400)]


Count = Annotated[int, Num(0, 10_000_000)]


# A session description, candidates included (aiortc gathers before answering).
Sdp = Annotated[str, Text(1, 60_000)]


# Server side, priority classes are configurable names; clients claim one of the enum.
PriorityName = Annotated[str, Text(1, 40, r"[a-z][a-z0-9_]*")]


Fraction = Annotated[float, Num(0, 1)]


Millis = Annotated[float, Num(0, 3_600_000)]


Kbps = Annotated[float, Num(0, 10_000_000)]
