package server

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// Who may reach the server, checked on every request before any route:
//
//   - The Host header must name this server: an IP address, localhost, or a
//     name the user added with --ui-host. A page on another site that
//     rebinds its own name to 127.0.0.1 (DNS rebinding) sends its own name
//     as Host and is refused, as Jupyter refuses it. An IP address cannot
//     be rebound, so any is accepted.
//   - Off loopback (a --ui-addr others can reach), and in classroom mode
//     anywhere, every route but /healthz needs the admin token or, for the
//     read-only view and its streams, the viewer key (classroom.go).
//
// The admin token is read from the X-Wheelhouse-Token header, the ?token=
// query parameter (the address `wheelhouse up` prints, and websockets,
// which cannot send headers from a browser) or the cookie the page is
// given when it is opened with the token, so that the page's own assets
// load off loopback. The cookie is SameSite=Strict and HttpOnly, and routes
// that change anything accept only the header, which no other site's page
// can make a browser send.

// HostFlag is the flag of `wheelhouse up` that adds names to the Host check.
const HostFlag = "--ui-host"

// hostAllowed reports whether the Host header names this server.
func hostAllowed(hostHeader string, extra []string) bool {
	host := hostHeader
	if h, _, err := net.SplitHostPort(hostHeader); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if host == "" {
		return false
	}
	if net.ParseIP(host) != nil || strings.EqualFold(host, "localhost") {
		return true
	}
	for _, e := range extra {
		if strings.EqualFold(host, strings.TrimSuffix(e, ".")) {
			return true
		}
	}
	return false
}

// checkHost refuses requests whose Host is not one this server serves.
func checkHost(extra []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostAllowed(r.Host, extra) {
			host, _, err := net.SplitHostPort(r.Host)
			if err != nil {
				host = r.Host
			}
			writeError(w, http.StatusForbidden, fmt.Errorf(
				"host %q is not a name Wheelhouse serves (a page that rebinds its own name to this machine would send it); if you reach Wheelhouse by this name, start it with %s %s",
				r.Host, HostFlag, host))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// tokenCookie is the cookie that carries the admin token for a page that
// was opened with it. Its name has the port in it: cookies are per host,
// not per port, and two Wheelhouses on one machine must not share one.
func tokenCookie(r *http.Request) string {
	_, port, err := net.SplitHostPort(r.Host)
	if err != nil || port == "" {
		port = "80"
	}
	return "wheelhouse-token-" + port
}

// presentedToken is the admin token a request carries in any of the places
// a reading route accepts it.
func presentedToken(r *http.Request) string {
	if t := r.Header.Get(TokenHeader); t != "" {
		return t
	}
	if t := r.URL.Query().Get("token"); t != "" {
		return t
	}
	if c, err := r.Cookie(tokenCookie(r)); err == nil {
		return c.Value
	}
	return ""
}

// isAdmin reports whether r carries the right admin token.
func isAdmin(r *http.Request, token string) bool {
	got := presentedToken(r)
	return token != "" && got != "" && tokenMatches(got, token)
}

// rememberToken gives a page opened with the right ?token= a cookie with
// it, so that the page's assets and streams are let in off loopback.
func rememberToken(w http.ResponseWriter, r *http.Request, token string) {
	if t := r.URL.Query().Get("token"); t == "" || token == "" || !tokenMatches(t, token) {
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: tokenCookie(r), Value: token, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
}

// errTokenEverywhere explains a refusal off loopback.
var errTokenEverywhere = errors.New("this Wheelhouse listens on an address others can reach, so every page and API needs the admin token: open the address that `wheelhouse up` printed (it ends in ?token=…)")

// IsLoopback reports whether a listen address (host:port) is reachable
// from this machine only.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
