from django.apps import AppConfig


class TestimonyConfig(AppConfig):
    name = "saebom.testimony"
    label = "testimony"
    verbose_name = "Testimony and evidence"
