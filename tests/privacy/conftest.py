from tests.premium.conftest import due_question, phone_call, tool  # noqa: F401
