"""The exchange's read-only restriction feed: what is in force now, for reconciliation.

`GET /api/v1/restrictions/` with `Authorization: Bearer <token>`, then each page's `next` link. What is
in force is derived from the stored end times at the moment of each request: a freeze past its end is
never listed, whether or not the sweep has lifted it yet.

Pages after the first are read by their position (`after`, a cursor: the last restriction listed), so
a walk lists every restriction that stays in force throughout it exactly once, however many end or
start meanwhile, and reads only its own rows however deep it goes. Numbered pages (`page=N`, the first
version's) count their offset: a restriction ending during a walk shifts the rest, and a walk by
numbers then skips one; each of those pages also counts every restriction in force.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, QuerySet
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from cases.models import Freeze, PreservationHold
from cases.models.clocks import latest_further_order_bound
from cases.selectors import exchange_subjects_of
from leors.core.error_pages import api_get_only
from leors.core.tokens import api_token_for

MAX_PAGE = 1_000_000  # far beyond any real feed; keeps the offset a number the database accepts
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# Kind, start in microseconds since 1970 (17 digits reach the year 5138: no overflow), id. ASCII digits only.
_CURSOR = re.compile(r"([fp])\.([0-9]{1,17})\.([0-9]{1,18})")
_KINDS = {"f": "freeze", "p": "preservation"}


@dataclass(frozen=True)
class Cursor:
    """The last restriction a page listed: the next page starts after it, in the feed's order
    (the freezes by start and id, then the holds by start and id)."""

    kind: str  # "freeze" or "preservation"
    starts_at: datetime
    pk: int

    def __str__(self) -> str:
        return f"{self.kind[0]}.{(self.starts_at - _EPOCH) // _MICROSECOND}.{self.pk}"

    @classmethod
    def of(cls, item: Freeze | PreservationHold) -> Cursor:
        """The position of a restriction listed: its kind, its start and its id."""
        if isinstance(item, Freeze):
            return cls(kind="freeze", starts_at=item.activated_at, pk=item.pk)
        return cls(kind="preservation", starts_at=item.started_at, pk=item.pk)

    @classmethod
    def parse(cls, text: str) -> Cursor | None:
        match = _CURSOR.fullmatch(text)
        if match is None:
            return None
        kind, micros, pk = match.groups()
        return cls(kind=_KINDS[kind], starts_at=_EPOCH + int(micros) * _MICROSECOND, pk=int(pk))


def _bad_request(error: str) -> JsonResponse:
    return JsonResponse({"error": error}, status=400)


@csrf_exempt  # a bearer-token API: no cookies, so no cross-site request to forge; anything but GET is 405
@never_cache
@api_get_only
def restriction_feed(request: HttpRequest) -> JsonResponse:
    now = timezone.now()
    if api_token_for(request, now=now) is None:
        response = JsonResponse({"error": "A valid bearer token is required."}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="leors"'
        return response
    unknown = sorted(set(request.GET) - {"page", "after"})
    if unknown:
        return _bad_request(f"Unknown parameter(s): {', '.join(unknown)}. Only after or page is accepted.")
    repeated = sorted(name for name in request.GET if len(request.GET.getlist(name)) > 1)
    if repeated:
        return _bad_request(f"Give {' and '.join(repeated)} once.")
    if "page" in request.GET and "after" in request.GET:
        return _bad_request("Give after (from a next link) or page, not both.")
    if "after" in request.GET:
        after = Cursor.parse(request.GET["after"])
        if after is None:
            return _bad_request("after must be copied unchanged from the next link of the page before.")
        return _page_after(after, now=now)
    try:
        page = int(request.GET.get("page", "1"))
        if not 1 <= page <= MAX_PAGE:
            raise ValueError
    except ValueError:
        return _bad_request(f"page must be an integer from 1 to {MAX_PAGE}.")
    return _numbered_page(page, now=now, numbered="page" in request.GET)


def in_feed_order(now: datetime) -> tuple[QuerySet[Freeze], QuerySet[PreservationHold]]:
    """Both kinds in force at `now`, in the feed's order (each from its index, freeze_feed_idx and
    hold_feed_idx), with only what the feed shows of them and of their cases."""
    return (Freeze.objects.in_force(now).select_related("case")
            .only("activated_at", "expires_at", "case__reference").order_by("activated_at", "pk"),
            PreservationHold.objects.in_force(now).select_related("case")
            .only("started_at", "expires_at", "case__reference").order_by("started_at", "pk"))


def _numbered_page(page: int, *, now: datetime, numbered: bool) -> JsonResponse:
    """Page `page` by its offset, with the count of every restriction in force. The first page's `next`
    is a cursor; a page asked for by its number links to the next number, as the first version did."""
    size = settings.LEORS_FEED_PAGE_SIZE
    freezes, holds = in_feed_order(now)
    freeze_count, hold_count = freezes.count(), holds.count()
    start, end = (page - 1) * size, page * size
    page_freezes = list(freezes[start:min(end, freeze_count)]) if start < freeze_count else []
    page_holds = list(holds[max(0, start - freeze_count):end - freeze_count]) if end > freeze_count else []
    listed: list[Freeze | PreservationHold] = [*page_freezes, *page_holds]
    total = freeze_count + hold_count
    url = reverse("restriction_feed")
    if end >= total or not listed:
        following = None
    elif numbered:
        following = f"{url}?page={page + 1}"
    else:
        following = f"{url}?after={Cursor.of(listed[-1])}"
    return _answer(listed, now=now, count=total, page=page, following=following,
                   previous=f"{url}?page={page - 1}" if page > 1 else None)


def _page_after(after: Cursor, *, now: datetime) -> JsonResponse:
    """The page after `after`: a page and one more restriction read from the indexes, nothing counted."""
    size = settings.LEORS_FEED_PAGE_SIZE
    freezes, holds = in_feed_order(now)
    listed: list[Freeze | PreservationHold] = []
    if after.kind == "freeze":
        listed += freezes.filter(_follows(after, "activated_at"))[:size + 1]
    else:
        holds = holds.filter(_follows(after, "started_at"))
    if len(listed) <= size:
        listed += holds[:size + 1 - len(listed)]
    more = len(listed) > size
    listed = listed[:size]
    following = f"{reverse('restriction_feed')}?after={Cursor.of(listed[-1])}" if more else None
    return _answer(listed, now=now, count=None, page=None, following=following, previous=None)


def _follows(after: Cursor, start: str) -> TupleGreaterThan:
    """`(start, id) > (after's start, after's id)`: on PostgreSQL one row comparison, which the feed's
    index (status, start, id) reads as where its range begins, however many restrictions share a start
    (an OR of the two columns was read from the start's first entry on). The lookup is the one Django
    5.2 builds for composite primary keys, not yet documented for other use: the plan test of the feed
    fails if it stops being one row comparison. Elsewhere (SQLite) Django writes it as the OR."""
    return TupleGreaterThan(Tuple(F(start), F("pk")), (after.starts_at, after.pk))


def _answer(listed: list[Freeze | PreservationHold], *, now: datetime, count: int | None, page: int | None,
            following: str | None, previous: str | None) -> JsonResponse:
    subjects = exchange_subjects_of(item.case_id for item in listed)
    kept_until = _freezes_kept_until(listed, now=now)
    return JsonResponse({"as_of": now.isoformat(), "count": count, "page": page, "next": following,
                         "previous": previous,
                         "results": [_shown(item, subjects[item.case_id], now=now, kept_until=kept_until)
                                     for item in listed]})


def _freezes_kept_until(listed: list[Freeze | PreservationHold], *, now: datetime) -> dict[int, datetime]:
    """R8: of the listed freezes in force past their end (few: kept by a further order awaiting activation), the
    latest moment each stays in force (`latest_further_order_bound`), read in one query; none asked otherwise."""
    past_end = [item.pk for item in listed if isinstance(item, Freeze) and item.expires_at <= now]
    if not past_end:
        return {}
    return dict(Freeze.objects.filter(pk__in=past_end).annotate(bound=latest_further_order_bound())
                .filter(bound__isnull=False).values_list("pk", "bound"))


def _shown(item: Freeze | PreservationHold, subjects: list[dict[str, str]], *, now: datetime,
           kept_until: dict[int, datetime]) -> dict[str, Any]:
    """A restriction as the exchange enforces it. Listed past its `ends_at`, it is kept in force (`kept_past_end`):
    a freeze by a further order awaiting activation, at the latest until `kept_until` (R8); a hold by an extension
    under review, until that review ends, a moment not known in advance (`kept_until` null, R7)."""
    position = Cursor.of(item)
    kept = item.expires_at <= now
    until = kept_until.get(item.pk) if kept and isinstance(item, Freeze) else None
    return {"type": position.kind, "id": item.pk, "case": item.case.reference, "subjects": subjects,
            "starts_at": position.starts_at.isoformat(), "ends_at": item.expires_at.isoformat(),
            "kept_past_end": kept, "kept_until": until.isoformat() if until else None}
