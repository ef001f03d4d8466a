from __future__ import annotations

import factory
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

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
