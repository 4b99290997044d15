"""Helpers to drive the widget in a real Chromium: a host page on a second origin, the browser.

Used by tests/service/web and by scripts/screenshots.py. Never downloads a browser: it drives the
system's /usr/bin/chromium (apt-get install chromium fonts-wqy-zenhei).
"""
from __future__ import annotations

import html
import os
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("NOTESQA_CHROMIUM", "/usr/bin/chromium")
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--disable-sync"]
OPENING_QUESTION = "资产追回工作组2018年的会议是哪天开幕的？"

# An intranet page with CSS that would wreck a widget that is not isolated.
HOST_PAGE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>内网门户</title>
<style>
  body {{ font: 18px/2 serif; color: #600; margin: 0; padding: 24px; background: #fdfcf7; }}
  * {{ letter-spacing: 3px; }}
  button {{ background: hotpink !important; border: 4px dashed green; padding: 30px; }}
  div, p, section, ul, li, form, textarea {{ margin: 40px; text-align: right; }}
  h1 {{ font-size: 28px; }}
</style>
</head>
<body>
<h1>内网门户 · 合规部</h1>
<p>本页面演示在内网页面中嵌入资料问答组件。</p>
<script src="{service}/widget.js" data-api="{service}" data-title="资料问答助手" data-lang="zh"
        data-greeting="你好！请提出关于会议资料的问题。" data-accent="#0b6e4f" {extra}></script>
</body>
</html>
"""


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is not None


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)


class HostPage:
    """A page on its own loopback origin that embeds the widget of `service` (set before the first request)."""

    def __init__(self, extra_attributes: str = "", port: int = 0) -> None:
        self.service = ""
        self.extra = extra_attributes
        page = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                if self.path.split("?")[0] not in ("/", "/index.html"):
                    self.send_error(404)
                    return
                body = HOST_PAGE.format(service=html.escape(page.service, quote=True), extra=page.extra).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> HostPage:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> HostPage:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def record_stream_events(page: Any) -> None:
    """Collect the widget's `notesqa:stream` events in window.__events (call before the widget loads)."""
    page.add_init_script("""
        window.__events = [];
        document.addEventListener('notesqa:stream', e => window.__events.push(e.detail.event), true);
    """)
