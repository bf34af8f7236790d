from django.urls import path

from . import intake_views, views

urlpatterns = [
    path("ask/", views.ask, name="ask"),
    path("ask/<int:intake_id>/", intake_views.intake_page, name="intake"),
    path("ask/<int:intake_id>/finish", intake_views.intake_finish, name="intake_finish"),
    path("request-center/", intake_views.request_center, name="request_center"),
    path("questions/", views.all_questions, name="all_questions"),
    path("q/<int:question_id>/", views.question_detail, name="question_detail"),
    path("q/<int:question_id>/poll", views.question_poll, name="question_poll"),
    path("q/<int:question_id>/messages", views.message_create, name="message_create"),
    path("q/<int:question_id>/pick-up", views.question_pick_up, name="question_pick_up"),
    path(
        "q/<int:question_id>/answered", views.question_mark_answered, name="question_mark_answered"
    ),
    path("q/<int:question_id>/rate", views.question_rate, name="question_rate"),
    path("q/<int:question_id>/pay", views.question_pay, name="question_pay"),
    path(
        "q/<int:question_id>/payment-return",
        views.question_payment_return,
        name="question_payment_return",
    ),
    path(
        "q/<int:question_id>/refund", views.question_refund_request, name="question_refund_request"
    ),
]
