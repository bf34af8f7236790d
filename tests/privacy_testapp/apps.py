from django.apps import AppConfig


class PrivacyTestappConfig(AppConfig):
    name = "tests.privacy_testapp"
    label = "privacy_testapp"
    default_auto_field = "django.db.models.BigAutoField"
