#!/bin/sh
# Solution of the lab "Meet the components", one section per step.
set -eu

# step: 01-kubectl
kubectl get nodes
kubectl get nodes -v=6
kubectl get --raw /api/v1/nodes >/dev/null

# step: 02-etcd
kubectl create namespace lab1
kubectl get namespace lab1 -o yaml

# step: 03-scheduler
wheelhouse component stop scheduler
wheelhouse component start scheduler

# step: 04-controller-manager
wheelhouse component stop controller-manager
wheelhouse component start controller-manager

# step: 05-kubelet
wheelhouse component stop kubelet/node-1
wheelhouse component start kubelet/node-1
# The kubelet renews its Lease every 10 seconds; wait for a renewal after
# the restart (the Lease's renewTime moves on).
# A kubelet creates its Lease only once its Node is registered, about 10
# seconds after it starts: wait for the Lease first.
i=0
until kubectl get lease node-1 -n kube-node-lease >/dev/null 2>&1; do
  i=$((i + 1)); [ "$i" -le 120 ] || { echo "node-1 has no Lease after 2 minutes" >&2; exit 1; }
  sleep 1
done
before=$(kubectl get lease node-1 -n kube-node-lease -o jsonpath='{.spec.renewTime}')
i=0
until [ "$(kubectl get lease node-1 -n kube-node-lease -o jsonpath='{.spec.renewTime}')" != "$before" ]; do
  i=$((i + 1)); [ "$i" -le 120 ] || { echo "no Lease renewal in 2 minutes" >&2; exit 1; }
  sleep 1
done
kubectl get lease node-1 -n kube-node-lease -o yaml

# step: 06-kube-proxy
kubectl create service clusterip web --tcp 80:80 -n lab1
kubectl get service,endpointslices -n lab1
