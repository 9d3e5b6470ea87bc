package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
)

// TokenHeader carries the admin token on API calls that change the cluster.
const TokenHeader = "X-Wheelhouse-Token"

// checkToken is the one admin-token check of every guarded route: got is
// what the client presented (each route reads it from its own place), want
// the server's token, which `wheelhouse up` prints with the UI's address.
// An empty want refuses everyone: nothing guarded is ever served without
// a token.
func checkToken(got, want string) (status int, err error) {
	switch {
	case want == "":
		return http.StatusUnauthorized, errors.New("locked: the server has no admin token, so it allows nothing that needs one")
	case got == "":
		return http.StatusUnauthorized, errors.New("this needs the admin token: open the address that `wheelhouse up` printed (it ends in ?token=…)")
	case !tokenMatches(got, want):
		return http.StatusUnauthorized, errors.New("wrong admin token: open the address that `wheelhouse up` printed, or read the token in <data-dir>/ui.json")
	}
	return 0, nil
}

// tokenMatches compares in constant time. Hashing first makes the time
// independent of the lengths too.
func tokenMatches(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// requireToken guards an API route with the token in the TokenHeader
// header. A custom header also means no other site's page can make a
// learner's browser send the request.
func requireToken(token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code, err := checkToken(r.Header.Get(TokenHeader), token); err != nil {
			writeError(w, code, fmt.Errorf("%w (this API reads it from the %s header)", err, TokenHeader))
			return
		}
		next.ServeHTTP(w, r)
	})
}
