from __future__ import annotations

from typing import Any

from django import forms

from marketplace.models import Category
from marketplace.money import parse_major


class AskForm(forms.Form):
    category = forms.ModelChoiceField(
        queryset=Category.objects.filter(is_active=True), empty_label="Choose a category"
    )
    title = forms.CharField(max_length=150, label="Your question in one line")
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        max_length=5000,
        label="Details an expert will need",
    )
    price = forms.CharField(
        required=False,
        label="What you will pay for an answer (USD)",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "25.00"}),
    )

    def __init__(self, *args: Any, member: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.member = member
        if member:
            del self.fields["price"]

    def clean_price(self) -> int | None:
        raw = self.cleaned_data.get("price", "")
        if self.member:
            return None
        if not raw:
            raise forms.ValidationError("State the price you will pay for an answer.")
        try:
            return parse_major(raw)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


class MessageForm(forms.Form):
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), strip=True, label="Your message", required=False
    )


class RateForm(forms.Form):
    stars = forms.TypedChoiceField(
        choices=[(i, f"{i} star{'s' if i > 1 else ''}") for i in range(5, 0, -1)],
        coerce=int,
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(max_length=500, required=False, label="Comment (optional)")
