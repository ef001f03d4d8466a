from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from saebom.accounts.selectors import is_demo_installation
from saebom.core import policy
from saebom.core.policy import Action


def saebom(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    can = {action.name.lower(): policy.allows(user, action) for action in Action}  # type: ignore[arg-type]
    # django-htmx's script tag reads "csp_nonce"; using it is what puts the nonce in the header.
    nonce = getattr(request, "csp_nonce", "")
    return {"is_demo": is_demo_installation(), "can": can, "csp_nonce": nonce}
