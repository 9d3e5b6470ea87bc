#!/bin/sh
# Solution of the lab "The kubelet and the container runtime", one section per step.
set -eu

# step: 01-cri
kubectl create namespace lab6
kubectl run cri-demo -n lab6 --image busybox --restart Never --overrides '{"spec":{"nodeName":"node-2"}}' -- sh -c 'echo hello from cri-demo; sleep 3600'
kubectl wait --for=jsonpath='{.status.phase}'=Running pod/cri-demo -n lab6 --timeout=120s
kubectl get pod cri-demo -n lab6 -o wide

# step: 02-exit
kubectl run once -n lab6 --image busybox --restart Never --overrides '{"spec":{"nodeName":"node-2"}}' -- sh -c 'echo working; exit 3'
kubectl wait --for=jsonpath='{.status.phase}'=Failed pod/once -n lab6 --timeout=120s
kubectl get pod once -n lab6
kubectl logs once -n lab6

# step: 03-lease
kubectl get leases -n kube-node-lease
# A kubelet creates its Lease only once its Node is registered, about 10
# seconds after it starts: wait for the Lease first.
i=0
until kubectl get lease node-2 -n kube-node-lease >/dev/null 2>&1; do
  i=$((i + 1)); [ "$i" -le 120 ] || { echo "node-2 has no Lease after 2 minutes" >&2; exit 1; }
  sleep 1
done
before=$(kubectl get lease node-2 -n kube-node-lease -o jsonpath='{.spec.renewTime}')
i=0
until [ "$(kubectl get lease node-2 -n kube-node-lease -o jsonpath='{.spec.renewTime}')" != "$before" ]; do
  i=$((i + 1)); [ "$i" -le 120 ] || { echo "node-2's Lease was not renewed in 2 minutes" >&2; exit 1; }
  sleep 1
done
kubectl get lease node-2 -n kube-node-lease -o yaml

# step: 04-not-ready
wheelhouse component stop kubelet/node-2
# The node-lifecycle controller waits --node-monitor-grace-period (20s in
# Wheelhouse) after the last Lease renewal.
kubectl wait --for=condition=Ready=Unknown node/node-2 --timeout=120s
i=0
until [ "$(kubectl get node node-2 -o jsonpath='{.spec.taints[0].key}')" = node.kubernetes.io/unreachable ]; do
  i=$((i + 1)); [ "$i" -le 120 ] || { echo "node-2 was not tainted unreachable" >&2; exit 1; }
  sleep 1
done
kubectl get nodes

# step: 05-ready
wheelhouse component start kubelet/node-2
kubectl wait --for=condition=Ready node/node-2 --timeout=120s
i=0
until [ -z "$(kubectl get node node-2 -o jsonpath='{.spec.taints}')" ]; do
  i=$((i + 1)); [ "$i" -le 120 ] || { echo "node-2's taints were not removed" >&2; exit 1; }
  sleep 1
done
kubectl get nodes
