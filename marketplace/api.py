"""API of the shared app, and the one mapping of domain errors to API answers."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from . import notifications, services
from .errors import DomainError
from .models import Category, Notification, NotificationKind, User


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return Response({"error": exc.code, "detail": exc.message}, status=exc.status)
    if isinstance(exc, Http404):
        return Response({"error": "not_found", "detail": "Not found."}, status=404)
    return drf_exception_handler(exc, context)


def _user(request: Request) -> User:
    return request.user  # type: ignore[return-value]


class CategoryOutput(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = [
            "id",
            "slug",
            "name",
            "description",
            "currency",
            "min_price_minor",
            "max_price_minor",
            "offer_delay_seconds",
        ]


class CategoryListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=CategoryOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(CategoryOutput(Category.objects.filter(is_active=True), many=True).data)


class NotificationOutput(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "kind", "text", "url", "created_at", "read_at"]


class NotificationListApi(APIView):
    @extend_schema(responses=NotificationOutput(many=True))
    def get(self, request: Request) -> Response:
        items = Notification.objects.filter(user=_user(request)).order_by("-created_at", "-id")[:50]
        return Response(
            {
                "unread": _user(request).unread_notifications,
                "results": NotificationOutput(items, many=True).data,
            }
        )


class NotificationReadApi(APIView):
    class NotificationReadInput(serializers.Serializer):
        ids = serializers.ListField(child=serializers.IntegerField(), required=False)

    @extend_schema(request=NotificationReadInput, responses={200: dict})
    def post(self, request: Request) -> Response:
        data = self.NotificationReadInput(data=request.data)
        data.is_valid(raise_exception=True)
        count = notifications.notifications_mark_read(
            user=_user(request), ids=data.validated_data.get("ids")
        )
        return Response({"marked_read": count, "unread": _user(request).unread_notifications})


class AccountApi(APIView):
    class AccountOutput(serializers.Serializer):
        email = serializers.EmailField()
        display_name = serializers.CharField()
        timezone = serializers.CharField()
        email_preferences = serializers.DictField(child=serializers.BooleanField())

    class AccountInput(serializers.Serializer):
        display_name = serializers.CharField(max_length=80, allow_blank=True, required=False)
        timezone = serializers.CharField(max_length=64, required=False)
        email_preferences = serializers.DictField(child=serializers.BooleanField(), required=False)

    def _out(self, user: User) -> Response:
        return Response(
            self.AccountOutput(
                {
                    "email": user.email,
                    "display_name": user.display_name,
                    "timezone": user.timezone,
                    "email_preferences": notifications.email_preferences_get(user),
                }
            ).data
        )

    @extend_schema(responses=AccountOutput)
    def get(self, request: Request) -> Response:
        return self._out(_user(request))

    @extend_schema(request=AccountInput, responses=AccountOutput)
    def patch(self, request: Request) -> Response:
        user = _user(request)
        data = self.AccountInput(data=request.data)
        data.is_valid(raise_exception=True)
        prefs = data.validated_data.get("email_preferences", {})
        unknown = set(prefs) - set(NotificationKind.values)
        if unknown:
            raise serializers.ValidationError(
                {"email_preferences": f"Unknown kinds: {', '.join(sorted(unknown))}"}
            )
        services.account_settings_update(
            user=user,
            display_name=data.validated_data.get("display_name", user.display_name),
            timezone_name=data.validated_data.get("timezone", user.timezone),
            email_enabled=prefs,
        )
        return self._out(user)


class SupportRequestCreateApi(APIView):
    permission_classes = [AllowAny]

    class SupportRequestCreateInput(serializers.Serializer):
        email = serializers.EmailField()
        subject = serializers.CharField(max_length=150)
        body = serializers.CharField(max_length=5000)

    @extend_schema(request=SupportRequestCreateInput, responses={201: dict})
    def post(self, request: Request) -> Response:
        data = self.SupportRequestCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        sr = services.support_request_create(user=_user(request), **data.validated_data)
        return Response({"id": sr.pk, "status": sr.status}, status=status.HTTP_201_CREATED)
