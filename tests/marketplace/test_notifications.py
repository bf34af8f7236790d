import pytest
from django.core import mail
from django.urls import reverse

from marketplace import notifications
from marketplace.models import Notification, NotificationKind
from marketplace.notifications import notification_email_send, unsubscribe_token
from tests.factories import make_customer

pytestmark = pytest.mark.django_db


def test_notify_raises_the_bell_and_reading_lowers_it(django_capture_on_commit_callbacks):
    user = make_customer()
    with django_capture_on_commit_callbacks(execute=True):
        for i in range(3):
            notifications.notify(user=user, kind=NotificationKind.MESSAGE_RECEIVED, text=f"n{i}")
    user.refresh_from_db()
    assert user.unread_notifications == 3
    one = Notification.objects.filter(user=user).first()
    assert one is not None
    assert notifications.notifications_mark_read(user=user, ids=[one.pk]) == 1
    assert user.unread_notifications == 2
    assert notifications.notifications_mark_read(user=user) == 2
    assert user.unread_notifications == 0
    # Marking again changes nothing: the cached count never goes below the real one.
    assert notifications.notifications_mark_read(user=user) == 0
    user.refresh_from_db()
    assert user.unread_notifications == Notification.objects.filter(user=user, read_at=None).count()


def test_an_email_task_delivered_twice_sends_once():
    user = make_customer()
    n = notifications.notify(user=user, kind=NotificationKind.MESSAGE_RECEIVED, text="hello")
    mail.outbox.clear()
    assert notification_email_send(notification_id=n.pk, place="site") == "sent"
    assert notification_email_send(notification_id=n.pk, place="site") == "already-handled"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].extra_headers["List-Unsubscribe"].startswith("<http")


def test_opted_out_kind_is_not_emailed_but_still_in_the_bell():
    user = make_customer()
    notifications.email_preferences_set(
        user=user, enabled={NotificationKind.MESSAGE_RECEIVED: False}
    )
    n = notifications.notify(user=user, kind=NotificationKind.MESSAGE_RECEIVED, text="hello")
    mail.outbox.clear()
    assert notification_email_send(notification_id=n.pk, place="site") == "opted-out"
    assert mail.outbox == []
    user.refresh_from_db()
    assert user.unread_notifications == 1


def test_unsubscribe_link_turns_that_email_off(client):
    user = make_customer()
    url = reverse("unsubscribe", args=[unsubscribe_token(user.pk, NotificationKind.QUESTION_RATED)])
    assert b"Unsubscribe" in client.get(url).content
    assert client.post(url).status_code == 200
    assert notifications.email_preferences_get(user)[NotificationKind.QUESTION_RATED] is False
    assert notifications.email_preferences_get(user)[NotificationKind.MESSAGE_RECEIVED] is True


def test_tampered_unsubscribe_token_is_refused(client):
    user = make_customer()
    token = unsubscribe_token(user.pk, NotificationKind.QUESTION_RATED)
    r = client.post(reverse("unsubscribe", args=[token[:-2] + "xx"]))
    assert r.status_code == 400
    assert notifications.email_preferences_get(user)[NotificationKind.QUESTION_RATED] is True


def test_settings_page_saves_time_zone_and_email_choices(client):
    user = make_customer()
    client.force_login(user)
    r = client.post(
        reverse("account_settings"),
        {"display_name": "Casey", "timezone": "Europe/Berlin", "email_message_received": "on"},
    )
    assert r.status_code == 302
    user.refresh_from_db()
    assert (user.display_name, user.timezone) == ("Casey", "Europe/Berlin")
    prefs = notifications.email_preferences_get(user)
    assert prefs["message_received"] is True and prefs["question_rated"] is False


def test_opening_a_question_marks_its_notifications_read(client, world, assigned_question):
    from questions import services

    services.message_post(question_id=assigned_question.pk, author=world.expert, body="Hi")
    world.customer.refresh_from_db()
    assert world.customer.unread_notifications == 3  # receipt, picked up, replied
    client.force_login(world.customer)
    client.get(f"/q/{assigned_question.pk}/")
    world.customer.refresh_from_db()
    assert world.customer.unread_notifications == 0
    assert Notification.objects.filter(user=world.customer, read_at=None).count() == 0
    assert Notification.objects.filter(user=world.customer).count() == 3
