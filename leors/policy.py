"""The numbers of the rules (DESIGN.md), in one place, read from settings.

Views, services and tasks ask this module; no duration appears as a literal anywhere else.
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

# R3: the undertaking an applicant accepts. A new wording gets a new version; old versions stay
# here so that what an applicant accepted can always be shown again.
UNDERTAKINGS: dict[str, str] = {
    "2026-11-01": (
        "I acknowledge and undertake that I am an official of a governmental or judicial body, duly "
        "authorised to make the requests I will make through LEORS, and that every request I make "
        "will be made in connection with official legal proceedings pursuant to applicable laws. "
        "I understand that unauthorised requests will not be processed and may lead to prosecution "
        "and referral to the appropriate enforcement agencies."
    ),
}
CURRENT_UNDERTAKING_VERSION = "2026-11-01"

# R11: shown on the submission confirmation and every request page.
NO_WAIVER_NOTICE = (
    "Acceptance of a request through LEORS is for convenience and does not waive any objection, "
    "including lack of jurisdiction or improper service. Processing times are for information only "
    "and are not guaranteed."
)

# R12: printed in every e-mail and on the sign-in page.
NEVER_ASK_NOTICE = (
    "LEORS staff will never ask you for a password, a one-time code or a recovery code. "
    "The only place to enter them is the LEORS sign-in page."
)


# The dates people type (leors/core/dates.py). Outside these bounds a date is a typing error,
# and one near year 1 or 9999 breaks the conversion to UTC or the first date arithmetic.
# When staff record something happening (a confirmation, a notification): nothing LEORS handles predates this.
EARLIEST_RECORDED_TIME = date(2000, 1, 1)
# A document's date of issue, the period of data requested, the end of a non-disclosure instruction.
EARLIEST_DOCUMENT_DATE = date(1900, 1, 1)
# The latest year a date may fall in, counted from this year (a non-disclosure instruction's end, say).
LATEST_DATE_YEARS_AHEAD = 100

# Public forms: how often one network address may post them.
APPLY_RATE = "10/h"
VERIFY_RATE = "10/m"


def business_calendar() -> str:
    return settings.LEORS_BUSINESS_CALENDAR


def business_time_zone() -> ZoneInfo:
    return ZoneInfo(settings.LEORS_BUSINESS_TIME_ZONE)


def access_review_due_soon_business_days() -> int:
    """R2: the application enters its review window on this business day after submission."""
    return settings.LEORS_ACCESS_REVIEW_DUE_SOON_BUSINESS_DAYS


def access_review_due_business_days() -> int:
    """R2: the application is overdue after this business day."""
    return settings.LEORS_ACCESS_REVIEW_DUE_BUSINESS_DAYS


def access_validity() -> timedelta:
    """How long an approval lasts before the officer must be re-verified."""
    return timedelta(days=settings.LEORS_ACCESS_VALIDITY_DAYS)


def email_verification_max_age() -> timedelta:
    return timedelta(hours=settings.LEORS_EMAIL_VERIFICATION_HOURS)


def upload_max_bytes() -> int:
    return settings.LEORS_UPLOAD_MAX_BYTES


def upload_max_files() -> int:
    return settings.LEORS_UPLOAD_MAX_FILES


def docx_max_unpacked_bytes() -> int:
    """What a DOCX may declare its members unpack to, together; beyond it the file is refused."""
    return settings.LEORS_DOCX_MAX_UNPACKED_BYTES


def preservation_period() -> timedelta:
    """R7: a hold runs this long from receipt of the formal request."""
    return timedelta(days=settings.LEORS_PRESERVATION_DAYS)


def preservation_extension_period() -> timedelta:
    """R7: an accepted extension adds this much to the hold's end."""
    return timedelta(days=settings.LEORS_PRESERVATION_EXTENSION_DAYS)


def preservation_reminder_days() -> list[int]:
    return sorted(set(settings.LEORS_PRESERVATION_REMINDER_DAYS), reverse=True)


def freeze_max_days() -> int:
    """R8: at most this many days unless the order itself explicitly orders longer."""
    return settings.LEORS_FREEZE_MAX_DAYS


def freeze_reminder_days() -> list[int]:
    return sorted(set(settings.LEORS_FREEZE_REMINDER_DAYS), reverse=True)


def sweep_interval_seconds() -> int:
    return settings.LEORS_SWEEP_INTERVAL_SECONDS


def verification_code_valid_for() -> timedelta:
    """R12: how long after sending a message /verify/ still confirms its reference and code."""
    return timedelta(days=settings.LEORS_VERIFICATION_CODE_DAYS)


def production_available_for() -> timedelta:
    """How long a released production can be downloaded by the officer."""
    return timedelta(days=settings.LEORS_PRODUCTION_AVAILABLE_DAYS)


def language_min_letters() -> int:
    """R4: below this many letters a document counts as having no text (a scan)."""
    return settings.LEORS_LANGUAGE_MIN_LETTERS


def language_min_confidence() -> float:
    """R4: the detector must be at least this sure that a text is English."""
    return settings.LEORS_LANGUAGE_MIN_CONFIDENCE


def outbox_max_attempts() -> int:
    """The attempts after which an e-mail is given up (FAILED, for staff to re-queue). A webhook is never given
    up: the exchange must learn of every lift and lapse (R7, R8), however long it is down; past this many
    attempts it is reported as failing (logged as an error, listed as failing in the outbox admin)."""
    return settings.LEORS_OUTBOX_MAX_ATTEMPTS


def outbox_retry_delay(attempts: int) -> timedelta:
    """Exponential backoff for outbox delivery: 1, 2, 4 … minutes, capped at
    LEORS_OUTBOX_MAX_RETRY_DELAY_MINUTES (an hour)."""
    cap = settings.LEORS_OUTBOX_MAX_RETRY_DELAY_MINUTES
    return timedelta(minutes=min(cap, 2 ** min(max(0, attempts - 1), cap.bit_length())))
