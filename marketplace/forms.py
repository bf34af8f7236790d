from __future__ import annotations

from typing import Any

from django import forms

from .models import TIMEZONE_CHOICES, NotificationKind, User


class SignupProfileForm(forms.Form):
    """Extra fields on allauth's sign-up form."""

    display_name = forms.CharField(
        max_length=80, required=False, label="Your name (shown to experts)"
    )
    country = forms.CharField(
        max_length=2,
        min_length=2,
        label="Billing country (2-letter code, e.g. US)",
        initial="US",
    )
    timezone = forms.ChoiceField(choices=[("UTC", "UTC"), *TIMEZONE_CHOICES], initial="UTC")

    def clean_country(self) -> str:
        value = self.cleaned_data["country"].strip().upper()
        if not value.isalpha():
            raise forms.ValidationError("Use the two-letter country code, such as US or GB.")
        return value

    def signup(self, request: Any, user: User) -> None:
        from .services import customer_signup_complete

        customer_signup_complete(
            user=user,
            display_name=self.cleaned_data.get("display_name", ""),
            country=self.cleaned_data["country"],
            timezone_name=self.cleaned_data["timezone"],
        )


class AccountSettingsForm(forms.Form):
    display_name = forms.CharField(max_length=80, required=False, label="Display name")
    timezone = forms.ChoiceField(choices=[("UTC", "UTC"), *TIMEZONE_CHOICES], label="Time zone")

    def __init__(self, *args: Any, email_prefs: dict[str, bool] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        for kind, label in NotificationKind.choices:
            self.fields[f"email_{kind}"] = forms.BooleanField(
                required=False, label=label, initial=(email_prefs or {}).get(kind, True)
            )

    def email_choices(self) -> dict[str, bool]:
        return {k: bool(self.cleaned_data.get(f"email_{k}")) for k in NotificationKind.values}

    def email_fields(self) -> list[forms.BoundField]:
        return [self[f"email_{k}"] for k in NotificationKind.values]


class SupportRequestForm(forms.Form):
    email = forms.EmailField(label="Your email")
    subject = forms.CharField(max_length=150)
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}), max_length=5000, label="How can we help?"
    )
