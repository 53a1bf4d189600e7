"""A delaying TCP proxy on 127.0.0.1: a real network's round trip between a client and a real server.

    with LatencyProxy(samba.port, round_trip=0.0023) as proxy:
        ...  # connect to proxy.port instead of samba.port: every chunk waits half the round trip each way
        proxy.measure_round_trip()   # median seconds of a 64-byte ping-pong through it (to its own echo server)
        proxy.cut_one(after_bytes=N) # the first connection to carry N bytes towards the server is cut

asyncio's default loop waits in epoll, whose timeout is whole milliseconds: every hold would be rounded up
to 1 ms or more. This proxy runs its loop on a select()-based selector, whose timeout is in microseconds, so
a 1.15 ms hold is 1.15 ms (verified with the ping-pong).
"""

import asyncio
import selectors
import socket
import statistics
import threading
import time

HOST = "127.0.0.1"
CHUNK = 1 << 16


class LatencyProxy:
    """Forwards 127.0.0.1:<port> to 127.0.0.1:<target_port>, holding each chunk round_trip/2 in each direction."""

    def __init__(self, target_port, round_trip=0.0023):
        self.target_port = target_port
        self.one_way = round_trip / 2
        self.port = None
        self.connections = 0  # accepted so far
        self.cut_after = None  # bytes towards the server after which one connection is cut, once
        self.cut_done = threading.Event()
        self.loop = asyncio.SelectorEventLoop(selectors.SelectSelector())
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server = None
        self.writers = set()  # both ends of every open connection, to close them on stop()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def start(self):
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self.serve, HOST, 0), self.loop).result(10)
        self.port = self.server.sockets[0].getsockname()[1]

    def stop(self):
        async def close():
            self.server.close()
            for writer in self.writers:
                writer.transport.abort()
            others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            await asyncio.wait(others, timeout=5) if others else None

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def cut_one(self, after_bytes):
        """Cut (close both sides of) the first connection that has sent `after_bytes` towards the server."""
        self.cut_done.clear()
        self.cut_after = after_bytes

    async def serve(self, client_reader, client_writer):
        self.connections += 1
        try:
            server_reader, server_writer = await asyncio.open_connection(HOST, self.target_port)
        except OSError:
            client_writer.close()
            return
        for writer in (client_writer, server_writer):
            writer.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        writers = (client_writer, server_writer)
        self.writers.update(writers)
        try:
            await asyncio.gather(self.pump(client_reader, server_writer, writers, upstream=True),
                                 self.pump(server_reader, client_writer, writers, upstream=False),
                                 return_exceptions=True)
        finally:
            self.writers.difference_update(writers)

    async def pump(self, reader, writer, writers, upstream):
        """Copy reader to writer, each chunk written one_way seconds after it was read."""
        loop = asyncio.get_running_loop()
        carried = 0
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            carried += len(data)
            if upstream and self.cut_after is not None and carried >= self.cut_after and not self.cut_done.is_set():
                self.cut_done.set()
                for each in writers:
                    each.transport.abort()
                return
            loop.call_later(self.one_way, write, writer, data)
        loop.call_later(self.one_way, close, writer)

    def measure_round_trip(self, count=200):
        """The median round trip of a 64-byte message through the proxy to an echo server and back, in seconds."""
        with EchoServer() as echo:
            saved, self.target_port = self.target_port, echo.port
            try:
                with socket.create_connection((HOST, self.port)) as sock:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    times = []
                    for _ in range(count):
                        began = time.perf_counter()
                        sock.sendall(b"p" * 64)
                        received = 0
                        while received < 64:
                            received += len(sock.recv(64 - received))
                        times.append(time.perf_counter() - began)
            finally:
                self.target_port = saved
        return statistics.median(times)


def write(writer, data):
    if not writer.is_closing():
        writer.write(data)


def close(writer):
    if not writer.is_closing():
        writer.close()


class EchoServer:
    """A plain echo server on 127.0.0.1 for the ping-pong."""

    def __init__(self):
        self.listener = socket.create_server((HOST, 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.listener.close()

    def serve(self):
        try:
            connection, _ = self.listener.accept()
        except OSError:
            return
        with connection:
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while data := connection.recv(CHUNK):
                connection.sendall(data)


# -- self-test of the fixture ------------------------------------------------------------------------------


def test_the_proxy_holds_a_round_trip_to_a_fraction_of_a_millisecond():
    with LatencyProxy(target_port=1, round_trip=0.0023) as proxy:
        measured = proxy.measure_round_trip()
    assert 0.0023 <= measured < 0.0050, measured  # the holds, plus loopback and Python (noisy machines)
