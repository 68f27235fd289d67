# Python processor of the Go worker (OpenGRIS Scaler in Go).
#
# The Go agent starts one of these per concurrency slot and keeps all networking and object
# storage to itself. It sends tasks with their serialized function and arguments over file
# descriptor 3 and reads results and output from file descriptor 4. Frames both ways:
#     u32 little-endian length of (type + body) | u8 type | body
#
# Agent -> processor:  1 INIT (JSON), 2 TASK, 3 EVICT (object ids)
# Processor -> agent: 10 READY (JSON), 11 INIT_FAILED (text), 12 RESULT, 13 LOG
#
# Results follow the Python project (spec/protocol.md §4.4, §9.5): a success is the client's
# serializer.serialize(value); a failure is pickle.dumps(exception) with tblib's traceback
# support when tblib is importable.
import gc
import io
import json
import os
import pickle
import resource
import struct
import sys
import threading
import time
import types

INIT, TASK, EVICT = 1, 2, 3
READY, INIT_FAILED, RESULT, LOG = 10, 11, 12, 13

CTL_IN = 3
CTL_OUT = 4
_out_lock = threading.Lock()


def read_exact(n):
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(CTL_IN, n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def read_frame():
    (n,) = struct.unpack("<I", read_exact(4))
    body = read_exact(n)
    return body[0], body[1:]


def send(kind, body):
    data = struct.pack("<IB", len(body) + 1, kind) + body
    with _out_lock:
        view = memoryview(data)
        while view:
            written = os.write(CTL_OUT, view)
            view = view[written:]


def fail_init(message):
    send(INIT_FAILED, message.encode("utf-8", "replace"))
    sys.exit(3)


try:
    import cloudpickle
except ImportError:
    fail_init(
        f"cloudpickle is not installed for {sys.executable}: install python3-cloudpickle (Debian) or `pip install cloudpickle`"
    )

try:
    import tblib.pickling_support

    tblib.pickling_support.install()
    HAVE_TBLIB = True
except ImportError:
    HAVE_TBLIB = False


def install_scaler_shim():
    """Let clients' default serializer load where the scaler package is not installed.

    The Python client stores its serializer as a pickle *by reference* to
    scaler.client.serializer.default.DefaultSerializer (cloudpickle, highest protocol), and
    custom serializers derive from scaler.client.serializer.mixins.Serializer. When the real
    package is importable it is used; otherwise equivalent classes are provided.
    """
    try:
        import scaler.client.serializer.default  # noqa: F401

        return False
    except ImportError:
        pass

    class Serializer:
        @staticmethod
        def serialize(obj):
            raise NotImplementedError

        @staticmethod
        def deserialize(payload):
            raise NotImplementedError

    class DefaultSerializer(Serializer):
        @staticmethod
        def serialize(obj):
            return cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)

        @staticmethod
        def deserialize(payload):
            return cloudpickle.loads(payload)

    names = ["scaler", "scaler.client", "scaler.client.serializer", "scaler.client.serializer.default", "scaler.client.serializer.mixins"]
    for name in names:
        if name not in sys.modules:
            sys.modules[name] = types.ModuleType(name)
    sys.modules["scaler.client.serializer.mixins"].Serializer = Serializer
    sys.modules["scaler.client.serializer.default"].DefaultSerializer = DefaultSerializer
    sys.modules["scaler"].Serializer = Serializer
    Serializer.__module__ = "scaler.client.serializer.mixins"
    DefaultSerializer.__module__ = "scaler.client.serializer.default"
    return True


def exception_by_reference(module, name, message):
    """Pickle module.name(message) without importing module (the client has it)."""

    class _Stub(Exception):
        pass

    _Stub.__module__ = module
    _Stub.__name__ = name
    _Stub.__qualname__ = name
    # pickle looks the class up by module and name; give it a module that has it.
    mod = sys.modules.get(module)
    created = False
    if mod is None:
        mod = types.ModuleType(module)
        sys.modules[module] = mod
        created = True
    had = hasattr(mod, name)
    old = getattr(mod, name, None)
    setattr(mod, name, _Stub)
    try:
        return pickle.dumps(_Stub(message), protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        if had:
            setattr(mod, name, old)
        else:
            delattr(mod, name)
        if created:
            del sys.modules[module]


def pickle_failure(exc):
    if HAVE_TBLIB:
        try:
            # Register the task's own exception classes (defined after start-up) too.
            tblib.pickling_support.install(exc)
        except Exception:
            pass
    try:
        return pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        pass
    # An exception class the client defined in its __main__ reached us by value and cannot be
    # pickled by reference; cloudpickle sends it back by value, which the client's
    # pickle.loads reads since cloudpickle is installed wherever the client is (the reference
    # gives up here and sends TaskExceptionNotSerializableError).
    try:
        return cloudpickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        text = f"{type(exc).__name__}: {exc}"
        return exception_by_reference("scaler.utility.exceptions", "TaskExceptionNotSerializableError", text)


class TaskStream(io.TextIOBase):
    """stdout/stderr of a task with stream_output: one LOG frame per write."""

    def __init__(self, task_id, stream):
        self.task_id = task_id
        self.stream = stream

    def writable(self):
        return True

    def write(self, s):
        if s:
            send(LOG, self.task_id + bytes([self.stream]) + s.encode("utf-8", "replace"))
        return len(s)

    def flush(self):
        pass


class Cache:
    """Deserialized objects by object id, least recently used first out."""

    def __init__(self, limit=4096):
        self.items = {}
        self.limit = limit

    def get(self, key, make):
        try:
            value = self.items.pop(key)
        except KeyError:
            value = make()
        self.items[key] = value
        if len(self.items) > self.limit:
            self.items.pop(next(iter(self.items)))
        return value

    def evict(self, key):
        self.items.pop(key, None)


serializers = Cache(256)
objects = Cache()


def split_items(body):
    items = []
    off = 0
    while off < len(body):
        (n,) = struct.unpack_from("<I", body, off)
        off += 4
        items.append(body[off : off + n])
        off += n
    return items


def cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def run_task(body):
    task_id = body[:16]
    flags = body[16]
    items = split_items(body[17:])
    ser_id, ser_bytes, fn_id, fn_bytes = items[0], items[1], items[2], items[3]
    args = items[4:]
    cpu0 = cpu_seconds()
    rss0 = current_rss()
    ok = False
    try:
        serializer = serializers.get(ser_id, lambda: cloudpickle.loads(ser_bytes))
        function = objects.get(fn_id, lambda: serializer.deserialize(fn_bytes))
        values = []
        for i in range(0, len(args), 2):
            oid, data = args[i], args[i + 1]
            try:
                values.append(objects.get(oid, lambda data=data: serializer.deserialize(data)))
            except Exception as e:
                raise DeserializeFailure(f"cannot deserialize argument {i // 2}: {type(e).__name__}: {e}") from e
    except DeserializeFailure as e:
        payload = exception_by_reference("scaler.utility.exceptions", "DeserializeObjectError", str(e))
        send_result(task_id, False, cpu0, rss0, payload)
        return
    except Exception as e:
        payload = pickle_failure(e)
        send_result(task_id, False, cpu0, rss0, payload)
        return

    stream = flags & 1
    saved = sys.stdout, sys.stderr
    if stream:
        sys.stdout, sys.stderr = TaskStream(task_id, 0), TaskStream(task_id, 1)
    try:
        result = function(*values)
        payload = serializer.serialize(result)
        ok = True
    except BaseException as e:  # noqa: B902 - a task's SystemExit fails the task, not the processor
        payload = pickle_failure(e)
    finally:
        if stream:
            sys.stdout.flush()
            sys.stdout, sys.stderr = saved
        else:
            sys.stdout.flush()
            sys.stderr.flush()
    send_result(task_id, ok, cpu0, rss0, payload)


class DeserializeFailure(Exception):
    pass


def current_rss():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def send_result(task_id, ok, cpu0, rss0, payload):
    cpu1 = cpu_seconds()
    peak = max(0, current_rss() - rss0)
    send(RESULT, task_id + bytes([1 if ok else 0]) + struct.pack("<dQ", cpu1 - cpu0, peak) + payload)


def run_preload(spec):
    import ast
    import importlib

    if ":" not in spec:
        raise ValueError(f"preload {spec!r}: expected module.path:function or module.path:function(args)")
    module_name, expr = spec.split(":", 1)
    if module_name.endswith(".py"):
        raise ValueError(f"preload {spec!r}: give the module in dotted form (package.module), not a .py path")
    module = importlib.import_module(module_name.strip())
    node = ast.parse(expr.strip(), mode="eval").body
    if isinstance(node, ast.Name):
        name, args, kwargs = node.id, [], {}
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name = node.func.id
        args = [ast.literal_eval(a) for a in node.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
    else:
        raise ValueError(f"preload {spec!r}: expected a function name or a call with literal arguments")
    function = getattr(module, name, None)
    if not callable(function):
        raise ValueError(f"preload {spec!r}: {module_name}.{name} is not a callable")
    function(*args, **kwargs)


def housekeeping(interval, threshold):
    """Collect garbage every interval, and give memory back above threshold (like the reference)."""
    trim = None
    try:
        import ctypes

        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except Exception:
        pass
    while True:
        time.sleep(interval)
        gc.collect()
        if trim is not None and current_rss() >= threshold:
            trim(0)


def main():
    kind, body = read_frame()
    if kind != INIT:
        fail_init("protocol error: expected INIT")
    config = json.loads(body)
    shim = install_scaler_shim()
    if config.get("preload"):
        try:
            run_preload(config["preload"])
        except BaseException as e:  # noqa: B902
            fail_init(f"preload {config['preload']!r} failed: {type(e).__name__}: {e}")
    interval = float(config.get("gc_interval", 30))
    threshold = int(config.get("trim_threshold", 1 << 30))
    threading.Thread(target=housekeeping, args=(interval, threshold), daemon=True).start()
    send(
        READY,
        json.dumps(
            {
                "python": sys.version.split()[0],
                "cloudpickle": getattr(cloudpickle, "__version__", "?"),
                "tblib": HAVE_TBLIB,
                "scaler_shim": shim,
                "pid": os.getpid(),
            }
        ).encode(),
    )
    while True:
        try:
            kind, body = read_frame()
        except EOFError:
            return
        if kind == TASK:
            run_task(body)
        elif kind == EVICT:
            for i in range(0, len(body), 32):
                oid = body[i : i + 32]
                objects.evict(oid)
                serializers.evict(oid)


if __name__ == "__main__":
    main()
