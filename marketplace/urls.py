from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from questions import views as question_views

from . import views

# The admin signs in through allauth, which asks staff for their TOTP code.
admin.site.login = login_required(admin.site.login)  # type: ignore[method-assign]
admin.site.site_header = "Expertline staff"
admin.site.site_title = "Expertline staff"

urlpatterns = [
    path("", question_views.home, name="home"),
    path("help/", views.help_page, name="help"),
    path("help/contact/", views.contact, name="contact"),
    path("account/settings/", views.account_settings, name="account_settings"),
    path("notifications/", views.notification_list, name="notification_list"),
    path("notifications/read/", views.notification_mark_read, name="notification_mark_read"),
    path("notifications/count/", views.bell_poll, name="bell_poll"),
    path("notifications/unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("allauth.urls")),
    path("_allauth/", include("allauth.headless.urls")),
    path("admin/", admin.site.urls),
    path("api/", include("marketplace.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api_schema"), name="api_docs"),
    path("", include("payments.urls")),
    path("", include("privacy.urls")),
    path("", include("premium.urls")),
    path("", include("questions.urls")),
]

if settings.EXPERTLINE_BENCHMARK_VIEWS:
    urlpatterns.append(path("bench/floor/", views.benchmark_floor, name="benchmark_floor"))
