#!/usr/bin/env python3
"""A TCP proxy a test owns, to simulate a database outage without touching the server:
SIGUSR1 takes it down (stops listening, cuts every connection: clients see refused and reset
connections, as when PostgreSQL stops), SIGUSR2 brings it back.

    scripts/tcp_proxy.py LISTEN_PORT TARGET_PORT
"""
import asyncio
import signal
import sys

listen_port, target_port = int(sys.argv[1]), int(sys.argv[2])
writers = set()
server = None


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def handle(client_reader, client_writer):
    try:
        target_reader, target_writer = await asyncio.open_connection("127.0.0.1", target_port)
    except OSError:
        client_writer.close()
        return
    writers.update((client_writer, target_writer))
    await asyncio.gather(pipe(client_reader, target_writer), pipe(target_reader, client_writer))
    writers.difference_update((client_writer, target_writer))


def down():
    server.close()
    for writer in list(writers):
        writer.transport.abort()
    writers.clear()
    print("proxy: down", flush=True)


async def up():
    global server
    server = await asyncio.start_server(handle, "127.0.0.1", listen_port, reuse_address=True)
    print("proxy: up", flush=True)


async def main():
    await up()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, down)
    loop.add_signal_handler(signal.SIGUSR2, lambda: asyncio.ensure_future(up()))
    await asyncio.Event().wait()


asyncio.run(main())
