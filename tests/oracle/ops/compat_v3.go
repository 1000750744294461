package main

// Argo v3.7's hydrator takes no context.

import (
	"context"

	"github.com/argoproj/argo-workflows/v3/persist/sqldb"
	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/workflow/hydrator"
	"github.com/argoproj/argo-workflows/v3/workflow/templateresolution"
	"github.com/argoproj/argo-workflows/v3/workflow/validate"
)

// newHydrator: the kube-mode CLI's hydrator (argo-kube-client.go: no offload database).
func newHydrator() hydrator.Interface { return hydrator.New(sqldb.ExplosiveOffloadNodeStatusRepo) }

func hydrate(_ context.Context, wf *wfv1.Workflow) error { return newHydrator().Hydrate(wf) }

func dehydrate(_ context.Context, wf *wfv1.Workflow) error { return newHydrator().Dehydrate(wf) }

// baseContext: v3.7 logs with logrus, the context carries nothing.
func baseContext() context.Context { return context.Background() }

// validateWorkflow: the server's validation, which writes status.storedTemplates (Submit: --from).
func validateWorkflow(_ context.Context, wfGetter templateresolution.WorkflowTemplateNamespacedGetter,
	cwfGetter templateresolution.ClusterWorkflowTemplateGetter, wf *wfv1.Workflow, submit bool,
) error {
	return validate.ValidateWorkflow(wfGetter, cwfGetter, wf, nil, validate.ValidateOpts{Submit: submit})
}
