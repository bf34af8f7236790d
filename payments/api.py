"""Card-on-file API (the local gateway's card form; with Stripe keys, Stripe's own form)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.models import User

from . import services
from .models import Card


def _user(request: Request) -> User:
    return request.user  # type: ignore[return-value]


class CardOutput(serializers.ModelSerializer):
    class Meta:
        model = Card
        fields = ["brand", "last4", "exp_month", "exp_year", "created_at"]


class CardApi(APIView):
    class CardSaveInput(serializers.Serializer):
        number = serializers.CharField(max_length=23)
        exp_month = serializers.IntegerField(min_value=1, max_value=12)
        exp_year = serializers.IntegerField(min_value=2000, max_value=2100)
        cvc = serializers.CharField(max_length=4)

    @extend_schema(responses=CardOutput)
    def get(self, request: Request) -> Response:
        card = services.card_get(user=_user(request))
        return Response(CardOutput(card).data if card else None)

    @extend_schema(request=CardSaveInput, responses={201: CardOutput})
    def post(self, request: Request) -> Response:
        data = self.CardSaveInput(data=request.data)
        data.is_valid(raise_exception=True)
        card = services.card_save_local(user=_user(request), **data.validated_data)
        return Response(CardOutput(card).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        services.card_remove(user=_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
