# One image for the demo server and the spec reader (docker-compose.yml picks
# the command). A slim Python, the pinned requirements, a non-root user.
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY server/ server/
COPY recorder/ recorder/
COPY spec_from_stream/ spec_from_stream/

# uid 1000 is the usual first user on a Linux host, so ./spec stays theirs
RUN useradd --uid 1000 --no-create-home --shell /usr/sbin/nologin app \
    && mkdir -p /app/spec && chown app:app /app/spec
USER app

EXPOSE 5000 8080
CMD ["gunicorn", "--config", "server/gunicorn.conf.py", "--bind", "0.0.0.0:5000", "server.wsgi:app"]
