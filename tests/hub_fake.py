"""A minimal stand-in for the Hub's HTTP API on 127.0.0.1 — the one thing tests cannot reach.

It implements just the four endpoints ``HfApi.create_repo`` + ``upload_folder`` use (hf_anchors.md section 7) and
records every commit's files, so a test can check exactly what a real push would have sent.
"""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeHub:
    def __init__(self):
        self.repos: dict[str, dict] = {}
        self.commits: list[dict] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, payload, status=200):
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                path = self.path.split("?")[0]
                if path == "/api/repos/create":
                    req = json.loads(raw)
                    repo_id = f"{req.get('organization') or 'user'}/{req['name']}"
                    hub.repos[repo_id] = {"type": req.get("type", "model"), "private": req.get("private")}
                    kind = req.get("type", "model")
                    prefix = "" if kind == "model" else f"{kind}s/"
                    return self._reply({"url": f"{hub.endpoint}/{prefix}{repo_id}"})
                if path == "/api/validate-yaml":
                    return self._reply({"errors": [], "warnings": []})
                if "/preupload/" in path:
                    files = json.loads(raw)["files"]
                    return self._reply({"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                                  for f in files]})
                if "/commit/" in path:
                    parts = path.split("/")  # /api/{type}s/{ns}/{name}/commit/{rev}
                    lines = [json.loads(l) for l in raw.decode().splitlines() if l.strip()]
                    files = {l["value"]["path"]: base64.b64decode(l["value"]["content"])
                             for l in lines if l["key"] == "file"}
                    header = next(l["value"] for l in lines if l["key"] == "header")
                    hub.commits.append({"repo": f"{parts[3]}/{parts[4]}", "type": parts[2], "files": files,
                                        "summary": header.get("summary")})
                    return self._reply({"commitUrl": f"{hub.endpoint}/{parts[2]}/{parts[3]}/{parts[4]}/commit/{'1' * 40}", "commitOid": "1" * 40})
                return self._reply({"error": f"not faked: {path}"}, 404)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
