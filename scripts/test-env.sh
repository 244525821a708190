# Sourced by `make test`: pick the database and channel layer, and say which (the first line).
_up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ -z "${DATABASE_URL:-}" ] && _up 5432; then
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/csms"
fi
if [ -z "${REDIS_URL:-}" ] && _up 6379; then
  export REDIS_URL="redis://127.0.0.1:6379/0"
fi
if [ -n "${REDIS_URL:-}" ]; then _layer="redis ($REDIS_URL)"; else _layer="in-memory"; fi
echo "make test: database ${DATABASE_URL:-sqlite (db.sqlite3, embedded)}; channel layer $_layer; services required: ${CSMS_REQUIRE_SERVICES:-0}"
