from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "saebom.core"
    label = "core"
    verbose_name = "Saebom core"
