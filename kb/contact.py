"""Contact details a customer may leave with a request, checked and masked. Pure: no database.

Every item is optional: a customer who leaves none can still read the reply on their status
page. Formats are those of mainland China first (mobile 1[3-9]x 11 digits, landline with area
code), with an international ``+`` number accepted too.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from kb.errors import Problem

MAX_NAME_CHARS = 50
MAX_EMAIL_CHARS = 254

_MOBILE = re.compile(r"^(?:\+?86)?(1[3-9]\d{9})$")
_LANDLINE = re.compile(r"^0\d{2,3}\d{7,8}$")
_INTERNATIONAL = re.compile(r"^\+[1-9]\d{6,14}$")
_PHONE_PUNCTUATION = re.compile(r"[\s\-()（）]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# WeChat's own rule for an ID: 6–20 letters, digits, _ or -, starting with a letter.
_WECHAT = re.compile(r"^[A-Za-z][-_A-Za-z0-9]{5,19}$")


@dataclass(frozen=True)
class Contact:
    name: str = ""
    phone: str = ""
    email: str = ""
    wechat: str = ""

    def is_empty(self) -> bool:
        return not (self.name or self.phone or self.email or self.wechat)


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch).startswith("C") for ch in text)


def _phone(raw: str) -> str | None:
    """The number as stored (mobile without +86, others without spaces or dashes), or None."""
    compact = _PHONE_PUNCTUATION.sub("", raw)
    mobile = _MOBILE.match(compact)
    if mobile:
        return mobile.group(1)
    if _LANDLINE.match(compact) or _INTERNATIONAL.match(compact):
        return compact
    return None


def check_contact(
    name: str = "", phone: str = "", email: str = "", wechat: str = ""
) -> tuple[Contact, list[Problem]]:
    """Normalized contact details and every problem with them (all fields optional)."""
    problems: list[Problem] = []
    name, phone, email, wechat = (
        unicodedata.normalize("NFKC", v or "").strip() for v in (name, phone, email, wechat)
    )
    if len(name) > MAX_NAME_CHARS or _has_control(name):
        problems.append(
            Problem(f"name must be at most {MAX_NAME_CHARS} characters", "contact_name", name)
        )
    clean_phone = ""
    if phone:
        found = _phone(phone)
        if found is None:
            problems.append(
                Problem(
                    "phone must be a mobile number like 13812345678, a landline with area code "
                    "like 010-12345678, or an international number like +85261234567",
                    "contact_phone",
                    phone,
                )
            )
        else:
            clean_phone = found
    if email and (len(email) > MAX_EMAIL_CHARS or not _EMAIL.match(email)):
        problems.append(
            Problem("email must look like name@example.com", "contact_email", email[:80])
        )
    clean_wechat = wechat
    if wechat and not _WECHAT.match(wechat):
        mobile = _phone(wechat)
        if mobile is None:
            problems.append(
                Problem(
                    "WeChat ID must be 6–20 letters, digits, _ or -, starting with a letter "
                    "(or the mobile number it is bound to)",
                    "contact_wechat",
                    wechat[:40],
                )
            )
        else:
            clean_wechat = mobile
    contact = Contact(name=name, phone=clean_phone, email=email.lower(), wechat=clean_wechat)
    return contact, problems


def mask(value: str, keep_start: int, keep_end: int) -> str:
    """``value`` with its middle replaced by asterisks (at least three)."""
    if not value:
        return ""
    if len(value) <= keep_start + keep_end:
        return value[:1] + "***"
    tail = value[len(value) - keep_end :]
    return value[:keep_start] + "*" * max(3, len(value) - keep_start - keep_end) + tail


def masked(contact: Contact) -> Contact:
    """The details as a customer's status page shows them: enough to recognise, not to copy."""
    local, _, domain = contact.email.partition("@")
    return Contact(
        name=mask(contact.name, 1, 0) if contact.name else "",
        phone=mask(contact.phone, 3, 4),
        email=f"{mask(local, 1, 0)}@{domain}" if contact.email else "",
        wechat=mask(contact.wechat, 2, 2),
    )
