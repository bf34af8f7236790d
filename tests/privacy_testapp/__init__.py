"""A test-only app with models that use the encrypted fields of privacy.fields."""
