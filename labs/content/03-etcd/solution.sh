#!/bin/sh
# Solution of the lab "etcd, the source of truth", one section per step.
set -eu

# step: 01-keys
kubectl create namespace lab3
kubectl create configmap greeting -n lab3 --from-literal=message=hello

# step: 02-revision
kubectl get configmap greeting -n lab3 -o jsonpath='{.metadata.resourceVersion}{"\n"}'
kubectl patch configmap greeting -n lab3 --type merge -p '{"data":{"message":"hola"}}'
kubectl get configmap greeting -n lab3 -o jsonpath='{.metadata.resourceVersion}{"\n"}'

# step: 03-only-apiserver
kubectl create deployment web --image nginx -n lab3
kubectl rollout status deployment/web -n lab3 --timeout=120s
i=0
until [ "$(kubectl get pods -n lab3 -l app=web --field-selector status.phase=Running -o name | wc -l)" -eq 1 ]; do
  i=$((i + 1)); [ "$i" -le 120 ] || { echo "web's pod is not Running after 2 minutes" >&2; exit 1; }
  sleep 1
done
kubectl get deployment,replicaset,pod -n lab3

# step: 04-restart
# wheelhouse: restart
kubectl get configmap greeting -n lab3 -o yaml
kubectl get deployment,pod -n lab3
