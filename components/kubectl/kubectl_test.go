package kubectl

import "testing"

func TestNeedsServer(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"get", "pods"}, true},
		{[]string{"-n", "kube-system", "get", "pods"}, true},
		{[]string{"run", "nginx", "--image", "nginx"}, true},
		{[]string{"exec", "p", "--", "sh", "-c", "--help"}, true},
		{[]string{"version"}, true},
		{[]string{"version", "--client"}, false},
		{[]string{"get", "--help"}, false},
		{[]string{}, false},
		{[]string{"completion", "bash"}, false},
		{[]string{"config", "view"}, false},
		{[]string{"--server", "https://127.0.0.1:6443", "get", "pods"}, false},
		{[]string{"get", "pods", "--server=https://127.0.0.1:6443"}, false},
	} {
		if got := needsServer(c.args); got != c.want {
			t.Errorf("needsServer(%q) = %v, want %v", c.args, got, c.want)
		}
	}
}
