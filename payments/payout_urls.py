from django.urls import path

from . import payout_views

urlpatterns = [
    path("earnings/payout-account/", payout_views.payout_account, name="payout_account"),
    path(
        "earnings/payout-account/connect/",
        payout_views.payout_account_connect,
        name="payout_account_connect",
    ),
    path(
        "earnings/payout-account/return/",
        payout_views.payout_account_return,
        name="payout_account_return",
    ),
    path(
        "earnings/payout-account/refresh/",
        payout_views.payout_account_refresh,
        name="payout_account_refresh",
    ),
    path(
        "earnings/payout-account/local-onboarding/<str:account_id>/",
        payout_views.local_payout_onboarding,
        name="local_gateway_payout_onboarding",
    ),
]
