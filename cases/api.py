"""The exchange's read-only restriction feed: what is in force now, for reconciliation.

`GET /api/v1/restrictions/?page=N` with `Authorization: Bearer <token>`. What is in force is
derived from the stored end times at the moment of the request: a freeze past its end is never
listed, whether or not the sweep has lifted it yet.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from cases.models import Freeze, PreservationHold
from cases.selectors import exchange_subjects_of
from leors.core.tokens import api_token_for

MAX_PAGE = 1_000_000  # far beyond any real feed; keeps the offset a number the database accepts


@csrf_exempt  # a bearer-token API: no cookies, so no cross-site request to forge; anything but GET is 405
@never_cache
@require_GET
def restriction_feed(request: HttpRequest) -> JsonResponse:
    now = timezone.now()
    if api_token_for(request, now=now) is None:
        response = JsonResponse({"error": "A valid bearer token is required."}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="leors"'
        return response
    unknown = sorted(set(request.GET) - {"page"})
    if unknown:
        return JsonResponse({"error": f"Unknown parameter(s): {', '.join(unknown)}. Only page is accepted."},
                            status=400)
    try:
        page = int(request.GET.get("page", "1"))
        if not 1 <= page <= MAX_PAGE:
            raise ValueError
    except ValueError:
        return JsonResponse({"error": f"page must be an integer from 1 to {MAX_PAGE}."}, status=400)
    size = settings.LEORS_FEED_PAGE_SIZE
    freezes = Freeze.objects.in_force(now).select_related("case").order_by("activated_at", "pk")
    holds = PreservationHold.objects.in_force(now).select_related("case").order_by("started_at", "pk")
    freeze_count, hold_count = freezes.count(), holds.count()
    start, end = (page - 1) * size, page * size
    page_freezes = list(freezes[start:min(end, freeze_count)]) if start < freeze_count else []
    page_holds = list(holds[max(0, start - freeze_count):end - freeze_count]) if end > freeze_count else []
    subjects = exchange_subjects_of([f.case_id for f in page_freezes] + [h.case_id for h in page_holds])
    items: list[dict[str, Any]] = [
        *({"type": "freeze", "id": f.pk, "case": f.case.reference, "subjects": subjects[f.case_id],
           "starts_at": f.activated_at.isoformat(), "ends_at": f.expires_at.isoformat()} for f in page_freezes),
        *({"type": "preservation", "id": h.pk, "case": h.case.reference, "subjects": subjects[h.case_id],
           "starts_at": h.started_at.isoformat(), "ends_at": h.expires_at.isoformat()} for h in page_holds),
    ]
    total = freeze_count + hold_count
    url = reverse("restriction_feed")
    return JsonResponse({
        "as_of": now.isoformat(),
        "count": total,
        "page": page,
        "next": f"{url}?page={page + 1}" if end < total else None,
        "previous": f"{url}?page={page - 1}" if page > 1 else None,
        "results": items,
    })
