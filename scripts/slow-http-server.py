#!/usr/bin/env python3
"""A loopback HTTP server that answers every request after a delay, for
`sloth-runner bench --waiting --wait-url`. Usage: slow-http-server.py DELAY_SECONDS
Prints the URL it listens on, then serves until killed."""
import asyncio, resource, sys

async def handle(reader, writer, delay):
    try:
        while True:
            line = await reader.readline()
            if not line or line in (b"\r\n", b"\n"):
                break
        await asyncio.sleep(delay)
        body = b'{"ok":true}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        await writer.drain()
    except Exception:
        pass
    finally:
        writer.close()

async def main():
    delay = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server = await asyncio.start_server(lambda r, w: handle(r, w, delay), "127.0.0.1", 0, backlog=16384)
    port = server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{port}/slow", flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
