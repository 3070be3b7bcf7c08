# One image for web, worker and beat (docker-compose.yml picks the command).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 OPSASSIST_VAR_DIR=/var/lib/opsassist
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --system --home /app opsassist && mkdir -p /var/lib/opsassist && chown opsassist /var/lib/opsassist
USER opsassist
EXPOSE 8000
CMD ["python", "manage.py", "serve", "--host", "0.0.0.0"]
