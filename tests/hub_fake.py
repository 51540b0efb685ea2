"""A minimal stand-in for the Hub's HTTP API on 127.0.0.1 — the one thing tests cannot reach.

It is a *loopback fake*, not a Hub: no open-source server implements the Hub's upload API, so this implements just
the endpoints ``HfApi.create_repo`` + ``upload_folder`` use (hf_anchors.md section 7) and records every commit's
files, so a test can check exactly what a real push would have sent. What was pushed can be read back with
``snapshot_download`` (repo info, recursive tree, ``resolve`` HEAD/GET without Xet: plain HTTP downloads), which is
how the leaderboard Space test has the app fetch a results repo.

Card metadata is checked the way the Hub checks it, for the fields pns-hub writes: ``upload_folder`` first posts
README.md to ``/api/validate-yaml`` (huggingface_hub's ``HfApi._validate_yaml``), and the Hub's ``/commit`` endpoint
parses README.md again and answers 400 when it is invalid (huggingface_hub issue #1927). The rules below are written
from the Hub's documentation and its published error messages, independently of ``pns_hub.hub``'s own offline
check, so the two can disagree and a test can notice.
"""

import base64
import hashlib
import json
import re
import urllib.parse
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml


# The Hub's accepted ``license`` ids, as its validator lists them ("license" must be one of [...],
# huggingface_hub issue #4218).
HUB_LICENSES = frozenset("""
apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0 bigcode-openrail-m
afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5
cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0
cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0 cdla-permissive-1.0
cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl
lgpl-2.1 lgpl-3.0 isc h-research intel-research lppl-1.3c ms-pl apple-ascl apple-amlr mpl-2.0 odc-by odbl
openmdw-1.0 openrail++ osl-3.0 postgresql ofl-1.1 ncsa unlicense zlib pddl lgpl-lr deepfloyd-if-license
fair-noncommercial-research-license llama2 llama3 llama3.1 llama3.2 llama3.3 llama4 grok2-community gemma unknown other
""".split())
# The Hub's own front-matter regex (huggingface_hub.repocard: "exact same regex as in the hf hub server").
YAML_BLOCK = re.compile(r"^(\s*---[\r\n]+)([\S\s]*?)([\r\n]+---(\r\n|\n|$))")
REPO_ID = re.compile(r"^[\w.-]{1,96}/[\w.-]{1,96}$|^[\w.-]{1,96}$")  # what a base_model/datasets entry may be
SPLIT_NAME = re.compile(r"^\w+(\.\w+)*$")


def _string_or_strings(value) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value))


def _config_errors(configs) -> list[str]:
    if not isinstance(configs, list):
        return ['"configs" must be an array']
    errors, names, defaults = [], set(), 0
    for i, entry in enumerate(configs):
        if not isinstance(entry, dict):
            errors.append(f'"configs[{i}]" must be an object')
            continue
        name = entry.get("config_name")
        if not isinstance(name, str) or not name:
            errors.append(f'"configs[{i}].config_name" is required and must be a string')
        elif name in names:
            errors.append(f'"configs[{i}].config_name" duplicates "{name}"')
        names.add(name)
        defaults += entry.get("default") is True
        files = entry.get("data_files")
        items = files if isinstance(files, list) else [files]
        for item in items:
            ok = isinstance(item, str) or (isinstance(item, dict) and set(item) == {"split", "path"}
                                           and isinstance(item["split"], str) and SPLIT_NAME.match(item["split"])
                                           and _string_or_strings(item["path"]))
            if files is not None and not ok:
                errors.append(f'"configs[{i}].data_files" must be a string, a list of strings or a list of '
                              f'{{split, path}} objects, got {item!r}')
    if defaults > 1:
        errors.append('"configs": at most one config may have "default: true"')
    return errors


def metadata_errors(content: str, repo_type: str) -> list[str]:
    """What the Hub says about a README's front matter (empty = accepted), for the keys pns-hub writes."""
    match = YAML_BLOCK.match(content)
    if not match:
        if content.lstrip().startswith("---"):  # a block that opens and never closes on a line of its own
            return ["metadata block: a README that starts with '---' must close it with a '---' line"]
        return []  # no metadata: the Hub warns, it does not reject
    try:
        meta = yaml.safe_load(match.group(2))
    except yaml.YAMLError as err:
        return [f"YAML: {err}"]
    if meta is None:
        return []
    if not isinstance(meta, dict):
        return ["metadata must be an object"]
    errors = []
    licenses = meta.get("license")
    if licenses is not None:
        if not _string_or_strings(licenses):
            errors.append('"license" must be a string or an array of strings')
        else:
            bad = [x for x in ([licenses] if isinstance(licenses, str) else licenses) if x not in HUB_LICENSES]
            errors += [f'"license" must be one of [{", ".join(sorted(HUB_LICENSES))}], got "{x}"' for x in bad]
    for key in ("language", "tags", "task_categories", "task_ids", "source_datasets", "datasets", "base_model"):
        if meta.get(key) is not None and not _string_or_strings(meta[key]):
            errors.append(f'"{key}" must be a string or an array of strings')
    for key in ("base_model", "datasets"):  # the Hub's wording: huggingface/autotrain-advanced#648, transformers#25961
        values = meta.get(key)
        if key in meta and not values:
            errors.append(f'"{key}" is not allowed to be empty')
        for i, value in enumerate([values] if isinstance(values, str) else values or []):
            if isinstance(value, str) and not REPO_ID.match(value):
                errors.append(f'"{key}[{i}]" with value "{value}" is not valid. If possible, use a '
                              f'{"dataset" if key == "datasets" else "model"} id from https://hf.co/'
                              f'{"datasets" if key == "datasets" else "models"}.')
    if meta.get("pretty_name") is not None and not isinstance(meta["pretty_name"], str):
        errors.append('"pretty_name" must be a string')
    if repo_type == "dataset" and "configs" in meta:
        errors += _config_errors(meta["configs"])
    infos = meta.get("dataset_info")
    if repo_type == "dataset" and infos is not None:
        entries = infos if isinstance(infos, list) else [infos]
        if not all(isinstance(e, dict) for e in entries):
            errors.append('"dataset_info" must be an object or an array of objects')
        elif isinstance(infos, list) and any("config_name" not in e for e in entries):
            errors.append('"dataset_info[]" entries must each have a "config_name"')
    return errors


COMMIT = "1" * 40  # every commit of the fake has this sha (the files are the union of a repo's commits)


class FakeHub:
    def files(self, repo_type: str, repo_id: str) -> dict[str, bytes]:
        """A repo's current files: later commits overwrite earlier ones (``repo_type`` as in URLs: datasets...)."""
        out = {}
        for commit in self.commits:
            if commit["type"] == repo_type and commit["repo"] == repo_id:
                out.update(commit["files"])
        return out

    def __init__(self):
        self.repos: dict[str, dict] = {}
        self.commits: list[dict] = []
        self.validated: list[dict] = []  # every /api/validate-yaml request and its answer
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
                    hub.repos[repo_id] = {"type": req.get("type", "model"), "private": req.get("private"),
                                          **({"sdk": req["sdk"]} if "sdk" in req else {}),
                                          **({"variables": req["variables"]} if "variables" in req else {})}
                    kind = req.get("type", "model")
                    prefix = "" if kind == "model" else f"{kind}s/"
                    return self._reply({"url": f"{hub.endpoint}/{prefix}{repo_id}"})
                if path == "/api/validate-yaml":
                    req = json.loads(raw)
                    errors = metadata_errors(req.get("content", ""), req.get("repoType") or "model")
                    hub.validated.append({"repo_type": req.get("repoType"), "errors": errors})
                    return self._reply({"errors": [{"message": e} for e in errors], "warnings": []},
                                       400 if errors else 200)
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
                    if "README.md" in files:  # the Hub re-checks the card server-side and refuses the commit
                        errors = metadata_errors(files["README.md"].decode("utf-8"), parts[2].rstrip("s"))
                        if errors:
                            return self._reply({"error": "Invalid metadata in README.md.\n" + "\n".join(
                                f"- {e}" for e in errors)}, 400)
                    hub.commits.append({"repo": f"{parts[3]}/{parts[4]}", "type": parts[2], "files": files,
                                        "summary": header.get("summary")})
                    return self._reply({"commitUrl": f"{hub.endpoint}/{parts[2]}/{parts[3]}/{parts[4]}/commit/{COMMIT}", "commitOid": COMMIT})
                return self._reply({"error": f"not faked: {path}"}, 404)

            def _serve_read(self, head: bool):
                path = urllib.parse.unquote(self.path.split("?")[0])
                api = re.match(r"^/api/(models|datasets|spaces)/([^/]+/[^/]+)/(revision|tree)/[^/]+(?:/(.*))?$", path)
                if api:  # repo_info: /revision/{rev}; list_repo_tree: /tree/{rev}[/{path}]
                    files = hub.files(api[1], api[2])
                    if not files and api[2] not in hub.repos:
                        return self._reply({"error": "Repository not found"}, 404)
                    entries = [{"type": "file", "path": k, "size": len(v), "oid": hashlib.sha1(v).hexdigest()}
                               for k, v in sorted(files.items())]
                    if api[3] == "tree":
                        return self._reply(entries)
                    return self._reply({"id": api[2], "sha": COMMIT, "private": False,
                                        "siblings": [{"rfilename": e["path"]} for e in entries]})
                resolve = re.match(r"^/(datasets/|spaces/)?([^/]+/[^/]+)/resolve/[^/]+/(.+)$", path)
                body = resolve and hub.files((resolve[1] or "models/").rstrip("/"), resolve[2]).get(resolve[3])
                if body is None:
                    return self._reply({"error": f"not faked or no such file: {path}"}, 404)
                self.send_response(200)
                for key, value in (("Content-Length", str(len(body))), ("X-Repo-Commit", COMMIT),
                                   ("ETag", f'"{hashlib.sha1(body).hexdigest()}"'),
                                   ("Content-Type", "application/octet-stream")):
                    self.send_header(key, value)
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def do_GET(self):
                self._serve_read(head=False)

            def do_HEAD(self):
                self._serve_read(head=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
