from django.apps import AppConfig


class StatsConfig(AppConfig):
    name = "saebom.stats"
    label = "stats"
    verbose_name = "Statistics"
