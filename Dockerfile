FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CRMKIT_DATABASE=/data/crmkit.db

WORKDIR /app
COPY pyproject.toml README.md help.txt llms.txt ./
COPY crmkit ./crmkit
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /data crmkit \
    && mkdir -p /data && chown crmkit /data

USER crmkit
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz').status == 200 else 1)"
CMD ["crmkit", "serve", "--host", "0.0.0.0", "--port", "8000"]
