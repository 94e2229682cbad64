# shellcheck shell=bash
# Sourced by scripts/services: a RabbitMQ cluster on loopback beside the plain broker, for
# failover tests and the bench (RABBITMQ_NODES=3 scripts/services up).
#
#   RABBITMQ_NODES          nodes in the cluster: 1 (the default) means no cluster, else 2 to 9
#   CLUSTER_AMQP_PORT_BASE  5680: node i takes AMQP on 127.0.0.1:BASE+i (5681, 5682, 5683)
#
# Node i is rabbit-i@localhost, with the management HTTP API on 127.0.0.1:BASE+10000+i (15681,
# 15682, 15683: every node serves it, so the API stays reachable whichever node is down) and
# Erlang distribution on 127.0.0.1:BASE+20000+i (25681...). Each node keeps its own mnesia,
# config and pid file in .data/rabbitmq-cluster/node-i and its log in .data/logs/rabbitmq-cluster.
# The nodes and our rabbitmqctl calls share one Erlang cookie through HOME=.data/rabbitmq-cluster;
# it is not the plain broker's, so neither side can reach the other by mistake.
#
#   scripts/services rabbitmq-node kill N    kill -9 node N's Erlang VM (prints its OS pid)
#   scripts/services rabbitmq-node start N   start it again; it rejoins from its own mnesia

CLUSTER_AMQP_PORT_BASE="${CLUSTER_AMQP_PORT_BASE:-5680}"
CL_DIR="$DATA/rabbitmq-cluster"
CL_LOG_DIR="$LOG_DIR/rabbitmq-cluster"
CL_MAX=9

# CL_N: how many nodes this command is about. RABBITMQ_NODES when it asks for a cluster; else
# the nodes set up earlier (their directories), so that down, status and rabbitmq-node work
# without the variable.
cl_init() {
  if ! [[ "$CLUSTER_AMQP_PORT_BASE" =~ ^[0-9]+$ ]] || ((CLUSTER_AMQP_PORT_BASE < 1024 || CLUSTER_AMQP_PORT_BASE > 45000)); then
    die "CLUSTER_AMQP_PORT_BASE must be a port from 1024 to 45000 (the nodes take BASE+i, BASE+10000+i and BASE+20000+i), not '$CLUSTER_AMQP_PORT_BASE'"
  fi
  if [[ "$RABBITMQ_NODES" != 1 ]]; then
    [[ "$RABBITMQ_NODES" =~ ^[2-9]$ ]] || die "RABBITMQ_NODES must be 1 (no cluster) or 2 to 9, not '$RABBITMQ_NODES'"
    CL_N="$RABBITMQ_NODES"
    return 0
  fi
  local i
  CL_N=0
  for ((i = 1; i <= CL_MAX; i++)); do
    if [[ -d "$CL_DIR/node-$i" ]]; then CL_N=$i; fi
  done
}

cl_amqp_port() { echo "$((CLUSTER_AMQP_PORT_BASE + $1))"; }
cl_mgmt_port() { echo "$((CLUSTER_AMQP_PORT_BASE + 10000 + $1))"; }

# Node i's environment, for the broker and for rabbitmqctl alike (as rmq_env for the plain one):
# every file it reads or writes is its own, so /etc/rabbitmq is never read.
cl_env() {
  local i="$1" dir="$CL_DIR/node-$1"
  local erl_loopback='-kernel inet_dist_use_interface {127,0,0,1}'
  CL_ENV=(
    HOME="$CL_DIR"
    RABBITMQ_NODENAME="rabbit-$i@localhost"
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    RABBITMQ_NODE_PORT="$((CLUSTER_AMQP_PORT_BASE + i))"
    RABBITMQ_DIST_PORT="$((CLUSTER_AMQP_PORT_BASE + 20000 + i))"
    RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
    RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
    RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config"
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
    RABBITMQ_MNESIA_BASE="$dir/mnesia"
    RABBITMQ_LOG_BASE="$CL_LOG_DIR"
    RABBITMQ_PID_FILE="$dir/rabbitmq.pid"
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+sbwt none +sbwtdcpu none +sbwtdio none $erl_loopback"
    RABBITMQ_CTL_ERL_ARGS="$erl_loopback"
    ERL_EPMD_ADDRESS=127.0.0.1
  )
}

# rabbitmqctl against node i. The timeout is for a node that accepts the connection and then
# never answers (a wedged boot); an unreachable node fails within a second.
cl_ctl() {
  local i="$1"; shift
  cl_env "$i"
  timeout "$SERVICES_TIMEOUT" env "${CL_ENV[@]}" "$RMQ_BIN/rabbitmqctl" -n "rabbit-$i@localhost" "$@" 9>&-
}

# Is process $1 node $2's VM? Every node has the same command line (the node name travels in
# the environment), so root checks the environment; anyone else can only check it is one of ours.
cl_is_node() {
  if [[ -r "/proc/$1/environ" ]]; then
    tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null | grep -qxF "RABBITMQ_NODENAME=rabbit-$2@localhost"
  else
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "-home $CL_DIR "
  fi
}

# Node i's OS pid, from the file the node writes as it boots (RABBITMQ_PID_FILE, which
# -detached honours: it names the beam.smp process itself). Empty unless that process is alive
# and is node i: after a kill -9 or a reboot the file stays behind, and its pid may be reused.
# The file is the rabbitmq user's: a plain pid or nothing (read_pid), of a process of that user.
cl_pid() {
  local pid
  pid="$(read_pid "$CL_DIR/node-$1/rabbitmq.pid")"
  if pid_runs_as "$pid" rabbitmq && cl_is_node "$pid" "$1"; then echo "$pid"; fi
}

cl_answers() { port_open "$(cl_amqp_port "$1")" && port_open "$(cl_mgmt_port "$1")"; }
cl_amqp_closed() { ! port_open "$(cl_amqp_port "$1")"; }
# A zombie counts as gone: its sockets are closed, and pid 1 here may take seconds to reap it
# (kill -0 still succeeds on a zombie).
cl_pid_gone() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
  stat="${stat##*) }"
  [[ -z "$stat" || "${stat:0:1}" == Z ]]
}

cl_any_running() {
  local i
  for ((i = 1; i <= CL_N; i++)); do
    if [[ -n "$(cl_pid "$i")" ]] || cl_answers "$i"; then return 0; fi
  done
  return 1
}

# cl_view J: the cluster as node J sees it, in CL_DISK and CL_RUNNING (node names between
# spaces). The JSON arrays hold nothing but node names, so a regex reads them without jq.
cl_view() {
  local out re
  CL_DISK="" CL_RUNNING=""
  out="$(cl_ctl "$1" -q cluster_status --formatter json 2>/dev/null)" || return 1
  re='"disk_nodes":\[([^]]*)\]'
  [[ "$out" =~ $re ]] || return 1
  CL_DISK=" ${BASH_REMATCH[1]//[\",]/ } "
  re='"running_nodes":\[([^]]*)\]'
  [[ "$out" =~ $re ]] || return 1
  CL_RUNNING=" ${BASH_REMATCH[1]//[\",]/ } "
}

cl_has() { [[ "$1" == *" $2 "* ]]; } # cl_has LIST NODE

# cl_running_in_cluster I...: do these nodes answer, and does a running node (another one
# when there is one) list each of them as running in its cluster?
cl_running_in_cluster() {
  local i j="" k
  for i; do cl_answers "$i" || return 1; done
  for ((k = 1; k <= CL_N; k++)); do
    if [[ " $* " != *" $k "* ]] && cl_answers "$k"; then j=$k; break; fi
  done
  cl_view "${j:-$1}" || return 1
  for i; do cl_has "$CL_RUNNING" "rabbit-$i@localhost" || return 1; done
}

# CL_TARGET: the node that node i should be clustered with. Node 1, the seed, when it answers;
# else (node 1 may be the one that is down) any other answering node, one already clustered
# first. Empty when no other node answers.
cl_target() {
  local i="$1" j nodes
  CL_TARGET=""
  if ((i != 1)) && cl_answers 1; then CL_TARGET=1; return 0; fi
  for ((j = 1; j <= CL_N; j++)); do
    if ((j == i)) || ! cl_answers "$j"; then continue; fi
    [[ -n "$CL_TARGET" ]] || CL_TARGET=$j
    if cl_view "$j"; then
      read -ra nodes <<<"$CL_DISK"
      if ((${#nodes[@]} > 1)); then CL_TARGET=$j; return 0; fi
    fi
  done
}

# Join node i to the cluster unless both sides already count it in. A node that was a member
# rejoins by itself when it boots; only a fresh one (or one that booted on its own) gets here.
cl_ensure_member() {
  local i="$1" me="rabbit-$1@localhost" them out
  cl_target "$i"
  [[ -n "$CL_TARGET" ]] || return 0
  them="rabbit-$CL_TARGET@localhost"
  if cl_view "$i" && cl_has "$CL_DISK" "$them" && cl_view "$CL_TARGET" && cl_has "$CL_DISK" "$me"; then
    return 0
  fi
  log "$me joins the cluster of $them"
  # join_cluster resets the node first: whatever it held was never the cluster's.
  if ! out="$(cl_ctl "$i" -q stop_app 2>&1 && cl_ctl "$i" -q join_cluster "$them" 2>&1)"; then
    printf '%s\n' "$out" >&2
    cl_ctl "$i" -q start_app >/dev/null 2>&1 || true
    die "$me could not join $them (to start the cluster afresh: scripts/services down, rm -rf $CL_DIR, up again)"
  fi
  cl_ctl "$i" -q start_app >/dev/null || die "$me joined $them but its application did not start (logs: $CL_LOG_DIR)"
}

# Written as the rabbitmq user, whose directory it is (svc_write).
cl_write_conf() {
  local i="$1" dir="$CL_DIR/node-$1"
  # An empty env file keeps /etc/rabbitmq/rabbitmq-env.conf out of the picture.
  svc_write rabbitmq 644 "$dir/rabbitmq-env.conf" </dev/null || true
  # The management plugin on every node, whatever RABBITMQ_MANAGEMENT says: the tests watch the
  # cluster through whichever node is up.
  svc_write rabbitmq 644 "$dir/enabled_plugins" <<<'[rabbitmq_management].' || true
  svc_write rabbitmq 644 "$dir/rabbitmq.conf" <<EOF || true
# Written by scripts/services (services.d/cluster.sh) on every up; edits here are overwritten.
# The AMQP listener (127.0.0.1:$(cl_amqp_port "$i")) comes from RABBITMQ_NODE_IP_ADDRESS/PORT.
loopback_users.guest = true
log.console = false
log.file.level = info
# A node cut off from the majority stops serving rather than diverge. With two nodes there is
# no majority without both: losing either pauses the other.
cluster_partition_handling = pause_minority
management.tcp.ip = 127.0.0.1
management.tcp.port = $(cl_mgmt_port "$i")
EOF
}

cl_prepare() {
  local i
  mkdir -p "$DATA" "$LOG_DIR"
  chmod 755 "$DATA" "$LOG_DIR"
  check_reachable rabbitmq
  # The cluster's directories are the rabbitmq user's, and so is everything in them (made by
  # that user: rmq_dirs, rmq_cookie, svc_write).
  local subs=()
  for ((i = 1; i <= CL_N; i++)); do subs+=("node-$i/mnesia"); done
  rmq_dirs "$CL_DIR" "$CL_LOG_DIR" "${subs[@]}"
  rmq_cookie "$CL_DIR"
  for ((i = 1; i <= CL_N; i++)); do cl_write_conf "$i"; done
  own rabbitmq "$CL_DIR" "$CL_LOG_DIR"
}

# Start node i as rmq_up starts the plain broker (see there for the why of each part).
cl_launch() {
  local i="$1" dir="$CL_DIR/node-$1"
  log "starting rabbit-$i@localhost on 127.0.0.1:$(cl_amqp_port "$i")"
  as_user rabbitmq rm -f "$dir/rabbitmq.pid"
  cl_env "$i"
  (cd "$dir" && rmq_launch "$CL_LOG_DIR/startup-$i.log" "${CL_ENV[@]}") ||
    die "rabbit-$i@localhost failed to launch (log: $CL_LOG_DIR/startup-$i.log)"
}

# Start node i unless it runs, without waiting for it.
cl_start_if_down() {
  local i="$1" pid
  cl_answers "$i" && return 0
  pid="$(cl_pid "$i")"
  if [[ -n "$pid" ]]; then
    # Still booting, or paused (pause_minority) until the majority is back.
    log "rabbit-$i@localhost (pid $pid) is running but not answering on 127.0.0.1:$(cl_amqp_port "$i") yet; waiting"
  else
    cl_launch "$i"
  fi
}

cl_wait_answers() {
  local i="$1"
  if ! wait_for "rabbit-$i@localhost on 127.0.0.1:$(cl_amqp_port "$i")" "$SERVICES_TIMEOUT" cl_answers "$i"; then
    as_user rabbitmq tail -n 30 "$CL_LOG_DIR/rabbit-$i@localhost.log" >&2 2>/dev/null || true
    die "rabbit-$i@localhost did not start (logs: $CL_LOG_DIR)"
  fi
}

cluster_up() {
  cl_init
  ensure_rabbitmq_installed
  local i nodes=()
  for ((i = 1; i <= CL_N; i++)); do nodes+=("$i"); done
  if cl_running_in_cluster "${nodes[@]}"; then return 0; fi
  local t0=$SECONDS
  cl_prepare
  # Every node that is down starts at once: a node that was a member waits (up to five minutes)
  # for the peers that were running when it stopped, so one at a time could wait on the next.
  # Fresh nodes boot on their own and join node 1 below, in order.
  for i in "${nodes[@]}"; do cl_start_if_down "$i"; done
  for i in "${nodes[@]}"; do cl_wait_answers "$i"; done
  for ((i = 2; i <= CL_N; i++)); do cl_ensure_member "$i"; done
  wait_for "all $CL_N RabbitMQ nodes running in one cluster" "$SERVICES_TIMEOUT" cl_running_in_cluster "${nodes[@]}" ||
    die "the RabbitMQ cluster did not form (RABBITMQ_NODES=$CL_N scripts/services status; logs: $CL_LOG_DIR)"
  log "RabbitMQ cluster of $CL_N nodes up ($((SECONDS - t0))s)"
}

cl_kill() {
  local i="$1" pid
  pid="$(cl_pid "$i")"
  if [[ -z "$pid" ]]; then
    # No pid file that names it (someone removed it?): ask the node itself.
    pid="$(cl_ctl "$i" -q eval 'os:getpid().' 2>/dev/null | tr -dc '0-9')" || pid=""
    pid_runs_as "$pid" rabbitmq || pid=""
  fi
  [[ -n "$pid" ]] || die "rabbit-$i@localhost is not running"
  kill -KILL "$pid" || die "could not kill rabbit-$i@localhost (pid $pid)"
  wait_for "rabbit-$i@localhost (pid $pid) to die" "$SERVICES_TIMEOUT" cl_pid_gone "$pid" ||
    die "rabbit-$i@localhost (pid $pid) survived kill -9"
  wait_for "127.0.0.1:$(cl_amqp_port "$i") to close" "$SERVICES_TIMEOUT" cl_amqp_closed "$i" ||
    die "127.0.0.1:$(cl_amqp_port "$i") still accepts connections after rabbit-$i@localhost died"
  as_user rabbitmq rm -f "$CL_DIR/node-$i/rabbitmq.pid" || true
  log "killed rabbit-$i@localhost (kill -9, pid $pid); 127.0.0.1:$(cl_amqp_port "$i") is closed"
  echo "$pid"
}

cl_start() {
  local i="$1" t0=$SECONDS
  cl_prepare
  if cl_answers "$i"; then
    log "rabbit-$i@localhost already answers on 127.0.0.1:$(cl_amqp_port "$i")"
  else
    cl_start_if_down "$i"
    cl_wait_answers "$i"
  fi
  cl_ensure_member "$i"
  wait_for "rabbit-$i@localhost running in the cluster" "$SERVICES_TIMEOUT" cl_running_in_cluster "$i" ||
    die "rabbit-$i@localhost answers but is not running in the cluster (logs: $CL_LOG_DIR)"
  log "rabbit-$i@localhost is running in the cluster ($((SECONDS - t0))s)"
}

cluster_node() {
  local action="$1" n="$2"
  if [[ "$action" != kill && "$action" != start ]] || [[ -z "$n" ]]; then
    die "usage: scripts/services rabbitmq-node kill|start N"
  fi
  cl_init
  ((CL_N >= 2)) || die "no RabbitMQ cluster here: start one with RABBITMQ_NODES=3 scripts/services up"
  if ! [[ "$n" =~ ^[1-9]$ ]] || ((n > CL_N)); then
    die "rabbitmq-node $action: N must be a node of the cluster, 1 to $CL_N (not '$n')"
  fi
  ensure_rabbitmq_installed
  if [[ "$action" == kill ]]; then cl_kill "$n"; else cl_start "$n"; fi
}

cluster_down() {
  [[ -d "$CL_DIR" ]] || return 0
  RMQ_BIN="${RMQ_BIN:-$(rmq_bindir || true)}"
  local i pid pids=() stoppers=()
  for ((i = 1; i <= CL_MAX; i++)); do
    pid="$(cl_pid "$i")"
    [[ -n "$pid" ]] || continue
    log "stopping rabbit-$i@localhost (pid $pid)"
    pids+=("$pid")
    # All at once: one by one, the last ones would first pause (pause_minority) as the others go.
    { cl_ctl "$i" -q shutdown >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true; } &
    stoppers+=("$!")
  done
  for pid in "${stoppers[@]}"; do wait "$pid" || true; done
  for pid in "${pids[@]}"; do
    if ! wait_for "RabbitMQ node (pid $pid) to stop" "$SERVICES_TIMEOUT" cl_pid_gone "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  # shellcheck disable=SC2016 # expanded by the inner shell, as the rabbitmq user
  as_user rabbitmq bash -c 'rm -f "$1"/node-*/rabbitmq.pid' _ "$CL_DIR" || true
  # The rule of rmq_down: epmd outlives the nodes; stop it once none is registered.
  local epmd
  epmd="$(command -v epmd || printf '%s\n' /usr/lib/erlang/erts-*/bin/epmd | head -n1)"
  [[ -x "$epmd" ]] || epmd=""
  if [[ -n "$epmd" ]] && ! "$epmd" -names 2>/dev/null | grep -q '^name '; then
    "$epmd" -kill >/dev/null 2>&1 || true
  fi
}

cluster_status() {
  cl_init
  if [[ "$RABBITMQ_NODES" == 1 ]] && ! cl_any_running; then return 0; fi
  local i ok=0 view="" where
  RMQ_BIN="${RMQ_BIN:-$(rmq_bindir || true)}"
  # Membership as one running node sees it (a node may answer yet stand on its own).
  for ((i = 1; i <= CL_N; i++)); do
    if [[ -n "$RMQ_BIN" ]] && cl_answers "$i" && cl_view "$i"; then view=$i; break; fi
  done
  for ((i = 1; i <= CL_N; i++)); do
    where="127.0.0.1:$(cl_amqp_port "$i") (management :$(cl_mgmt_port "$i"))"
    if ! cl_answers "$i"; then
      printf '%-10s %-5s %s\n' "rabbitmq-$i" down "$where"; ok=1
    elif [[ -n "$view" ]] && ! cl_has "$CL_RUNNING" "rabbit-$i@localhost"; then
      printf '%-10s %-5s %s\n' "rabbitmq-$i" up "$where, but not running in the cluster of rabbit-$view@localhost"; ok=1
    else
      printf '%-10s %-5s %s\n' "rabbitmq-$i" up "$where"
    fi
  done
  if [[ "$RABBITMQ_NODES" == 1 ]]; then return 0; fi
  return "$ok"
}

cluster_urls() {
  cl_init
  if [[ "$RABBITMQ_NODES" == 1 ]] && ! cl_any_running; then return 0; fi
  local i amqp="" mgmt=""
  for ((i = 1; i <= CL_N; i++)); do
    amqp+="${amqp:+,}amqp://guest:guest@127.0.0.1:$(cl_amqp_port "$i")/%2f"
    mgmt+="${mgmt:+ }http://127.0.0.1:$(cl_mgmt_port "$i")"
  done
  echo "RabbitMQ cluster  AMQP_URL=$amqp"
  echo "                  management $mgmt (guest/guest, any node)"
}
