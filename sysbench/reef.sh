# Sourced by the runners in sysbench/. `start_reef DIR` starts the release build of
# `reef start` on a free port with its data in DIR (stdout in DIR.out, log in DIR.log),
# waits for its ready line, and sets REEF_PID and REEF_PORT.
start_reef() {
    local dir=$1
    ./target/release/reef start --data-dir "$dir" --port 0 >"$dir.out" 2>"$dir.log" &
    REEF_PID=$!
    for _ in $(seq 1 300); do
        grep -q '"event":"ready"' "$dir.out" 2>/dev/null && break
        sleep 0.2
    done
    REEF_PORT=$(sed -n 's/.*"mysql":"[^"]*:\([0-9]*\)".*/\1/p' "$dir.out")
    [ -n "$REEF_PORT" ] || { echo "ReefDB did not start"; cat "$dir.log"; exit 1; }
}
