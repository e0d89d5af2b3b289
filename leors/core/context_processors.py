from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from leors import policy


def leors(request: HttpRequest) -> dict[str, Any]:
    return {"NEVER_ASK_NOTICE": policy.NEVER_ASK_NOTICE, "NO_WAIVER_NOTICE": policy.NO_WAIVER_NOTICE}
