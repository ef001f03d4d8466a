from __future__ import annotations

from collections.abc import Callable

import pytest

from saebom.accounts.models import ApiToken, User
from saebom.accounts.selectors import users_visible_to
from saebom.accounts.services import api_token_create
from saebom.core import policy
from saebom.core.actors import system_actor
from saebom.core.exceptions import NotFound, PermissionDenied
from saebom.core.policy import POLICY, Action, Role, Scope


def test_every_action_has_a_policy_entry() -> None:
    assert set(POLICY) == set(Action)


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("role", list(Role))
def test_scope_comes_from_the_table(
    make_user: Callable[..., User], action: Action, role: Role
) -> None:
    user = make_user(role, with_totp=False)
    expected = POLICY[action].get(role, Scope.NONE)
    assert policy.scope_of(user, action) is expected
    if expected is Scope.NONE:
        with pytest.raises(PermissionDenied):
            policy.require(user, action)


def test_inactive_user_may_do_nothing(make_user: Callable[..., User]) -> None:
    user = make_user(Role.ADMIN, is_active=False, with_totp=False)
    assert all(policy.scope_of(user, action) is Scope.NONE for action in Action)


def test_system_operator_reaches_everything() -> None:
    assert all(policy.scope_of(system_actor(), action) is Scope.ALL for action in Action)


def test_agency_scope_hides_other_agencies(
    make_user: Callable[..., User], other_agency: object
) -> None:
    admin = make_user(Role.ADMIN, with_totp=False)
    stranger = make_user(Role.CASEWORKER, agency=other_agency, with_totp=False)
    assert stranger not in users_visible_to(admin)
    assert admin in users_visible_to(admin)
    with pytest.raises(NotFound):
        policy.get_visible(admin, Action.USER_MANAGE, User.objects.all(), pk=stranger.pk)


def test_missing_and_hidden_give_the_same_answer(
    make_user: Callable[..., User], other_agency: object
) -> None:
    admin = make_user(Role.ADMIN, with_totp=False)
    stranger = make_user(Role.CASEWORKER, agency=other_agency, with_totp=False)
    with pytest.raises(NotFound) as hidden:
        policy.get_visible(admin, Action.USER_MANAGE, User.objects.all(), pk=stranger.pk)
    with pytest.raises(NotFound) as missing:
        policy.get_visible(admin, Action.USER_MANAGE, User.objects.all(), pk=10**9)
    assert str(hidden.value) == str(missing.value)


def test_own_scope_reaches_only_own_objects(make_user: Callable[..., User]) -> None:
    alice, bob = make_user(with_totp=False), make_user(with_totp=False)
    token = api_token_create(actor=alice, name="a").token
    visible = policy.scoped(bob, Action.TOKEN_MANAGE, ApiToken.objects.all(), owner_field="user")
    assert token not in visible
    assert token in policy.scoped(
        alice, Action.TOKEN_MANAGE, ApiToken.objects.all(), owner_field="user"
    )
