# Production image: gunicorn serving marketplace.wsgi, the same image runs Celery.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=marketplace.settings \
    EXPERTLINE_VAR_DIR=/app/var

RUN groupadd --system app \
    && useradd --system --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app

WORKDIR /app

# Dependencies first (their own layer, rebuilt only when pyproject.toml changes).
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The project itself.
COPY . .
RUN pip install --no-deps . \
    && rm -rf build *.egg-info

# Static files, collected at build time in production mode: production serves them with
# whitenoise's manifest storage, which needs the manifest only a production-mode
# collectstatic writes. The key, host and Stripe values below exist for this one command
# only; nothing secret ends up in the image.
RUN DJANGO_ENV=production \
    SECRET_KEY=collectstatic-only-not-a-secret-0123456789-abcdefghijklmnopqrstuvwxyz \
    ALLOWED_HOSTS=localhost \
    STRIPE_SECRET_KEY=sk_test_collectstatic_only STRIPE_WEBHOOK_SECRET=whsec_collectstatic_only \
    PRIVATE_INFO_KEYS=collectstatic:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    python manage.py collectstatic --noinput -v 0 \
    && mkdir -p /app/var/media /app/beat \
    && chown -R app:app /app/var /app/beat

USER app

EXPOSE 8000

CMD ["gunicorn", "marketplace.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--no-control-socket", "--access-logfile", "-"]
