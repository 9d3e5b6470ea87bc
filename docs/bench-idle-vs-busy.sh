#!/bin/bash
# Measures 300 nginx replicas to Ready on an idle machine and beside a
# niced busy loop (docs/BENCHMARKS.md, "Classroom"). Needs /tmp/wh (go build -o /tmp/wh ./cmd/wheelhouse) and free ports 27xxx.
# 300 nginx replicas to Ready, idle machine vs a niced busy loop beside it.
set -u
d=$(mktemp -d /tmp/exp/wh-XXXX)
/tmp/wh up --data-dir $d --api-port 27443 --etcd-port 27379 --kubelet-port 27250 --scheduler-port 27259 --controller-manager-port 27257 --ui-addr 127.0.0.1:27080 --nodes 3 > $d/out.log 2>&1 &
pid=$!
until grep -q "Cluster usable" $d/out.log; do kill -0 $pid 2>/dev/null || { cat $d/out.log; exit 1; }; sleep 1; done
export KUBECONFIG=$d/pki/admin.kubeconfig
k() { /tmp/wh kubectl --kubeconfig "$KUBECONFIG" "$@"; }
run() {
  ns=$1; n=$2
  k create ns $ns >/dev/null
  k -n $ns create deployment web --image nginx --replicas 0 >/dev/null
  sleep 2
  s=$(date +%s.%N)
  k -n $ns scale deployment web --replicas $n >/dev/null
  until [ "$(k -n $ns get deploy web -o jsonpath='{.status.readyReplicas}')" = "$n" ]; do sleep 0.5; done
  e=$(date +%s.%N)
  echo "$ns: $(echo "$e - $s" | bc) s"
  k delete ns $ns --wait=true >/dev/null
}
run warm 30
run idle1 300
nice -n 19 sh -c 'while :; do :; done' & burner=$!
run busy1 300
kill $burner
run idle2 300
kill $pid; wait $pid
