"""A small Hugging Face Hub on 127.0.0.1 for the `xling pull` tests (Python standard
library only). Two threaded HTTP servers: the Hub itself (the /api/models/{repo}/revision/{rev}
JSON, /{repo}/resolve/{rev}/{path} with ETag / X-Linked-Etag / X-Linked-Size / X-Repo-Commit
headers) and a storage host on another port that LFS files redirect to (Range requests, as
a CDN answers them). Modes for the error cases: cut a transfer in the middle (once), corrupt
content, claim a huge size, fail the API with 503, gated and missing repositories (401 with
X-Error-Code GatedRepo / RepoNotFound, as the Hub answers anonymous clients). Every request
is logged (server, method, path, headers) for the tests to assert on."""
import hashlib, json, os, threading, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LFS_EXT = (".safetensors", ".pt", ".bin", ".onnx", ".h5", ".gguf")


def git_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that hangs up mid-transfer is one of the cases under test


class Repo:
    def __init__(self, commits, refs, gated_token=None):
        self.commits = commits          # commit -> {path: bytes}
        self.refs = refs                # name -> commit
        self.gated_token = gated_token  # gated: this bearer token is let through

    def commit_of(self, rev):
        if rev in self.commits:
            return rev
        return self.refs.get(rev)


def is_lfs(path, data):
    return path.endswith(LFS_EXT) or len(data) >= 1 << 20


class Hub:
    def __init__(self):
        self.repos = {}
        self.log = []
        self.lock = threading.Lock()
        self.cut = {}          # sha256 -> bytes to send before cutting the connection (once)
        self.corrupt = set()   # sha256 whose content is served with a byte flipped
        self.huge = set()      # sha256 whose X-Linked-Size claims a petabyte
        self.api_fail = 0      # next N API calls answer 503
        self.no_range = False  # the storage host ignores Range (answers 200 with everything)
        self.blobs = {}        # sha256 -> bytes
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def record(self, server):
                with hub.lock:
                    hub.log.append((server, self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))

            def send(self, code, headers=None, body=b"", head=False):
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                if "Content-Length" not in (headers or {}):
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head and body:
                    self.wfile.write(body)

            def error(self, code, err_code, msg, head=False):
                self.send(code, {"X-Error-Code": err_code, "X-Error-Message": msg, "Content-Type": "application/json"},
                          json.dumps({"error": msg}).encode(), head)

        class HubHandler(Handler):
            def do_GET(self):
                self.handle_hub(False)

            def do_HEAD(self):
                self.handle_hub(True)

            def handle_hub(self, head):
                self.record("hub")
                path = urllib.parse.urlparse(self.path).path
                parts = path.split("/")
                auth = self.headers.get("Authorization", "")
                if path.startswith("/api/models/"):
                    # /api/models/ORG/NAME/revision/REV
                    if len(parts) != 7 or parts[5] != "revision":
                        return self.error(404, "EntryNotFound", "bad API path", head)
                    with hub.lock:
                        if hub.api_fail > 0:
                            hub.api_fail -= 1
                            return self.send(503, {}, b"busy", head)
                    repo_id = parts[3] + "/" + parts[4]
                    rev = urllib.parse.unquote(parts[6])
                    repo = hub.repos.get(repo_id)
                    if repo is None:
                        return self.error(401, "RepoNotFound", "Repository Not Found for url: " + self.path, head)
                    commit = repo.commit_of(rev)
                    if commit is None:
                        return self.error(404, "RevisionNotFound", "Invalid rev id: " + rev, head)
                    files = sorted(repo.commits[commit])
                    body = json.dumps({"id": repo_id, "sha": commit,
                                       "siblings": [{"rfilename": f} for f in files]}).encode()
                    return self.send(200, {"Content-Type": "application/json"}, body, head)
                # /ORG/NAME/resolve/REV/PATH
                if len(parts) < 6 or parts[3] != "resolve":
                    return self.error(404, "EntryNotFound", "no such route", head)
                repo_id = parts[1] + "/" + parts[2]
                repo = hub.repos.get(repo_id)
                if repo is None:
                    return self.error(401, "RepoNotFound", "Repository Not Found", head)
                if repo.gated_token and auth != "Bearer " + repo.gated_token:
                    return self.error(401, "GatedRepo", "Access to model %s is restricted. You must have access to it "
                                      "and be authenticated to access it. Please log in." % repo_id, head)
                rev = urllib.parse.unquote(parts[4])
                commit = repo.commit_of(rev)
                if commit is None:
                    return self.error(404, "RevisionNotFound", "Invalid rev id: " + rev, head)
                fpath = urllib.parse.unquote("/".join(parts[5:]))
                data = repo.commits[commit].get(fpath)
                if data is None:
                    return self.error(404, "EntryNotFound", "Entry not found", head)
                if is_lfs(fpath, data):
                    sha = hashlib.sha256(data).hexdigest()
                    size = 10 ** 15 if sha in hub.huge else len(data)
                    loc = "http://127.0.0.1:%d/lfs/%s?name=%s" % (hub.lfs_port, sha, urllib.parse.quote(fpath))
                    return self.send(302, {"Location": loc, "X-Repo-Commit": commit, "X-Linked-Etag": '"%s"' % sha,
                                           "X-Linked-Size": str(size), "ETag": '"%s"' % git_sha1(data)}, b"", head)
                return self.send(200, {"X-Repo-Commit": commit, "ETag": '"%s"' % git_sha1(data),
                                       "Content-Type": "application/octet-stream"}, data, head)

        class LfsHandler(Handler):
            def do_GET(self):
                self.record("lfs")
                path = urllib.parse.urlparse(self.path).path
                sha = path.rsplit("/", 1)[-1]
                data = hub.blobs.get(sha)
                if data is None:
                    return self.send(404, {}, b"no such object")
                if sha in hub.corrupt:
                    data = bytes([data[0] ^ 0xFF]) + data[1:]
                start, code, headers = 0, 200, {"Content-Type": "application/octet-stream"}
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes=") and rng.endswith("-") and not hub.no_range:
                    start = int(rng[6:-1])
                    if start >= len(data):
                        return self.send(416, {"Content-Range": "bytes */%d" % len(data)}, b"")
                    code = 206
                    headers["Content-Range"] = "bytes %d-%d/%d" % (start, len(data) - 1, len(data))
                body = data[start:]
                with hub.lock:
                    cut = hub.cut.pop(sha, None)
                if cut is not None:
                    # announce everything, send part of it, then drop the connection
                    self.send_response(code)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.send(code, headers, body)

        self.hub_srv = QuietServer(("127.0.0.1", 0), HubHandler)
        self.lfs_srv = QuietServer(("127.0.0.1", 0), LfsHandler)
        self.port = self.hub_srv.server_address[1]
        self.lfs_port = self.lfs_srv.server_address[1]
        self.endpoint = "http://127.0.0.1:%d" % self.port
        for s in (self.hub_srv, self.lfs_srv):
            threading.Thread(target=s.serve_forever, daemon=True).start()

    def add_repo(self, repo_id, commits, refs, gated_token=None):
        for files in commits.values():
            for p, d in files.items():
                if is_lfs(p, d):
                    self.blobs[hashlib.sha256(d).hexdigest()] = d
        self.repos[repo_id] = Repo(commits, refs, gated_token)

    def requests(self, server=None):
        with self.lock:
            return [r for r in self.log if server is None or r[0] == server]

    def clear_log(self):
        with self.lock:
            self.log.clear()

    def stop(self):
        for s in (self.hub_srv, self.lfs_srv):
            s.shutdown()
            s.server_close()


def folder_files(path):
    """Every file of a model folder (symlinks followed), by relative path."""
    out = {}
    for root, _, names in os.walk(path):
        for n in names:
            if n.endswith(".xlcache"):  # xling's own tokenizer cache, not part of a Hub repo
                continue
            full = os.path.join(root, n)
            with open(full, "rb") as f:
                out[os.path.relpath(full, path)] = f.read()
    return out
