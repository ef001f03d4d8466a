from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "saebom.registry"
    label = "registry"
    verbose_name = "Registry"
