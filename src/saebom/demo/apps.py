from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "saebom.demo"
    label = "demo"
