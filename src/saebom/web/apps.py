from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "saebom.web"
    label = "web"
