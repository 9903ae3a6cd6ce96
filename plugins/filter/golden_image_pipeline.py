# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The golden-image pipeline's engine as filters: the image_bake and image_verify roles and the
golden_image_pipeline playbook say the order of the steps, and
plugins/plugin_utils/pipeline_engine.py decides what each step's answer means."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.golden_image.linode.plugins.plugin_utils import capture_engine
from ansible_collections.golden_image.linode.plugins.plugin_utils import pipeline_engine as engine


def _engine_call(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except capture_engine.EngineError as exc:
        raise AnsibleFilterError("golden image pipeline: %s" % to_native(exc))


def golden_image_pipeline_start(settings, check_mode=False):
    return _engine_call(engine.start, settings, check_mode)


def golden_image_pipeline_advance(state, step, answer=None):
    return _engine_call(engine.advance, state, step, answer)


def golden_image_pipeline_view(state, view):
    if view not in engine.VIEWS:
        raise AnsibleFilterError("golden_image_pipeline_view: unknown view %r, one of %s"
                                 % (view, ", ".join(sorted(engine.VIEWS))))
    return _engine_call(engine.VIEWS[view], state)


def golden_image_pipeline_promote_problems(state, answer):
    return _engine_call(engine.promote_problems, state or {}, answer or {})


def image_bake_problems(settings):
    return _engine_call(engine.bake_problems, settings or {})


def image_verify_problems(settings, image_pending=False):
    return _engine_call(engine.verify_problems, settings or {}, image_pending)


def image_bake_outcome(answers, check_mode=False):
    return _engine_call(engine.bake_outcome, answers or {}, check_mode)


def image_verify_verdict(answers, settings, check_mode=False):
    return _engine_call(engine.verify_verdict, answers or {}, settings or {}, check_mode)


def image_verify_report(outcome):
    return _engine_call(engine.verify_report, outcome or {})


def image_verify_tags(tags, verified):
    return _engine_call(engine.verify_tags, tags, verified)


class FilterModule(object):
    def filters(self):
        return {
            "golden_image_pipeline_start": golden_image_pipeline_start,
            "golden_image_pipeline_advance": golden_image_pipeline_advance,
            "golden_image_pipeline_view": golden_image_pipeline_view,
            "golden_image_pipeline_promote_problems": golden_image_pipeline_promote_problems,
            "image_bake_problems": image_bake_problems,
            "image_bake_outcome": image_bake_outcome,
            "image_verify_problems": image_verify_problems,
            "image_verify_verdict": image_verify_verdict,
            "image_verify_report": image_verify_report,
            "image_verify_tags": image_verify_tags,
        }
