import { test } from 'node:test';
import assert from 'node:assert/strict';
import { servicesIn, serviceLines } from '../../assets/ui/panels.js';

const rules = `*nat
:KUBE-SERVICES - [0:0]
:KUBE-SVC-WEB - [0:0]
:KUBE-SEP-A - [0:0]
:KUBE-SVC-DNS - [0:0]
-A KUBE-SERVICES -m comment --comment "lab8/web:http cluster IP" -m tcp -p tcp -d 10.96.0.50 --dport 80 -j KUBE-SVC-WEB
-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp -d 10.96.0.10 --dport 53 -j KUBE-SVC-DNS
-A KUBE-SVC-WEB -m comment --comment "lab8/web:http -> 10.244.1.5:80" -j KUBE-SEP-A
-A KUBE-SEP-A -m comment --comment lab8/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.1.5:80
-A KUBE-SVC-DNS -j KUBE-SEP-Z
COMMIT`;

test("the rules' Services are read from kube-proxy's comments", () => {
  assert.deepEqual(servicesIn(rules), ['kube-system/kube-dns', 'lab8/web']);
});

test("a Service's lines are its rules and its chains' rules and declarations", () => {
  const lines = rules.split('\n');
  const got = [...serviceLines(lines, 'lab8/web')].sort((a, b) => a - b).map((i) => lines[i].slice(0, 16));
  assert.deepEqual(got, [':KUBE-SVC-WEB - ', ':KUBE-SEP-A - [0', '-A KUBE-SERVICES', '-A KUBE-SVC-WEB ', '-A KUBE-SEP-A -m']);
  assert.equal(serviceLines(lines, '').size, 0);
});
