"""Upward events: higher apps (privacy, premium) subscribe in their AppConfig.ready."""

from django.dispatch import Signal

# question=Question
question_posted = Signal()
# message=Message, question=Question (locked, inside the posting transaction)
message_posted = Signal()
# question=Question, automatic=bool
question_rated = Signal()
# question=Question, expert=User (locked, inside the pick-up transaction)
question_picked_up = Signal()
