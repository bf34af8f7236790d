"""Loads demo data: categories, people, and questions in several states. Safe to run twice."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from marketplace.demo import (
    DEMO_PASSWORD,
    DEMO_TOTP_SECRET,
    INTAKE_QUESTIONS,
    people_seed,
    phone_first_rollout_seed,
)
from marketplace.models import Category, User
from payments import services as payment_services
from payments.models import MembershipPlan
from questions import intake, services
from questions.models import Question


class Command(BaseCommand):
    help = "Load demo categories, users and questions (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        logins = people_seed()
        self._plans()
        self._services()
        created = self._questions()
        # The intake bot's questions and the phone-first rollout (issue 7).
        intake.intake_questions_seed(INTAKE_QUESTIONS)
        phone_first_rollout_seed()
        self.stdout.write(self.style.SUCCESS(f"Demo data ready ({created} new questions)."))
        self.stdout.write(f"\nDemo logins (password for all: {DEMO_PASSWORD}):")
        for login in logins:
            self.stdout.write(f"  {login.email:<24} {login.role}")
        self.stdout.write(
            f"\nStaff sign in with a TOTP code. Add the demo secret {DEMO_TOTP_SECRET} to an "
            "authenticator app, or print the current code with:\n"
            "  .venv/bin/python manage.py demo_totp_code\n"
        )

    def _services(self) -> None:
        from premium.models import ServiceTemplate

        cats = {c.slug: c for c in Category.objects.all()}
        menu = {
            "medical": [
                (
                    "phone_call",
                    "Phone call with the doctor",
                    "A 20-minute call about your symptoms",
                    4900,
                ),
                (
                    "video_call",
                    "Video consultation",
                    "See the doctor on video for 20 minutes",
                    6900,
                ),
                (
                    "xray_review",
                    "X-ray or scan review",
                    "A written reading of your X-ray, CT or MRI",
                    7900,
                ),
            ],
            "legal": [
                ("phone_call", "Phone call with the lawyer", "30 minutes on your case", 7900),
                (
                    "document_review",
                    "Legal document review",
                    "A contract or letter reviewed, with notes",
                    12900,
                ),
            ],
            "tech-support": [
                (
                    "remote_assistance",
                    "Remote assistance",
                    "The expert fixes it on your screen, with you",
                    4900,
                ),
                ("phone_call", "Phone call", "20 minutes on the phone", 3900),
            ],
            "veterinary": [
                ("video_call", "Video call with the vet", "The vet sees your pet on video", 5900),
                ("phone_call", "Phone call with the vet", "20 minutes on the phone", 4500),
            ],
            "appraisals": [
                (
                    "appraisal_video_call",
                    "Appraisal video call",
                    "Show the item on video for a valuation",
                    5900,
                ),
                (
                    "document_review",
                    "Written appraisal",
                    "A written valuation from your photos",
                    8900,
                ),
            ],
            "home-improvement": [
                ("video_call", "Video walk-through", "Show the problem on video", 4900),
                ("phone_call", "Phone call", "20 minutes on the phone", 3900),
            ],
            "cars": [
                ("phone_call", "Phone call with the mechanic", "20 minutes on the phone", 3900),
                ("video_call", "Video diagnosis", "Show the car and the noise on video", 4900),
            ],
        }
        for slug, offered in menu.items():
            for kind, name, description, price in offered:
                ServiceTemplate.objects.update_or_create(
                    category=cats[slug],
                    name=name,
                    defaults={"kind": kind, "description": description, "usual_price_minor": price},
                )

    def _plans(self) -> None:
        cats = {c.slug: c for c in Category.objects.all()}
        for position, (name, price, description, slugs) in enumerate(
            [
                (
                    "Health",
                    1900,
                    "Doctors and vets, as often as you need.",
                    ["medical", "veterinary"],
                ),
                (
                    "Home & car",
                    1900,
                    "Mechanics and tradespeople.",
                    ["cars", "home-improvement", "tech-support"],
                ),
                ("All access", 3900, "Every category, every expert.", list(cats)),
            ]
        ):
            plan, _ = MembershipPlan.objects.update_or_create(
                name=name,
                defaults={"price_minor": price, "description": description, "position": position},
            )
            plan.categories.set([cats[s] for s in slugs])

    @transaction.atomic
    def _questions(self) -> int:
        customer = User.objects.get(email="customer@example.com")
        member = User.objects.get(email="member@example.com")
        expert = User.objects.get(email="expert@example.com")
        if Question.objects.filter(customer__in=[customer, member]).exists():
            return 0
        cat = {c.slug: c for c in Category.objects.all()}
        if payment_services.card_get(user=customer) is None:
            payment_services.card_save_local(
                user=customer, number="4242424242424242", exp_month=12, exp_year=2034, cvc="123"
            )

        def ask(**kwargs: Any) -> Question:
            return services.question_ask(**kwargs)[0]

        ask(
            customer=customer,
            category=cat["cars"],
            title="Check engine light after filling up",
            body="My 2014 Civic's check engine light came on right after I filled the tank. "
            "It drives normally. Is it safe to keep driving?",
            price_minor=2500,
        )
        ask(
            customer=member,
            category=cat["medical"],
            title="Rash on forearm that itches at night",
            body="A red, slightly raised rash appeared on my left forearm three days ago.",
            price_minor=None,
        )
        talk = ask(
            customer=customer,
            category=cat["tech-support"],
            title="Laptop fan runs loud all the time",
            body="My laptop fan is loud even when idle. It is two years old.",
            price_minor=1500,
        )
        services.question_pick_up(question_id=talk.pk, expert=expert)
        services.message_post(
            question_id=talk.pk,
            author=expert,
            body="Hi! Which laptop model is it, and does it happen on battery too?",
        )
        services.message_post(
            question_id=talk.pk, author=customer, body="A Dell XPS 13, and yes, on battery too."
        )
        done = ask(
            customer=customer,
            category=cat["medical"],
            title="Can I take ibuprofen with my blood pressure pills?",
            body="I take lisinopril 10 mg daily. I have a headache; is ibuprofen OK?",
            price_minor=3000,
        )
        services.question_pick_up(question_id=done.pk, expert=expert)
        services.message_post(
            question_id=done.pk,
            author=expert,
            body="An occasional dose is usually fine, but regular use can raise blood pressure. "
            "Paracetamol is a safer choice for you. See https://www.nhs.uk/medicines/ibuprofen/",
        )
        services.question_rate(
            question_id=done.pk, customer=customer, stars=5, comment="Clear, thanks!"
        )
        return 4
