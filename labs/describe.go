package labs

import (
	"fmt"
	"strings"
)

// This file writes the sentences a learner reads: descriptions of checks
// that have none, and the names of objects and components in them.

// kindOf is the kind for the resources labs use ("deployments.apps" →
// "Deployment"), for readable names ("pod default/nginx", "Pod
// default/nginx"), or "" for others, which are named by their resource.
func kindOf(resource string) string {
	plural, _, _ := strings.Cut(resource, ".")
	switch plural {
	case "pods":
		return "Pod"
	case "nodes":
		return "Node"
	case "namespaces":
		return "Namespace"
	case "services":
		return "Service"
	case "serviceaccounts":
		return "ServiceAccount"
	case "configmaps":
		return "ConfigMap"
	case "secrets":
		return "Secret"
	case "events":
		return "Event"
	case "endpoints":
		return "Endpoints"
	case "persistentvolumeclaims":
		return "PersistentVolumeClaim"
	case "persistentvolumes":
		return "PersistentVolume"
	case "deployments":
		return "Deployment"
	case "replicasets":
		return "ReplicaSet"
	case "daemonsets":
		return "DaemonSet"
	case "statefulsets":
		return "StatefulSet"
	case "jobs":
		return "Job"
	case "cronjobs":
		return "CronJob"
	case "endpointslices":
		return "EndpointSlice"
	case "leases":
		return "Lease"
	case "roles":
		return "Role"
	case "rolebindings":
		return "RoleBinding"
	case "clusterroles":
		return "ClusterRole"
	case "clusterrolebindings":
		return "ClusterRoleBinding"
	case "ingresses":
		return "Ingress"
	case "networkpolicies":
		return "NetworkPolicy"
	case "priorityclasses":
		return "PriorityClass"
	case "storageclasses":
		return "StorageClass"
	case "customresourcedefinitions":
		return "CustomResourceDefinition"
	}
	return ""
}

// objectName is "pod default/nginx" / "Pod default/nginx".
func objectName(resource, namespace, name string) Text {
	ref := name
	if namespace != "" {
		ref = namespace + "/" + name
	}
	kind := kindOf(resource)
	if kind == "" {
		return both(resource+" "+ref, resource+" "+ref)
	}
	return both(strings.ToLower(kind)+" "+ref, kind+" "+ref)
}

// listPhrase describes the objects a list check counts: in English the
// whole noun phrase after the number ("pods in namespace default with
// labels app=web"), in Chinese the scope before the number ("命名空间
// default 中") and the noun after it ("标签匹配 app=web 的 Pod").
type listPhrase struct {
	en, zhScope, zhNoun string
}

func listName(rc *ResourceCheck, n int) listPhrase {
	plural, _, _ := strings.Cut(rc.Resource, ".")
	kind := kindOf(rc.Resource)
	noun := plural
	if n == 1 {
		noun = strings.TrimSuffix(plural, "s")
		if kind != "" {
			noun = strings.ToLower(kind)
		}
	}
	if kind == "" {
		kind = rc.Resource
	}
	p := listPhrase{en: noun}
	if rc.Namespace != "" {
		p.en += " in namespace " + rc.Namespace
		p.zhScope = "命名空间 " + rc.Namespace + " 中"
	}
	var zh []string
	if rc.Selector != "" {
		p.en += " with labels " + rc.Selector
		zh = append(zh, "标签匹配 "+rc.Selector)
	}
	switch {
	case rc.Field != "" && rc.Equals != nil:
		p.en += fmt.Sprintf(" whose %s is %s", rc.Field, *rc.Equals)
		zh = append(zh, fmt.Sprintf("%s 为 %s", rc.Field, *rc.Equals))
	case rc.Field != "" && *rc.Exists:
		p.en += fmt.Sprintf(" with %s set", rc.Field)
		zh = append(zh, "已设置 "+rc.Field)
	case rc.Field != "":
		p.en += fmt.Sprintf(" without %s", rc.Field)
		zh = append(zh, "未设置 "+rc.Field)
	case rc.Condition != "":
		p.en += fmt.Sprintf(" with condition %s = %s", rc.Condition, rc.Status)
		zh = append(zh, fmt.Sprintf("%s 状况为 %s", rc.Condition, rc.Status))
	}
	if len(zh) > 0 {
		p.zhNoun = strings.Join(zh, "、") + " 的 "
	}
	p.zhNoun += kind
	return p
}

// describe writes a check's description in both languages.
func describe(c *Check) Text {
	switch {
	case c.Resource != nil:
		return describeResource(c.Resource)
	case c.Trace != nil:
		return describeMatcher(c.Trace)
	case c.Order != nil:
		first, then := describeMatcher(&c.Order.First), describeMatcher(&c.Order.Then)
		return both(first.EN+", then "+then.EN, "先"+first.ZH+"，然后"+then.ZH)
	}
	return Text{}
}

func describeResource(rc *ResourceCheck) Text {
	if rc.Name == "" {
		if rc.Count != nil {
			l := listName(rc, *rc.Count)
			return both(fmt.Sprintf("exactly %d %s", *rc.Count, l.en), fmt.Sprintf("%s恰好有 %d 个%s", l.zhScope, *rc.Count, l.zhNoun))
		}
		l := listName(rc, *rc.Min)
		return both(fmt.Sprintf("at least %d %s", *rc.Min, l.en), fmt.Sprintf("%s至少有 %d 个%s", l.zhScope, *rc.Min, l.zhNoun))
	}
	o := objectName(rc.Resource, rc.Namespace, rc.Name)
	switch {
	case rc.Absent:
		return both(o.EN+" does not exist", o.ZH+" 不存在")
	case rc.Field != "" && rc.Equals != nil:
		return both(fmt.Sprintf("%s has %s = %s", o.EN, rc.Field, *rc.Equals),
			fmt.Sprintf("%s 的 %s 为 %s", o.ZH, rc.Field, *rc.Equals))
	case rc.Field != "" && *rc.Exists:
		return both(fmt.Sprintf("%s has %s set", o.EN, rc.Field), fmt.Sprintf("%s 已设置 %s", o.ZH, rc.Field))
	case rc.Field != "":
		return both(fmt.Sprintf("%s has no %s", o.EN, rc.Field), fmt.Sprintf("%s 未设置 %s", o.ZH, rc.Field))
	case rc.Condition != "":
		return both(fmt.Sprintf("%s has condition %s = %s", o.EN, rc.Condition, rc.Status),
			fmt.Sprintf("%s 的 %s 状况为 %s", o.ZH, rc.Condition, rc.Status))
	}
	return both(o.EN+" exists", o.ZH+" 存在")
}

// component names a component id or pattern in a sentence.
func component(id string) Text {
	if ref, ok := strings.CutPrefix(id, podPrefix); ok {
		return podName(ref)
	}
	if prefix, ok := cutWildcard(id); ok {
		if base, rest, found := strings.Cut(prefix, "/"); found && rest == "" {
			b := componentBase(base)
			noun := strings.TrimPrefix(b.EN, "the ")
			return both(article(noun)+noun, zcat("某个", b.ZH))
		}
		return both("a component matching "+id, "匹配 "+id+" 的组件")
	}
	if base, node, found := strings.Cut(id, "/"); found {
		b := componentBase(base)
		return both(b.EN+" on "+node, node+" 上的 "+b.ZH)
	}
	return componentBase(id)
}

// podName names a pod, or pods, of a net event's from or to: ref is what
// follows "pod:" ("lab8/client", "lab8/*", "lab8/web-*").
func podName(ref string) Text {
	prefix, wild := cutWildcard(ref)
	switch {
	case !wild:
		return both("pod "+ref, "Pod "+ref)
	case prefix == "":
		return both("a pod", "某个 Pod")
	}
	if ns, rest, found := strings.Cut(prefix, "/"); found && rest == "" {
		return both("a pod in namespace "+ns, "命名空间 "+ns+" 中的 Pod")
	}
	return both("a pod matching "+ref, "匹配 "+ref+" 的 Pod")
}

// nodeName names the node of a net event's source pod, or nodes.
func nodeName(pattern string) Text {
	if prefix, ok := cutWildcard(pattern); ok {
		if prefix == "" {
			return both("a node", "某个节点")
		}
		return both("a node matching "+pattern, "匹配 "+pattern+" 的节点")
	}
	return both(pattern, pattern)
}

func componentBase(id string) Text {
	switch id {
	case "coredns":
		return both("CoreDNS", "CoreDNS")
	case "apiserver":
		return both("the apiserver", "API Server")
	case "scheduler":
		return both("the scheduler", "调度器")
	case "controller-manager":
		return both("the controller manager", "控制器管理器")
	case "kubelet":
		return both("the kubelet", "kubelet")
	case "runtime":
		return both("the container runtime", "容器运行时")
	}
	return both(id, id)
}

// describeMatcher writes what an event matching m is, as a clause:
// "the scheduler made a create pods/binding request for nginx".
func describeMatcher(m *EventMatcher) Text {
	var obj Text // " for default/nginx" / "（对象 default/nginx）"
	switch {
	case m.Name != "" && m.Namespace != "":
		obj = both(" for "+m.Namespace+"/"+m.Name, "（对象 "+m.Namespace+"/"+m.Name+"）")
	case m.Name != "":
		obj = both(" for "+m.Name, "（对象 "+m.Name+"）")
	case m.Namespace != "":
		obj = both(" in namespace "+m.Namespace, "（命名空间 "+m.Namespace+"）")
	}
	res := m.Resource
	if m.Subresource != "" && res != "" {
		res += "/" + m.Subresource
	} else if m.Subresource != "" {
		res = m.Subresource
	}
	status := Text{}
	if m.Status != "" {
		status = both(" (status "+m.Status+")", "（状态 "+m.Status+"）")
	}
	if m.Path != "" {
		status = both(status.EN+" to "+m.Path, status.ZH+"（路径 "+m.Path+"）")
	}
	if m.Controller != "" {
		status = both(status.EN+" as the "+m.Controller, status.ZH+"（由 "+m.Controller+" 发出）")
	}
	who := func(id string, en, zh string) Text {
		if id == "" {
			return both(en, zh)
		}
		return component(id)
	}
	var t Text
	switch m.Kind {
	case "http":
		from := who(m.From, "a client", "某个客户端")
		what := strings.TrimSpace(m.Verb + " " + res)
		t = both(fmt.Sprintf("%s made %s%srequest%s%s", from.EN, article(what+" request"), spaced(what), obj.EN, status.EN),
			zcat(from.ZH, "发起了 "+spaced(what)+"请求"+obj.ZH+status.ZH))
	case "watch":
		to := who(m.To, "a watcher", "某个 watcher")
		what := strings.TrimSpace(m.Verb + " " + res)
		t = both(fmt.Sprintf("%s received a %swatch event%s%s", to.EN, spaced(what), obj.EN, status.EN),
			zcat(to.ZH, "收到了 "+spaced(what)+"watch 事件"+obj.ZH+status.ZH))
		if m.From != "" && m.From != "apiserver" {
			f := component(m.From)
			t.EN += " from " + f.EN
			t.ZH += "（来自 " + f.ZH + "）"
		}
	case "etcd":
		from := who(m.From, "the apiserver", "API Server")
		verb := m.Verb
		if verb == "" {
			verb = "write"
		}
		what := strings.TrimSpace(verb + " " + res)
		t = both(fmt.Sprintf("%s made an etcd %s%s%s", from.EN, what, obj.EN, status.EN),
			zcat(from.ZH, "在 etcd 中执行了 "+what+obj.ZH+status.ZH))
	case "cri":
		from := who(m.From, "a kubelet", "某个 kubelet")
		call := both(m.Verb, m.Verb)
		if m.Verb == "" {
			call = both("its container runtime", "容器运行时")
		}
		t = both(fmt.Sprintf("%s called %s%s%s", from.EN, call.EN, obj.EN, status.EN),
			zcat(from.ZH, "调用了 "+call.ZH+obj.ZH+status.ZH))
	case "kubelet-api":
		from := who(m.From, "the apiserver", "API Server")
		to := who(m.To, "a kubelet", "某个 kubelet")
		what := m.Verb
		if what == "" {
			what = "a request"
		}
		t = both(fmt.Sprintf("%s passed %s on to %s%s", from.EN, what, to.EN, obj.EN),
			zcat(from.ZH, "把 "+what+" 请求转交给了 "+to.ZH+obj.ZH))
	case "net":
		t = describeNet(m, obj, status)
	case "lifecycle":
		from := who(m.From, "a component", "某个组件")
		if m.From == "" && m.Name != "" {
			from = both(m.Name, m.Name)
			obj = Text{}
		}
		t = both(from.EN+" "+lifecycleVerb(m.Verb).EN+obj.EN, zcat(from.ZH, lifecycleVerb(m.Verb).ZH+obj.ZH))
	default:
		var parts []string
		for _, f := range m.fields() {
			if *f.val != "" {
				parts = append(parts, f.key+"="+*f.val)
			}
		}
		list := strings.Join(parts, ", ")
		return both("an event with "+list+" happened", "发生了 "+list+" 的事件")
	}
	return t
}

// describeNet is describeMatcher for net events: "pod lab8/client-1 on
// node-2 opened a connection to a pod matching lab8/web-* through chain
// KUBE-SVC-* (status connected)". obj and status are describeMatcher's
// clauses.
func describeNet(m *EventMatcher, obj, status Text) Text {
	// The subject is the source pod: from, or else the pod the event is
	// about (a net event's namespace and name are its source's).
	from := both("a pod", "某个 Pod")
	switch {
	case m.From != "":
		from = component(m.From)
	case m.Name != "" && m.Namespace != "":
		from, obj = podName(m.Namespace+"/"+m.Name), Text{}
	case m.Name != "":
		from, obj = both("pod "+m.Name, "Pod "+m.Name), Text{}
	case m.Namespace != "":
		from, obj = podName(m.Namespace+"/*"), Text{}
	}
	if m.Node != "" {
		n := nodeName(m.Node)
		from = both(from.EN+" on "+n.EN, zcat(zcat(n.ZH, "上的"), from.ZH))
	}
	var to Text
	if m.To != "" {
		to = component(m.To)
	}
	rest := obj
	if m.Chain != "" {
		rest = both(rest.EN+" through chain "+m.Chain, rest.ZH+"（经过链 "+m.Chain+"）")
	}
	rest = both(rest.EN+status.EN, rest.ZH+status.ZH)
	var t Text
	switch m.Verb {
	case "connect":
		t = both(from.EN+" opened a connection", zcat(from.ZH, "发起了连接"))
		if m.To != "" {
			t = both(from.EN+" opened a connection to "+to.EN, zcat(zcat(from.ZH, zcat("向", to.ZH)), "发起了连接"))
		}
	case "query":
		t = both(from.EN+" sent a DNS query", zcat(from.ZH, "发出了 DNS 查询"))
		if m.To != "" {
			t = both(t.EN+" answered by "+to.EN, zcat(t.ZH+"，由", zcat(to.ZH, "应答")))
		}
	default:
		what := both("network traffic", "网络流量")
		if m.Verb != "" {
			what = both("a net "+m.Verb, "net "+m.Verb+" 流量")
		}
		t = both(from.EN+" sent "+what.EN, zcat(from.ZH, zcat("发出了", what.ZH)))
		if m.To != "" {
			t = both(t.EN+" to "+to.EN, zcat(zcat(from.ZH, zcat("向", to.ZH)), zcat("发出了", what.ZH)))
		}
	}
	return both(t.EN+rest.EN, t.ZH+rest.ZH)
}

func lifecycleVerb(verb string) Text {
	switch verb {
	case "started":
		return both("started", "已启动")
	case "ready":
		return both("became ready", "已就绪")
	case "stopped":
		return both("stopped", "已停止")
	case "crashed":
		return both("crashed", "已崩溃")
	case "NodeReady":
		return both("turned Ready", "变为 Ready")
	case "NodeNotReady":
		return both("turned NotReady", "变为 NotReady")
	case "":
		return both("had a lifecycle event", "发生了生命周期事件")
	}
	return both("reported "+verb, "报告了 "+verb)
}

// spaced is s followed by a space, or "" for "".
func spaced(s string) string {
	if s == "" {
		return ""
	}
	return s + " "
}

// zcat joins two pieces of Chinese text, with a space where Latin text
// meets Chinese ("kubectl 发起了", but "调度器发起了").
func zcat(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	last, first := a[len(a)-1], b[0]
	if last < 0x80 && last != ' ' || first < 0x80 && first != ' ' {
		return a + " " + b
	}
	return a + b
}

// article is "a " or "an " for the word that starts s.
func article(s string) string {
	if s != "" && strings.ContainsRune("aeiou", rune(s[0])) {
		return "an "
	}
	return "a "
}
