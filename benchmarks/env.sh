# Environment of the benchmarks (sourced by benchmarks/run): production-like settings (DEBUG off, so
# no query log grows in memory), on a database of their own. Nothing here is a secret: the key is
# generated per run and the database is thrown away.
export DATABASE_URL="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/leors_bench}"
export DEBUG=false
export SECRET_KEY="${BENCH_SECRET_KEY:-bench-$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 60)}"
export ALLOWED_HOSTS="testserver,127.0.0.1,localhost"
export SECURE_SSL_REDIRECT=false
export SECURE_HSTS_SECONDS=0
export BEHIND_TLS_PROXY=false
export SESSION_COOKIE_SECURE=false
export CSRF_COOKIE_SECURE=false
export LEORS_STAFF_REQUIRE_WEBAUTHN=false
export LEORS_VAR_DIR="${BENCH_VAR_DIR:-/tmp/leors-bench-var}"
export CACHE_URL="${BENCH_CACHE_URL:-locmem}"
export CELERY_BROKER_URL="${BENCH_CELERY_BROKER_URL:-redis://127.0.0.1:6379/13}"
export LEORS_BUSINESS_CALENDAR=SC
export DJANGO_SETTINGS_MODULE=leors.settings
# The exchange's webhook is configured, as in production: each lifted freeze queues its delivery.
export LEORS_EXCHANGE_WEBHOOK_URL="http://127.0.0.1:9/leors-bench-webhook"
export LEORS_EXCHANGE_WEBHOOK_SECRET="bench-webhook-secret-0123456789abcdef"
