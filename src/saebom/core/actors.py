"""Who is acting: a user account, or the system operator running a CLI command."""

from __future__ import annotations

import contextvars
import getpass
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from saebom.accounts.models import User


@dataclass(frozen=True)
class SystemActor:
    """The operator at the server's shell. Recorded in the audit log with the OS user name."""

    os_user: str

    is_authenticated = True
    is_system = True
    pk = None
    agency = None
    agency_id = None

    @property
    def audit_name(self) -> str:
        return f"system:{self.os_user}"


@dataclass(frozen=True)
class AnonymousActor:
    """Someone not (yet) signed in, such as a failed login. Only ever an audit actor."""

    is_authenticated = False
    is_system = False
    pk = None
    agency = None
    agency_id = None
    audit_name = "anonymous"


Actor = Union["User", SystemActor]
AuditActor = Union["User", SystemActor, AnonymousActor]


def system_actor() -> SystemActor:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "unknown"
    return SystemActor(os_user=name)


def audit_name(actor: AuditActor) -> str:
    if isinstance(actor, SystemActor | AnonymousActor):
        return actor.audit_name
    return str(actor.get_username())


# The account a CLI command acts as (`saebom --as USERNAME ...`); empty for the operator.
_cli_username: contextvars.ContextVar[str] = contextvars.ContextVar("saebom_cli_as", default="")


def set_cli_username(username: str) -> None:
    _cli_username.set(username)


def cli_actor() -> Actor:
    """The actor for a CLI command: the `--as` account, whose permissions then apply."""
    from saebom.accounts.models import User
    from saebom.core.exceptions import NotFound

    username = _cli_username.get()
    if not username:
        return system_actor()
    try:
        return User.objects.select_related("agency").get(username=username, is_active=True)
    except User.DoesNotExist:
        raise NotFound(f"--as {username}: no active account with that user name") from None
