# The CSMS image: one image for the web server (daphne), the Celery worker and beat.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CSMS_VAR_DIR=/var/lib/csms

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
RUN useradd --system --home-dir /app csms \
    && mkdir -p "$CSMS_VAR_DIR/media" \
    && SECRET_KEY=build python manage.py collectstatic --noinput -v0 \
    && chown -R csms "$CSMS_VAR_DIR"
USER csms

EXPOSE 8000
CMD ["daphne", "-e", "tcp:port=8000:interface=0.0.0.0:backlog=4096", "--websocket_timeout", "-1", \
     "--websocket_connect_timeout", "60", "csms.asgi:application"]
