#!/usr/bin/env bash
# A throw-away, one-node Ceph radosgw on 127.0.0.1 for the S3 integration tests.
#
#   radosgw.sh install   apt-get the Ceph packages (the only command that installs anything)
#   radosgw.sh start     bring up mon + memstore OSD + radosgw, print `export MLSTORE_TEST_S3_…=…`
#   radosgw.sh env      print the export line of the running instance
#   radosgw.sh stop      stop radosgw, then the OSD, then the monitor (by recorded PID), remove data
#
# State lives in $MLSTORE_RGW_DIR (default /tmp/mlstore-radosgw); use different directories to run
# several instances side by side (ports are picked free). Data is in RAM (memstore OSD), auth is
# "none" inside the cluster, and radosgw still enforces SigV4 for S3 clients.
set -euo pipefail

DIR="${MLSTORE_RGW_DIR:-/tmp/mlstore-radosgw}"
CONF="$DIR/ceph.conf"
ACCESS_KEY="mlstoretestaccess"
SECRET_KEY="mlstoretestsecret0123456789"
BUCKET="mlstore-test"

log() { echo "radosgw.sh: $*" >&2; }
die() { log "$*"; exit 1; }

free_port() {
  node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

alive() { [[ -f "$DIR/$1.pid" ]] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

print_env() {
  [[ -f "$DIR/endpoint" ]] || die "no running instance in $DIR (run: $0 start)"
  echo "export MLSTORE_TEST_S3_ENDPOINT=$(cat "$DIR/endpoint") MLSTORE_TEST_S3_ACCESS_KEY=$ACCESS_KEY MLSTORE_TEST_S3_SECRET_KEY=$SECRET_KEY MLSTORE_TEST_S3_BUCKET=$BUCKET"
}

cmd_install() {
  [[ $(id -u) == 0 ]] || die "install needs root (apt-get)"
  # Package scripts try to start daemons; a policy-rc.d exiting 101 forbids that. Ours is removed
  # afterwards; one the image already had is left alone.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw
}

# Retry a ceph CLI command: it can race the freshly started monitor (EPERM getting descriptions).
retry() {
  local i
  for i in $(seq 1 40); do
    if "$@" >>"$DIR/setup.log" 2>&1; then return 0; fi
    sleep 0.25
  done
  die "failed after retries: $* (see $DIR/setup.log)"
}

wait_http() {
  local url=$1 i
  for i in $(seq 1 120); do
    if node -e "fetch('$url').then(r=>process.exit(r.status===200?0:1),()=>process.exit(1))" 2>/dev/null; then return 0; fi
    alive radosgw || die "radosgw exited (see $DIR/log/)"
    sleep 0.25
  done
  die "radosgw did not answer on $url"
}

cmd_start() {
  command -v radosgw >/dev/null || die "radosgw is not installed (run: $0 install)"
  if alive radosgw; then print_env; return 0; fi
  [[ -e $DIR ]] && cmd_stop >/dev/null 2>&1 || true
  mkdir -p "$DIR/log" "$DIR/run" "$DIR/rgw"
  local fsid osd_uuid mon_port rgw_port
  fsid=$(cat /proc/sys/kernel/random/uuid)
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  mon_port=$(free_port)
  rgw_port=$(free_port)
  cat >"$CONF" <<EOF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$mon_port
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
public network = 127.0.0.0/8
cluster network = 127.0.0.0/8
ms bind msgr2 = false
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = 4294967296
run dir = $DIR/run
admin socket = $DIR/run/\$cluster-\$name.asok
log file = $DIR/log/\$cluster-\$name.log
keyring = $DIR/keyring

[mon]
mon data = $DIR/mon-\$id
paxos propose interval = 0.05
paxos min wait = 0.01

[osd]
osd data = $DIR/osd-\$id
osd crush update on start = false
osd class update on start = false
osd mon shutdown timeout = 0.5

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw data = $DIR/rgw
EOF
  log "starting in $DIR (mon :$mon_port, rgw :$rgw_port)"
  monmaptool --create --addv a "v1:127.0.0.1:$mon_port" --fsid "$fsid" "$DIR/monmap" >>"$DIR/setup.log" 2>&1
  ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >>"$DIR/setup.log" 2>&1
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/keyring" >>"$DIR/setup.log" 2>&1
  ceph-mon -c "$CONF" -i a -f >>"$DIR/log/mon.out" 2>&1 &
  echo $! >"$DIR/mon.pid"

  retry ceph -c "$CONF" osd create "$osd_uuid"
  retry ceph -c "$CONF" osd crush add osd.0 1.0 root=default
  mkdir -p "$DIR/osd-0"
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$DIR/setup.log" 2>&1
  ceph-osd -c "$CONF" -i 0 -f >>"$DIR/log/osd.out" 2>&1 &
  echo $! >"$DIR/osd.pid"

  radosgw -c "$CONF" -n client.rgw.a -f >>"$DIR/log/rgw.out" 2>&1 &
  echo $! >"$DIR/radosgw.pid"

  wait_http "http://127.0.0.1:$rgw_port/"
  retry radosgw-admin -c "$CONF" user create --uid=test --display-name=test \
    --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY"
  echo "http://127.0.0.1:$rgw_port" >"$DIR/endpoint"
  warm_up
  log "ready"
  print_env
}

# The first bucket and first object each take 1–2 s (pool creation): pay that here, not in tests.
warm_up() {
  MLSTORE_TEST_S3_ENDPOINT=$(cat "$DIR/endpoint") node --input-type=module -e "
    import { S3Client, CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
    const c = new S3Client({ endpoint: process.env.MLSTORE_TEST_S3_ENDPOINT, region: 'us-east-1', forcePathStyle: true,
      credentials: { accessKeyId: '$ACCESS_KEY', secretAccessKey: '$SECRET_KEY' },
      requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
    for (const b of ['mlstore-warmup', '$BUCKET']) {
      for (let i = 0; ; i++) {
        try { await c.send(new CreateBucketCommand({ Bucket: b })); break; }
        catch (e) { if (e.name === 'BucketAlreadyOwnedByYou' || e.name === 'BucketAlreadyExists') break; if (i > 40) throw e; await new Promise(r => setTimeout(r, 250)); }
      }
      await c.send(new PutObjectCommand({ Bucket: b, Key: 'warmup', Body: Buffer.from('warm') }));
    }
  " >>"$DIR/setup.log" 2>&1 || die "warm-up failed (see $DIR/setup.log)"
}

stop_one() {
  local name=$1 i pid
  [[ -f "$DIR/$name.pid" ]] || return 0
  pid=$(cat "$DIR/$name.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$DIR/$name.pid"
}

cmd_stop() {
  # radosgw first: it hangs on SIGTERM once the monitor is gone.
  stop_one radosgw
  stop_one osd
  stop_one mon
  [[ -d $DIR ]] && rm -rf "$DIR"
  log "stopped"
}

# The warm-up imports @aws-sdk/client-s3: run node from the project root.
cd "$(dirname "$0")/../.."
case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  env) print_env ;;
  stop) cmd_stop ;;
  *) echo "usage: $0 install|start|env|stop" >&2; exit 2 ;;
esac
