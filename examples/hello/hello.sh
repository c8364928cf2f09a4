#!/bin/sh
# The example project ./dev up offers to deploy: an HTTP server on $PORT_HTTP
# that logs one line per request to stdout, and its start-up to stderr.
echo "hello starting: task ${HOSTAGENT_TASK_ID:-?} release ${HOSTAGENT_RELEASE:-?} port ${PORT_HTTP:-8000}" >&2
exec python3 -u - <<'PY'
import http.server, os, sys

class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("hello from hostagent project %s\n" % os.environ.get("HOSTAGENT_PROJECT", "?")).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stdout.write("request: " + fmt % args + "\n")

port = int(os.environ.get("PORT_HTTP", "8000"))
http.server.ThreadingHTTPServer(("127.0.0.1", port), Hello).serve_forever()
PY
