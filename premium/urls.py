from django.urls import path

from . import call_views, earnings_views, views

urlpatterns = [
    path("q/<int:question_id>/offers", views.offer_send, name="offer_send"),
    path("offers/<int:offer_id>/accept", views.offer_accept, name="offer_accept"),
    path(
        "offers/<int:offer_id>/payment-return",
        views.offer_payment_return,
        name="offer_payment_return",
    ),
    path("offers/<int:offer_id>/decline", views.offer_decline, name="offer_decline"),
    path("offers/<int:offer_id>/withdraw", views.offer_withdraw, name="offer_withdraw"),
    path("offers/<int:offer_id>/fulfil", views.offer_fulfil, name="offer_fulfil"),
    path(
        "offers/<int:offer_id>/cannot-complete",
        views.offer_cannot_complete,
        name="offer_cannot_complete",
    ),
    path("offers/<int:offer_id>/refund", views.offer_refund, name="offer_refund"),
    path("premium/catalog/", views.catalog, name="premium_catalog"),
    path("earnings/export.csv", earnings_views.earnings_csv, name="earnings_csv"),
    path(
        "earnings/statement/<int:year>-<int:month>.pdf",
        earnings_views.earnings_statement_pdf,
        name="earnings_statement",
    ),
    # In-browser calls and screen shares of an accepted offer (static/js/call.js).
    path("offers/<int:offer_id>/call/token", call_views.call_token, name="call_token"),
    path("offers/<int:offer_id>/call/join", call_views.call_join, name="call_join"),
    path("offers/<int:offer_id>/call/signal", call_views.call_signal, name="call_signal"),
    path("offers/<int:offer_id>/call/poll", call_views.call_poll, name="call_poll"),
    path("offers/<int:offer_id>/call/event", call_views.call_event, name="call_event"),
    path("offers/<int:offer_id>/call/hang-up", call_views.call_hang_up, name="call_hang_up"),
]
