# One image for every process of the service; docker-compose.yml picks the command:
# `webhooks temporal setup`, `webhooks db upgrade`, `uvicorn api.main:app ...`, `python worker.py`.
FROM python:3.11.14-slim-trixie

# The settings find retry_policies.toml, automations.toml and the migrations beside the
# code, so every command, the `webhooks` script included, imports the code from /app.
# MALLOC_ARENA_MAX: one glibc malloc arena for the threads of the store's connections and
# the Temporal SDK, as devstack.py sets it for `make run`: less memory left resident after a
# burst.
ENV PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# .dockerignore keeps out what only development and the tests need.
COPY . /app
RUN pip install . \
    && useradd --system --uid 10001 --user-group webhooks

USER webhooks
EXPOSE 8000 9464 9465
CMD ["uvicorn", "api.main:app", "--host", "0.0.0.0", "--port", "8000"]
