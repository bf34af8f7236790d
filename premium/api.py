"""Premium API: one view per operation, calling the same services as the pages."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.errors import NotFound
from marketplace.models import User
from payments.services import PaymentFailed
from questions import selectors as question_selectors

from . import services
from .models import Offer, ServiceKind, ServiceTemplate


def _user(request: Request) -> User:
    return request.user  # type: ignore[return-value]


class OfferOutput(serializers.ModelSerializer):
    class Meta:
        model = Offer
        fields = [
            "id",
            "question",
            "kind",
            "service_kind",
            "service_name",
            "description",
            "price_minor",
            "currency",
            "status",
            "sent_at",
            "expires_at",
            "accepted_at",
            "decline_reason",
            "cancel_reason",
            "charge_failure",
        ]


# Building a ModelSerializer's fields from the model costs about 0.6 ms a time, more
# than the rest of its work: one instance builds them once, and each answer is that
# instance's representation of the offer (its fields keep no per-offer state).
_OFFER_OUTPUT = OfferOutput()


def _offer_data(offer: Offer) -> dict[str, Any]:
    return dict(_OFFER_OUTPUT.to_representation(offer))


class TemplateOutput(serializers.ModelSerializer):
    class Meta:
        model = ServiceTemplate
        fields = ["id", "kind", "name", "description", "usual_price_minor", "currency", "is_active"]


class QuestionOffersApi(APIView):
    class OfferSendInput(serializers.Serializer):
        template_id = serializers.IntegerField(required=False)
        new_service_name = serializers.CharField(max_length=80, required=False)
        new_service_description = serializers.CharField(max_length=500, required=False)
        new_service_usual_price_minor = serializers.IntegerField(required=False)
        new_service_kind = serializers.ChoiceField(choices=ServiceKind.choices, required=False)
        price_minor = serializers.IntegerField()
        description = serializers.CharField(max_length=1000, allow_blank=True)

    @extend_schema(responses=OfferOutput(many=True))
    def get(self, request: Request, question_id: int) -> Response:
        user = _user(request)
        access = question_selectors.thread_get_for_user(question_id=question_id, user=user)
        offers = Offer.objects.filter(question=access.question).order_by("sent_at")
        body: dict[str, object] = {"results": OfferOutput(offers, many=True).data}
        if access.role == "expert":
            verdict = services.eligibility_for(question=access.question, expert=user)
            body["can_offer"] = {
                "allowed": verdict.allowed,
                "due_at": verdict.due_at,
                "reason": verdict.reason,
                "message": verdict.message,
            }
        return Response(body)

    @extend_schema(request=OfferSendInput, responses={201: OfferOutput})
    def post(self, request: Request, question_id: int) -> Response:
        # Access first: a stranger gets a 404 before any validation message.
        question_selectors.thread_get_for_user(question_id=question_id, user=_user(request))
        data = self.OfferSendInput(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        new_service = None
        if d.get("new_service_name"):
            new_service = services.NewService(
                d["new_service_name"],
                d.get("new_service_description", ""),
                d.get("new_service_usual_price_minor", 0),
                d.get("new_service_kind", ServiceKind.OTHER),
            )
        offer = services.offer_send(
            expert=_user(request),
            question_id=question_id,
            template_id=d.get("template_id"),
            new_service=new_service,
            price_minor=d["price_minor"],
            description=d["description"],
        )
        return Response(_offer_data(offer), status=status.HTTP_201_CREATED)


class OfferAcceptApi(APIView):
    @extend_schema(request=None, responses=OfferOutput)
    def post(self, request: Request, offer_id: int) -> Response:
        try:
            offer, payment = services.offer_accept(offer_id=offer_id, customer=_user(request))
        except PaymentFailed as exc:
            return Response(
                {"error": exc.code, "detail": exc.message}, status=status.HTTP_402_PAYMENT_REQUIRED
            )
        body = _offer_data(offer)
        body["payment"] = {
            "status": payment.status,
            "amount_minor": payment.amount_minor,
            "next_action_url": payment.next_action_url,
        }
        return Response(body)


class OfferActionApi(APIView):
    """decline (reason), withdraw, fulfil (delivered, notes), cannot-complete (reason), refund (reason)."""

    action = ""

    class OfferActionInput(serializers.Serializer):
        reason = serializers.CharField(max_length=500, required=False, allow_blank=True)
        delivered = serializers.BooleanField(required=False)
        notes = serializers.CharField(max_length=2000, required=False, allow_blank=True)

    @extend_schema(request=OfferActionInput, responses=OfferOutput)
    def post(self, request: Request, offer_id: int) -> Response:
        data = self.OfferActionInput(data=request.data)
        data.is_valid(raise_exception=True)
        d, user = data.validated_data, _user(request)
        reason = d.get("reason", "")
        if self.action == "decline":
            services.offer_decline(offer_id=offer_id, customer=user, reason=reason)
        elif self.action == "withdraw":
            services.offer_withdraw(offer_id=offer_id, expert=user)
        elif self.action == "fulfil":
            services.offer_fulfil(
                offer_id=offer_id,
                expert=user,
                delivered=d.get("delivered", True),
                notes=d.get("notes", ""),
            )
        elif self.action == "cannot-complete":
            services.offer_cannot_complete(offer_id=offer_id, expert=user, reason=reason)
        elif self.action == "refund":
            services.offer_refund_request(offer_id=offer_id, customer=user, reason=reason)
        offer = Offer.objects.get(pk=offer_id)
        return Response(_offer_data(offer))


class CatalogApi(APIView):
    class CatalogInput(serializers.Serializer):
        name = serializers.CharField(max_length=80)
        description = serializers.CharField(max_length=500)
        usual_price_minor = serializers.IntegerField()
        kind = serializers.ChoiceField(choices=ServiceKind.choices, default=ServiceKind.OTHER)

    @extend_schema(responses=TemplateOutput(many=True))
    def get(self, request: Request) -> Response:
        items = ServiceTemplate.objects.filter(expert=_user(request)).order_by("name")
        return Response(TemplateOutput(items, many=True).data)

    @extend_schema(request=CatalogInput, responses={201: TemplateOutput})
    def post(self, request: Request) -> Response:
        data = self.CatalogInput(data=request.data)
        data.is_valid(raise_exception=True)
        template = services.catalog_template_save(expert=_user(request), **data.validated_data)
        return Response(TemplateOutput(template).data, status=status.HTTP_201_CREATED)


class CatalogItemApi(APIView):
    @extend_schema(request=CatalogApi.CatalogInput, responses=TemplateOutput)
    def put(self, request: Request, template_id: int) -> Response:
        data = CatalogApi.CatalogInput(data=request.data)
        data.is_valid(raise_exception=True)
        template = services.catalog_template_save(
            expert=_user(request), template_id=template_id, **data.validated_data
        )
        return Response(TemplateOutput(template).data)

    @extend_schema(request=None, responses=TemplateOutput)
    def delete(self, request: Request, template_id: int) -> Response:
        if not ServiceTemplate.objects.filter(pk=template_id, expert=_user(request)).exists():
            raise NotFound("This service is not in your catalog.")
        template = services.catalog_template_retire(expert=_user(request), template_id=template_id)
        return Response(TemplateOutput(template).data)
