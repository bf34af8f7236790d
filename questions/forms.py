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

    def __init__(
        self, *args: Any, member: bool = False, covered: frozenset[int] = frozenset(), **kwargs: Any
    ) -> None:
        """`member`: every question is covered (staff-granted); `covered`: the category ids
        the customer's membership plan covers (no price to state there)."""
        super().__init__(*args, **kwargs)
        self.member = member
        self.covered = covered
        if member:
            del self.fields["price"]
        elif covered:
            self.fields["price"].help_text = "Leave empty for a category your membership covers."

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.member:
            return data
        category = data.get("category")
        raw = (self.data.get("price") or "").strip()
        if category is not None and category.pk in self.covered and not raw:
            data["price"] = None
            return data
        if not raw:
            self.add_error("price", "State the price you will pay for an answer.")
            return data
        try:
            data["price"] = parse_major(raw)
        except ValueError as exc:
            self.add_error("price", str(exc))
        return data


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
