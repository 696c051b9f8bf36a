# One image for the API, the worker and `webhooks db upgrade`, which brings the store's
# schema up to date and must run before them; docker-compose.yml picks the command.
FROM python:3.11-slim

WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1

COPY pyproject.toml README.md ./
COPY core core
COPY api api
COPY workflows workflows
COPY activities activities
COPY cli cli
COPY worker.py devstack.py retry_policies.toml automations.toml ./
RUN pip install .

USER nobody
CMD ["uvicorn", "api.main:app", "--host", "0.0.0.0", "--port", "8000"]
