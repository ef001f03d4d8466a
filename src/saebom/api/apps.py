from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "saebom.api"
    label = "api"
