#!/usr/bin/env python3
"""N concurrent GET requests at once; prints the statuses and the latency median and maximum.

    scripts/burst.py PORT PATH N
"""
import asyncio
import statistics
import sys
import time
from collections import Counter

port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])


async def one():
    started = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        data = await reader.read()
        writer.close()
        status = data.split(b" ", 2)[1].decode() if data else "none"
    except OSError as e:
        status = type(e).__name__
    return status, time.monotonic() - started


async def main():
    results = await asyncio.gather(*[one() for _ in range(n)])
    latencies = sorted(t for _, t in results)
    statuses = dict(Counter(s for s, _ in results))
    print(f"statuses={statuses} median={statistics.median(latencies):.3f}s max={latencies[-1]:.3f}s")


asyncio.run(main())
