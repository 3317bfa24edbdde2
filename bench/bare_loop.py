"""The baseline for the overhead figure: the least code that posts a file's rows to the API.

Same httpx settings as the importer (clients of at most 8 connections, round-robin, same
timeout), same concurrency, the same file; payloads built inline; no retries, no journal, no
report. Prints rows/s of successful creates as JSON. A fifth argument ``aiohttp`` posts
through a bare aiohttp session instead (one connector of ``concurrency`` connections): the
fastest plain Python client, for the CPU-per-request figure.
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

POOL_SIZE = 8  # httpx pools of eight connections: faster than one of 64 (bench/RESULTS.md)


async def main(path: str, base_url: str, key: str, concurrency: int, client: str = "httpx") -> None:
    if client == "aiohttp":
        await _aiohttp(path, base_url, key, concurrency)
        return
    pools = -(-concurrency // POOL_SIZE)
    per_pool = -(-concurrency // pools)
    headers = {"Authorization": f"Bearer {key}"}
    clients = [
        httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            timeout=httpx.Timeout(30.0, connect=10.0),
            limits=httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool),
        )
        for _ in range(pools)
    ]
    rr = itertools.cycle(clients)

    async def post(payload: dict[str, object]) -> bool:
        response = await next(rr).post("/customers/", json=payload)
        return response.status_code == 201

    await _drive(path, concurrency, post)
    for each in clients:
        await each.aclose()


async def _aiohttp(path: str, base_url: str, key: str, concurrency: int) -> None:
    import aiohttp

    url = base_url.rstrip("/") + "/customers/"
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(
        connector=connector, headers={"Authorization": f"Bearer {key}"}, timeout=aiohttp.ClientTimeout(30)
    ) as session:

        async def post(payload: dict[str, object]) -> bool:
            async with session.post(url, json=payload) as response:
                await response.read()
                return response.status == 201

        await _drive(path, concurrency, post)


async def _drive(path: str, concurrency: int, post: Callable[[dict[str, object]], Awaitable[bool]]) -> None:
    queue: asyncio.Queue[dict[str, object] | None] = asyncio.Queue(maxsize=concurrency * 4)
    ok = 0

    async def worker() -> None:
        nonlocal ok
        while (payload := await queue.get()) is not None:
            created = await post(payload)  # awaited first: `ok += await …` reads ok before the wait
            ok += created

    t0 = time.perf_counter()
    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    with Path(path).open(newline="", encoding="utf-8") as fh:  # noqa: ASYNC230 - a bench, not a server
        rows = csv.reader(fh)
        next(rows)
        for cid, email, first, last, city, postal, country in rows:
            await queue.put(
                {
                    "customerId": cid,
                    "email": email,
                    "name": f"{first} {last}",
                    "billingAddress": {"city": city, "postalCode": postal, "country": country},
                }
            )
    for _ in workers:
        await queue.put(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - t0
    cpu = time.process_time()
    print(json.dumps({"rows": ok, "seconds": elapsed, "rows_per_second": ok / elapsed, "cpu_seconds": cpu}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), *sys.argv[5:6]))
