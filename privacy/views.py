"""Private information pages: thin views over privacy.services, every one access-checked."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from marketplace.errors import DomainError
from marketplace.models import User

from . import services
from .models import FlagReason


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _flash(request: HttpRequest, exc: DomainError) -> None:
    if exc.status in (403, 404, 429):  # 429: a page of its own with the message
        raise exc
    messages.error(request, exc.message)


# Error reports (the 500 email to the admins, the technical page) show the request's POST
# and the frames' variables: the private values are replaced by stars there.
@sensitive_post_parameters(*services.BOX_FIELDS)
@login_required
@require_POST
def box_update(request: HttpRequest, question_id: int) -> HttpResponse:
    try:
        services.box_update(
            question_id=question_id,
            user=_user(request),
            values={f: request.POST.get(f, "") for f in services.BOX_FIELDS},
        )
    except DomainError as exc:
        _flash(request, exc)
    else:
        messages.success(request, "Saved in the private information box.")
    return redirect(f"/q/{question_id}/#private-box")


@sensitive_variables("upload")
@login_required
@require_POST
def attachment_upload(request: HttpRequest, question_id: int) -> HttpResponse:
    upload = request.FILES.get("file")
    try:
        if upload is None:
            services.box_get_for_user(question_id=question_id, user=_user(request))
            messages.error(request, "Choose a file to upload.")
        else:
            services.attachment_upload(question_id=question_id, user=_user(request), upload=upload)
            messages.success(
                request, "Uploaded. Only the two of you and Customer Care can open it."
            )
    except DomainError as exc:
        _flash(request, exc)
    return redirect(f"/q/{question_id}/#private-box")


@sensitive_variables("data")
@login_required
@require_GET
def attachment_view(request: HttpRequest, attachment_id: int) -> HttpResponse:
    """Served only through this access-checked view; never from a public URL."""
    attachment = services.attachment_get_for_user(attachment_id=attachment_id, user=_user(request))
    data = services.attachment_read(attachment)
    response = HttpResponse(data, content_type=attachment.content_type)
    inline = (
        attachment.content_type.startswith("image/") or attachment.content_type == "application/pdf"
    )
    disposition = "inline" if inline else "attachment"
    response["Content-Disposition"] = f'{disposition}; filename="attachment-{attachment.pk}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def message_flag(request: HttpRequest, message_id: int) -> HttpResponse:
    """GET: a small form asking why; POST: the flag goes to Customer Care."""
    message = services.message_for_participant(message_id=message_id, user=_user(request))
    question_id = message.question_id
    if request.method == "GET":
        return render(request, "privacy/flag.html", {"message": message})
    try:
        services.message_flag(
            message_id=message_id,
            user=_user(request),
            reason=request.POST.get("reason", FlagReason.PERSONAL_INFO),
            note=request.POST.get("note", ""),
        )
    except DomainError as exc:
        _flash(request, exc)
    else:
        messages.success(request, "Thank you: Customer Care will review the message.")
    return redirect(f"/q/{question_id}/")
