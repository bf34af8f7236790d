from django.urls import path

from . import views

urlpatterns = [
    path("q/<int:question_id>/private", views.box_update, name="private_box_update"),
    path(
        "q/<int:question_id>/private/files",
        views.attachment_upload,
        name="private_attachment_upload",
    ),
    path("private/files/<int:attachment_id>", views.attachment_view, name="private_attachment"),
    path("messages/<int:message_id>/flag", views.message_flag, name="message_flag"),
]
