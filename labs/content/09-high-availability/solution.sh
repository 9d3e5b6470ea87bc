#!/bin/sh
# Solution of the lab "Making Kubernetes highly available", one section per step.
# It needs the ha topology: wheelhouse up --topology ha
set -eu

# step: 01-topology
wheelhouse etcdctl member list -w table
wheelhouse etcdctl endpoint status --cluster -w table
kubectl -n kube-system get leases

# step: 02-etcd-leader
# The leader's ID from its status, its name from the member list.
leader_id=$(wheelhouse etcdctl endpoint status --cluster -w simple | awk -F', ' '$9 == "true" {print $2}')
leader=$(wheelhouse etcdctl member list -w simple | awk -F', ' -v id="$leader_id" '$1 == id {print $3}')
echo "etcd leader: $leader"
wheelhouse component stop "etcd/$leader"
sleep 3
wheelhouse etcdctl endpoint status --cluster -w table || true
kubectl create configmap lab9-one-down --from-literal member=down
wheelhouse component start "etcd/$leader"

# step: 03-apiserver
wheelhouse component stop apiserver/cp-1
sleep 3
kubectl get nodes
kubectl get pods -A
wheelhouse component start apiserver/cp-1

# step: 04-scheduler
holder=$(kubectl -n kube-system get lease kube-scheduler -o jsonpath='{.spec.holderIdentity}' | cut -d_ -f1)
echo "leading scheduler: $holder"
wheelhouse component stop "scheduler/$holder"
kubectl run lab9-waiter --image nginx
kubectl wait --for=jsonpath='{.status.phase}'=Running pod/lab9-waiter --timeout=120s
kubectl -n kube-system get lease kube-scheduler
wheelhouse component start "scheduler/$holder"

# step: 05-quorum
wheelhouse component stop etcd/cp-2
wheelhouse component stop etcd/cp-3
if kubectl create configmap lab9-no-quorum --from-literal k=v --request-timeout 15s; then
  echo "a write succeeded without a quorum" >&2
  exit 1
fi
wheelhouse component start etcd/cp-3
for i in $(seq 1 30); do
  kubectl create configmap lab9-quorum-back --from-literal k=v && break
  sleep 2
done
wheelhouse component start etcd/cp-2
