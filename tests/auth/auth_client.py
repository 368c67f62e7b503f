# auth_client — a D-Bus client the authorization tests run as another user
# (setpriv --reuid=… --regid=… --clear-groups /usr/bin/python3 auth_client.py ADDRESS).
#
# It reads one JSON request per line on stdin and writes one JSON answer per
# line on stdout. GDBus, not dbus-python, because only GDBus can set the
# ALLOW_INTERACTIVE_AUTHORIZATION flag on a call.
#
# A call is {"path", "iface", "method", "sig", "args", "interactive", "timeout"}.
# Arguments are JSON; an a{sv} is a dict of key → [type, value] and a v is
# [type, value]. Requests:
#   {"op": "call", ...call}                  → {"ok": true, "result": [...]} or
#                                              {"ok": false, "error": NAME, "message": TEXT}
#   {"op": "batch", "calls": [call, ...]}    → every call sent at once; answers in order,
#                                              each with "ms" (its latency)
#   {"op": "send_and_exit", ...call}         → sends the call, flushes, exits without waiting
#   {"op": "request_name", "name": NAME}     → RequestName(NAME, DO_NOT_QUEUE)
#   {"op": "whoami"}                         → {"uid": N, "unique_name": NAME}
import json
import os
import sys
import time

from gi.repository import Gio, GLib

BUS_NAME = 'org.vmgmt'


def to_variant_value(sig, value):
    if sig == 'v':
        return GLib.Variant(value[0], to_variant_value(value[0], value[1]))
    if sig == 'a{sv}':
        return {k: GLib.Variant(t, to_variant_value(t, v)) for k, (t, v) in value.items()}
    if sig == 'h':
        return value
    return value


def split_signature(sig):
    """'sa{sv}' → ['s', 'a{sv}'] (complete types)."""
    out, i = [], 0
    while i < len(sig):
        j = i
        while sig[j] == 'a':
            j += 1
        if sig[j] in '({':
            depth, k = 0, j
            while True:
                if sig[k] in '({':
                    depth += 1
                elif sig[k] in ')}':
                    depth -= 1
                    if depth == 0:
                        break
                k += 1
            j = k
        out.append(sig[i:j + 1])
        i = j + 1
    return out


def build_params(sig, args):
    if not sig:
        return None
    types = split_signature(sig)
    vals = tuple(to_variant_value(t, a) for t, a in zip(types, args))
    return GLib.Variant('(' + sig + ')', vals)


def plain(v):
    if isinstance(v, GLib.Variant):
        return plain(v.unpack())
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    return v


def error_of(e):
    name = Gio.DBusError.get_remote_error(e) if Gio.DBusError.is_remote_error(e) else 'local:' + str(e.code)
    msg = e.message
    if Gio.DBusError.is_remote_error(e):
        # GDBus prefixes "GDBus.Error:NAME: "
        prefix = 'GDBus.Error:%s: ' % name
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    return {'ok': False, 'error': name, 'message': msg}


def call_args(conn, c):
    flags = Gio.DBusCallFlags.NONE
    if c.get('interactive'):
        flags |= Gio.DBusCallFlags.ALLOW_INTERACTIVE_AUTHORIZATION
    timeout_ms = int(c.get('timeout', 30) * 1000)
    return (BUS_NAME, c['path'], c['iface'], c['method'], build_params(c.get('sig', ''), c.get('args', [])),
            None, flags, timeout_ms)


def do_call(conn, c):
    try:
        r = conn.call_sync(*call_args(conn, c), None)
        return {'ok': True, 'result': plain(r)}
    except GLib.Error as e:
        return error_of(e)


def do_batch(conn, calls):
    loop = GLib.MainLoop()
    answers = [None] * len(calls)
    left = [len(calls)]
    t0 = [0.0] * len(calls)

    def done(source, res, i):
        try:
            r = conn.call_finish(res)
            a = {'ok': True, 'result': plain(r)}
        except GLib.Error as e:
            a = error_of(e)
        a['ms'] = (time.monotonic() - t0[i]) * 1000.0
        answers[i] = a
        left[0] -= 1
        if left[0] == 0:
            loop.quit()

    for i, c in enumerate(calls):
        t0[i] = time.monotonic()
        conn.call(*call_args(conn, c), None, done, i)
    if calls:
        loop.run()
    return {'ok': True, 'answers': answers}


def main():
    address = sys.argv[1]
    conn = Gio.DBusConnection.new_for_address_sync(
        address,
        Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
        None, None)
    out = sys.stdout
    for line in sys.stdin:
        req = json.loads(line)
        op = req.get('op')
        if op == 'call':
            ans = do_call(conn, req)
        elif op == 'batch':
            ans = do_batch(conn, req['calls'])
        elif op == 'send_and_exit':
            conn.call(*call_args(conn, req), None, None, None)
            conn.flush_sync(None)
            out.write(json.dumps({'ok': True, 'sent': True}) + '\n')
            out.flush()
            os._exit(0)
        elif op == 'request_name':
            try:
                r = conn.call_sync('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus',
                                   'RequestName', GLib.Variant('(su)', (req['name'], 4)), None,
                                   Gio.DBusCallFlags.NONE, 10000, None)
                ans = {'ok': True, 'result': plain(r)}
            except GLib.Error as e:
                ans = error_of(e)
        elif op == 'whoami':
            ans = {'ok': True, 'uid': os.getuid(), 'unique_name': conn.get_unique_name()}
        else:
            ans = {'ok': False, 'error': 'local:bad-op', 'message': repr(op)}
        out.write(json.dumps(ans) + '\n')
        out.flush()


if __name__ == '__main__':
    main()
