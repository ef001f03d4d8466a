"""allauth adapters: no self sign-up, TOTP secrets under our key ring, MFA that stays on."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from saebom.core.context import client_ip
from saebom.core.fields import decrypt_token, keyring

TOTP_SECRET_AAD = b"mfa_authenticator.totp_secret"


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False  # administrators create accounts (`saebom createuser`, the users page)

    def get_client_ip(self, request: HttpRequest) -> str:
        # allauth's rate limits key on this. Behind the proxy it must be the client's address,
        # as for axes and the audit log: keyed on the proxy's, every sign-in in the installation
        # shared one limit, and ten logins in progress refused the next (benchmarks/load_serve.py).
        address = client_ip(request)
        if not address:  # as allauth does: an unknown client must not share one bucket
            raise PermissionDenied("Unable to determine client IP address")
        return address

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        return None  # accounts have no e-mail address; nothing leaves the server


class MFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        return keyring().encrypt(text, TOTP_SECRET_AAD)

    def decrypt(self, encrypted_text: str) -> str:
        return decrypt_token(encrypted_text, TOTP_SECRET_AAD)

    def can_delete_authenticator(self, authenticator: Authenticator) -> bool:
        return authenticator.type != Authenticator.Type.TOTP  # MFA is required for every account

    def send_notification_mail(self, *args: Any, **kwargs: Any) -> None:
        return None
