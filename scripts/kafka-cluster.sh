# shellcheck shell=bash
# The multi-node half of scripts/kafka.sh, which sources it (it is not run on its own): a KRaft
# cluster of N combined broker+controller nodes on 127.0.0.1, every node a voter of the
# controller quorum. Topics get three replicas and need two in sync (min.insync.replicas=2), so
# one node may die and every write with acks=all still succeeds; the internal topics (consumer
# offsets, transaction state) are replicated the same way.
#
# Layout of DIR:
#   cluster.env   NODES, PORT, CONTROLLER_PORT, CLUSTER_ID, PARTITIONS: node K (1..NODES)
#                 listens on PORT+K-1, its controller on CONTROLLER_PORT+K-1
#   node-K/       server.properties, log4j2.properties, data/, kafka.log, kafka.pid

readonly CLUSTER_MAX_NODES=9
# Per node: three JVMs share the machine, and a test cluster holds little.
readonly CLUSTER_HEAP="-Xms256m -Xmx256m"

node_dir() { # DIR K
  printf '%s/node-%s' "$1" "$2"
}

cluster_prop() { # DIR KEY
  prop "$1/cluster.env" "$2"
}

# One node of the cluster. The coordinators' topics have one partition each, so one node leads
# each (the leader of __consumer_offsets-0 is every group's coordinator): a test can kill it.
write_node_properties() { # NODE_DIR NODE_ID PORT CONTROLLER_PORT VOTERS PARTITIONS
  cat >"$1/server.properties" <<EOF
# Written by scripts/kafka.sh (kafka-cluster.sh) on every start of the cluster; edits are lost.
process.roles=broker,controller
node.id=$2
controller.quorum.voters=$5
listeners=PLAINTEXT://127.0.0.1:$3,CONTROLLER://127.0.0.1:$4
advertised.listeners=PLAINTEXT://127.0.0.1:$3
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$1/data

# Three replicas, two in sync: one node may be down and acks=all writes still succeed.
num.partitions=$6
default.replication.factor=3
min.insync.replicas=2
unclean.leader.election.enable=false
offsets.topic.replication.factor=3
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
group.initial.rebalance.delay.ms=0
# As on one node (kafka.sh): a dead producer's open transaction is aborted within a second.
transaction.abort.timed.out.transaction.cleanup.interval.ms=1000
auto.create.topics.enable=true
delete.topic.enable=true
EOF
  # How long the controller waits for a silent node before it fences it and moves its
  # leaderships (Kafka's default 9 s, heartbeats every 2 s).
  if [[ -n ${KAFKA_BROKER_SESSION_TIMEOUT_MS:-} ]]; then
    check_count KAFKA_BROKER_SESSION_TIMEOUT_MS "$KAFKA_BROKER_SESSION_TIMEOUT_MS"
    printf '%s\n' "broker.session.timeout.ms=$KAFKA_BROKER_SESSION_TIMEOUT_MS" \
      "broker.heartbeat.interval.ms=$((KAFKA_BROKER_SESSION_TIMEOUT_MS / 4))" >>"$1/server.properties"
  fi
}

# Sets `cport` to the first of NODES controller ports: the requested one, the previous one
# (the quorum's addresses must not change across restarts), or the first free run after the
# brokers' ports.
pick_controller_ports() { # DIR NODES PORT REQUESTED
  local dir=$1 nodes=$2 port=$3 requested=$4 k candidate free
  if [[ -n $requested ]]; then
    cport=$requested
  elif [[ -f $dir/cluster.env ]]; then
    cport=$(cluster_prop "$dir" CONTROLLER_PORT)
  else
    for ((candidate = port + nodes; candidate <= port + 100; candidate++)); do
      free=1
      for ((k = 0; k < nodes; k++)); do
        port_answers $((candidate + k)) && free=0 && break
      done
      if ((free)); then
        cport=$candidate
        break
      fi
    done
    [[ -n ${cport:-} ]] || die "no $nodes free controller ports in $((port + nodes))-$((port + 100)); pass --controller-port"
  fi
  check_port --controller-port "$cport"
  ((cport + nodes - 1 <= 65535)) || die "controller ports $cport.. run past 65535"
  if ((cport + nodes > port && cport < port + nodes)); then
    die "controller ports $cport-$((cport + nodes - 1)) overlap the brokers' $port-$((port + nodes - 1))"
  fi
  for ((k = 0; k < nodes; k++)); do
    port_answers $((cport + k)) && die "controller port $((cport + k)) is already in use"
  done
  return 0
}

# Waits for every node started after its log offset: each logged that it started (a KRaft
# broker does so once the controller has unfenced it), then an admin client lists the topics
# through all of them.
cluster_wait_ready() { # DIR NODES (reads pids[] and offsets[])
  local dir=$1 nodes=$2 timeout=${KAFKA_START_TIMEOUT:-90} k nd up
  local deadline=$((SECONDS + timeout)) cfg="$dir/client.properties"
  client_config "$cfg"
  while ((SECONDS < deadline)); do
    up=0
    for ((k = 1; k <= nodes; k++)); do
      nd=$(node_dir "$dir" "$k")
      if ! alive "${pids[$k]}"; then
        note "node $k (pid ${pids[$k]}) exited during start-up"
        return 1
      fi
      logged_since "$nd/kafka.log" "${offsets[k]}" 'Kafka Server started' && ((up += 1))
    done
    if ((up == nodes)) && run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server \
      "$(cluster_bootstrap "$dir")" --command-config "$cfg" --list >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.3
  done
  note "timed out after ${timeout} s waiting for the cluster in $dir"
  return 1
}

cluster_bootstrap() { # DIR
  local port nodes k list=""
  port=$(cluster_prop "$1" PORT)
  nodes=$(cluster_prop "$1" NODES)
  for ((k = 0; k < nodes; k++)); do list+="${list:+,}127.0.0.1:$((port + k))"; done
  printf '%s' "$list"
}

# Kills what a failed start started, shows the end of each node's log, and dies; says "already
# in use" last when a port was taken, as cmd_start does for kafka_test.Broker's retry.
cluster_start_failed() { # DIR NODES MESSAGE (reads pids[] and offsets[])
  local dir=$1 nodes=$2 k nd in_use=0
  for ((k = 1; k <= nodes; k++)); do
    [[ -n ${pids[$k]:-} ]] && kill_and_reap "${pids[$k]}"
    nd=$(node_dir "$dir" "$k")
    rm -f "$nd/kafka.pid"
    echo "----- last lines of $nd/kafka.log -----" >&2
    tail -c "+$((offsets[k] + 1))" "$nd/kafka.log" | tail -n 30 >&2
    logged_since "$nd/kafka.log" "${offsets[k]}" 'Address already in use' && in_use=1
  done
  echo "-----" >&2
  ((in_use)) && die "a port of the cluster was already in use; it was stopped"
  die "$3"
}

cluster_start() { # NODES PORT DIR PARTITIONS REQUESTED_CONTROLLER_PORT
  local nodes=$1 port=$2 dir=$3 partitions=$4 cport="" k nd pid started voters=""
  if ! [[ $nodes =~ ^[0-9]+$ ]] || ((nodes < 3 || nodes > CLUSTER_MAX_NODES)); then
    die "--nodes must be 1, or 3 to $CLUSTER_MAX_NODES (three replicas need three nodes), got '$nodes'"
  fi
  check_port --port "$port"
  check_count --partitions "$partitions"
  ((port + nodes - 1 <= 65535)) || die "ports $port.. run past 65535"
  [[ -z $5 ]] || check_port --controller-port "$5"
  dir=$(abs_dir "$dir")
  [[ ! -f $dir/server.properties ]] || die "$dir holds a single broker; give the cluster its own directory"
  for ((k = 1; k <= nodes; k++)); do
    nd=$(node_dir "$dir" "$k")
    pid=$(running_pid "$nd") && die "node $k of $dir is already running (pid $pid); stop it first"
    rm -f "$nd/kafka.pid"
    port_answers $((port + k - 1)) && die "port $((port + k - 1)) on 127.0.0.1 is already in use"
  done
  if [[ -f $dir/cluster.env ]] && [[ $(cluster_prop "$dir" NODES) != "$nodes" ]]; then
    die "$dir holds a cluster of $(cluster_prop "$dir" NODES) nodes, not $nodes"
  fi
  ensure_fetched
  pick_controller_ports "$dir" "$nodes" "$port" "$5"
  local cluster_id
  cluster_id=$(cluster_prop "$dir" CLUSTER_ID 2>/dev/null || true)
  [[ -n $cluster_id ]] || cluster_id=$(new_cluster_id)
  printf '%s\n' "NODES=$nodes" "PORT=$port" "CONTROLLER_PORT=$cport" "CLUSTER_ID=$cluster_id" \
    "PARTITIONS=$partitions" >"$dir/cluster.env"

  for ((k = 1; k <= nodes; k++)); do voters+="${voters:+,}$k@127.0.0.1:$((cport + k - 1))"; done
  local formats=()
  for ((k = 1; k <= nodes; k++)); do
    nd=$(node_dir "$dir" "$k")
    mkdir -p "$nd/data" "$nd/logs"
    write_node_properties "$nd" "$k" $((port + k - 1)) $((cport + k - 1)) "$voters" "$partitions"
    write_broker_log_config "$nd"
    if [[ ! -f $nd/data/meta.properties ]]; then
      format_storage "$nd" "$cluster_id" &
      formats+=("$!")
    fi
  done
  for pid in "${formats[@]+"${formats[@]}"}"; do
    wait "$pid" || die "formatting a node's storage failed (output above)"
  done

  # Together: a node finishes starting only once a quorum of controllers answers.
  pids=() offsets=()
  started=$EPOCHREALTIME
  for ((k = 1; k <= nodes; k++)); do
    nd=$(node_dir "$dir" "$k")
    touch "$nd/kafka.log"
    offsets[k]=$(stat -c %s "$nd/kafka.log")
    pids[k]=$(launch_broker "$nd" "$CLUSTER_HEAP")
    note "started node $k pid ${pids[$k]} on 127.0.0.1:$((port + k - 1)) (controller 127.0.0.1:$((cport + k - 1))), log $nd/kafka.log"
  done
  cluster_wait_ready "$dir" "$nodes" ||
    cluster_start_failed "$dir" "$nodes" "the cluster did not become ready (see above); it was stopped"
  echo "kafka $KAFKA_VERSION cluster of $nodes nodes ready on $(cluster_bootstrap "$dir") after $(elapsed "$started") s (pids ${pids[*]}, dir $dir)"
}

cluster_stop() { # DIR
  local dir=$1 nodes k nd pid stopping=() timeout=${KAFKA_STOP_TIMEOUT:-30} deadline started
  nodes=$(cluster_prop "$dir" NODES)
  started=$EPOCHREALTIME
  # All at once: each node's broker shuts down before its controller, so the quorum lasts
  # until the brokers have handed their partitions over.
  for ((k = 1; k <= nodes; k++)); do
    nd=$(node_dir "$dir" "$k")
    if pid=$(running_pid "$nd"); then
      kill -TERM "$pid" 2>/dev/null || true
      stopping+=("$pid")
    fi
    rm -f "$nd/kafka.pid"
  done
  if ((${#stopping[@]} == 0)); then
    note "no node of the cluster in $dir is running"
    return 0
  fi
  deadline=$((SECONDS + timeout))
  for pid in "${stopping[@]}"; do
    while alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
    if alive "$pid"; then
      note "node pid $pid still running ${timeout} s after SIGTERM; sending SIGKILL"
      kill_and_reap "$pid"
    fi
  done
  echo "kafka cluster stopped (pids ${stopping[*]}, $(elapsed "$started") s, dir $dir)"
}

cluster_status() { # DIR
  local dir=$1 nodes port k nd pid running=0
  nodes=$(cluster_prop "$dir" NODES)
  port=$(cluster_prop "$dir" PORT)
  for ((k = 1; k <= nodes; k++)); do
    nd=$(node_dir "$dir" "$k")
    if pid=$(running_pid "$nd"); then
      if port_answers $((port + k - 1)); then
        echo "kafka node $k: running, pid $pid, 127.0.0.1:$((port + k - 1)) accepting connections"
        ((running += 1))
      else
        echo "kafka node $k: running, pid $pid, but 127.0.0.1:$((port + k - 1)) not accepting connections"
      fi
    else
      echo "kafka node $k: not running (127.0.0.1:$((port + k - 1)))"
    fi
  done
  ((running == nodes)) && return 0
  ((running == 0)) && return 3
  return 1
}

# Parses --dir DIR --node K for kill-node and start-node; sets dir, node, nd, nport.
node_args() { # COMMAND ARGS...
  local what=$1 nodes
  shift
  dir="" node=""
  while (($#)); do
    case $1 in
    --dir) dir=${2:-}; shift 2 || die "--dir needs a value" ;;
    --node) node=${2:-}; shift 2 || die "--node needs a value" ;;
    *) die "$what: unknown argument '$1'" ;;
    esac
  done
  [[ -n $dir && -n $node ]] || die "$what needs --dir DIR --node K"
  [[ -f $dir/cluster.env ]] || die "$dir holds no cluster (started with --nodes)"
  dir=$(cd "$dir" && pwd)
  nodes=$(cluster_prop "$dir" NODES)
  if ! [[ $node =~ ^[0-9]+$ ]] || ((node < 1 || node > nodes)); then
    die "--node must be 1 to $nodes, got '$node'"
  fi
  nd=$(node_dir "$dir" "$node")
  nport=$(($(cluster_prop "$dir" PORT) + node - 1))
}

cmd_kill_node() {
  local dir node nd nport pid
  node_args kill-node "$@"
  pid=$(running_pid "$nd") || die "node $node of $dir is not running"
  kill_and_reap "$pid"
  rm -f "$nd/kafka.pid"
  echo "kafka node $node killed with SIGKILL (pid $pid, 127.0.0.1:$nport)"
}

# Starts one node of a running cluster again, with its ports, configuration and data; ready
# once it logged that it started (the controller unfenced it). Its replicas then catch up and
# rejoin the in-sync sets on their own.
cmd_start_node() {
  local dir node nd nport pid offset started
  node_args start-node "$@"
  pid=$(running_pid "$nd") && die "node $node of $dir is already running (pid $pid)"
  rm -f "$nd/kafka.pid"
  port_answers "$nport" && die "port $nport on 127.0.0.1 is already in use"
  ensure_fetched
  offset=$(stat -c %s "$nd/kafka.log")
  started=$EPOCHREALTIME
  pid=$(launch_broker "$nd" "$CLUSTER_HEAP")
  local deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-90}))
  until port_answers "$nport" &&
    logged_since "$nd/kafka.log" "$offset" 'Kafka Server started'; do
    if ! alive "$pid" || ((SECONDS >= deadline)); then
      kill_and_reap "$pid"
      rm -f "$nd/kafka.pid"
      tail -c "+$((offset + 1))" "$nd/kafka.log" | tail -n 40 >&2
      die "node $node did not become ready (log above); it was stopped"
    fi
    sleep 0.2
  done
  echo "kafka node $node ready on 127.0.0.1:$nport after $(elapsed "$started") s (pid $pid)"
}
