from django.contrib import admin

from .models import Message, Question, QuestionEvent


class QuestionEventInline(admin.TabularInline):
    model = QuestionEvent
    extra = 0
    can_delete = False
    readonly_fields = ["created_at", "actor", "from_status", "to_status", "note"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "title",
        "category",
        "status",
        "channel",
        "customer",
        "expert",
        "created_at",
    ]
    list_filter = ["status", "channel", "category", "is_member_question"]
    search_fields = ["id", "title", "customer__email", "expert__email"]
    date_hierarchy = "created_at"
    raw_id_fields = ["customer", "expert"]
    # Status moves only through questions.services; the admin shows it.
    readonly_fields = [
        "status",
        "version",
        "last_message_id",
        "message_count",
        "rating_stars",
        "rating_automatic",
        "rated_at",
        "posted_at",
        "picked_up_at",
    ]
    inlines = [QuestionEventInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "question", "author", "created_at"]
    search_fields = ["body", "author__email", "question__id"]
    raw_id_fields = ["question", "author"]
    readonly_fields = ["body_html", "created_at"]
