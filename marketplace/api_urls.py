from django.urls import include, path
from rest_framework.authtoken.views import obtain_auth_token

from payments.api import CardApi as PaymentsCardApi

from . import api

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api_token"),
    path("categories/", api.CategoryListApi.as_view(), name="api_categories"),
    path("account/", api.AccountApi.as_view(), name="api_account"),
    path("notifications/", api.NotificationListApi.as_view(), name="api_notifications"),
    path("notifications/read/", api.NotificationReadApi.as_view(), name="api_notifications_read"),
    path("support-requests/", api.SupportRequestCreateApi.as_view(), name="api_support_create"),
    path("card/", PaymentsCardApi.as_view(), name="api_card"),
    path("", include("questions.api_urls")),
    path("", include("premium.api_urls")),
]
