from __future__ import annotations

import time

import factory
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
)

from saebom.accounts.models import Agency, User
from saebom.core.policy import Role

PASSWORD = "correct horse battery staple"


class AgencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agency
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"agency-{n}")
    name_ko = factory.Sequence(lambda n: f"기관 {n}")
    name_en = factory.Sequence(lambda n: f"Agency {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    agency = factory.SubFactory(AgencyFactory)
    role = Role.CASEWORKER
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def with_totp(self, create: bool, extracted: bool | None, **kwargs: object) -> None:
        self.save()
        if create and extracted is not False:
            activate_totp(self)


def activate_totp(user: User) -> str:
    """Give the user a TOTP authenticator; returns the secret (for computing codes)."""
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


# A code is accepted only in its own 30 s window (allauth's tolerance is 0): one read too close
# to the window's end expires before it is checked, on a loaded machine even in a browser.
CODE_MARGIN_SECONDS = 10


def current_code(secret: str) -> str:
    """The code an authenticator app shows now, with at least CODE_MARGIN_SECONDS of its
    window left (waiting for the next window otherwise)."""
    period = mfa_settings.TOTP_PERIOD
    left = period - time.time() % period
    if left < CODE_MARGIN_SECONDS:
        time.sleep(left + 0.2)
    return format_hotp_value(hotp_value(secret, int(time.time()) // period))


class PersonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "registry.Person"

    is_synthetic = True


class ArrivalFactory(factory.django.DjangoModelFactory):
    """An arrival (and so a person) registered by an agency."""

    class Meta:
        model = "registry.Arrival"

    person = factory.SubFactory(PersonFactory)
    agency = factory.SubFactory(AgencyFactory)
    record_id = factory.Sequence(lambda n: f"R-{n:05d}")
    arrival_date = factory.LazyFunction(lambda: __import__("datetime").date(2023, 5, 1))
    arrival_precision = "day"
    arrival_year = 2023
    sex = "F"
    birth_year = 1990
    is_synthetic = True
