package main

// Argo v4.0's hydrator takes a context.

import (
	"context"

	"github.com/argoproj/argo-workflows/v3/persist/sqldb"
	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/util/logging"
	"github.com/argoproj/argo-workflows/v3/workflow/hydrator"
	"github.com/argoproj/argo-workflows/v3/workflow/templateresolution"
	"github.com/argoproj/argo-workflows/v3/workflow/validate"
)

// newHydrator: the kube-mode CLI's hydrator (argo-kube-client.go: no offload database).
func newHydrator() hydrator.Interface { return hydrator.New(sqldb.ExplosiveOffloadNodeStatusRepo) }

func hydrate(ctx context.Context, wf *wfv1.Workflow) error { return newHydrator().Hydrate(ctx, wf) }

func dehydrate(ctx context.Context, wf *wfv1.Workflow) error {
	return newHydrator().Dehydrate(ctx, wf)
}

// baseContext: v4.0 reads its logger from the context (a missing one panics).
func baseContext() context.Context {
	logger := logging.NewSlogLogger(logging.Error, logging.Text)
	return logging.WithLogger(context.Background(), logger)
}

// validateWorkflow: the server's validation, which writes status.storedTemplates (Submit: --from).
func validateWorkflow(ctx context.Context, wfGetter templateresolution.WorkflowTemplateNamespacedGetter,
	cwfGetter templateresolution.ClusterWorkflowTemplateGetter, wf *wfv1.Workflow, submit bool,
) error {
	return validate.ValidateWorkflow(ctx, wfGetter, cwfGetter, wf, nil, validate.ValidateOpts{Submit: submit})
}
