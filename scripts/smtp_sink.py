#!/usr/bin/env python3
"""A real SMTP server over TCP for the test scripts (standard library only, asyncio).

    smtp_sink.py --port 0 --dir D [--refuse-file F] [--host 127.0.0.1]
        Serves SMTP on HOST:PORT (0: a free port) and prints `PORT <n>` on stdout as its
        first line once listening. Each accepted message is written to D/<seq>.eml (the
        bytes after DATA with dot-stuffing undone; seq zero-padded to six digits, going on
        after the highest already in D), atomically (a temporary name, then a rename), after
        D/<seq>.json with its envelope: {"mail_from", "rcpt_to", "helo", "auth"}. While the
        file F exists, a new connection is answered `421 4.3.2 Service not available` and
        closed (a transient outage). Stops on SIGTERM or SIGINT.

    smtp_sink.py --wait-for D N TIMEOUT
        Waits until D holds at least N .eml files: exit 0 (their paths printed, in order),
        or 1 after TIMEOUT seconds.

    smtp_sink.py --find-mail D --subject S [--to ADDR] [--timeout 30]
        Waits until a message in D has the Subject S (and ADDR among its To addresses and
        envelope recipients), then prints the text/plain part of the newest such message,
        decoded (quoted-printable, base64, charset): exit 0, or 1 after the timeout.

Speaks what lettre (and smtplib) use as a client: EHLO (8BITMIME, PIPELINING, SMTPUTF8,
SIZE, AUTH PLAIN LOGIN), HELO, MAIL FROM, RCPT TO, DATA, RSET, NOOP, QUIT; AUTH PLAIN and
AUTH LOGIN accept any credentials. No TLS. Anything else is answered 502.
"""

import argparse
import asyncio
import base64
import email
import email.policy
import email.utils
import json
import os
import re
import signal
import sys
import time

MAX_SIZE = 50 * 1024 * 1024
MAX_LINE = 1024 * 1024
IDLE_TIMEOUT = 300.0
HOSTNAME = "smtp-sink.localhost"


def log(*parts):
    print("smtp_sink:", *parts, file=sys.stderr, flush=True)


class Spool:
    """Numbers and writes the accepted messages."""

    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        highest = 0
        for name in os.listdir(directory):
            m = re.fullmatch(r"(\d+)\.eml", name)
            if m:
                highest = max(highest, int(m.group(1)))
        self.seq = highest

    def write(self, data, envelope):
        self.seq += 1
        stem = "%06d" % self.seq
        # The envelope first, so that it is there when the .eml appears.
        self._atomic(stem + ".json", json.dumps(envelope, indent=1).encode())
        self._atomic(stem + ".eml", data)
        return stem + ".eml"

    def _atomic(self, name, data):
        tmp = os.path.join(self.directory, ".%s.%d.tmp" % (name, os.getpid()))
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(self.directory, name))


class Session:
    def __init__(self, reader, writer, spool, refuse_file):
        self.reader = reader
        self.writer = writer
        self.spool = spool
        self.refuse_file = refuse_file
        self.peer = writer.get_extra_info("peername")
        self.helo = None
        self.auth = None
        self.reset()

    def reset(self):
        self.mail_from = None
        self.rcpt_to = []

    async def reply(self, *lines):
        """One reply: several lines become a multi-line reply (the code repeated)."""
        code, texts = lines[0], lines[1:] or ("",)
        out = []
        for i, text in enumerate(texts):
            sep = " " if i == len(texts) - 1 else "-"
            out.append("%s%s%s\r\n" % (code, sep, text))
        self.writer.write("".join(out).encode())
        await self.writer.drain()

    async def readline(self):
        line = await asyncio.wait_for(self.reader.readline(), IDLE_TIMEOUT)
        if not line:
            raise ConnectionResetError("client closed the connection")
        return line

    async def run(self):
        if self.refuse_file and os.path.exists(self.refuse_file):
            log("refused", self.peer, "(%s exists)" % self.refuse_file)
            await self.reply("421", "4.3.2 Service not available")
            return
        await self.reply("220", HOSTNAME + " ESMTP smtp_sink ready")
        while True:
            try:
                raw = await self.readline()
            except ValueError:  # longer than MAX_LINE
                await self.reply("500", "5.5.6 Line too long")
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            handler = getattr(self, "cmd_" + verb, None) if verb.isalpha() else None
            if handler is None:
                await self.reply("502", "5.5.2 Command not recognized")
                continue
            if await handler(arg.strip()) is False:
                return

    async def cmd_EHLO(self, arg):
        if not arg:
            return await self.reply("501", "5.5.4 Syntax: EHLO hostname")
        self.helo = arg
        self.reset()
        await self.reply(
            "250",
            "%s greets %s" % (HOSTNAME, arg),
            "8BITMIME",
            "PIPELINING",
            "SMTPUTF8",
            "SIZE %d" % MAX_SIZE,
            "ENHANCEDSTATUSCODES",
            "AUTH PLAIN LOGIN",
        )

    async def cmd_HELO(self, arg):
        if not arg:
            return await self.reply("501", "5.5.4 Syntax: HELO hostname")
        self.helo = arg
        self.reset()
        await self.reply("250", HOSTNAME)

    async def cmd_AUTH(self, arg):
        if self.helo is None:
            return await self.reply("503", "5.5.1 Send EHLO first")
        mechanism, _, initial = arg.partition(" ")
        mechanism, initial = mechanism.upper(), initial.strip()
        try:
            if mechanism == "PLAIN":
                if not initial:
                    await self.reply("334", "")
                    initial = await self.challenge_answer()
                if initial is None:
                    return await self.reply("501", "5.7.0 Authentication cancelled")
                parts = base64.b64decode(initial, validate=True).split(b"\0")
                if len(parts) != 3:
                    return await self.reply("501", "5.5.2 Malformed PLAIN response")
                user = parts[1]
            elif mechanism == "LOGIN":
                if initial:
                    user = base64.b64decode(initial, validate=True)
                else:
                    await self.reply("334", "VXNlcm5hbWU6")  # Username:
                    answer = await self.challenge_answer()
                    if answer is None:
                        return await self.reply("501", "5.7.0 Authentication cancelled")
                    user = base64.b64decode(answer, validate=True)
                await self.reply("334", "UGFzc3dvcmQ6")  # Password:
                if await self.challenge_answer() is None:
                    return await self.reply("501", "5.7.0 Authentication cancelled")
            else:
                return await self.reply("504", "5.5.4 Unrecognized authentication type")
        except ValueError:
            return await self.reply("501", "5.5.2 Cannot decode base64")
        self.auth = user.decode("utf-8", "replace")
        await self.reply("235", "2.7.0 Authentication successful")

    async def challenge_answer(self):
        answer = (await self.readline()).decode("ascii", "replace").strip()
        return None if answer == "*" else answer

    async def cmd_MAIL(self, arg):
        if self.helo is None:
            return await self.reply("503", "5.5.1 Send EHLO first")
        if self.mail_from is not None:
            return await self.reply("503", "5.5.1 Nested MAIL command")
        m = re.fullmatch(r"(?i)FROM:\s*<([^>]*)>(.*)", arg)
        if not m:
            return await self.reply("501", "5.5.4 Syntax: MAIL FROM:<address>")
        for param in m.group(2).split():
            key, _, value = param.partition("=")
            if key.upper() == "SIZE" and value.isdigit() and int(value) > MAX_SIZE:
                return await self.reply("552", "5.3.4 Message size exceeds fixed limit")
        self.mail_from = m.group(1)
        await self.reply("250", "2.1.0 Ok")

    async def cmd_RCPT(self, arg):
        if self.mail_from is None:
            return await self.reply("503", "5.5.1 Need MAIL before RCPT")
        m = re.fullmatch(r"(?i)TO:\s*<([^>]+)>(.*)", arg)
        if not m:
            return await self.reply("501", "5.5.4 Syntax: RCPT TO:<address>")
        self.rcpt_to.append(m.group(1))
        await self.reply("250", "2.1.5 Ok")

    async def cmd_DATA(self, arg):
        if self.mail_from is None:
            return await self.reply("503", "5.5.1 Need MAIL command")
        if not self.rcpt_to:
            return await self.reply("554", "5.5.1 No valid recipients")
        await self.reply("354", "End data with <CR><LF>.<CR><LF>")
        chunks, size, too_big = [], 0, False
        while True:
            try:
                line = await self.readline()
            except ValueError:
                await self.reply("500", "5.5.6 Line too long")
                return False
            if line in (b".\r\n", b".\n"):
                break
            if line.startswith(b"."):
                line = line[1:]  # undo dot-stuffing
            size += len(line)
            if size > MAX_SIZE:
                too_big = True
                chunks = []
            if not too_big:
                chunks.append(line)
        if too_big:
            self.reset()
            return await self.reply("552", "5.3.4 Message size exceeds fixed limit")
        envelope = {
            "mail_from": self.mail_from,
            "rcpt_to": self.rcpt_to,
            "helo": self.helo,
            "auth": self.auth,
        }
        name = self.spool.write(b"".join(chunks), envelope)
        log("accepted", name, "from <%s> to %s, %d bytes" % (self.mail_from, self.rcpt_to, size))
        self.reset()
        await self.reply("250", "2.0.0 Ok: queued as " + name)

    async def cmd_RSET(self, arg):
        self.reset()
        await self.reply("250", "2.0.0 Ok")

    async def cmd_NOOP(self, arg):
        await self.reply("250", "2.0.0 Ok")

    async def cmd_QUIT(self, arg):
        await self.reply("221", "2.0.0 Bye")
        return False


async def serve(args):
    spool = Spool(args.dir)

    async def handle(reader, writer):
        session = Session(reader, writer, spool, args.refuse_file)
        try:
            await session.run()
        except (ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            pass
        except Exception as e:  # one bad session must not stop the sink
            log("session error", session.peer, repr(e))
        finally:
            try:
                writer.close()
                await writer.wait_closed()
            except Exception:
                pass

    server = await asyncio.start_server(handle, args.host, args.port, limit=MAX_LINE)
    port = server.sockets[0].getsockname()[1]
    print("PORT %d" % port, flush=True)
    log("listening on %s:%d, writing to %s" % (args.host, port, args.dir))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    log("stopped")


def eml_files(directory):
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(os.path.join(directory, n) for n in names if re.fullmatch(r"\d+\.eml", n))


def wait_for(directory, count, timeout):
    deadline = time.monotonic() + timeout
    while True:
        files = eml_files(directory)
        if len(files) >= count:
            for f in files:
                print(f)
            return 0
        if time.monotonic() >= deadline:
            print("smtp_sink: %s holds %d .eml file(s) after %gs, not %d"
                  % (directory, len(files), timeout, count), file=sys.stderr)
            return 1
        time.sleep(0.05)


def text_body(msg):
    """The decoded text/plain part (the first, outside attachments), or None."""
    for part in msg.walk():
        if part.get_content_type() == "text/plain" and not part.is_attachment():
            return part.get_content()
    return None


def matches(path, subject, to):
    with open(path, "rb") as f:
        msg = email.message_from_binary_file(f, policy=email.policy.default)
    if str(msg.get("Subject", "")).strip() != subject:
        return None
    if to is not None:
        addresses = [a.lower() for _, a in email.utils.getaddresses(msg.get_all("To", []))]
        if to.lower() not in addresses:
            return None
        try:
            with open(path[: -len(".eml")] + ".json") as f:
                rcpt = [a.lower() for a in json.load(f)["rcpt_to"]]
        except FileNotFoundError:
            rcpt = [to.lower()]
        if to.lower() not in rcpt:
            return None
    return msg


def find_mail(directory, subject, to, timeout):
    deadline = time.monotonic() + timeout
    while True:
        for path in reversed(eml_files(directory)):
            msg = matches(path, subject, to)
            if msg is not None:
                body = text_body(msg)
                if body is None:
                    print("smtp_sink: %s has no text/plain part" % path, file=sys.stderr)
                    return 1
                print("smtp_sink: found %s" % path, file=sys.stderr)
                sys.stdout.write(body)
                return 0
        if time.monotonic() >= deadline:
            print("smtp_sink: no message with Subject %r%s in %s after %gs (%d message(s))"
                  % (subject, " to " + to if to else "", directory, timeout,
                     len(eml_files(directory))), file=sys.stderr)
            return 1
        time.sleep(0.1)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--dir")
    p.add_argument("--refuse-file")
    p.add_argument("--wait-for", nargs=3, metavar=("DIR", "N", "TIMEOUT"))
    p.add_argument("--find-mail", metavar="DIR")
    p.add_argument("--subject")
    p.add_argument("--to")
    p.add_argument("--timeout", type=float, default=30.0)
    args = p.parse_args()
    if args.wait_for:
        directory, count, timeout = args.wait_for
        return wait_for(directory, int(count), float(timeout))
    if args.find_mail:
        if args.subject is None:
            p.error("--find-mail needs --subject")
        return find_mail(args.find_mail, args.subject, args.to, args.timeout)
    if not args.dir:
        p.error("--dir is required to serve")
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
