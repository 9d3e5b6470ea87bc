package programs

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/machine"
)

// What the simulated servers answer on their ports, which `kubectl
// port-forward` reaches.

// serveHTTP answers HTTP/1.1 requests on conn until the client closes it
// or asks to, with what answer returns; every request is logged by log.
func serveHTTP(conn io.ReadWriter, answer func(*http.Request) (code int, header http.Header, body []byte), log func(r *http.Request, code, size int)) {
	br := bufio.NewReader(conn)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		code, header, body := answer(req)
		resp := &http.Response{
			StatusCode:    code,
			ProtoMajor:    1,
			ProtoMinor:    1,
			Header:        header,
			ContentLength: int64(len(body)),
			Body:          io.NopCloser(bytes.NewReader(body)),
			Close:         req.Close,
			Request:       req,
		}
		if req.Method == http.MethodHead {
			resp.Body = http.NoBody
		}
		if err := resp.Write(conn); err != nil {
			return
		}
		log(req, code, len(body))
		if req.Close {
			return
		}
	}
}

// NginxPort and redisPort are where the images' servers listen; the
// runtime's port-forward tests reach nginx's.
const (
	NginxPort = 80
	redisPort = 6379
)

// nginxHandler serves the files under nginx's document root, as the
// image's default.conf does, and logs each request in nginx's combined
// format on stdout (which `kubectl logs` shows).
func nginxHandler(p *machine.Process, version string) machine.PortHandler {
	return func(conn io.ReadWriter) {
		answer := func(r *http.Request) (int, http.Header, []byte) {
			h := http.Header{}
			h.Set("Server", "nginx/"+version)
			h.Set("Date", p.Machine.Now().UTC().Format(http.TimeFormat))
			name := path.Clean("/" + r.URL.Path)
			if strings.HasSuffix(r.URL.Path, "/") {
				name = path.Join(name, "index.html")
			}
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				h.Set("Content-Type", "text/html")
				return http.StatusMethodNotAllowed, h, []byte(nginxErrorPage(405, "Not Allowed", version))
			}
			data, err := p.Machine.ReadFile("/", "/usr/share/nginx/html"+name)
			if err != nil {
				h.Set("Content-Type", "text/html")
				return http.StatusNotFound, h, []byte(nginxErrorPage(404, "Not Found", version))
			}
			h.Set("Content-Type", contentType(name))
			h.Set("Accept-Ranges", "bytes")
			h.Set("Last-Modified", p.Machine.Now().UTC().Add(-24*time.Hour).Format(http.TimeFormat))
			return http.StatusOK, h, data
		}
		serveHTTP(conn, answer, func(r *http.Request, code, size int) {
			ua := r.UserAgent()
			if ua == "" {
				ua = "-"
			}
			ref := r.Referer()
			if ref == "" {
				ref = "-"
			}
			// A port-forwarded connection comes from inside the pod.
			fmt.Fprintf(p.IO.Out, "%s - - [%s] \"%s %s %s\" %d %d \"%s\" \"%s\" \"-\"\n",
				machine.PeerAddr(conn), p.Machine.Now().UTC().Format("02/Jan/2006:15:04:05 -0700"), r.Method, r.RequestURI, r.Proto, code, size, ref, ua)
		})
	}
}

func nginxErrorPage(code int, text, version string) string {
	return fmt.Sprintf("<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n<hr><center>nginx/%s</center>\r\n</body>\r\n</html>\r\n", code, text, code, text, version)
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".html", ".htm":
		return "text/html"
	case ".css":
		return "text/css"
	case ".js":
		return "application/javascript"
	case ".json":
		return "application/json"
	case ".txt":
		return "text/plain"
	}
	return "application/octet-stream"
}

// redisHandler answers the RESP commands a learner tries first (PING,
// ECHO, and a friendly error for the rest), as redis-server would.
func redisHandler() machine.PortHandler {
	// The server's keys, shared by its connections.
	var mu sync.Mutex
	keys := map[string]string{}
	return func(conn io.ReadWriter) {
		br := bufio.NewReader(conn)
		for {
			args, err := readRESP(br)
			if err != nil {
				return
			}
			if len(args) == 0 {
				continue
			}
			var reply string
			switch strings.ToUpper(args[0]) {
			case "PING":
				reply = "+PONG\r\n"
				if len(args) > 1 {
					reply = "$" + strconv.Itoa(len(args[1])) + "\r\n" + args[1] + "\r\n"
				}
			case "ECHO":
				if len(args) != 2 {
					reply = "-ERR wrong number of arguments for 'echo' command\r\n"
				} else {
					reply = "$" + strconv.Itoa(len(args[1])) + "\r\n" + args[1] + "\r\n"
				}
			case "SET":
				if len(args) < 3 {
					reply = "-ERR wrong number of arguments for 'set' command\r\n"
					break
				}
				mu.Lock()
				if _, exists := keys[args[1]]; exists || len(keys) < maxRedisKeys {
					keys[args[1]] = args[2]
					reply = "+OK\r\n"
				} else {
					reply = "-OOM command not allowed when used memory > 'maxmemory'.\r\n"
				}
				mu.Unlock()
			case "GET":
				if len(args) != 2 {
					reply = "-ERR wrong number of arguments for 'get' command\r\n"
					break
				}
				mu.Lock()
				v, ok := keys[args[1]]
				mu.Unlock()
				reply = "$-1\r\n"
				if ok {
					reply = "$" + strconv.Itoa(len(v)) + "\r\n" + v + "\r\n"
				}
			case "QUIT":
				_, _ = io.WriteString(conn, "+OK\r\n")
				return
			default:
				reply = fmt.Sprintf("-ERR unknown command '%s', with args beginning with: \r\n", args[0])
			}
			if _, err := io.WriteString(conn, reply); err != nil {
				return
			}
		}
	}
}

// maxRESPCommand bounds one command's arguments, and maxRedisKeys the keys
// one server keeps: a learner's loop cannot grow the process hosting the
// cluster.
const (
	maxRESPCommand = 1 << 20
	maxRedisKeys   = 10000
)

// readRESP reads one command: a RESP array of bulk strings, or an inline
// command (what `telnet` or `nc` sends).
func readRESP(br *bufio.Reader) ([]string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimRight(line, "\r\n")
	if !strings.HasPrefix(line, "*") {
		return strings.Fields(line), nil
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 0 || n > 1024 {
		return nil, fmt.Errorf("bad array length %q", line)
	}
	args := make([]string, 0, n)
	total := 0
	for range n {
		hdr, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		size, err := strconv.Atoi(strings.TrimRight(strings.TrimPrefix(hdr, "$"), "\r\n"))
		if total += size; err != nil || size < 0 || total > maxRESPCommand {
			return nil, fmt.Errorf("bad bulk length %q", hdr)
		}
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return nil, err
		}
		args = append(args, string(buf[:size]))
	}
	return args, nil
}
