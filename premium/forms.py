from __future__ import annotations

from typing import Any

from django import forms

from marketplace.money import parse_major

from .models import ServiceKind

NEW = "new"


def _money(raw: str, what: str) -> int:
    try:
        return parse_major(raw)
    except ValueError as exc:
        raise forms.ValidationError(f"{what}: {exc}") from None


class OfferForm(forms.Form):
    service = forms.ChoiceField(label="Service")
    new_name = forms.CharField(max_length=80, required=False, label="New service: name")
    new_description = forms.CharField(
        max_length=500, required=False, label="New service: what it includes"
    )
    new_usual_price = forms.CharField(required=False, label="New service: usual price (USD)")
    new_kind = forms.ChoiceField(
        choices=ServiceKind.choices, required=False, initial="other", label="New service: kind"
    )
    price = forms.CharField(label="Price for this customer (USD)")
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=1000,
        label="What exactly you will deliver",
    )

    def __init__(self, *args: Any, templates: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices: list[tuple[str, str]] = [
            (str(t.pk), f"{t.name} (usually {t.usual_price_display})") for t in templates
        ]
        choices.append((NEW, "A new service…"))
        service = self.fields["service"]
        assert isinstance(service, forms.ChoiceField)
        service.choices = choices

    def clean_price(self) -> int:
        return _money(self.cleaned_data["price"], "Price")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("service") == NEW:
            raw = (self.data.get("new_usual_price") or "").strip()
            if not raw:
                self.add_error("new_usual_price", "Give the new service a usual price.")
            else:
                try:
                    data["new_usual_price"] = _money(raw, "Usual price")
                except forms.ValidationError as exc:
                    self.add_error("new_usual_price", exc)
        return data


class CatalogForm(forms.Form):
    name = forms.CharField(max_length=80)
    description = forms.CharField(max_length=500)
    usual_price = forms.CharField(label="Usual price (USD)")
    kind = forms.ChoiceField(choices=ServiceKind.choices, initial="other")

    def clean_usual_price(self) -> int:
        return _money(self.cleaned_data["usual_price"], "Usual price")
