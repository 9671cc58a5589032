"""How the codes of the protocol and the records are named on screens.

No screen shows a raw code (``labour_wages``, ``in_session``): templates call
:func:`label`, scripts ``label(kind, code)`` from i18n.js, which gets
:func:`code_labels` with the script catalog. A code without a label here is shown as
"—" rather than as itself.
"""

from __future__ import annotations

from collections.abc import Mapping

from agent_console.i18n import N_, gettext

CATEGORY: Mapping[str, str] = {
    "marriage_family": N_("Marriage and family"),
    "labour_wages": N_("Labour and wages"),
    "traffic": N_("Traffic accidents"),
    "contract_debt": N_("Contracts and debts"),
    "property_housing": N_("Property and housing"),
    "consumer": N_("Consumer rights"),
    "criminal": N_("Criminal matters"),
    "administrative": N_("Administrative matters"),
    "notarization": N_("Notarization"),
    "legal_aid": N_("Legal aid"),
    "mediation_intake": N_("Mediation request"),
    "general": N_("General legal questions"),
}
PRIORITY: Mapping[str, str] = {
    "ordinary": N_("Ordinary"),
    "wage_claim": N_("Migrant worker claiming unpaid wages"),
    "elderly": N_("Elderly caller"),
    "disabled": N_("Caller with a disability"),
}
PRESENCE: Mapping[str, str] = {
    "available": N_("Available"),
    "break": N_("On a break"),
    "wrap_up": N_("Wrapping up"),
    "in_session": N_("In a call"),
    "offline": N_("Offline"),
}
OUTCOME: Mapping[str, str] = {
    "answered": N_("Answered"),
    "abandoned": N_("Caller left the line"),
    "callback_done": N_("Called back"),
    "callback_failed": N_("Callback not reached"),
    "voicemail": N_("Message taken"),
    "transferred": N_("Transferred"),
    "expired": N_("Expired"),
    "interrupted": N_("Interrupted"),
}
CANCEL_REASON: Mapping[str, str] = {
    "timeout": N_("Not answered in time"),
    "caller_left": N_("The caller left"),
    "agent_disconnected": N_("Connection lost"),
    "signed_out": N_("Signed out"),
    "on_break": N_("On a break"),
    "voicemail": N_("The caller left a message"),
    "other": N_("Other reason"),
}
# Why the server changed an agent's presence (routing, signaling.router); an agent's
# own break reason is free text and shown as typed.
PRESENCE_REASON: Mapping[str, str] = {
    "signed in": N_("just signed in"),
    "signed out": N_("signed out"),
    "disconnected": N_("connection lost"),
    "missed offers": N_("missed calls"),
}
ROLE: Mapping[str, str] = {
    "lawyer": N_("Duty lawyer"),
    "mediator": N_("People's mediator"),
    "notary": N_("Notary"),
    "legal_aid": N_("Legal-aid officer"),
    "back_office": N_("Back-office officer"),
    "supervisor": N_("Supervisor"),
    "admin": N_("Administrator"),
}
LANGUAGE: Mapping[str, str] = {
    "zh": N_("Mandarin"),
    "zh-x-sichuan": N_("Sichuanese"),
    "zh-yue": N_("Cantonese"),
    "en": N_("English"),
}
# signaling.protocol.Channel: how the caller is with us.
CHANNEL: Mapping[str, str] = {
    "web_voice": N_("Web voice call"),
    "web_video": N_("Web video call"),
    "phone": N_("Telephone"),
}
# signaling.protocol.CallbackResult: why a callback did not reach the caller.
CALLBACK_RESULT: Mapping[str, str] = {
    "no_answer": N_("No answer"),
    "busy": N_("Busy"),
    "wrong_number": N_("Wrong number"),
}
OFFER_KIND: Mapping[str, str] = {
    "call": N_("Incoming call"),
    "callback": N_("Callback"),
    "consult": N_("A colleague asks you to consult / join a three-way call"),
}
# The codes of signaling.errors.ErrorCode, as a caller or an agent reads them.
ERROR: Mapping[str, str] = {
    "bad_json": N_("The message could not be read."),
    "too_large": N_("The message is too long."),
    "bad_version": N_("Please reload the page."),
    "unknown_type": N_("Please reload the page."),
    "missing_field": N_("Something is missing; please check and try again."),
    "unknown_field": N_("Please reload the page."),
    "bad_field": N_("Please check what you entered and try again."),
    "not_allowed": N_("That is not allowed."),
    "bad_state": N_("That cannot be done now."),
    "bad_token": N_("Your access has expired; please reload the page."),
    "rate_limited": N_("Too many requests; please wait a moment."),
    "unavailable": N_("The service is busy; please try again shortly."),
    "nobody_eligible": N_("Nobody who could take it is signed in now."),
}
# The back office (cases.tickets, cases.dispositions; docs/back-office.md).
TICKET_STATUS: Mapping[str, str] = {
    "open": N_("Open"),
    "acknowledged": N_("Acknowledged"),
    "in_progress": N_("In progress"),
    "done": N_("Done"),
    "returned": N_("Returned"),
}
TICKET_KIND: Mapping[str, str] = {
    "referral": N_("Referral"),
    "voicemail": N_("Message"),
    "callback": N_("Call back a dissatisfied caller"),
    "complaint": N_("Complaint"),
    "escalation": N_("Escalation: acknowledge within 10 minutes"),
}
OFFICE: Mapping[str, str] = {
    "legal_aid": N_("Legal aid centre"),
    "mediation": N_("Mediation committee"),
    "notary": N_("Notary office"),
    "gov_12345": N_("12345 government hotline"),
    "other_agency": N_("Another agency"),
    "supervisors": N_("Supervisors"),
}
DISPOSITION: Mapping[str, str] = {
    "answered": N_("Answered on the call"),
    "callback_booked": N_("Callback booked"),
    "referred_legal_aid": N_("Referred to legal aid"),
    "referred_mediation": N_("Referred to mediation"),
    "referred_notary": N_("Referred to a notary"),
    "referred_12345": N_("Referred to 12345"),
    "referred_other_agency": N_("Referred to another agency"),
    "complaint": N_("Complaint passed on"),
    "escalation": N_("Escalated"),
    "abusive_ended": N_("Abusive call ended after two warnings"),
}
KINDS: Mapping[str, Mapping[str, str]] = {
    "category": CATEGORY,
    "priority": PRIORITY,
    "presence": PRESENCE,
    "presence_reason": PRESENCE_REASON,
    "outcome": OUTCOME,
    "cancel_reason": CANCEL_REASON,
    "role": ROLE,
    "language": LANGUAGE,
    "channel": CHANNEL,
    "offer_kind": OFFER_KIND,
    "callback_result": CALLBACK_RESULT,
    "error": ERROR,
    "ticket_status": TICKET_STATUS,
    "ticket_kind": TICKET_KIND,
    "office": OFFICE,
    "disposition": DISPOSITION,
}


def label(kind: str, code: object, unknown: str = "—") -> str:
    """The current locale's name of ``code`` (a str or an enum); ``unknown`` for a code
    without one (a dash, or a name staff gave it, such as a skill of their own)."""
    msgid = KINDS[kind].get(str(code))
    return gettext(msgid) if msgid else unknown


def code_labels() -> dict[str, dict[str, str]]:
    """Every kind's labels in the current locale (for the scripts' catalog)."""
    return {kind: {c: gettext(m) for c, m in codes.items()} for kind, codes in KINDS.items()}


# What the server says in English where it cannot translate (hotline/web.py,
# hotline/auth.py, aiohttp's own reasons): error.html and signin.html look these up.
SERVER_MESSAGES = (
    N_("Not Found"),
    N_("Method Not Allowed"),
    N_("Bad Request"),
    N_("Forbidden"),
    N_("Unauthorized"),
    N_("Too Many Requests"),
    N_("Internal Server Error"),
    N_("The form could not be read."),
    N_("Sign in first."),
    N_("You do not have access to this page."),
    N_("The form has expired; reload the page and try again."),
    N_("The form has expired; please try again."),
    N_("Metrics need a token or a supervisor's sign-in."),
    N_("Too many calls from your address this hour; please try again later."),
    N_("Unknown language."),
    N_("No such language."),
    N_("Wrong username or password."),
    N_("Too many failed sign-ins. Wait a few minutes and try again."),
)
