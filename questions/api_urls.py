from django.urls import path

from . import api

urlpatterns = [
    path("questions/", api.QuestionCreateApi.as_view(), name="api_question_create"),
    path("questions/mine/", api.QuestionMineApi.as_view(), name="api_question_mine"),
    path("questions/open/", api.QuestionOpenListApi.as_view(), name="api_question_open"),
    path(
        "questions/<int:question_id>/", api.QuestionDetailApi.as_view(), name="api_question_detail"
    ),
    path(
        "questions/<int:question_id>/pick-up/",
        api.QuestionPickUpApi.as_view(),
        name="api_question_pick_up",
    ),
    path(
        "questions/<int:question_id>/messages/",
        api.MessageListCreateApi.as_view(),
        name="api_question_messages",
    ),
    path(
        "questions/<int:question_id>/answered/",
        api.QuestionAnsweredApi.as_view(),
        name="api_question_answered",
    ),
    path(
        "questions/<int:question_id>/rating/",
        api.QuestionRateApi.as_view(),
        name="api_question_rate",
    ),
    path("request-center/", api.RequestCenterApi.as_view(), name="api_request_center"),
    path(
        "questions/<int:question_id>/bot-conversation/",
        api.BotConversationApi.as_view(),
        name="api_question_bot_conversation",
    ),
    path("intake/", api.IntakeStartApi.as_view(), name="api_intake_start"),
    path("intake/<int:intake_id>/", api.IntakeDetailApi.as_view(), name="api_intake_detail"),
    path(
        "intake/<int:intake_id>/answers/", api.IntakeAnswerApi.as_view(), name="api_intake_answer"
    ),
    path("intake/<int:intake_id>/finish/", api.IntakeFinishApi.as_view(), name="api_intake_finish"),
]
