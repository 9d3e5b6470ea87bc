#!/bin/sh
set -eu
# step: 01-run
kubectl run nginx --image nginx --restart Never
# step: 02-schedule
kubectl wait --for=condition=Ready pod/nginx
# wheelhouse: restart
kubectl get pod nginx
