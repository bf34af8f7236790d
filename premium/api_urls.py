from django.urls import path

from . import api

urlpatterns = [
    path(
        "questions/<int:question_id>/offers/",
        api.QuestionOffersApi.as_view(),
        name="api_question_offers",
    ),
    path("offers/<int:offer_id>/accept/", api.OfferAcceptApi.as_view(), name="api_offer_accept"),
    path("premium/catalog/", api.CatalogApi.as_view(), name="api_catalog"),
    path(
        "premium/catalog/<int:template_id>/", api.CatalogItemApi.as_view(), name="api_catalog_item"
    ),
]
for _action in ("decline", "withdraw", "fulfil", "cannot-complete", "refund"):
    urlpatterns.append(
        path(
            f"offers/<int:offer_id>/{_action}/",
            api.OfferActionApi.as_view(action=_action),
            name=f"api_offer_{_action.replace('-', '_')}",
        )
    )
