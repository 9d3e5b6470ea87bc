#!/bin/sh
# Solution of the lab "The scheduler: choosing a node", one section per step.
set -eu

# step: 01-pending
kubectl create namespace lab4
wheelhouse component stop scheduler
kubectl run pending-pod --image nginx --restart Never -n lab4
kubectl get pod pending-pod -n lab4 -o wide

# step: 02-bind
wheelhouse component start scheduler
kubectl wait --for=jsonpath='{.status.phase}'=Running pod/pending-pod -n lab4 --timeout=120s
kubectl get pod pending-pod -n lab4 -o wide

# step: 03-node-selector
kubectl get nodes -L topology.kubernetes.io/zone
kubectl run zone-b-pod --image nginx --restart Never -n lab4 --overrides '{"spec":{"nodeSelector":{"topology.kubernetes.io/zone":"zone-b"}}}'
kubectl wait --for=jsonpath='{.spec.nodeName}'=node-2 pod/zone-b-pod -n lab4 --timeout=120s

# step: 04-taint
kubectl taint nodes node-3 lab4=reserved:NoSchedule
kubectl run intolerant --image nginx --restart Never -n lab4 --overrides '{"spec":{"nodeSelector":{"kubernetes.io/hostname":"node-3"}}}'
kubectl wait --for=condition=PodScheduled=False pod/intolerant -n lab4 --timeout=120s
kubectl describe pod intolerant -n lab4

# step: 05-toleration
kubectl run tolerant --image nginx --restart Never -n lab4 --overrides '{"spec":{"nodeSelector":{"kubernetes.io/hostname":"node-3"},"tolerations":[{"key":"lab4","operator":"Equal","value":"reserved","effect":"NoSchedule"}]}}'
kubectl wait --for=jsonpath='{.spec.nodeName}'=node-3 pod/tolerant -n lab4 --timeout=120s
kubectl get pods -n lab4 -o wide

# step: 06-untaint
kubectl taint nodes node-3 lab4-
kubectl wait --for=jsonpath='{.spec.nodeName}'=node-3 pod/intolerant -n lab4 --timeout=120s
kubectl get pods -n lab4 -o wide

# step: 07-affinity
kubectl apply -f - <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: affinity-pod
  namespace: lab4
spec:
  restartPolicy: Never
  containers:
  - name: nginx
    image: nginx
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions:
          - {key: topology.kubernetes.io/zone, operator: NotIn, values: [zone-a]}
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        preference:
          matchExpressions:
          - {key: topology.kubernetes.io/zone, operator: In, values: [zone-c]}
YAML
kubectl wait --for=jsonpath='{.spec.nodeName}'=node-3 pod/affinity-pod -n lab4 --timeout=120s
kubectl get pod affinity-pod -n lab4 -o wide
