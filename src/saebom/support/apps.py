from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "saebom.support"
    label = "support"
    verbose_name = "Resettlement support"
