# One image for web, worker and beat (docker-compose.yml picks the command and each one's healthcheck).
# The base image is pinned to a patch release: upgrade it deliberately (CHANGELOG.md), not by surprise.
FROM python:3.11.14-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 OPSASSIST_VAR_DIR=/var/lib/opsassist OPSASSIST_PORT=8000
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
# .dockerignore keeps .env, the virtualenv, var/, tests and benches out of the image.
COPY . .
RUN useradd --system --home /app opsassist && mkdir -p /var/lib/opsassist && chown opsassist /var/lib/opsassist
USER opsassist
EXPOSE 8000
# Liveness of the web process (worker and beat override it in docker-compose.yml).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/live' % os.environ.get('OPSASSIST_PORT', '8000'), timeout=4)"]
CMD ["python", "manage.py", "serve", "--host", "0.0.0.0"]
