"""Masking of personal data (脱敏): resident IDs, phone numbers, bank cards and provisional household ids.

Published lists, pages and exports show 420106********1234, 138****5678 and 6222 **** **** 1234;
only a role that may reveal sees the plain value, and every reveal is audited (see access.py).
"""

from __future__ import annotations

import re

from models.privacy import mask_personal
from models.resident_id import mask_resident_id

PROVISIONAL_PREFIX = "person:"


def mask_phone(phone: str | None) -> str | None:
    """13812345678 -> 138****5678; short numbers keep only their last two digits."""
    if phone is None:
        return None
    digits = phone.strip()
    if len(digits) >= 7:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return "*" * max(0, len(digits) - 2) + digits[-2:]


def mask_bank_card(card: str | None) -> str | None:
    """6222021234567891234 -> 6222 **** **** 1234 (first and last four kept)."""
    if card is None:
        return None
    digits = re.sub(r"\s+", "", card)
    if len(digits) <= 8:
        return "*" * len(digits)
    return f"{digits[:4]} **** **** {digits[-4:]}"


def mask_household_id(household_id: str) -> str:
    """A provisional household "person:<resident ID>" shows the masked ID; roster ids stay as they are."""
    if household_id.startswith(PROVISIONAL_PREFIX):
        return PROVISIONAL_PREFIX + mask_text(mask_resident_id(household_id[len(PROVISIONAL_PREFIX):]))
    return mask_text(household_id)


def is_provisional(household_id: str) -> bool:
    return household_id.startswith(PROVISIONAL_PREFIX)


def mask_text(text: str | None) -> str | None:
    """Mask every resident ID (18 or 15 digits), phone and bank card inside free text (reasons, findings, event
    ids, names typed at sign-in), in ASCII or full-width digits, grouped or not."""
    if text is None:
        return None
    return mask_personal(text)


__all__ = ["mask_bank_card", "mask_household_id", "mask_phone", "mask_resident_id", "mask_text", "is_provisional"]
