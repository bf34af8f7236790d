from django.urls import include, path

from . import views
from .gateway import local_views

urlpatterns = [
    path("", include("payments.payout_urls")),
    path("account/card/", views.card_page, name="payment_card"),
    path("account/card/remove/", views.card_remove, name="payment_card_remove"),
    path("account/card/stripe/setup/", views.stripe_setup_intent, name="payment_stripe_setup"),
    path("account/card/stripe/return/", views.stripe_setup_return, name="payment_stripe_return"),
    path("earnings/", views.earnings, name="earnings"),
    path("account/membership/", views.membership, name="membership"),
    path("payments/webhooks/stripe/", views.webhook, name="payment_webhook"),
    path(
        "payments/local-gateway/authenticate/<str:intent_id>/",
        local_views.authenticate,
        name="local_gateway_authenticate",
    ),
]
