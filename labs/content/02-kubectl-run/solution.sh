#!/bin/sh
# Solution of the lab "From kubectl run to a running pod", one section per step.
set -eu

# step: 01-run
kubectl run nginx --image nginx --restart Never
kubectl get pod nginx -o wide

# step: 02-unscheduled
wheelhouse component stop scheduler
kubectl run slow --image nginx --restart Never --overrides '{"spec":{"nodeSelector":{"kubernetes.io/hostname":"node-3"}}}'
kubectl get pod slow -o wide

# step: 03-schedule
wheelhouse component stop kubelet/node-3 && wheelhouse component start scheduler
kubectl wait --for=jsonpath='{.spec.nodeName}'=node-3 pod/slow --timeout=120s
kubectl get pod slow -o wide

# step: 04-kubelet
wheelhouse component start kubelet/node-3
kubectl wait --for=jsonpath='{.status.phase}'=Running pod/slow --timeout=120s
kubectl get pod slow -o wide

# step: 05-delete
kubectl delete pod slow --timeout=120s
