#!/bin/sh
# Solution of the lab "Services, EndpointSlices and kube-proxy", one section per step.
set -eu

# endpoints: how many endpoints web's EndpointSlice lists.
endpoints() {
  kubectl get endpointslices -n lab8 -l kubernetes.io/service-name=web -o jsonpath='{range .items[*].endpoints[*]}{.addresses[0]}{"\n"}{end}' | grep -c . || true
}

# wait_endpoints N: wait until web's EndpointSlice lists exactly N endpoints.
wait_endpoints() {
  i=0
  until [ "$(endpoints)" -eq "$1" ]; do
    i=$((i + 1)); [ "$i" -le 120 ] || { echo "web's EndpointSlice does not list $1 endpoints after 2 minutes" >&2; exit 1; }
    sleep 1
  done
}

# step: 01-service
kubectl create namespace lab8
kubectl create deployment web --image nginx --replicas 2 -n lab8
kubectl expose deployment web --port 80 -n lab8
wait_endpoints 2
kubectl get service web -n lab8 -o wide
kubectl get endpointslices -n lab8 -l kubernetes.io/service-name=web -o wide

# step: 02-scale-up
kubectl scale deployment web --replicas 4 -n lab8
wait_endpoints 4
kubectl get endpointslices -n lab8 -l kubernetes.io/service-name=web -o wide

# step: 03-scale-down
kubectl scale deployment web --replicas 1 -n lab8
wait_endpoints 1
i=0
until [ "$(kubectl get pods -n lab8 -l app=web -o name | wc -l)" -eq 1 ]; do
  i=$((i + 1)); [ "$i" -le 120 ] || { echo "web still has more than one pod" >&2; exit 1; }
  sleep 1
done
kubectl get endpointslices -n lab8 -l kubernetes.io/service-name=web -o yaml

# step: 04-kube-proxy
old=$(kubectl get pods -n lab8 -l app=web -o jsonpath='{.items[0].metadata.name}')
kubectl delete pod -n lab8 -l app=web
i=0
until [ "$(kubectl get pods -n lab8 -l app=web --field-selector status.phase=Running -o jsonpath='{.items[*].metadata.name}')" != "" ] &&
      [ "$(kubectl get pods -n lab8 -l app=web --field-selector status.phase=Running -o jsonpath='{.items[*].metadata.name}')" != "$old" ]; do
  i=$((i + 1)); [ "$i" -le 120 ] || { echo "web's replacement pod is not Running" >&2; exit 1; }
  sleep 1
done
wait_endpoints 1
kubectl get pods,endpointslices -n lab8 -o wide
