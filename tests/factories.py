"""factory_boy factories for the shared app and questions."""

from __future__ import annotations

from typing import cast

import factory
from django.utils import timezone

from marketplace.models import Category, CustomerProfile, ExpertProfile, MembershipStatus, User
from payments import services as payment_services
from questions import services as question_services
from questions.models import Question


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    display_name = factory.Sequence(lambda n: f"User {n}")
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests-123")

    @factory.post_generation
    def verified_email(obj: User, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            from allauth.account.models import EmailAddress

            obj.save()
            EmailAddress.objects.create(user=obj, email=obj.email, verified=True, primary=True)


class CategoryFactory(factory.django.DjangoModelFactory[Category]):
    class Meta:
        model = Category

    slug = factory.Sequence(lambda n: f"cat-{n}")
    name = factory.Sequence(lambda n: f"Category {n}")
    min_price_minor = 500
    max_price_minor = 20_000
    member_question_value_minor = 1_000


def make_category(**kwargs: object) -> Category:
    return cast(Category, CategoryFactory(**kwargs))


TEST_CARD = "4242424242424242"


def make_customer(
    *, member: bool = False, country: str = "US", card: str | None = TEST_CARD, **kwargs: object
) -> User:
    """A customer; with a card on file (saved through the local gateway) unless card=None."""
    user = cast(User, UserFactory(**kwargs))
    CustomerProfile.objects.create(
        user=user,
        country=country,
        membership_status=MembershipStatus.ACTIVE if member else MembershipStatus.NONE,
    )
    if card:
        save_card(user, card)
    return user


def save_card(user: User, number: str) -> None:
    payment_services.card_save_local(
        user=user, number=number, exp_month=12, exp_year=2034, cvc="123"
    )


def make_expert(*categories: Category, verified: bool = True, **kwargs: object) -> User:
    user = cast(User, UserFactory(**kwargs))
    profile = ExpertProfile.objects.create(
        user=user, verified_at=timezone.now() if verified else None
    )
    profile.categories.set(categories)
    return user


def make_question(
    *, customer: User, category: Category, price_minor: int | None = 2500, title: str = "Help"
) -> Question:
    question, _ = question_services.question_ask(
        customer=customer,
        category=category,
        title=title,
        body="Some details about my problem.",
        price_minor=price_minor,
    )
    return question
