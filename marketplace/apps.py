from django.apps import AppConfig
from django.db.models.signals import post_migrate


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    verbose_name = "Marketplace"

    def ready(self) -> None:
        from .roles import ensure_staff_groups

        post_migrate.connect(ensure_staff_groups, dispatch_uid="expertline-staff-groups")
