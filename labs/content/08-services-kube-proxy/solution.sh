#!/bin/sh
# Solution of the lab "Services and kube-proxy: follow the traffic", one section per step.
set -eu

# endpoints: the endpoints web's EndpointSlice lists, one a line: the
# address, then "true" if the endpoint is ready.
endpoints() {
  kubectl get endpointslices -n lab8 -l kubernetes.io/service-name=web \
    -o jsonpath='{range .items[*].endpoints[*]}{.addresses[0]} {.conditions.ready}{"\n"}{end}'
}

# ready_addresses: the addresses of web's ready endpoints, one a line.
ready_addresses() {
  endpoints | awk '$2 == "true" {print $1}'
}

# count: how many non-empty lines its input has.
count() {
  grep -c . || true
}

# wait_endpoints N [OLD]: wait until web's EndpointSlice lists exactly N
# endpoints, all of them ready and none of them at an address in OLD (the
# addresses of pods that were replaced).
wait_endpoints() {
  i=0
  while :; do
    listed=$(endpoints | count)
    ready=$(ready_addresses)
    stale=0
    for a in ${2:-}; do
      if printf '%s\n' "$ready" | grep -qxF "$a"; then stale=1; fi
    done
    if [ "$listed" -eq "$1" ] && [ "$(printf '%s\n' "$ready" | count)" -eq "$1" ] && [ "$stale" -eq 0 ]; then
      return 0
    fi
    i=$((i + 1))
    if [ "$i" -gt 120 ]; then
      echo "web's EndpointSlice does not list $1 new ready endpoints after 2 minutes:" >&2
      endpoints >&2
      exit 1
    fi
    sleep 1
  done
}

# wait_running POD: wait until the pod POD of lab8 is Running.
wait_running() {
  i=0
  until [ "$(kubectl get pod "$1" -n lab8 -o jsonpath='{.status.phase}' 2>/dev/null)" = Running ]; do
    i=$((i + 1))
    if [ "$i" -gt 120 ]; then
      echo "pod lab8/$1 is not Running after 2 minutes" >&2
      kubectl get pod "$1" -n lab8 -o wide >&2 || true
      exit 1
    fi
    sleep 1
  done
}

# wait_web_running N: wait until web has exactly N pods, all Running.
wait_web_running() {
  i=0
  until [ "$(kubectl get pods -n lab8 -l app=web -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' | count)" -eq "$1" ] &&
        [ "$(kubectl get pods -n lab8 -l app=web --field-selector status.phase=Running -o name | count)" -eq "$1" ]; do
    i=$((i + 1))
    if [ "$i" -gt 120 ]; then
      echo "web does not have $1 Running pods after 2 minutes" >&2
      kubectl get pods -n lab8 -l app=web -o wide >&2 || true
      exit 1
    fi
    sleep 1
  done
}

# fetch POD: fetch http://web from the client POD until a web pod answers.
# Right after an EndpointSlice change, or a kube-proxy start, the node's
# rules may lag the slice by a moment.
fetch() {
  i=0
  until kubectl exec -n lab8 "$1" -- wget -T 3 -qO- http://web >/dev/null; do
    i=$((i + 1))
    if [ "$i" -gt 30 ]; then
      echo "$1 could not fetch http://web in 30 tries" >&2
      exit 1
    fi
    sleep 1
  done
  echo "$1 fetched http://web"
}

# step: 01-service
kubectl create namespace lab8
kubectl create deployment web --image nginx --replicas 3 -n lab8
kubectl expose deployment web --port 80 -n lab8
wait_endpoints 3
kubectl get service web -n lab8 -o wide
kubectl get endpointslices -n lab8 -l kubernetes.io/service-name=web -o wide

# step: 02-wget
kubectl run client-1 -n lab8 --image busybox --overrides '{"spec":{"nodeName":"node-1"}}' -- sleep 36000
kubectl run client-2 -n lab8 --image busybox --overrides '{"spec":{"nodeName":"node-2"}}' -- sleep 36000
wait_running client-1
wait_running client-2
kubectl get pods -n lab8 -o wide
wait_endpoints 3
fetch client-1
kubectl exec -n lab8 client-1 -- wget -qO- http://web

# step: 03-spread
kubectl scale deployment web --replicas 4 -n lab8
wait_endpoints 4
kubectl get endpointslices -n lab8 -l kubernetes.io/service-name=web -o wide
fetch client-1
kubectl exec -n lab8 client-1 -- sh -c 'n=0; for i in $(seq 20); do wget -qO- http://web >/dev/null && n=$((n + 1)); done; echo "$n of 20 requests answered"'

# step: 04-dns
kubectl get deployment,pods -n kube-system -l k8s-app=kube-dns -o wide
kubectl get service kube-dns -n kube-system
kubectl exec -n lab8 client-1 -- cat /etc/resolv.conf
kubectl exec -n lab8 client-1 -- nslookup web.lab8.svc.cluster.local
# busybox's nslookup prints the search domains' NXDOMAINs beside web's
# address, and exits 1 for them.
kubectl exec -n lab8 client-1 -- nslookup web || true
kubectl run dnsutils -n lab8 --image registry.k8s.io/e2e-test-images/agnhost:2.39
wait_running dnsutils
kubectl exec -n lab8 dnsutils -- nslookup kubernetes.default
# From busybox the dotted name is asked as it is: SERVFAIL.
kubectl exec -n lab8 client-1 -- nslookup kubernetes.default || true
kubectl create service clusterip db -n lab8 --tcp 5432:5432
# CoreDNS answers for db once the Service has reached its watch.
i=0
until kubectl exec -n lab8 client-2 -- nslookup db.lab8.svc.cluster.local; do
  i=$((i + 1))
  if [ "$i" -gt 30 ]; then
    echo "CoreDNS does not know db.lab8.svc.cluster.local after 30 tries" >&2
    exit 1
  fi
  sleep 1
done

# step: 05-stale-rules
wheelhouse component stop kube-proxy/node-2
old=$(ready_addresses)
kubectl delete pod -n lab8 -l app=web
wait_web_running 4
wait_endpoints 4 "$old"
kubectl get pods,endpointslices -n lab8 -o wide
# node-2's rules still send web's connections to the old pods' addresses,
# which nobody has any more.
if kubectl exec -n lab8 client-2 -- wget -T 3 -qO- http://web; then
  echo "expected a timeout: node-2's stale rules should send client-2 to a pod that is gone" >&2
  exit 1
fi
fetch client-1
wheelhouse component start kube-proxy/node-2
fetch client-2
