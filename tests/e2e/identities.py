"""Who may do what on the e2e control plane: static-token users and the RBAC objects that bind them.

Everything here is data (plain dicts, as the API server takes them); controlplane.py writes the
token file and creates the objects.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

ADMIN = "admin"
ALICE = "alice"
BOB = "bob"
CONTROLLER = "system:serviceaccount:argo:argo"
WEBHOOK = "argo-admission"

ARGO_NAMESPACE = "argo"
TEAM_NAMESPACES = {ALICE: ("team-a", "exempt"), BOB: ("team-b",)}
NAMESPACES = (ARGO_NAMESPACE, "team-a", "team-b", "exempt")

RBAC = "rbac.authorization.k8s.io/v1"


@dataclass(frozen=True)
class User:
    """A static-token identity: what the API server's token file says about it."""

    name: str
    groups: tuple[str, ...] = ()
    token: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)

    def token_line(self) -> str:
        """This user's line in a `--token-auth-file` (token,user,uid,"group1,group2")."""
        return f'{self.token},{self.name},{self.name},"{",".join(self.groups)}"'


def make_users() -> dict[str, User]:
    """Fresh tokens for every identity the suite acts as, keyed by user name."""
    users = [
        User(ADMIN, ("system:masters",)),
        User(ALICE, ("team",)),
        User(BOB, ("team",)),
        # What a ServiceAccount token would say; the token file lets us mint it without a
        # token controller (there is no kube-controller-manager here).
        User(CONTROLLER, ("system:serviceaccounts", f"system:serviceaccounts:{ARGO_NAMESPACE}",
                          "system:authenticated")),
        User(WEBHOOK),
    ]
    return {user.name: user for user in users}


def rule(groups: list[str], resources: list[str], verbs: list[str], **extra: list[str]) -> dict:
    """One PolicyRule."""
    return {"apiGroups": groups, "resources": resources, "verbs": verbs, **extra}


WRITE = ["create", "get", "list", "watch", "update", "patch", "delete"]
READ = ["get", "list", "watch"]


def controller_cluster_role() -> dict:
    """Argo's workflow-controller ClusterRole, rule for rule.

    Mirrors manifests/cluster-install-no-crds/workflow-controller-rbac/
    workflow-controller-clusterrole.yaml of github.com/argoproj/argo-workflows v3.7.18.
    """
    argo = ["argoproj.io"]
    rules = [
        rule([""], ["pods", "pods/exec"], WRITE),
        rule([""], ["configmaps", "namespaces"], READ),
        rule([""], ["persistentvolumeclaims", "persistentvolumeclaims/finalizers"],
             ["create", "update", "delete", "get"]),
        rule(argo, ["workflows", "workflows/finalizers", "workflowtasksets",
                    "workflowtasksets/finalizers", "workflowartifactgctasks"], WRITE),
        rule(argo, ["workflowtemplates", "workflowtemplates/finalizers",
                    "clusterworkflowtemplates", "clusterworkflowtemplates/finalizers"], READ),
        rule(argo, ["workflowtaskresults"], ["list", "watch", "deletecollection"]),
        rule([""], ["serviceaccounts"], ["get", "list"]),
        rule(argo, ["cronworkflows", "cronworkflows/finalizers"],
             ["get", "list", "watch", "update", "patch", "delete"]),
        rule([""], ["events"], ["create", "patch"]),
        rule(["policy"], ["poddisruptionbudgets"], ["create", "get", "delete"]),
        rule([""], ["secrets"], ["get"], resourceNames=["argo-workflows-agent-ca-certificates"]),
    ]
    return {"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": "argo-cluster-role"},
            "rules": rules}


def controller_role() -> dict:
    """Argo's workflow-controller Role in its own namespace (workflow-controller-role.yaml)."""
    rules = [rule(["coordination.k8s.io"], ["leases"], ["create", "get", "update"]),
             rule([""], ["secrets"], ["get"])]
    return {"apiVersion": RBAC, "kind": "Role",
            "metadata": {"name": "argo-role", "namespace": ARGO_NAMESPACE}, "rules": rules}


def team_role(namespace: str) -> dict:
    """What a team member may do in a namespace: run workflows, read the template library,
    delete pods (as `argo retry` does)."""
    rules = [rule(["argoproj.io"], ["workflows", "cronworkflows"], WRITE),
             rule(["argoproj.io"], ["workflowtemplates"], READ),
             # `argo retry` deletes the pods of the nodes it resets (RetryWorkflow in
             # server/workflow/workflow_server.go, which the CLI runs in-process when it
             # talks to the API server directly): without this it stops half-way.
             rule([""], ["pods"], ["get", "list", "watch", "delete"])]
    return {"apiVersion": RBAC, "kind": "Role",
            "metadata": {"name": "workflow-user", "namespace": namespace}, "rules": rules}


def webhook_cluster_role() -> dict:
    """What our webhook server reads: the template library and Workflows, cluster-wide."""
    rules = [rule(["argoproj.io"], ["workflowtemplates", "clusterworkflowtemplates", "workflows"],
                  READ)]
    return {"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": "argo-admission"},
            "rules": rules}


def bind(role: dict, subject: dict, *, namespace: str | None = None) -> dict:
    """A RoleBinding (namespaced) or ClusterRoleBinding granting `role` to `subject`."""
    kind = "RoleBinding" if namespace else "ClusterRoleBinding"
    name = f"{role['metadata']['name']}-{subject['name']}"
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": role["kind"],
           "name": role["metadata"]["name"]}
    return {"apiVersion": RBAC, "kind": kind, "metadata": metadata, "roleRef": ref,
            "subjects": [subject]}


def user_subject(name: str) -> dict:
    """An RBAC subject for a static-token user."""
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}


def bootstrap_objects() -> list[dict]:
    """Namespaces, the controller's ServiceAccount and every role and binding, in creation order."""
    objects: list[dict] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
                           for ns in NAMESPACES]
    # The controller authenticates by token as system:serviceaccount:argo:argo; binding the
    # ServiceAccount subject (as Argo's manifests do) proves the identity is the one RBAC sees.
    account = {"kind": "ServiceAccount", "name": "argo", "namespace": ARGO_NAMESPACE}
    objects.append({"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": "argo", "namespace": ARGO_NAMESPACE}})
    cluster_role, role = controller_cluster_role(), controller_role()
    objects += [cluster_role, bind(cluster_role, account),
                role, bind(role, account, namespace=ARGO_NAMESPACE)]
    for user, namespaces in TEAM_NAMESPACES.items():
        for ns in namespaces:
            objects += [team_role(ns), bind(team_role(ns), user_subject(user), namespace=ns)]
    webhook = webhook_cluster_role()
    objects += [webhook, bind(webhook, user_subject(WEBHOOK))]
    return objects
