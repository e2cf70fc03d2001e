# The platform image: web (gunicorn), Celery worker and beat all run from it (docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    GDSI_ENV=production

RUN apt-get update \
    && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 gdsi

WORKDIR /app
COPY pyproject.toml README.md manage.py build-constraints.txt ./
COPY gdsi gdsi
COPY casereports casereports
COPY exports exports
COPY templates templates
RUN pip install --upgrade pip && pip install --build-constraint build-constraints.txt .

# collectstatic needs settings that import; the real key comes from the environment at run time.
RUN SECRET_KEY=build-only-placeholder-key-build-only-placeholder-key-0000 \
    GDSI_EXPORT_KEY=build-only-placeholder-export-key-0000 \
    ALLOWED_HOSTS=build python manage.py collectstatic --noinput

USER gdsi
EXPOSE 8000
CMD ["gunicorn", "gdsi.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
