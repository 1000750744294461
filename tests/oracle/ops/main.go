// Command ops-oracle answers "what does Argo's client send for this operation?" with Argo's own
// Go code, so the tests can check that argo-admission admits every write Argo's clients make.
//
// It reads one JSON request per line on stdin and writes one JSON answer per line:
//
//	{"op":"submit","object":{Workflow}|null,"from":"workflowtemplate/N"|"clusterworkflowtemplate/N"|"cronwf/N",
//	 "templates":[{WorkflowTemplate|ClusterWorkflowTemplate|CronWorkflow}...],"submitOptions":{SubmitOpts}}
//	  workflowServer.CreateWorkflow (a file) or SubmitWorkflow (--from): NewWorkflowFromWorkflowTemplate
//	  or ConvertCronWorkflowToWorkflow, ApplySubmitOpts, and ValidateWorkflow, which writes
//	  status.storedTemplates, against a fake clientset holding the templates
//	{"op":"retry","object":{Workflow},"restartSuccessful":bool,"nodeFieldSelector":"","parameters":[...]}
//	  FormulateRetryWorkflow, Dehydrate and LabelActor, as workflowServer.RetryWorkflow runs them
//	{"op":"resubmit","object":{Workflow},"memoized":bool,"parameters":[...]}
//	  FormulateResubmitWorkflow (before the submit's validation)
//	{"op":"suspend"|"resume"|"stop"|"terminate"|"set","object":{Workflow},
//	 "nodeFieldSelector":"","message":"","phase":"","outputParameters":{"name":"value"}}
//	  the workflow/util function, against a fake clientset holding the object
//	{"op":"cron-create"|"cron-update","object":{CronWorkflow},"current":{CronWorkflow}}
//	  the file's object as the CLI sends it (update: with the current resourceVersion)
//	{"op":"cron-suspend"|"cron-resume","object":{CronWorkflow}}
//	  the merge patch of the CLI, applied as the API server applies it
//	{"op":"template","object":{WorkflowTemplate|ClusterWorkflowTemplate}}
//	  the file's object as `argo template create/update` and `argo cluster-template` send it
//	{"op":"dehydrate","object":{Workflow},"maxWorkflowSize":N}
//	  hydrator.Dehydrate: the nodes compressed into status.compressedNodes when the Workflow is
//	  larger than MAX_WORKFLOW_SIZE (any request may set it, as the environment variable does)
//	{"op":"types"}
//	  Argo's API types field by field: JSON name, kind, omitempty, held type (gofields.py's data)
//	{"op":"roundtrip","object":{Workflow|CronWorkflow|...}}
//	  the object read into Argo's types and written back (what any Go client sends unchanged)
//
// The answer is {"object":{...}} (the object the API server receives, marshalled as Argo's
// client marshals it, zero values and all) or {"error":"..."} (Argo refuses the operation).
// The version-specific calls live in compat_v3.go and compat_v4.go; tests/e2e/setup.sh builds
// this command once per Argo version with the matching one.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	jsonpatch "github.com/evanphx/json-patch"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
)

type request struct {
	Op                string            `json:"op"`
	Object            json.RawMessage   `json:"object"`
	Current           json.RawMessage   `json:"current"`
	RestartSuccessful bool              `json:"restartSuccessful"`
	Memoized          bool              `json:"memoized"`
	NodeFieldSelector string            `json:"nodeFieldSelector"`
	Parameters        []string          `json:"parameters"`
	Message           string            `json:"message"`
	Phase             string            `json:"phase"`
	OutputParameters  map[string]string `json:"outputParameters"`
	From              string            `json:"from"`
	Templates         []json.RawMessage `json:"templates"`
	SubmitOpts        json.RawMessage   `json:"submitOptions"`
	MaxWorkflowSize   int               `json:"maxWorkflowSize"`
}

type answer struct {
	Object any    `json:"object,omitempty"`
	Error  string `json:"error,omitempty"`
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 0, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	for in.Scan() {
		var req request
		var ans answer
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			ans.Error = "bad request: " + err.Error()
		} else if obj, err := run(baseContext(), &req); err != nil {
			ans.Error = err.Error()
		} else {
			ans.Object = obj
		}
		if err := enc.Encode(ans); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		_ = out.Flush()
	}
}

func run(ctx context.Context, req *request) (any, error) {
	if req.MaxWorkflowSize > 0 { // packer reads it on every call (workflow/packer/packer.go)
		_ = os.Setenv("MAX_WORKFLOW_SIZE", strconv.Itoa(req.MaxWorkflowSize))
		defer func() { _ = os.Unsetenv("MAX_WORKFLOW_SIZE") }()
	}
	switch req.Op {
	case "dehydrate":
		return dehydrated(ctx, req)
	case "submit":
		return submit(ctx, req)
	case "retry":
		return retry(ctx, req)
	case "resubmit":
		return resubmit(ctx, req)
	case "suspend", "resume", "stop", "terminate", "set":
		return workflowUpdate(ctx, req)
	case "cron-create", "cron-update":
		return cronWrite(req)
	case "cron-suspend", "cron-resume":
		return cronSuspend(req)
	case "template":
		return templateWrite(req)
	case "types":
		return goTypes(), nil
	case "roundtrip":
		return roundtrip(req.Object)
	}
	return nil, fmt.Errorf("unknown op %q", req.Op)
}

// updated returns the object the last Update or Patch action of the fake clientset left in its
// tracker: what the API server stores (the webhook's object).
func updated(actions []k8stesting.Action, get func() (runtime.Object, error)) (any, error) {
	for i := len(actions) - 1; i >= 0; i-- {
		switch action := actions[i].(type) {
		case k8stesting.UpdateAction:
			return action.GetObject(), nil
		case k8stesting.PatchAction:
			return get()
		}
	}
	return nil, fmt.Errorf("the operation wrote nothing")
}

func mergePatched(object json.RawMessage, patch string) (any, error) {
	out, err := jsonpatch.MergePatch(object, []byte(patch))
	if err != nil {
		return nil, err
	}
	var value any
	return value, json.Unmarshal(out, &value)
}

// cronSuspend: setCronWorkflowSuspend's merge patch, applied to the stored object.
func cronSuspend(req *request) (any, error) {
	cron, err := readCron(req.Object)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(cron)
	if err != nil {
		return nil, err
	}
	suspend := req.Op == "cron-suspend"
	return mergePatched(raw, fmt.Sprintf(`{"spec":{"suspend":%t}}`, suspend))
}

func keepVersion(meta *metav1.ObjectMeta, current json.RawMessage) error {
	if len(current) == 0 {
		return nil
	}
	var cur struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	if err := json.Unmarshal(current, &cur); err != nil {
		return err
	}
	meta.ResourceVersion = cur.Metadata.ResourceVersion
	return nil
}
