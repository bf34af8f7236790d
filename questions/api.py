"""Question API: one view per operation, calling the same services as the pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.errors import Forbidden, InvalidInput
from marketplace.models import Category, User
from payments.models import Payment
from payments.services import PaymentFailed

from . import intake, selectors, services
from .models import Channel, Message, Question
from .request_center import phone_requests_for_expert


def _user(request: Request) -> User:
    return request.user  # type: ignore[return-value]


class QuestionPreviewOutput(serializers.ModelSerializer):
    category = serializers.CharField(source="category.name")

    class Meta:
        model = Question
        fields = [
            "id",
            "category",
            "title",
            "summary",
            "price_minor",
            "currency",
            "is_member_question",
            "channel",
            "posted_at",
        ]

    def to_representation(self, instance: Question) -> dict[str, Any]:
        data = super().to_representation(instance)
        if instance.channel == Channel.PHONE:
            # A phone-call request: category, price and channel until an expert accepts it.
            data.update(
                title="Phone call request", summary="", price_minor=instance.phone_price_minor
            )
        return data


class QuestionOutput(serializers.ModelSerializer):
    category = serializers.CharField(source="category.slug")
    expert = serializers.CharField(source="expert.name", allow_null=True, default=None)

    class Meta:
        model = Question
        fields = [
            "id",
            "category",
            "title",
            "body",
            "status",
            "channel",
            "price_minor",
            "currency",
            "is_member_question",
            "phone_price_minor",
            "expert",
            "created_at",
            "posted_at",
            "picked_up_at",
            "rating_stars",
            "rating_automatic",
            "version",
        ]


class MessageOutput(serializers.ModelSerializer):
    author = serializers.CharField(source="author.name")

    class Meta:
        model = Message
        fields = ["id", "author", "body", "body_html", "created_at"]


class AskInput(serializers.Serializer):
    """What a customer asks with: the same for a direct post and for the intake bot."""

    category = serializers.SlugRelatedField(
        slug_field="slug", queryset=Category.objects.filter(is_active=True)
    )
    title = serializers.CharField(max_length=150)
    body = serializers.CharField(max_length=5000)
    price_minor = serializers.IntegerField(required=False, allow_null=True, min_value=0)


class QuestionCreateApi(APIView):
    @extend_schema(request=AskInput, responses={201: QuestionOutput})
    def post(self, request: Request) -> Response:
        data = AskInput(data=request.data)
        data.is_valid(raise_exception=True)
        draft, prepared = services.question_draft_for_charge(
            customer=_user(request),
            category=data.validated_data["category"],
            title=data.validated_data["title"],
            body=data.validated_data["body"],
            price_minor=data.validated_data.get("price_minor"),
        )
        return _pay_and_post(
            lambda: services.question_charge_and_post(
                question=draft, customer=_user(request), prepared=prepared
            ),
            draft.pk,
            status.HTTP_201_CREATED,
        )


class PaymentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    amount_minor = serializers.IntegerField()
    currency = serializers.CharField()
    next_action_url = serializers.CharField()
    failure_message = serializers.CharField()


def _pay_and_post(
    charge: Callable[[], tuple[Question, Payment | None]], question_id: int, ok_status: int
) -> Response:
    """Charge and post; a declined card answers 402 with the reason and the draft's id."""
    try:
        question, payment = charge()
    except PaymentFailed as exc:
        return Response(
            {"error": exc.code, "detail": exc.message, "draft_id": question_id},
            status=status.HTTP_402_PAYMENT_REQUIRED,
        )
    body = dict(QuestionOutput(question).data)
    body["payment"] = PaymentOutput(payment).data if payment else None
    return Response(body, status=ok_status)


class QuestionPayApi(APIView):
    @extend_schema(request=None, responses=QuestionOutput)
    def post(self, request: Request, question_id: int) -> Response:
        return _pay_and_post(
            lambda: services.question_pay_and_post(
                question_id=question_id, customer=_user(request)
            ),
            question_id,
            status.HTTP_200_OK,
        )


class QuestionRefundApi(APIView):
    class QuestionRefundInput(serializers.Serializer):
        reason = serializers.CharField(max_length=500)

    @extend_schema(request=QuestionRefundInput, responses={201: dict})
    def post(self, request: Request, question_id: int) -> Response:
        data = self.QuestionRefundInput(data=request.data)
        data.is_valid(raise_exception=True)
        refund = services.question_refund_request(
            question_id=question_id, customer=_user(request), reason=data.validated_data["reason"]
        )
        return Response(
            {"id": refund.pk, "status": refund.status, "amount_minor": refund.amount_minor},
            status=status.HTTP_201_CREATED,
        )


class QuestionMineApi(APIView):
    @extend_schema(responses=QuestionOutput(many=True))
    def get(self, request: Request) -> Response:
        user = _user(request)
        rows = (
            selectors.questions_of_expert(expert=user)
            if user.is_expert
            else selectors.questions_of_customer(customer=user)
        )
        return Response(QuestionOutput(rows, many=True).data)


class QuestionOpenListApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("category", str, required=False),
            OpenApiParameter("page", int, required=False),
        ],
        responses=QuestionPreviewOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        user = _user(request)
        if not user.is_expert:
            raise Forbidden("All questions is for verified experts.")
        try:
            page_number = int(request.query_params.get("page", "1"))
        except ValueError:
            raise InvalidInput("page must be a number.") from None
        page, _ = selectors.open_questions_for_expert(
            expert=user, category_slug=request.query_params.get("category"), page=page_number
        )
        return Response(
            {
                "page": page.number,
                "has_next": page.has_next,
                "results": QuestionPreviewOutput(page.items, many=True).data,
            }
        )


class QuestionDetailApi(APIView):
    @extend_schema(responses=QuestionOutput)
    def get(self, request: Request, question_id: int) -> Response:
        access = selectors.question_get_for_user(question_id=question_id, user=_user(request))
        if not access.can_read_thread:
            return Response({"preview": QuestionPreviewOutput(access.question).data})
        return Response(QuestionOutput(access.question).data)


class QuestionPickUpApi(APIView):
    @extend_schema(request=None, responses=QuestionOutput)
    def post(self, request: Request, question_id: int) -> Response:
        question = services.question_pick_up(question_id=question_id, expert=_user(request))
        return Response(QuestionOutput(question).data)


class MessageListCreateApi(APIView):
    class MessageListCreateInput(serializers.Serializer):
        body = serializers.CharField(allow_blank=True, trim_whitespace=False)

    @extend_schema(
        parameters=[OpenApiParameter("after", int, required=False)],
        responses=MessageOutput(many=True),
    )
    def get(self, request: Request, question_id: int) -> Response:
        access = selectors.thread_get_for_user(question_id=question_id, user=_user(request))
        try:
            after = int(request.query_params.get("after", "0"))
        except ValueError:
            raise InvalidInput("after must be a message id.") from None
        rows = selectors.messages_after(question=access.question, after_id=after)
        return Response(
            {"version": access.question.version, "results": MessageOutput(rows, many=True).data}
        )

    @extend_schema(request=MessageListCreateInput, responses={201: MessageOutput})
    def post(self, request: Request, question_id: int) -> Response:
        data = self.MessageListCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.message_post(
            question_id=question_id, author=_user(request), body=data.validated_data["body"]
        )
        return Response(MessageOutput(message).data, status=status.HTTP_201_CREATED)


class QuestionAnsweredApi(APIView):
    @extend_schema(request=None, responses=QuestionOutput)
    def post(self, request: Request, question_id: int) -> Response:
        question = services.question_mark_answered(question_id=question_id, customer=_user(request))
        return Response(QuestionOutput(question).data)


class QuestionRateApi(APIView):
    class QuestionRateInput(serializers.Serializer):
        stars = serializers.IntegerField()
        comment = serializers.CharField(max_length=500, required=False, allow_blank=True)

    @extend_schema(request=QuestionRateInput, responses=QuestionOutput)
    def post(self, request: Request, question_id: int) -> Response:
        data = self.QuestionRateInput(data=request.data)
        data.is_valid(raise_exception=True)
        question = services.question_rate(
            question_id=question_id,
            customer=_user(request),
            stars=data.validated_data["stars"],
            comment=data.validated_data.get("comment", ""),
        )
        return Response(QuestionOutput(question).data)


class RequestCenterApi(APIView):
    """The Request Center: open phone-call requests in the expert's categories."""

    @extend_schema(responses=QuestionPreviewOutput(many=True))
    def get(self, request: Request) -> Response:
        user = _user(request)
        if not user.is_expert:
            raise Forbidden("The Request Center is for verified experts.")
        rows = phone_requests_for_expert(expert=user)
        return Response({"results": QuestionPreviewOutput(rows, many=True).data})


class BotTurnOutput(serializers.Serializer):
    prompt = serializers.CharField()
    answer = serializers.CharField()


class BotConversationOutput(serializers.Serializer):
    question = serializers.IntegerField()
    transcript = BotTurnOutput(many=True)


class BotConversationApi(APIView):
    """The intake bot's conversation: for the customer, staff and the expert who accepted."""

    @extend_schema(responses=BotConversationOutput)
    def get(self, request: Request, question_id: int) -> Response:
        access = selectors.thread_get_for_user(question_id=question_id, user=_user(request))
        return Response(
            {"question": access.question.pk, "transcript": access.question.bot_transcript}
        )


# --- The intake bot (the same services as the ask pages) -----------------------------


class IntakeOutput(serializers.Serializer):
    """Where the conversation stands: the bot's next question, or the choice to make."""

    def to_representation(self, session: Any) -> dict[str, Any]:
        step = intake.next_step(session)
        category = session.category
        return {
            "id": session.pk,
            "category": category.slug,
            "title": session.title,
            "experience": session.experience,
            "transcript": intake.transcript(session),
            "next_question": None
            if step is None
            else {
                "prompt": step.prompt,
                "kind": step.kind,
                "choices": list(step.choices),
                "max_chars": step.max_chars,
            },
            "channels": (["chat", "phone"] if intake.offers_choice(session) else ["chat"])
            if step is None
            else [],
            "phone_price_minor": category.phone_call_price_minor
            if intake.offers_choice(session)
            else None,
            "question": session.question_id,
        }


class IntakeStartApi(APIView):
    @extend_schema(request=AskInput, responses={201: IntakeOutput})
    def post(self, request: Request) -> Response:
        data = AskInput(data=request.data)
        data.is_valid(raise_exception=True)
        session = intake.intake_start(
            customer=_user(request),
            category=data.validated_data["category"],
            title=data.validated_data["title"],
            body=data.validated_data["body"],
            price_minor=data.validated_data.get("price_minor"),
        )
        return Response(IntakeOutput(session).data, status=status.HTTP_201_CREATED)


class IntakeDetailApi(APIView):
    @extend_schema(responses=IntakeOutput)
    def get(self, request: Request, intake_id: int) -> Response:
        session = intake.intake_get_for_user(intake_id=intake_id, user=_user(request))
        return Response(IntakeOutput(session).data)


class IntakeAnswerApi(APIView):
    class IntakeAnswerInput(serializers.Serializer):
        # The bot's own limits (per question) give the clear message; this only bounds input.
        answer = serializers.CharField(max_length=5000, allow_blank=True, trim_whitespace=False)

    @extend_schema(request=IntakeAnswerInput, responses=IntakeOutput)
    def post(self, request: Request, intake_id: int) -> Response:
        intake.intake_get_for_user(intake_id=intake_id, user=_user(request))
        data = self.IntakeAnswerInput(data=request.data)
        data.is_valid(raise_exception=True)
        session = intake.intake_answer(
            intake_id=intake_id, customer=_user(request), answer=data.validated_data["answer"]
        )
        return Response(IntakeOutput(session).data)


class IntakeFinishApi(APIView):
    class IntakeFinishInput(serializers.Serializer):
        channel = serializers.ChoiceField(choices=Channel.choices)
        price_minor = serializers.IntegerField(required=False, allow_null=True, min_value=0)

    @extend_schema(request=IntakeFinishInput, responses={201: QuestionOutput})
    def post(self, request: Request, intake_id: int) -> Response:
        user = _user(request)
        intake.intake_get_for_user(intake_id=intake_id, user=user)
        data = self.IntakeFinishInput(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data["channel"] == Channel.CHAT:
            draft = intake.intake_finish_chat(
                intake_id=intake_id,
                customer=user,
                price_minor=data.validated_data.get("price_minor"),
            )
            return _pay_and_post(
                lambda: services.question_charge_and_post(question=draft, customer=user),
                draft.pk,
                status.HTTP_201_CREATED,
            )
        question = intake.intake_finish_phone(intake_id=intake_id, customer=user)
        booking = intake.phone_request_book(question_id=question.pk, customer=user)
        question.refresh_from_db()
        body = dict(QuestionOutput(question).data)
        body["booking"] = {
            "status": booking.status,
            "detail": booking.message,
            "next_action_url": booking.next_action_url,
        }
        ok = booking.status != "failed"
        return Response(
            body, status=status.HTTP_201_CREATED if ok else status.HTTP_402_PAYMENT_REQUIRED
        )
