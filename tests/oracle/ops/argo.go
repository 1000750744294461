package main

// The operations, each as Argo's client or server runs it (workflow/util/util.go,
// server/workflow/workflow_server.go, server/cronworkflow/cron_workflow_server.go,
// cmd/argo/commands/cron). Import paths name Argo v3; setup.sh rewrites them for v4.

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"reflect"
	"strings"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	wffake "github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned/fake"
	"github.com/argoproj/argo-workflows/v3/workflow/common"
	"github.com/argoproj/argo-workflows/v3/workflow/creator"
	"github.com/argoproj/argo-workflows/v3/workflow/templateresolution"
	wfutil "github.com/argoproj/argo-workflows/v3/workflow/util"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func readWorkflow(raw json.RawMessage) (*wfv1.Workflow, error) {
	var wf wfv1.Workflow
	if err := json.Unmarshal(raw, &wf); err != nil {
		return nil, fmt.Errorf("not a Workflow: %w", err)
	}
	return &wf, nil
}

func readCron(raw json.RawMessage) (*wfv1.CronWorkflow, error) {
	var cron wfv1.CronWorkflow
	if err := json.Unmarshal(raw, &cron); err != nil {
		return nil, fmt.Errorf("not a CronWorkflow: %w", err)
	}
	return &cron, nil
}

// dehydrated: the Workflow as a client's Dehydrate leaves it (compressed nodes when large).
func dehydrated(ctx context.Context, req *request) (any, error) {
	wf, err := readWorkflow(req.Object)
	if err != nil {
		return nil, err
	}
	return wf, dehydrate(ctx, wf)
}

// submit: the Workflow argo-server (or the CLI's in-process server) creates for `argo submit`.
func submit(ctx context.Context, req *request) (any, error) {
	client := wffake.NewSimpleClientset()
	var crons []*wfv1.CronWorkflow
	for _, raw := range req.Templates {
		obj, err := roundtrip(raw)
		if err != nil {
			return nil, err
		}
		switch t := obj.(type) {
		case *wfv1.WorkflowTemplate:
			_, err = client.ArgoprojV1alpha1().WorkflowTemplates(t.Namespace).Create(ctx, t, metav1.CreateOptions{})
		case *wfv1.ClusterWorkflowTemplate:
			_, err = client.ArgoprojV1alpha1().ClusterWorkflowTemplates().Create(ctx, t, metav1.CreateOptions{})
		case *wfv1.CronWorkflow:
			crons = append(crons, t)
		}
		if err != nil {
			return nil, err
		}
	}
	opts := &wfv1.SubmitOpts{}
	if len(req.SubmitOpts) > 0 {
		if err := json.Unmarshal(req.SubmitOpts, opts); err != nil {
			return nil, err
		}
	}
	wf, err := submitted(req, crons)
	if err != nil {
		return nil, err
	}
	if wf.Namespace == "" {
		wf.Namespace = "team-a"
	}
	creator.LabelCreator(ctx, wf)
	if err := wfutil.ApplySubmitOpts(wf, opts); err != nil {
		return nil, err
	}
	wfGetter := templateresolution.WrapWorkflowTemplateInterface(client.ArgoprojV1alpha1().WorkflowTemplates(wf.Namespace))
	cwfGetter := templateresolution.WrapClusterWorkflowTemplateInterface(client.ArgoprojV1alpha1().ClusterWorkflowTemplates())
	if err := validateWorkflow(ctx, wfGetter, cwfGetter, wf, req.From != ""); err != nil {
		return nil, err
	}
	return wf, nil
}

// submitted: the file's Workflow, or the one SubmitWorkflow makes for --from.
func submitted(req *request, crons []*wfv1.CronWorkflow) (*wfv1.Workflow, error) {
	kind, name, _ := strings.Cut(req.From, "/")
	switch kind {
	case "":
		return readWorkflow(req.Object)
	case "workflowtemplate":
		return common.NewWorkflowFromWorkflowTemplate(name, false), nil
	case "clusterworkflowtemplate":
		return common.NewWorkflowFromWorkflowTemplate(name, true), nil
	case "cronwf":
		for _, cron := range crons {
			if cron.Name == name {
				return common.ConvertCronWorkflowToWorkflow(cron), nil
			}
		}
		return nil, fmt.Errorf("no CronWorkflow %q given", name)
	}
	return nil, fmt.Errorf("cannot submit from %q", req.From)
}

// retry: workflowServer.RetryWorkflow after its Get (Hydrate, Formulate, Dehydrate, LabelActor).
func retry(ctx context.Context, req *request) (any, error) {
	wf, err := readWorkflow(req.Object)
	if err != nil {
		return nil, err
	}
	if err := hydrate(ctx, wf); err != nil {
		return nil, err
	}
	newWf, _, err := wfutil.FormulateRetryWorkflow(ctx, wf, req.RestartSuccessful, req.NodeFieldSelector, req.Parameters)
	if err != nil {
		return nil, err
	}
	if err := dehydrate(ctx, newWf); err != nil {
		return nil, err
	}
	creator.LabelActor(ctx, newWf, creator.ActionRetry)
	return newWf, nil
}

// resubmit: workflowServer.ResubmitWorkflow's FormulateResubmitWorkflow (validation, which adds
// storedTemplates, and the create follow).
func resubmit(ctx context.Context, req *request) (any, error) {
	wf, err := readWorkflow(req.Object)
	if err != nil {
		return nil, err
	}
	if err := hydrate(ctx, wf); err != nil {
		return nil, err
	}
	return wfutil.FormulateResubmitWorkflow(ctx, wf, req.Memoized, req.Parameters)
}

// workflowUpdate runs one of the util functions against a fake clientset holding the object.
func workflowUpdate(ctx context.Context, req *request) (any, error) {
	wf, err := readWorkflow(req.Object)
	if err != nil {
		return nil, err
	}
	if wf.Namespace == "" {
		wf.Namespace = "default"
	}
	client := wffake.NewSimpleClientset(wf)
	wfIf := client.ArgoprojV1alpha1().Workflows(wf.Namespace)
	h := newHydrator()
	switch req.Op {
	case "suspend":
		err = wfutil.SuspendWorkflow(ctx, wfIf, wf.Name)
	case "resume":
		err = wfutil.ResumeWorkflow(ctx, wfIf, h, wf.Name, req.NodeFieldSelector)
	case "stop":
		err = wfutil.StopWorkflow(ctx, wfIf, h, wf.Name, req.NodeFieldSelector, req.Message)
	case "terminate":
		err = wfutil.TerminateWorkflow(ctx, wfIf, wf.Name)
	case "set":
		err = wfutil.SetWorkflow(ctx, wfIf, h, wf.Name, req.NodeFieldSelector, wfutil.SetOperationValues{
			Phase:            wfv1.NodePhase(req.Phase),
			Message:          req.Message,
			OutputParameters: req.OutputParameters,
		})
	}
	if err != nil {
		return nil, err
	}
	return updated(client.Actions(), func() (runtime.Object, error) {
		return wfIf.Get(ctx, wf.Name, metav1.GetOptions{})
	})
}

// cronWrite: the file's CronWorkflow as `argo cron create/update` sends it (the server labels
// the creator/actor from the caller's claims, none here); update copies the resourceVersion.
func cronWrite(req *request) (any, error) {
	cron, err := readCron(req.Object)
	if err != nil {
		return nil, err
	}
	if req.Op == "cron-update" {
		if err := keepVersion(&cron.ObjectMeta, req.Current); err != nil {
			return nil, err
		}
	}
	return cron, nil
}

// templateWrite: the file's template as `argo template create/update` sends it.
func templateWrite(req *request) (any, error) { return roundtrip(req.Object) }

// roundtrip: an object of any of Argo's kinds read into its Go type and written back.
func roundtrip(raw json.RawMessage) (any, error) {
	var kind struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(raw, &kind); err != nil {
		return nil, err
	}
	var obj any
	switch kind.Kind {
	case "Workflow":
		obj = &wfv1.Workflow{}
	case "CronWorkflow":
		obj = &wfv1.CronWorkflow{}
	case "WorkflowTemplate":
		obj = &wfv1.WorkflowTemplate{}
	case "ClusterWorkflowTemplate":
		obj = &wfv1.ClusterWorkflowTemplate{}
	default:
		return nil, fmt.Errorf("unknown kind %q", kind.Kind)
	}
	if err := json.Unmarshal(raw, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// goTypes: every struct type of Argo's API package reachable from its objects, field by field as
// encoding/json sees them: the JSON name, the Go kind, omitempty, and the named type the field
// holds (the element type for slices and maps). Types outside Argo's package are leaves.
func goTypes() any {
	table := map[string]map[string]any{}
	roots := []any{
		wfv1.Workflow{}, wfv1.CronWorkflow{}, wfv1.WorkflowTemplate{},
		wfv1.ClusterWorkflowTemplate{}, wfv1.WorkflowTaskResult{}, wfv1.WorkflowTaskSet{},
	}
	for _, root := range roots {
		walkType(reflect.TypeOf(root), table)
	}
	return table
}

var argoPackage = reflect.TypeOf(wfv1.Workflow{}).PkgPath()

func walkType(t reflect.Type, table map[string]map[string]any) {
	if t.Kind() != reflect.Struct || t.PkgPath() != argoPackage {
		return
	}
	if _, seen := table[t.Name()]; seen {
		return
	}
	fields := map[string]any{}
	table[t.Name()] = fields
	addFields(t, fields, table)
}

func addFields(t reflect.Type, fields map[string]any, table map[string]map[string]any) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && name == "" {
			if f.Type.Kind() == reflect.Struct {
				addFields(f.Type, fields, table)
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		kind, elem := fieldKind(f.Type)
		fields[name] = map[string]any{
			"kind":      kind,
			"omitempty": strings.Contains(","+opts+",", ",omitempty,"),
			"type":      typeName(elem),
		}
		walkType(elem, table)
	}
}

var jsonMarshaler = reflect.TypeOf((*json.Marshaler)(nil)).Elem()

// fieldKind: the field's kind as JSON sees it ("value" for types with their own MarshalJSON) and
// the type it holds.
func fieldKind(t reflect.Type) (string, reflect.Type) {
	if t.Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler) {
		if t.Kind() == reflect.Pointer {
			return "ptr", t.Elem()
		}
		return "value", t
	}
	switch t.Kind() {
	case reflect.Pointer:
		return "ptr", t.Elem()
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Slice {
			return "slice", held(t.Elem().Elem())
		}
		return "slice", held(t.Elem())
	case reflect.Map:
		return "map", held(t.Elem())
	case reflect.Struct:
		return "struct", t
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "number", t
	}
	return t.Kind().String(), t
}

// held: a slice's or map's element type, through a pointer.
func held(t reflect.Type) reflect.Type {
	if t.Kind() == reflect.Pointer {
		return t.Elem()
	}
	return t
}

func typeName(t reflect.Type) string {
	if t.PkgPath() == argoPackage || t.PkgPath() == "" {
		return t.Name()
	}
	return path.Base(t.PkgPath()) + "." + t.Name()
}
