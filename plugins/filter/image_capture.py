# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The image_capture role's engine as filters: the role's YAML says the order of the steps, and
plugins/plugin_utils/capture_engine.py decides what each step's answer means for each host."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.golden_image.linode.plugins.plugin_utils import capture_engine as engine

VIEWS = {
    "capture_entries": engine.capture_entries,
    "known_disks": engine.known_disks,
    "to_stop": engine.to_stop,
    "to_check": engine.to_check,
    "capturing_images": engine.capturing_images,
    "linode_ids": engine.linode_ids,
    "booted": engine.booted,
    "unchecked": engine.unchecked,
}


def _engine_call(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except engine.EngineError as exc:
        raise AnsibleFilterError("image_capture engine: %s" % to_native(exc))


def image_capture_start(hosts, now):
    return _engine_call(engine.start, hosts, now)


def image_capture_advance(state, step, answer=None, **context):
    return _engine_call(engine.advance, state, step, answer, **context)


def image_capture_view(state, view):
    if view not in VIEWS:
        raise AnsibleFilterError("image_capture_view: unknown view %r, one of %s" % (view, ", ".join(sorted(VIEWS))))
    return _engine_call(VIEWS[view], state or {})


def image_capture_report(states, host=None):
    return _engine_call(engine.report, states, host)


def image_capture_table(rows):
    return _engine_call(engine.table, rows)


class FilterModule(object):
    def filters(self):
        return {
            "image_capture_start": image_capture_start,
            "image_capture_advance": image_capture_advance,
            "image_capture_view": image_capture_view,
            "image_capture_report": image_capture_report,
            "image_capture_table": image_capture_table,
        }
