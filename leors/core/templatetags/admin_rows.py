"""`{% fast_result_list cl %}`: the admin's `{% result_list cl %}`, its rows built by leors.core.admin_rows.

The same template (`admin/change_list_results.html`, or a model's own), found the same way; only the
rows' cells are worked out once per column instead of once per cell (why, in leors/core/admin_rows.py).
"""

from __future__ import annotations

from django import template
from django.contrib.admin.templatetags.base import InclusionAdminNode

from leors.core.admin_rows import result_list

register = template.Library()


@register.tag(name="fast_result_list")
def fast_result_list_tag(parser: template.base.Parser, token: template.base.Token) -> InclusionAdminNode:
    return InclusionAdminNode(parser, token, func=result_list,  # type: ignore[arg-type,call-arg]  # stubs: an older signature
                              template_name="change_list_results.html", takes_context=False)
