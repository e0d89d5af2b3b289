"""Officer portal views for cases (placeholder: the portal is being built)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse


def _todo(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404


case_list = case_new = case_detail = case_message = case_withdraw = case_share = _todo
case_document_download = production_download = _todo
