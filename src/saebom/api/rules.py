"""What each API operation may be asked by whom, said once, where the operation is declared.

``@requires(Action.X)`` (under ``@router.get(...)`` and the like) names the policy action the
operation performs. The name goes into the OpenAPI schema as ``x-saebom-action``, and the token
check (``api.TokenAuth``) refuses a role without it, with a 403, before the request's parameters
and body are even read. An operation that names no action refuses every token; one that needs
no token says so with ``@public`` (``x-saebom-public``). The authorization matrix test reads the
schema to know what to expect of every operation.

Objects out of the actor's scope are still answered 404 by the operation itself (selectors).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from django.http import HttpRequest
from ninja.decorators import decorate_view
from ninja.utils import contribute_operation_callback

from saebom.core import policy
from saebom.core.actors import Actor
from saebom.core.policy import Action

ACTION_KEY = "x-saebom-action"
PUBLIC_KEY = "x-saebom-public"
REFUSALS_KEY = "x-saebom-refuses"  # read (and removed) by api.SaebomAPI

View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class Rule:
    """Every action of ``actions`` — or, with ``any_of``, at least one of them."""

    actions: tuple[Action, ...]
    any_of: bool = False

    def require(self, actor: Actor) -> None:
        """Raise :class:`PermissionDenied` unless the actor's role has what the rule needs."""
        missing = [action for action in self.actions if not policy.allows(actor, action)]
        if missing and (not self.any_of or len(missing) == len(self.actions)):
            policy.require(actor, missing[0])

    def schema(self) -> str | dict[str, list[str]]:
        """As the OpenAPI schema shows it: the action, or ``{"allOf"|"anyOf": [...]}``."""
        if len(self.actions) == 1:
            return self.actions[0].value
        return {"anyOf" if self.any_of else "allOf": [action.value for action in self.actions]}


def rule_of(request: HttpRequest) -> Rule | None:
    """The rule of the operation serving ``request`` (None: it declares none)."""
    return getattr(request, "saebom_rule", None)


def _contribute(view: Any, callback: Callable[[Any], None]) -> None:
    operation = getattr(view, "_ninja_operation", None)
    if operation is not None:  # used above the router's decorator: the operation exists
        callback(operation)
    else:
        contribute_operation_callback(view, callback)


def _extra(key: str, value: Any) -> Callable[[Any], None]:
    def contribute(operation: Any) -> None:
        operation.openapi_extra = {**(operation.openapi_extra or {}), key: value}

    return contribute


def requires(*actions: Action, any_of: bool = False) -> Callable[[View], View]:
    """Declare (and have the token check enforce) the policy action of an API operation."""
    if not actions:
        raise ValueError("name at least one action (or use @public)")
    rule = Rule(tuple(actions), any_of)

    def carry(run: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(run)
        def run_with_rule(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            request.saebom_rule = rule  # type: ignore[attr-defined]
            return run(request, *args, **kwargs)

        return run_with_rule

    def decorate(view: View) -> View:
        _contribute(view, _extra(ACTION_KEY, rule.schema()))
        decorate_view(carry)(view)
        return view

    return decorate


def refuses(*statuses: int) -> Callable[[View], View]:
    """Declare the refusals particular to an operation (404 for an object its body names, 409
    for a conflict with the record's state), beyond those its shape implies: the schema then
    documents them as problem documents (``api.problem_statuses``)."""

    def decorate(view: View) -> View:
        _contribute(view, _extra(REFUSALS_KEY, sorted(statuses)))
        return view

    return decorate


def public(view: View) -> View:
    """Declare an operation that needs no token (its router or operation has ``auth=None``)."""
    _contribute(view, _extra(PUBLIC_KEY, True))
    return view
