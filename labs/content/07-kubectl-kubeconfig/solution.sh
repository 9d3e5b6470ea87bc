#!/bin/sh
# Solution of the lab "kubectl: kubeconfig, contexts and YAML", one section per step.
# The files go to $HOME, the terminal's home directory.
set -eu

# step: 01-kubeconfig
echo "$KUBECONFIG"
kubectl config view
kubectl config get-contexts
kubectl get pods -v=6

# step: 02-context
mkdir -p ~/.kube && cp "$KUBECONFIG" ~/.kube/config
kubectl config set-context lab7 --cluster wheelhouse --user wheelhouse-admin --namespace lab7 --kubeconfig ~/.kube/config
kubectl config use-context lab7 --kubeconfig ~/.kube/config
kubectl config get-contexts --kubeconfig ~/.kube/config
env -u KUBECONFIG kubectl get pods

# step: 03-precedence
cp ~/.kube/config ~/env.kubeconfig && kubectl config set-context lab7 --namespace lab7-env --kubeconfig ~/env.kubeconfig
cp ~/.kube/config ~/flag.kubeconfig && kubectl config set-context lab7 --namespace lab7-flag --kubeconfig ~/flag.kubeconfig
KUBECONFIG=~/env.kubeconfig kubectl get pods
KUBECONFIG=~/env.kubeconfig kubectl --kubeconfig ~/flag.kubeconfig get pods

# step: 04-imperative-declarative
kubectl create namespace lab7
kubectl create configmap imperative -n lab7 --from-literal=color=blue
cat > ~/color.yaml <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata:
  name: declarative
  namespace: lab7
data:
  color: blue
YAML
kubectl apply -f ~/color.yaml
sed -i 's/blue/green/' ~/color.yaml && kubectl apply -f ~/color.yaml
if kubectl create configmap imperative -n lab7 --from-literal=color=green; then
  echo "kubectl create should have refused an existing ConfigMap" >&2
  exit 1
fi

# step: 05-multi-document
cat > ~/two-pods.yaml <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: my-pod
  namespace: lab7
spec:
  containers:
  - name: busybox-container
    image: busybox:latest
    command: ["sleep", "3600"]
---
apiVersion: v1
kind: Pod
metadata:
  name: my-second-pod
  namespace: lab7
spec:
  containers:
  - name: nginx-container
    image: nginx:latest
YAML
kubectl apply -f ~/two-pods.yaml
kubectl wait --for=jsonpath='{.status.phase}'=Running pod/my-pod pod/my-second-pod -n lab7 --timeout=120s
kubectl get pods -n lab7

# step: 06-explain
kubectl explain pod.spec.containers.image
kubectl explain deployment.spec.strategy
kubectl explain pod.spec.containers.image -v=6
