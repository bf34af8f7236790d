"""The project's URLs, plus the local gateway's authentication page if
payments/urls.py does not route it (yet)."""

from django.urls import NoReverseMatch, path, reverse

from marketplace.urls import urlpatterns as project_urlpatterns
from payments.gateway import local_views

urlpatterns = list(project_urlpatterns)

try:
    reverse("local_gateway_authenticate", args=["x"], urlconf="marketplace.urls")
except NoReverseMatch:
    urlpatterns.append(
        path(
            "payments/local-gateway/authenticate/<str:intent_id>/",
            local_views.authenticate,
            name="local_gateway_authenticate",
        )
    )
