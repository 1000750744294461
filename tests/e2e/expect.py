"""What the e2e suites expect to read: Argo's messages, ours, the baseline, and refusals.

Written out as text here, once, rather than imported from the code under test: a test that
compared our message with our own constant could not catch a changed message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from workflows import error_message

NS = "team-a"
EVIL = "evil:latest"
TEMPLATE_IMAGE = "alpine:3.20"  # what a library template runs
# Argo's own messages, v3.7.18: workflow/controller/operator.go (setExecWorkflow,
# setStoredWfSpec); argo-admission repeats them in its denials.
REF_REQUIRED = (
    "workflows must use workflowTemplateRef to be executed when the controller is in reference mode"
)
SPEC_CHANGED = (
    "WorkflowSpec may not change during execution when the controller is set "
    "`templateReferencing: Secure`"
)
STATUS_IS_ARGOS = "[status] status is written by Argo's workflow-controller, not by users"
STORED_IS_ARGOS = (
    "[status] status.storedWorkflowTemplateSpec may only be written by Argo's workflow-controller"
)
# The securityContext baseline of the chart's default policy.
POD_BASELINE = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
CONTAINER_BASELINE = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def refused(call: Callable[[], Any], *, status: int = 403) -> str:
    """Run a request the API server must refuse with `status`; its message."""
    with pytest.raises(ApiException) as refusal:
        call()
    assert refusal.value.status == status, error_message(refusal.value)
    return error_message(refusal.value)
