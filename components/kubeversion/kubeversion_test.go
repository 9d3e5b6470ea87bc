package kubeversion

import (
	"os"
	"strings"
	"testing"

	clientversion "k8s.io/client-go/pkg/version"
	"k8s.io/component-base/version"
)

func TestComponentsReportPinnedRelease(t *testing.T) {
	got := version.Get()
	if got.GitVersion != "v1.37.2" || got.Major != "1" || got.Minor != "37" {
		t.Fatalf("component-base reports %q (major %q, minor %q), want v1.37.2 (1, 37)", got.GitVersion, got.Major, got.Minor)
	}
	if !strings.HasPrefix(got.String(), "v1.37.2") {
		t.Fatalf("version.Get().String() = %q", got.String())
	}
}

func TestClientGoReportsPinnedRelease(t *testing.T) {
	if got := clientversion.Get().GitVersion; got != "v1.37.2" {
		t.Fatalf("client-go reports %q, want v1.37.2 (it goes into every user agent)", got)
	}
}

func TestFallbackMatchesGoMod(t *testing.T) {
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mod), Module+" "+fallback) {
		t.Fatalf("go.mod does not require %s %s; update the fallback constant", Module, fallback)
	}
}

func TestMajorMinor(t *testing.T) {
	for _, tc := range []struct {
		in           string
		major, minor string
		ok           bool
	}{
		{"v1.37.2", "1", "37", true},
		{"v0.0.0-20260101000000-abcdef012345", "", "", false},
		{"v1.37.2-rc.1", "", "", false},
		{"1.37.2", "", "", false},
		{"(devel)", "", "", false},
	} {
		major, minor, ok := majorMinor(tc.in)
		if major != tc.major || minor != tc.minor || ok != tc.ok {
			t.Errorf("majorMinor(%q) = %q %q %v, want %q %q %v", tc.in, major, minor, ok, tc.major, tc.minor, tc.ok)
		}
	}
}
