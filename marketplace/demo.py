"""Demo and seed data shared by `seed_demo`, the tests and the benchmarks."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import Group
from django.db import transaction

from .models import Category, CustomerProfile, ExpertProfile, MembershipStatus, User
from .roles import CUSTOMER_CARE, FINANCE, ensure_staff_groups

# (slug, name, description, min, max, member value, phone price, phone payout) in cents
CATEGORIES = [
    (
        "medical",
        "Medical",
        "Doctors and nurses: symptoms, medicines, test results",
        1500,
        15000,
        1200,
        4900,
        2500,
    ),
    (
        "legal",
        "Legal",
        "Lawyers: contracts, tenancy, employment, family law",
        2000,
        25000,
        1500,
        7900,
        4000,
    ),
    (
        "tech-support",
        "Tech support",
        "Computers, phones, networks, software",
        500,
        8000,
        600,
        3900,
        2000,
    ),
    (
        "veterinary",
        "Veterinary",
        "Vets: pets' health, food, behaviour",
        1000,
        10000,
        1000,
        4500,
        2300,
    ),
    (
        "appraisals",
        "Appraisals",
        "Antiques, jewellery, collectibles, art",
        1000,
        12000,
        1000,
        5900,
        3000,
    ),
    (
        "home-improvement",
        "Home improvement",
        "Plumbing, electrics, heating, building work",
        800,
        9000,
        800,
        4500,
        2300,
    ),
    (
        "cars",
        "Cars",
        "Mechanics: warning lights, noises, repairs, buying advice",
        800,
        9000,
        800,
        4500,
        2300,
    ),
]

# The intake bot's questions per category: (prompt, choices or None for free text,
# longest answer in characters). Created by questions.intake.intake_questions_seed.
INTAKE_QUESTIONS: dict[str, list[tuple[str, list[str] | None, int]]] = {
    "veterinary": [
        ("Which animal is it?", ["Dog", "Cat", "Rabbit", "Bird", "Horse", "Other"], 20),
        ("How old is it?", None, 40),
        ("What symptoms do you see?", None, 500),
        ("Since when?", None, 80),
    ],
    "medical": [
        ("Who is it for?", ["Me", "My child", "Another adult"], 20),
        ("How old is the patient?", None, 40),
        ("What are the symptoms?", None, 500),
        ("Since when?", None, 80),
        ("Any medicines taken regularly?", None, 300),
    ],
    "legal": [
        ("Which country or state is this in?", None, 80),
        ("What is it about?", ["Tenancy", "Employment", "Family", "Contract", "Other"], 20),
        ("Is there a deadline or a court date?", None, 120),
    ],
    "tech-support": [
        ("Which device is it?", ["Windows PC", "Mac", "iPhone", "Android", "Network", "Other"], 20),
        ("What happens, and what error do you see?", None, 500),
        ("Since when?", None, 80),
    ],
    "cars": [
        ("Make, model and year?", None, 80),
        ("Which fuel?", ["Petrol", "Diesel", "Hybrid", "Electric"], 20),
        ("What do you notice: warning lights, noises, smells?", None, 500),
        ("Since when?", None, 80),
    ],
    "home-improvement": [
        ("Which part of the home?", ["Plumbing", "Electrics", "Heating", "Roof", "Other"], 20),
        ("What do you see or hear?", None, 500),
    ],
    "appraisals": [
        ("What is the item?", None, 120),
        ("Any marks, signatures or papers?", None, 300),
    ],
}

DEMO_PASSWORD = "expertline-demo"
# A fixed TOTP secret for the demo staff accounts only (never in production).
DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@dataclass
class DemoLogin:
    email: str
    role: str


def categories_seed() -> list[Category]:
    out = []
    for pos, (slug, name, desc, lo, hi, member, phone, payout) in enumerate(CATEGORIES):
        cat, _ = Category.objects.update_or_create(
            slug=slug,
            defaults={
                "name": name,
                "description": desc,
                "min_price_minor": lo,
                "max_price_minor": hi,
                "member_question_value_minor": member,
                "phone_call_price_minor": phone,
                "phone_call_payout_minor": payout,
                "position": pos,
            },
        )
        out.append(cat)
    return out


def user_ensure(email: str, *, name: str, password: str = DEMO_PASSWORD, **extra: object) -> User:
    from allauth.account.models import EmailAddress

    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=password, display_name=name, **extra)
    EmailAddress.objects.update_or_create(
        user=user, email=email, defaults={"verified": True, "primary": True}
    )
    return user


def customer_ensure(email: str, *, name: str, country: str = "US", member: bool = False) -> User:
    user = user_ensure(email, name=name)
    CustomerProfile.objects.update_or_create(
        user=user,
        defaults={
            "country": country,
            "membership_status": MembershipStatus.ACTIVE if member else MembershipStatus.NONE,
        },
    )
    return user


def expert_ensure(
    email: str, *, name: str, headline: str, categories: list[Category], premium_tool: bool = True
) -> User:
    from django.utils import timezone

    user = user_ensure(email, name=name)
    profile, _ = ExpertProfile.objects.get_or_create(user=user)
    profile.headline = headline
    profile.verified_at = profile.verified_at or timezone.now()
    profile.premium_tool_enabled = premium_tool
    profile.save()
    profile.categories.set(categories)
    return user


def staff_ensure(email: str, *, name: str, group: str | None, superuser: bool = False) -> User:
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP

    user = user_ensure(email, name=name)
    user.is_staff = True
    user.is_superuser = superuser
    user.save(update_fields=["is_staff", "is_superuser"])
    if group:
        user.groups.add(Group.objects.get(name=group))
    if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
        TOTP.activate(user, DEMO_TOTP_SECRET)
    return user


@transaction.atomic
def people_seed() -> list[DemoLogin]:
    ensure_staff_groups()
    cats = {c.slug: c for c in categories_seed()}
    customer_ensure("customer@example.com", name="Casey Customer")
    customer_ensure("member@example.com", name="Morgan Member", member=True)
    expert_ensure(
        "expert@example.com",
        name="Dr. Erin Expert",
        headline="Family physician and IT hobbyist",
        categories=[cats["medical"], cats["tech-support"], cats["cars"]],
    )
    expert_ensure(
        "lawyer@example.com",
        name="Lee Lawyer",
        headline="Tenancy and employment lawyer",
        categories=[cats["legal"]],
    )
    staff_ensure("care@example.com", name="Cam Care", group=CUSTOMER_CARE)
    staff_ensure("finance@example.com", name="Fin Finance", group=FINANCE)
    staff_ensure("admin@example.com", name="Ada Admin", group=None, superuser=True)
    return [
        DemoLogin("customer@example.com", "customer (Pay-Per-Question)"),
        DemoLogin("member@example.com", "customer (Member)"),
        DemoLogin("expert@example.com", "expert: Medical, Tech support, Cars"),
        DemoLogin("lawyer@example.com", "expert: Legal"),
        DemoLogin("care@example.com", "staff: Customer Care (2FA)"),
        DemoLogin("finance@example.com", "staff: Finance (2FA)"),
        DemoLogin("admin@example.com", "superuser (2FA)"),
    ]


def phone_first_rollout_seed(*, share_bp: int = 10_000) -> None:
    """The phone-first rollout for the demo: US customers, every category with a
    phone-call price, everyone of them (admins lower the share in the admin)."""
    from .models import Rollout
    from .rollout import PHONE_FIRST

    rollout, _ = Rollout.objects.get_or_create(
        key=PHONE_FIRST,
        defaults={
            "description": "Chat or phone call up front (issue 7)",
            "is_enabled": True,
            "countries": "US",
            "share_bp": share_bp,
        },
    )
    rollout.categories.set(Category.objects.filter(phone_call_price_minor__isnull=False))
