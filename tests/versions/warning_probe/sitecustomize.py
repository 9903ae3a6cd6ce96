"""Records where ansible-core emits each warning, for the version smoke (tests/versions/smoke.py).

Python imports this module at start-up when its folder is on PYTHONPATH. Once ``ansible.utils.display``
is imported, and when SMOKE_WARNING_LOG names a file, every call of ``Display.warning``,
``.deprecated`` and ``.error_as_warning`` appends one JSON line to that file: the message, the
ansible-core file and line that called it, and the file and line of the YAML data it was about when that
data came from a file. ansible-core's own data (a task it builds in code) has no file: that is how the
smoke tells a warning ansible-core causes by itself from one that our files cause.
"""

import functools
import importlib.abc
import importlib.util
import json
import os
import sys
import threading

LOG = os.environ.get("SMOKE_WARNING_LOG")
METHODS = {"warning": "WARNING", "deprecated": "DEPRECATION WARNING", "error_as_warning": "WARNING"}
_state = threading.local()


def _package_path(filename):
    """``ansible/parsing/mod_args.py`` for a file inside the ansible package, else None."""
    parts = filename.replace(os.sep, "/").split("/")
    return "/".join(parts[parts.index("ansible"):]) if "ansible" in parts else None


def _data_origin(value):
    position = getattr(value, "ansible_pos", None)  # ansible-core 2.16 to 2.18: data read from YAML
    if position:
        return "%s:%s:%s" % tuple(position)
    try:
        from ansible._internal._datatag._tags import Origin  # 2.19 and later tag it instead
        origin = Origin.get_tag(value)
    except Exception:  # pylint: disable=broad-except
        return None
    return str(origin) if origin is not None and getattr(origin, "path", None) else None


def _record(kind, args, kwargs):
    frame = sys._getframe(2)  # the caller of the wrapped method
    while frame and (frame.f_code.co_filename == __file__ or (_package_path(frame.f_code.co_filename) or "")
                     .endswith("utils/display.py")):
        frame = frame.f_back
    stack, outer = [], frame
    while outer:
        path = _package_path(outer.f_code.co_filename)
        if path:
            stack.append("%s:%d:%s" % (path, outer.f_lineno, outer.f_code.co_name))
        outer = outer.f_back
    subjects = list(frame.f_locals.values()) if frame else []
    subjects.append(kwargs.get("obj"))
    origins = sorted(set(filter(None, (_data_origin(value) for value in subjects))))
    message = " ".join(str(part) for part in (args[0] if args else kwargs.get("msg", ""), kwargs.get("help_text") or "") if part)
    line = {"kind": kind, "message": message, "emitter": stack[0] if stack else "", "stack": stack[:8],
            "data_origin": origins, "replayed": any(entry.endswith(":results_thread_main") for entry in stack)}
    with open(LOG, "a", encoding="utf-8") as log:
        log.write(json.dumps(line) + "\n")


def _wrap(method, kind):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if getattr(_state, "inside", False):
            return method(self, *args, **kwargs)
        _state.inside = True
        try:
            try:
                _record(kind, args, kwargs)
            except Exception as exc:  # pylint: disable=broad-except
                sys.stderr.write("warning_probe: %s\n" % exc)
            return method(self, *args, **kwargs)
        finally:
            _state.inside = False
    return wrapper


class _DisplayPatcher(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):  # pylint: disable=unused-argument
        if fullname != "ansible.utils.display":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            for name, kind in METHODS.items():
                if hasattr(module.Display, name):
                    setattr(module.Display, name, _wrap(getattr(module.Display, name), kind))
        spec.loader.exec_module = exec_and_patch
        return spec


if LOG:
    sys.meta_path.insert(0, _DisplayPatcher())
