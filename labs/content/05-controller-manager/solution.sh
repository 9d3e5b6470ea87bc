#!/bin/sh
# Solution of the lab "The controller manager: reconciliation loops", one section per step.
set -eu

# wait_running N: wait until exactly N of web's pods in lab5 are Running.
wait_running() {
  i=0
  until [ "$(kubectl get pods -n lab5 -l app=web --field-selector status.phase=Running -o name | wc -l)" -eq "$1" ]; do
    i=$((i + 1)); [ "$i" -le 120 ] || { echo "web does not have $1 Running pods after 2 minutes" >&2; exit 1; }
    sleep 1
  done
}

# step: 01-serviceaccount
kubectl create namespace lab5
i=0
until kubectl get serviceaccount default -n lab5 >/dev/null 2>&1; do
  i=$((i + 1)); [ "$i" -le 120 ] || { echo "no default ServiceAccount in lab5" >&2; exit 1; }
  sleep 1
done
kubectl get serviceaccounts -n lab5

# step: 02-deployment
kubectl create deployment web --image nginx:1.25 --replicas 3 -n lab5
wait_running 3
kubectl get deployment,replicaset,pod -n lab5

# step: 03-self-heal
kubectl delete -n lab5 "$(kubectl get pods -n lab5 -l app=web -o name | head -n 1)"
wait_running 3
kubectl get pods -n lab5

# step: 04-rollout
kubectl set image deployment/web nginx=nginx:1.27 -n lab5
kubectl rollout status deployment/web -n lab5 --timeout=120s
i=0
until [ "$(kubectl get pods -n lab5 -l app=web -o jsonpath='{range .items[*]}{.spec.containers[0].image}{"\n"}{end}' | grep -c '^nginx:1.27$')" -eq 3 ] &&
      [ "$(kubectl get pods -n lab5 -l app=web -o name | wc -l)" -eq 3 ]; do
  i=$((i + 1)); [ "$i" -le 120 ] || { echo "the rollout did not leave 3 nginx:1.27 pods" >&2; exit 1; }
  sleep 1
done
kubectl get replicasets -n lab5

# step: 05-delete-namespace
kubectl delete namespace lab5 --timeout=120s
kubectl get namespaces
