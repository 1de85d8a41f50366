#!/usr/bin/env bash
# Start and stop the Redis servers of the remote tests, on loopback only.
#
#   tests/redis/servers.sh start DIR [single|cluster|both]   (default both)
#   tests/redis/servers.sh restart DIR PORT
#   tests/redis/servers.sh stop DIR
#
# start: "single" is one redis-server on a free port (no persistence: the
# fault tests start their own with appendfsync always); "cluster" is 3 masters and 3 replicas (cluster-node-timeout 1 s,
# so a failover takes a few seconds), created with redis-cli --cluster
# create and waited for until every node reports cluster_state:ok.  Each
# server's files are under DIR.  It prints the addresses as shell
# assignments (also written to DIR/env):
#   CMAP_TEST_REDIS=127.0.0.1:P
#   CMAP_TEST_REDIS_CLUSTER=127.0.0.1:P1,...,127.0.0.1:P6
# restart: starts again the server of PORT under DIR (after a test killed
# it), on its files: a cluster node rejoins with its nodes.conf.
# stop: ends every server started under DIR, at any depth (by the pids in
# its pid files), and removes DIR.
set -euo pipefail
cmd=${1:?start or stop}
dir=$(realpath -m "${2:?directory}")

free_port() { # a port p with p and p + 10000 (the cluster bus) unused
  local used p
  # the local ports of every TCP socket (ss may not be installed)
  used=$(awk 'FNR > 1 { split($2, a, ":"); print a[2] }' /proc/net/tcp /proc/net/tcp6 2>/dev/null \
    | while read -r h; do echo $((16#$h)); done | sort -u)
  while :; do
    p=$(( 20000 + RANDOM % 20000 ))
    grep -qx "$p" <<<"$used" || grep -qx "$((p + 10000))" <<<"$used" || { echo "$p"; return; }
  done
}

start_server() { # port, then extra redis-server arguments
  local p=$1; shift
  mkdir -p "$dir/$p"
  redis-server --port "$p" --bind 127.0.0.1 --dir "$dir/$p" --daemonize yes \
    --pidfile "$dir/$p/pid" --logfile "$dir/$p/log" --save '' --shutdown-timeout 0 "$@"
  for _ in $(seq 100); do
    redis-cli -p "$p" ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "servers.sh: redis-server on port $p did not start:" >&2
  cat "$dir/$p/log" >&2
  return 1
}

cluster_node() { # port: start it as a cluster node
  start_server "$1" --cluster-enabled yes --cluster-config-file "$dir/$1/nodes.conf" \
    --cluster-node-timeout 1000 --appendonly no
}

start_cluster() {
  local ports=() p addrs=()
  for _ in 1 2 3 4 5 6; do
    p=$(free_port)
    cluster_node "$p"
    ports+=("$p"); addrs+=("127.0.0.1:$p")
  done
  redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 \
    || { cat "$dir/create.log" >&2; return 1; }
  for _ in $(seq 200); do
    local ok=0
    for p in "${ports[@]}"; do
      redis-cli -p "$p" cluster info 2>/dev/null | grep -q 'cluster_state:ok' && ok=$((ok + 1))
    done
    [ "$ok" = 6 ] && { IFS=,; echo "CMAP_TEST_REDIS_CLUSTER=${addrs[*]}"; return 0; }
    sleep 0.1
  done
  echo "servers.sh: the cluster did not reach cluster_state:ok" >&2
  return 1
}

case $cmd in
start)
  what=${3:-both}
  mkdir -p "$dir"
  : >"$dir/env"
  if [ "$what" != cluster ]; then
    p=$(free_port)
    start_server "$p" --appendonly no
    echo "CMAP_TEST_REDIS=127.0.0.1:$p" | tee -a "$dir/env"
  fi
  if [ "$what" != single ]; then
    start_cluster | tee -a "$dir/env"
  fi
  ;;
restart)
  p=${3:?port}
  if [ -f "$dir/$p/nodes.conf" ]; then cluster_node "$p"; else start_server "$p" --appendonly no; fi
  ;;
stop)
  # all at once (a master would wait for its replicas otherwise), then
  # SIGKILL whatever is left after 2.5 s
  pids=()
  # (recursive: the private servers tests started under DIR too)
  for f in $(find "$dir" -name pid 2>/dev/null); do
    # (a pid file a SIGKILLed server left may name another process now)
    [ -f "$f" ] && [ "$(cat "/proc/$(cat "$f")/comm" 2>/dev/null)" = redis-server ] \
      && pids+=("$(cat "$f")")
  done
  [ ${#pids[@]} = 0 ] || kill "${pids[@]}" 2>/dev/null || true
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$dir"
  ;;
*)
  echo "usage: $0 start DIR [single|cluster|both] | restart DIR PORT | stop DIR" >&2
  exit 2
  ;;
esac
