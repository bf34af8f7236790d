from typing import Any

from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "privacy"

    def ready(self) -> None:
        from questions import panels
        from questions import signals as question_signals

        from . import crypto, services
        from .panel import private_keys, private_panel

        def posted(sender: Any, message: Any, question: Any, **_: Any) -> None:
            services.on_message_posted(message=message)

        question_signals.message_posted.connect(posted, weak=False, dispatch_uid="privacy-detect")
        panels.register("private", private_panel, order=20, keys=private_keys)
        crypto.register_file_rotator(services._AttachmentRotator())
