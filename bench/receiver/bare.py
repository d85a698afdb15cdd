"""The baseline: a bare aiohttp handler answering a small JSON 200, nothing else.

`python -m bench.receiver.bare PORT`. Same framework, same JSON library and same
single-process setup as the receiver, so the ratio measures what hopstream adds (parsing,
validation, metrics, the broker round trip), not the machine.
"""

from __future__ import annotations

import sys

import orjson
from aiohttp import web

BODY = orjson.dumps({"status": "accepted", "postback_id": "0" * 32})


async def handle(request: web.Request) -> web.Response:
    return web.Response(body=BODY, content_type="application/json")


def main() -> None:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None,
                print=lambda *_: None)


if __name__ == "__main__":
    main()
