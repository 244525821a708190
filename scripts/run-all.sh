#!/usr/bin/env bash
# daphne + Celery worker with beat, in one terminal; Ctrl-C (or either dying) stops both.
set -u
PY="${PY:-.venv/bin/python}"
PORT="${PORT:-8000}"
VAR_DIR="${CSMS_VAR_DIR:-var}"
mkdir -p "$VAR_DIR/celery-broker/out" "$VAR_DIR/celery-broker/processed" "$VAR_DIR/celery-broker/control"
pids=()
alive() { for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
stop() {
  trap - INT TERM EXIT
  kill "${pids[@]}" 2>/dev/null
  # Celery's warm shutdown waits for running tasks: 15 s, then the processes and their children go.
  for _ in $(seq 1 30); do alive || break; sleep 0.5; done
  if alive; then
    for p in "${pids[@]}"; do pkill -KILL -P "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
  fi
  wait 2>/dev/null
  exit 0
}
trap stop INT TERM EXIT
# daphne would close every charger's socket after a day (--websocket_timeout) and drop handshakes
# that wait more than 5 s (a boot storm): chargers stay, and may queue.
"$PY" -m daphne -b 127.0.0.1 -p "$PORT" --websocket_timeout -1 --websocket_connect_timeout 60 \
  csms.asgi:application &
pids+=($!)
"$PY" -m celery -A csms worker --beat --loglevel=INFO --concurrency=2 \
  --schedule="$VAR_DIR/celerybeat-schedule" &
pids+=($!)
echo "CSMS on http://127.0.0.1:$PORT/ (admin at /admin/, API at /api/v1/docs/, chargers at ws://127.0.0.1:$PORT/ocpp/<id>) — Ctrl-C stops it."
wait -n
stop
