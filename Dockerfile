FROM python:3.11-slim

# Everything the ledger writes goes under /data (a volume) or /metrics, both owned by its
# user: the SQLite database, the generated signing key, and the working directory.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    LEDGER_DATABASE_URL=sqlite:////data/ledger.db \
    LEDGER_SIGNING_KEY_FILE=/data/signing-key
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain domain
COPY projections projections
COPY service service
COPY migrations migrations
RUN pip install --no-cache-dir . && useradd --system --uid 10001 ledger \
    && mkdir -p /data /metrics && chown ledger /data /metrics
USER ledger
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; \
sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz').status == 200 else 1)"
CMD ["sh", "-c", "exim-ledger migrate && exim-ledger serve --host 0.0.0.0 --port 8000 --workers ${LEDGER_WORKERS:-1}"]
