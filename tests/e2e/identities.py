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
ARGO_SERVER = "system:serviceaccount:argo:argo-server"
# What the executor in a team-a pod acts as (the Workflow's default ServiceAccount): it writes
# the step's WorkflowTaskResult. There is no kubelet here; tests play the executor's part.
EXECUTOR = "system:serviceaccount:team-a:default"
# A step template's own account, and the one its podSpecPatch names instead: Argo sets the
# pod's account, then applies the patch, so that step's executor writes as the second.
TEMPLATE_ACCOUNT = "system:serviceaccount:team-a:builder"
PATCHED_ACCOUNT = "system:serviceaccount:team-a:patched"
WEBHOOK = "argo-admission"

ARGO_NAMESPACE = "argo"
TEAM_NAMESPACES = {ALICE: ("team-a", "exempt"), BOB: ("team-b",)}
NAMESPACES = (ARGO_NAMESPACE, "team-a", "team-b", "exempt")
# The accounts the tests' pods name (the API server's ServiceAccount plugin refuses a pod whose
# account does not exist): `default`, a step template's and a podSpecPatch's, and those the
# forgeries and the mutation tests give (cluster-admin here is only a name, bound to nothing).
POD_ACCOUNTS = ("default", "builder", "patched", "cluster-admin", "workflow-runner", "own-runner")

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


def service_account_user(username: str) -> User:
    """What a ServiceAccount token would say; the token file lets us mint it without a token
    controller (there is no kube-controller-manager here)."""
    namespace = account_subject(username)["namespace"]
    return User(
        username,
        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"),
    )


def make_users() -> dict[str, User]:
    """Fresh tokens for every identity the suite acts as, keyed by user name."""
    users = [
        User(ADMIN, ("system:masters",)),
        User(ALICE, ("team",)),
        User(BOB, ("team",)),
        service_account_user(CONTROLLER),
        service_account_user(ARGO_SERVER),
        service_account_user(EXECUTOR),
        service_account_user(TEMPLATE_ACCOUNT),
        service_account_user(PATCHED_ACCOUNT),
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
        rule(
            [""],
            ["persistentvolumeclaims", "persistentvolumeclaims/finalizers"],
            ["create", "update", "delete", "get"],
        ),
        rule(
            argo,
            [
                "workflows",
                "workflows/finalizers",
                "workflowtasksets",
                "workflowtasksets/finalizers",
                "workflowartifactgctasks",
            ],
            WRITE,
        ),
        rule(
            argo,
            [
                "workflowtemplates",
                "workflowtemplates/finalizers",
                "clusterworkflowtemplates",
                "clusterworkflowtemplates/finalizers",
            ],
            READ,
        ),
        rule(argo, ["workflowtaskresults"], ["list", "watch", "deletecollection"]),
        rule([""], ["serviceaccounts"], ["get", "list"]),
        rule(
            argo,
            ["cronworkflows", "cronworkflows/finalizers"],
            ["get", "list", "watch", "update", "patch", "delete"],
        ),
        rule([""], ["events"], ["create", "patch"]),
        rule(["policy"], ["poddisruptionbudgets"], ["create", "get", "delete"]),
        rule([""], ["secrets"], ["get"], resourceNames=["argo-workflows-agent-ca-certificates"]),
    ]
    return {
        "apiVersion": RBAC,
        "kind": "ClusterRole",
        "metadata": {"name": "argo-cluster-role"},
        "rules": rules,
    }


def controller_role() -> dict:
    """Argo's workflow-controller Role in its own namespace (workflow-controller-role.yaml)."""
    rules = [
        rule(["coordination.k8s.io"], ["leases"], ["create", "get", "update"]),
        rule([""], ["secrets"], ["get"]),
    ]
    return {
        "apiVersion": RBAC,
        "kind": "Role",
        "metadata": {"name": "argo-role", "namespace": ARGO_NAMESPACE},
        "rules": rules,
    }


def argo_server_cluster_role() -> dict:
    """Argo's argo-server ClusterRole, rule for rule (argo-server-clusterole.yaml in
    manifests/cluster-install-no-crds/argo-server-rbac of argo-workflows v4.0.5; v3.7.18 lacks
    configmaps create/update). With `--auth-mode=client` the server acts as the user who calls
    it; its own identity only reads its configuration and watches templates and Workflows."""
    argo = ["argoproj.io"]
    rules = [
        rule([""], ["configmaps"], ["get", "watch", "list", "create", "update"]),
        rule([""], ["secrets"], ["get", "create"]),
        rule([""], ["pods", "pods/exec", "pods/log"], ["get", "list", "watch", "delete"]),
        rule([""], ["events"], ["watch", "create", "patch"]),
        rule([""], ["serviceaccounts"], READ),
        rule(
            argo,
            [
                "eventsources",
                "sensors",
                "workflows",
                "workfloweventbindings",
                "workflowtemplates",
                "cronworkflows",
                "clusterworkflowtemplates",
            ],
            WRITE,
        ),
    ]
    return {
        "apiVersion": RBAC,
        "kind": "ClusterRole",
        "metadata": {"name": "argo-server-cluster-role"},
        "rules": rules,
    }


def executor_role(namespace: str) -> dict:
    """Argo's minimum for the emissary executor in a Workflow's namespace
    (manifests/quick-start/base/executor/emissary/executor-role.yaml, v3.7.18 and v4.0.5)."""
    rules = [rule(["argoproj.io"], ["workflowtaskresults"], ["create", "patch"])]
    return {
        "apiVersion": RBAC,
        "kind": "Role",
        "metadata": {"name": "executor", "namespace": namespace},
        "rules": rules,
    }


def agent_role(namespace: str) -> dict:
    """Argo's minimum for the agent of HTTP and plugin templates in a Workflow's namespace
    (manifests/quick-start/base/agent-role.yaml, v3.7.18 and v4.0.5)."""
    rules = [
        rule(["argoproj.io"], ["workflowtasksets"], ["list", "watch"]),
        rule(["argoproj.io"], ["workflowtasksets/status"], ["patch"]),
    ]
    return {
        "apiVersion": RBAC,
        "kind": "Role",
        "metadata": {"name": "agent", "namespace": namespace},
        "rules": rules,
    }


def template_reader_cluster_role() -> dict:
    """Reading the cluster-scoped template library (`argo submit --from
    clusterworkflowtemplate/NAME`): Argo's argo-aggregate-to-view allows it, but a namespace
    RoleBinding cannot grant a cluster-scoped resource."""
    rules = [rule(["argoproj.io"], ["clusterworkflowtemplates"], READ)]
    return {
        "apiVersion": RBAC,
        "kind": "ClusterRole",
        "metadata": {"name": "clusterworkflowtemplate-reader"},
        "rules": rules,
    }


def team_role(namespace: str) -> dict:
    """What a team member may do in a namespace: run workflows, read the template library,
    delete pods (as `argo retry` does).

    Workflows, CronWorkflows and WorkflowTaskResults as Argo's argo-aggregate-to-edit grants
    them to a namespace editor (workflow-aggregate-roles.yaml, v3.7.18 and v4.0.5); the
    WorkflowTemplates of the library only to read — under Strict the library is what users
    may run, and its owner (the admin here) writes it."""
    rules = [
        rule(["argoproj.io"], ["workflows", "cronworkflows"], WRITE),
        rule(["argoproj.io"], ["workflowtaskresults"], [*WRITE, "deletecollection"]),
        rule(["argoproj.io"], ["workflowtemplates"], READ),
        # `argo retry` deletes the pods of the nodes it resets (RetryWorkflow in
        # server/workflow/workflow_server.go, which the CLI runs in-process when it
        # talks to the API server directly): without this it stops half-way.
        rule([""], ["pods"], ["get", "list", "watch", "delete"]),
    ]
    return {
        "apiVersion": RBAC,
        "kind": "Role",
        "metadata": {"name": "workflow-user", "namespace": namespace},
        "rules": rules,
    }


def webhook_cluster_role() -> dict:
    """What our webhook server reads: the template library and Workflows, cluster-wide."""
    rules = [
        rule(["argoproj.io"], ["workflowtemplates", "clusterworkflowtemplates", "workflows"], READ)
    ]
    return {
        "apiVersion": RBAC,
        "kind": "ClusterRole",
        "metadata": {"name": "argo-admission"},
        "rules": rules,
    }


def bind(role: dict, subject: dict, *, namespace: str | None = None) -> dict:
    """A RoleBinding (namespaced) or ClusterRoleBinding granting `role` to `subject`."""
    kind = "RoleBinding" if namespace else "ClusterRoleBinding"
    name = f"{role['metadata']['name']}-{subject['name']}"
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    ref = {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": role["kind"],
        "name": role["metadata"]["name"],
    }
    return {
        "apiVersion": RBAC,
        "kind": kind,
        "metadata": metadata,
        "roleRef": ref,
        "subjects": [subject],
    }


def user_subject(name: str) -> dict:
    """An RBAC subject for a static-token user."""
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}


def account_subject(username: str) -> dict:
    """The RBAC subject of a ServiceAccount, from its username system:serviceaccount:NS:NAME."""
    _, _, namespace, name = username.split(":")
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def service_account(username: str) -> dict:
    """The ServiceAccount object behind a ServiceAccount username."""
    subject = account_subject(username)
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": subject["name"], "namespace": subject["namespace"]},
    }


def bootstrap_objects() -> list[dict]:
    """Namespaces, the Argo ServiceAccounts and every role and binding, in creation order."""
    objects: list[dict] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}} for ns in NAMESPACES
    ]
    objects += [
        service_account(f"system:serviceaccount:{ns}:{name}")
        for ns in NAMESPACES
        for name in POD_ACCOUNTS
    ]
    # Argo's components authenticate by token as their ServiceAccounts; binding the
    # ServiceAccount subject (as Argo's manifests do) proves the identity is the one RBAC sees.
    controller, server = account_subject(CONTROLLER), account_subject(ARGO_SERVER)
    cluster_role, role = controller_cluster_role(), controller_role()
    objects += [
        service_account(CONTROLLER),
        cluster_role,
        bind(cluster_role, controller),
        role,
        bind(role, controller, namespace=ARGO_NAMESPACE),
    ]
    objects += [
        service_account(ARGO_SERVER),
        argo_server_cluster_role(),
        bind(argo_server_cluster_role(), server),
    ]
    reader = template_reader_cluster_role()
    objects.append(reader)
    for user, namespaces in TEAM_NAMESPACES.items():
        for ns in namespaces:
            objects += [team_role(ns), bind(team_role(ns), user_subject(user), namespace=ns)]
        objects.append(bind(reader, user_subject(user)))
    # Every account a team-a pod runs as here may write as Argo's executor: a refusal of one
    # of them is the door's, not RBAC's.
    namespace = account_subject(EXECUTOR)["namespace"]
    role = executor_role(namespace)
    objects.append(role)
    objects += [
        bind(role, account_subject(account), namespace=namespace)
        for account in (EXECUTOR, TEMPLATE_ACCOUNT, PATCHED_ACCOUNT)
    ]
    agent = agent_role(namespace)
    objects += [agent, bind(agent, account_subject(EXECUTOR), namespace=namespace)]
    webhook = webhook_cluster_role()
    objects += [webhook, bind(webhook, user_subject(WEBHOOK))]
    return objects
