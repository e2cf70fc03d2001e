from django.apps import AppConfig


class CaseReportsConfig(AppConfig):
    name = "casereports"
    verbose_name = "Case reports"
    default_auto_field = "django.db.models.BigAutoField"
