from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "saebom.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from saebom.accounts import signals  # noqa: F401  (connects the login audit)
